// TextEncoder: the part of a tokenizer that turns text into ids, one implementation per file
// format (SentencePiece's tokenizer.model, Hugging Face's tokenizer.json). The Tokenizer facade
// adds what all formats share: UTF-8 checks, BOS, decoding, special ids.
#ifndef JAMBA_ENGINE_TEXT_TEXT_ENCODER_H_
#define JAMBA_ENGINE_TEXT_TEXT_ENCODER_H_

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace jamba::engine {

// A piece of one text to encode. Special-token strings ("<|eom|>") become their tokens only inside
// segments with `parse_special`: the chat template's own markup. Text a user sent (message content,
// documents, tool results, plain prompts) is encoded with it off, so whatever it spells stays
// ordinary text. The segments are one text: tokens may span segment boundaries.
struct TextSegment {
  std::string_view text;
  bool parse_special = false;
};

class TextEncoder {
 public:
  virtual ~TextEncoder() = default;

  // Appends the ids of the concatenated `segments` (valid UTF-8, checked by the caller) to `ids`.
  // When `max_tokens` >= 0 the encoder may stop as soon as it has appended more than
  // `max_tokens` ids, so an over-long text costs memory and time for the limit only, not for its
  // whole length; the caller then knows only that the limit was passed.
  virtual absl::Status Encode(std::span<const TextSegment> segments, int64_t max_tokens,
                              std::vector<int32_t>& ids) const = 0;
};

}  // namespace jamba::engine

#endif  // JAMBA_ENGINE_TEXT_TEXT_ENCODER_H_
