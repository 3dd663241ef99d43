// TextNormalizer: the normalizer of a tokenizer.json (Prepend, Replace, Strip, in sequence),
// applied to each piece of text between added tokens, as Hugging Face's tokenizers applies it.
#ifndef JAMBA_ENGINE_TEXT_TEXT_NORMALIZER_H_
#define JAMBA_ENGINE_TEXT_TEXT_NORMALIZER_H_

#include <string>
#include <string_view>
#include <vector>

#include "engine/text/tokenizer_json.h"

namespace jamba::engine {

class TextNormalizer {
 public:
  TextNormalizer() = default;
  explicit TextNormalizer(std::vector<NormalizerStep> steps) : steps_(std::move(steps)) {}

  bool empty() const { return steps_.empty(); }
  // Prepend adds its text only to non-empty text; Replace replaces every non-overlapping
  // occurrence from the left; Strip removes White_Space.
  std::string Normalize(std::string_view text) const;

 private:
  std::vector<NormalizerStep> steps_;
};

}  // namespace jamba::engine

#endif  // JAMBA_ENGINE_TEXT_TEXT_NORMALIZER_H_
