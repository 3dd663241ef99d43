// PreTokenizer's steps, with tokenizers' rules for where the matches of a split pattern go.
#include "engine/text/pre_tokenizer.h"

#include <algorithm>
#include <utility>

namespace jamba::engine {
namespace {

struct Segment {
  size_t begin, end;
  bool is_match;
};

// The occurrences of `pattern` (non-overlapping, from the left) and the text between them.
void FindSegments(std::string_view text, std::string_view pattern, bool invert,
                  std::vector<Segment>& segments) {
  segments.clear();
  size_t previous = 0;
  for (size_t at = text.find(pattern); at != std::string_view::npos;
       at = text.find(pattern, at + pattern.size())) {
    if (at != previous) segments.push_back({previous, at, invert});
    segments.push_back({at, at + pattern.size(), !invert});
    previous = at + pattern.size();
  }
  if (previous != text.size()) segments.push_back({previous, text.size(), invert});
}

// Applies `behavior` to `segments` and adds the resulting words of `text` to `out`. Returns
// whether the first word added starts at offset 0 of `text`.
bool AddSplits(std::string_view text, std::vector<Segment>& segments, SplitBehavior behavior,
               WordList& out) {
  std::vector<std::pair<size_t, size_t>> kept;
  bool previous_match = false;
  switch (behavior) {
    case SplitBehavior::kRemoved:
      for (const Segment& s : segments) {
        if (!s.is_match) kept.emplace_back(s.begin, s.end);
      }
      break;
    case SplitBehavior::kIsolated:
      for (const Segment& s : segments) kept.emplace_back(s.begin, s.end);
      break;
    case SplitBehavior::kContiguous:
      for (size_t i = 0; i < segments.size(); ++i) {
        const Segment& s = segments[i];
        if (i > 0 && s.is_match == previous_match) {
          kept.back().second = s.end;
        } else {
          kept.emplace_back(s.begin, s.end);
        }
        previous_match = s.is_match;
      }
      break;
    case SplitBehavior::kMergedWithPrevious:
      for (const Segment& s : segments) {
        if (s.is_match && !previous_match && !kept.empty()) {
          kept.back().second = s.end;
        } else {
          kept.emplace_back(s.begin, s.end);
        }
        previous_match = s.is_match;
      }
      break;
    case SplitBehavior::kMergedWithNext:
      for (size_t i = segments.size(); i-- > 0;) {
        const Segment& s = segments[i];
        if (s.is_match && !previous_match && !kept.empty()) {
          kept.back().first = s.begin;
        } else {
          kept.emplace_back(s.begin, s.end);
        }
        previous_match = s.is_match;
      }
      std::reverse(kept.begin(), kept.end());
      break;
  }
  const bool first_at_zero = !kept.empty() && kept.front().first == 0;
  for (const auto& [begin, end] : kept) out.Add(text.substr(begin, end - begin));
  return first_at_zero;
}

}  // namespace

void PreTokenizer::Split(std::string_view normalized, bool at_text_start, WordList& words,
                         WordList& scratch) const {
  words.clear();
  words.Add(normalized);
  words.first_at_text_start = at_text_start;
  std::vector<Segment> segments;
  std::string replaced;
  for (const PreTokenizerStep& step : steps_) {
    scratch.clear();
    scratch.first_at_text_start = false;
    for (size_t i = 0; i < words.size(); ++i) {
      std::string_view word = words.word(i);
      const bool word_at_start = i == 0 && words.first_at_text_start;
      const size_t added_before = scratch.size();
      bool first_at_zero = false;
      if (step.kind == PreTokenizerKind::kMetaspace) {
        replaced.clear();
        for (char c : word) {
          if (c == ' ') {
            replaced += step.replacement;
          } else {
            replaced.push_back(c);
          }
        }
        const bool prepend = !replaced.starts_with(step.replacement) &&
                             (step.prepend_scheme == PrependScheme::kAlways ||
                              (step.prepend_scheme == PrependScheme::kFirst && word_at_start));
        if (prepend) replaced.insert(0, step.replacement);
        if (step.split) {
          FindSegments(replaced, step.replacement, /*invert=*/false, segments);
          first_at_zero = AddSplits(replaced, segments, SplitBehavior::kMergedWithNext, scratch);
        } else {
          scratch.Add(replaced);
          first_at_zero = true;
        }
      } else {
        FindSegments(word, step.pattern, step.invert, segments);
        first_at_zero = AddSplits(word, segments, step.behavior, scratch);
      }
      if (word_at_start && added_before == 0 && scratch.size() > 0) {
        scratch.first_at_text_start = first_at_zero;
      }
    }
    std::swap(words, scratch);
  }
}

}  // namespace jamba::engine
