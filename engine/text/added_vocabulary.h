// AddedVocabulary: finds a tokenizer.json's added tokens in text the way Hugging Face's tokenizers
// does: leftmost-longest matches over all tokens, with single_word, lstrip and rstrip; tokens with
// "normalized": false on the raw text, the others on the normalized text (their own content
// normalized too). Special tokens count only where the caller allows them (segments that parse
// special tokens); elsewhere their matches are skipped, as with tokenizers' encode_special_tokens.
#ifndef JAMBA_ENGINE_TEXT_ADDED_VOCABULARY_H_
#define JAMBA_ENGINE_TEXT_ADDED_VOCABULARY_H_

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "engine/text/special_token_matcher.h"
#include "engine/text/text_normalizer.h"
#include "engine/text/tokenizer_json.h"

namespace jamba::engine {

class AddedVocabulary {
 public:
  AddedVocabulary() = default;
  AddedVocabulary(const std::vector<AddedTokenSpec>& tokens, const TextNormalizer& normalizer);

  // A piece of the text: an added token (id >= 0, lstrip/rstrip whitespace included) or text.
  struct Split {
    size_t begin = 0, end = 0;
    int32_t id = -1;
  };
  // Whether a special token matched at [begin, end) of the text counts.
  using SpecialFilter = absl::FunctionRef<bool(size_t begin, size_t end)>;

  // Replaces `splits` by the pieces of `text` (none for empty text).
  void SplitRaw(std::string_view text, SpecialFilter allow_special,
                std::vector<Split>& splits) const {
    Find(raw_, text, allow_special, splits);
  }
  void SplitNormalized(std::string_view text, SpecialFilter allow_special,
                       std::vector<Split>& splits) const {
    Find(normalized_, text, allow_special, splits);
  }
  bool has_normalized_tokens() const { return !normalized_.empty(); }

 private:
  struct Options {
    bool special = false, lstrip = false, rstrip = false, single_word = false;
  };
  void Find(const SpecialTokenMatcher& matcher, std::string_view text, SpecialFilter allow_special,
            std::vector<Split>& splits) const;

  SpecialTokenMatcher raw_, normalized_;
  absl::flat_hash_map<int32_t, Options> options_;
};

}  // namespace jamba::engine

#endif  // JAMBA_ENGINE_TEXT_ADDED_VOCABULARY_H_
