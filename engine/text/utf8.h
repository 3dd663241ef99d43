// UTF-8 validation and repair, shared by the tokenizer (which rejects invalid input and repairs
// decoded bytes) and the streaming decoder (which must never emit half a character).
#ifndef JAMBA_ENGINE_TEXT_UTF8_H_
#define JAMBA_ENGINE_TEXT_UTF8_H_

#include <cstddef>
#include <string>
#include <string_view>

namespace jamba::engine {

// U+FFFD REPLACEMENT CHARACTER, in UTF-8.
inline constexpr char kReplacementCharacter[] = "\xEF\xBF\xBD";

// True if `text` is well-formed UTF-8 (no overlong forms, surrogates or code points > U+10FFFF).
bool IsValidUtf8(std::string_view text);
// Offset of the first byte of `text` that does not begin a well-formed sequence, or npos if none.
size_t FindInvalidUtf8(std::string_view text);

// Appends `bytes` to `out`, replacing every byte that does not start a well-formed sequence with
// U+FFFD, one replacement per byte, as SentencePiece's decoder does. When `end_of_input` is false,
// a trailing sequence that is incomplete but could still become valid (at most 3 bytes) is left
// out, so the caller can retry once more bytes arrive. Returns how many bytes of `bytes` were used.
size_t AppendRepairedUtf8(std::string_view bytes, bool end_of_input, std::string& out);

}  // namespace jamba::engine

#endif  // JAMBA_ENGINE_TEXT_UTF8_H_
