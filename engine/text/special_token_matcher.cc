// SpecialTokenMatcher: trie construction and leftmost-longest search.
#include "engine/text/special_token_matcher.h"

#include <algorithm>

namespace jamba::engine {

SpecialTokenMatcher::SpecialTokenMatcher(
    const std::vector<std::pair<std::string, int32_t>>& tokens) {
  for (const auto& [text, id] : tokens) {
    if (text.empty()) continue;
    int32_t node = 0;
    for (const char c : text) {
      const auto byte = static_cast<unsigned char>(c);
      int32_t next = Child(node, byte);
      if (next < 0) {
        next = static_cast<int32_t>(nodes_.size());
        nodes_.emplace_back();
        auto& children = nodes_[node].children;
        children.insert(
            std::upper_bound(children.begin(), children.end(), std::make_pair(byte, int32_t{-1})),
            {byte, next});
      }
      node = next;
    }
    if (nodes_[node].token < 0) nodes_[node].token = id;
    first_byte_[static_cast<unsigned char>(text.front())] = true;
  }
}

int32_t SpecialTokenMatcher::Child(int32_t node, unsigned char byte) const {
  const auto& children = nodes_[node].children;
  auto it = std::lower_bound(children.begin(), children.end(), std::make_pair(byte, int32_t{-1}));
  return it != children.end() && it->first == byte ? it->second : -1;
}

std::optional<SpecialTokenMatcher::Match> SpecialTokenMatcher::FindNext(std::string_view text,
                                                                        size_t from) const {
  if (empty()) return std::nullopt;
  for (size_t begin = from; begin < text.size(); ++begin) {
    if (!first_byte_[static_cast<unsigned char>(text[begin])]) continue;
    int32_t node = 0;
    std::optional<Match> best;
    for (size_t i = begin; i < text.size(); ++i) {
      node = Child(node, static_cast<unsigned char>(text[i]));
      if (node < 0) break;
      if (nodes_[node].token >= 0) best = Match{begin, i + 1 - begin, nodes_[node].token};
    }
    if (best.has_value()) return best;
  }
  return std::nullopt;
}

}  // namespace jamba::engine
