// The two Unicode character classes Hugging Face's added-token matching depends on: \w (word
// characters, for single_word) and \s (White_Space, for lstrip/rstrip and the Strip normalizer),
// as Rust's regex crate defines them, plus UTF-8 stepping helpers for valid text.
#ifndef JAMBA_ENGINE_TEXT_UNICODE_CLASSES_H_
#define JAMBA_ENGINE_TEXT_UNICODE_CLASSES_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace jamba::engine {

bool IsWordChar(uint32_t code_point);
bool IsWhiteSpace(uint32_t code_point);

// The code point starting at `pos` of valid UTF-8 `text`, and its length in bytes.
struct CodePoint {
  uint32_t value = 0;
  size_t length = 0;
};
CodePoint CodePointAt(std::string_view text, size_t pos);
// The code point that ends at `end` (> 0) of valid UTF-8 `text`.
CodePoint CodePointBefore(std::string_view text, size_t end);

// Bytes of whitespace at the start / end of `text`.
size_t LeadingWhiteSpace(std::string_view text);
size_t TrailingWhiteSpace(std::string_view text);

}  // namespace jamba::engine

#endif  // JAMBA_ENGINE_TEXT_UNICODE_CLASSES_H_
