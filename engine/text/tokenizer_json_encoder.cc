// TokenizerJsonEncoder: segments to one text, added-token splitting with the per-segment special
// rule, then normalizer, pre-tokenizer and BPE per piece, stopping past the limit.
#include "engine/text/tokenizer_json_encoder.h"

#include <algorithm>
#include <iterator>
#include <utility>

#include "engine/status_macros.h"

namespace jamba::engine {

absl::StatusOr<std::unique_ptr<TokenizerJsonEncoder>> TokenizerJsonEncoder::Create(
    const TokenizerJsonSpec& spec, const std::vector<AddedTokenSpec>& added_tokens,
    const std::string& path) {
  auto encoder = std::make_unique<TokenizerJsonEncoder>(PrivateTag());
  JAMBA_ASSIGN_OR_RETURN(encoder->model_, BpeModel::Create(spec.model, path));
  encoder->normalizer_ = TextNormalizer(spec.normalizer);
  encoder->pre_tokenizer_ = PreTokenizer(spec.pre_tokenizer);
  encoder->added_ = AddedVocabulary(added_tokens, encoder->normalizer_);
  return encoder;
}

absl::Status TokenizerJsonEncoder::Encode(std::span<const TextSegment> segments, int64_t max_tokens,
                                          std::vector<int32_t>& ids) const {
  const size_t limit = max_tokens < 0 ? static_cast<size_t>(-1) : ids.size() + max_tokens;
  std::string text;
  std::vector<std::pair<size_t, size_t>> special_ranges;  // segments that parse special tokens
  for (const TextSegment& segment : segments) {
    if (segment.parse_special && !segment.text.empty()) {
      special_ranges.emplace_back(text.size(), text.size() + segment.text.size());
    }
    text.append(segment.text);
  }
  auto inside_special_segment = [&special_ranges](size_t begin, size_t end) {
    auto it = std::upper_bound(
        special_ranges.begin(), special_ranges.end(), begin,
        [](size_t value, const std::pair<size_t, size_t>& range) { return value < range.first; });
    return it != special_ranges.begin() && end <= std::prev(it)->second;
  };

  std::vector<AddedVocabulary::Split> splits, inner;
  WordList words, scratch_words;
  BpeModel::Scratch scratch;
  const std::string_view all(text);
  added_.SplitRaw(all, inside_special_segment, splits);
  for (const AddedVocabulary::Split& split : splits) {
    if (split.id >= 0) {
      ids.push_back(split.id);
      if (ids.size() > limit) return absl::OkStatus();
      continue;
    }
    const std::string_view raw = all.substr(split.begin, split.end - split.begin);
    std::string normalized_storage;
    std::string_view normalized = raw;
    if (!normalizer_.empty()) {
      normalized_storage = normalizer_.Normalize(raw);
      normalized = normalized_storage;
    }
    inner.clear();
    if (added_.has_normalized_tokens()) {
      const bool piece_parses_special = inside_special_segment(split.begin, split.end);
      added_.SplitNormalized(
          normalized, [piece_parses_special](size_t, size_t) { return piece_parses_special; },
          inner);
    } else if (!normalized.empty()) {
      inner.push_back({0, normalized.size(), -1});
    }
    for (const AddedVocabulary::Split& part : inner) {
      if (part.id >= 0) {
        ids.push_back(part.id);
        if (ids.size() > limit) return absl::OkStatus();
        continue;
      }
      const bool at_text_start = split.begin == 0 && part.begin == 0;
      pre_tokenizer_.Split(normalized.substr(part.begin, part.end - part.begin), at_text_start,
                           words, scratch_words);
      for (size_t i = 0; i < words.size(); ++i) {
        model_->Tokenize(words.word(i), limit, scratch, ids);
        if (ids.size() > limit) return absl::OkStatus();
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace jamba::engine
