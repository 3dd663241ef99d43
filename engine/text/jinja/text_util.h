// UTF-8 helpers for the Jinja interpreter: code point iteration, the whitespace set and case
// mapping of JavaScript (the reference renderer, @huggingface/jinja, runs on it), kept apart from
// engine/utf8.h so that jamba_jinja depends on nothing in the engine.
#ifndef JAMBA_ENGINE_TEXT_JINJA_TEXT_UTIL_H_
#define JAMBA_ENGINE_TEXT_JINJA_TEXT_UTIL_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace jamba::engine::jinja {

// absl::StrCat that also takes std::string_view (Debian's Abseil has its own string_view type,
// so absl::StrCat does not accept std::string_view).
inline void AppendPiece(std::string& out, std::string_view s) { out.append(s); }
inline void AppendPiece(std::string& out, const std::string& s) { out.append(s); }
inline void AppendPiece(std::string& out, const char* s) { out.append(s); }
inline void AppendPiece(std::string& out, absl::string_view s) { out.append(s.data(), s.size()); }
template <typename T>
requires std::is_arithmetic_v<T>
void AppendPiece(std::string& out, T value) { absl::StrAppend(&out, value); }
inline absl::string_view AsAbsl(std::string_view s) { return {s.data(), s.size()}; }
template <typename... Args>
std::string Cat(const Args&... args) {
  std::string out;
  (AppendPiece(out, args), ...);
  return out;
}

// Decodes the code point at `text[pos]` and sets `length` to its byte count. A byte that does not
// start a well-formed sequence decodes as U+FFFD with length 1, so iteration always advances.
char32_t DecodeUtf8(std::string_view text, size_t pos, size_t& length);
void AppendUtf8(char32_t code_point, std::string& out);

// Byte offsets where each code point of `text` starts, plus text.size() at the end.
std::vector<size_t> CodePointOffsets(std::string_view text);
size_t CodePointCount(std::string_view text);

// JavaScript's \s (what String.prototype.trim removes).
bool IsJsSpace(char32_t c);
// Byte length of the JavaScript whitespace at the start / end of `text`.
size_t LeadingSpaceBytes(std::string_view text);
size_t TrailingSpaceBytes(std::string_view text);

// Case mapping for ASCII, Latin-1, Greek and Cyrillic (other letters are left unchanged).
std::string ToUpper(std::string_view text);
std::string ToLower(std::string_view text);
// @huggingface/jinja's title: an ASCII word character after a non-word character (or at the
// start) is upper-cased; nothing else changes.
std::string TitleCase(std::string_view text);
// The first code point upper-cased, the rest unchanged (as @huggingface/jinja does).
std::string Capitalize(std::string_view text);

}  // namespace jamba::engine::jinja

#endif  // JAMBA_ENGINE_TEXT_JINJA_TEXT_UTIL_H_
