// TextNormalizer's steps.
#include "engine/text/text_normalizer.h"

#include "absl/strings/str_replace.h"
#include "engine/text/unicode_classes.h"

namespace jamba::engine {

std::string TextNormalizer::Normalize(std::string_view text) const {
  std::string result(text);
  for (const NormalizerStep& step : steps_) {
    switch (step.kind) {
      case NormalizerKind::kPrepend:
        if (!result.empty()) result.insert(0, step.text);
        break;
      case NormalizerKind::kReplace:
        if (result.find(step.text) != std::string::npos) {
          result = absl::StrReplaceAll(result, {{step.text, step.content}});
        }
        break;
      case NormalizerKind::kStrip: {
        const size_t right = step.strip_right ? TrailingWhiteSpace(result) : 0;
        result.resize(result.size() - right);
        if (step.strip_left) result.erase(0, LeadingWhiteSpace(result));
        break;
      }
    }
  }
  return result;
}

}  // namespace jamba::engine
