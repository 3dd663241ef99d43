// AddedVocabulary: the two matchers and tokenizers' rules for a match (single_word, lstrip, rstrip,
// matches that are skipped still consume their text).
#include "engine/text/added_vocabulary.h"

#include <algorithm>
#include <string>
#include <utility>

#include "engine/text/unicode_classes.h"

namespace jamba::engine {

AddedVocabulary::AddedVocabulary(const std::vector<AddedTokenSpec>& tokens,
                                 const TextNormalizer& normalizer) {
  // Special tokens first: for two tokens with the same pattern, the first one wins.
  std::vector<std::pair<std::string, int32_t>> raw, normalized;
  for (bool special : {true, false}) {
    for (const AddedTokenSpec& token : tokens) {
      if (token.special != special) continue;
      options_.emplace(token.id,
                       Options{token.special, token.lstrip, token.rstrip, token.single_word});
      if (token.normalized) {
        normalized.emplace_back(normalizer.Normalize(token.content), token.id);
      } else {
        raw.emplace_back(token.content, token.id);
      }
    }
  }
  raw_ = SpecialTokenMatcher(raw);
  normalized_ = SpecialTokenMatcher(normalized);
}

void AddedVocabulary::Find(const SpecialTokenMatcher& matcher, std::string_view text,
                           SpecialFilter allow_special, std::vector<Split>& splits) const {
  splits.clear();
  size_t covered = 0;  // end of the last piece added
  size_t from = 0;
  while (std::optional<SpecialTokenMatcher::Match> match = matcher.FindNext(text, from)) {
    size_t start = match->begin;
    size_t stop = match->begin + match->length;
    from = stop;  // a match that is then discarded still consumes its text
    const Options& options = options_.at(match->id);
    if (options.special && !allow_special(start, stop)) continue;
    if (options.single_word) {
      const bool word_before = start > 0 && IsWordChar(CodePointBefore(text, start).value);
      const bool word_after = stop < text.size() && IsWordChar(CodePointAt(text, stop).value);
      if (word_before || word_after) continue;
    }
    if (options.lstrip) {
      start = std::max(start - TrailingWhiteSpace(text.substr(0, start)), covered);
    }
    if (options.rstrip) stop += LeadingWhiteSpace(text.substr(stop));
    if (covered < start) splits.push_back({covered, start, -1});
    splits.push_back({start, stop, match->id});
    covered = stop;
  }
  if (covered < text.size()) splits.push_back({covered, text.size(), -1});
}

}  // namespace jamba::engine
