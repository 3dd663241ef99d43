// Incremental detokenization over the tokenizer's piece table and the UTF-8 repair of
// engine/utf8.h, which leaves an incomplete trailing sequence for the next call.
#include "engine/text/stream_decoder.h"

#include "engine/text/utf8.h"

namespace jamba::engine {

StreamDecoder::StreamDecoder(const Tokenizer& tokenizer, bool skip_special_tokens, bool keep_markup)
    : tokenizer_(&tokenizer),
      skip_special_tokens_(skip_special_tokens),
      keep_markup_(keep_markup) {}

std::string StreamDecoder::Push(int32_t token) {
  tokenizer_->piece_table().AppendTokenBytes(token, skip_special_tokens_, at_start_, pending_,
                                             keep_markup_);
  std::string text;
  const size_t used = AppendRepairedUtf8(pending_, /*end_of_input=*/false, text);
  pending_.erase(0, used);
  return text;
}

std::string StreamDecoder::Finish() {
  std::string text;
  AppendRepairedUtf8(pending_, /*end_of_input=*/true, text);
  pending_.clear();
  at_start_ = true;
  return text;
}

}  // namespace jamba::engine
