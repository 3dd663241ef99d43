// TokenizerJsonEncoder: TextEncoder for tokenizer.json files: added tokens, then per piece of text
// between them the normalizer, the pre-tokenizer and the BPE model, as Hugging Face's tokenizers
// runs its pipeline.
#ifndef JAMBA_ENGINE_TEXT_TOKENIZER_JSON_ENCODER_H_
#define JAMBA_ENGINE_TEXT_TOKENIZER_JSON_ENCODER_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/text/added_vocabulary.h"
#include "engine/text/bpe_model.h"
#include "engine/text/pre_tokenizer.h"
#include "engine/text/text_encoder.h"
#include "engine/text/text_normalizer.h"
#include "engine/text/tokenizer_json.h"

namespace jamba::engine {

// Special added tokens count only inside segments that parse special tokens (a token matched
// across a segment boundary does not count); elsewhere they are skipped as with tokenizers'
// encode_special_tokens (transformers' split_special_tokens=True). Other added tokens are matched
// everywhere. Tokens with "normalized": true are matched in the normalized text of a piece between
// raw-matched tokens; a special one of those counts only when that whole piece lies in one
// segment that parses special tokens.
//
// Memory: each piece of text between added tokens is normalized as a whole (a copy of it);
// BpeModel bounds what a word costs. Encoding stops once more than `max_tokens` ids are out.
class TokenizerJsonEncoder final : public TextEncoder {
  struct PrivateTag {
    explicit PrivateTag() = default;
  };

 public:
  // `added_tokens` may extend spec.added_tokens (special tokens the side files name).
  static absl::StatusOr<std::unique_ptr<TokenizerJsonEncoder>> Create(
      const TokenizerJsonSpec& spec, const std::vector<AddedTokenSpec>& added_tokens,
      const std::string& path);
  explicit TokenizerJsonEncoder(PrivateTag) {}

  absl::Status Encode(std::span<const TextSegment> segments, int64_t max_tokens,
                      std::vector<int32_t>& ids) const override;

  BpeModel& model_for_testing() { return *model_; }

 private:
  std::unique_ptr<BpeModel> model_;
  TextNormalizer normalizer_;
  PreTokenizer pre_tokenizer_;
  AddedVocabulary added_;
};

}  // namespace jamba::engine

#endif  // JAMBA_ENGINE_TEXT_TOKENIZER_JSON_ENCODER_H_
