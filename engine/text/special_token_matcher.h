// SpecialTokenMatcher: finds special-token strings ("<|eom|>", "<|startoftext|>") in text, for the
// segments a tokenizer encodes with special tokens recognised.
#ifndef JAMBA_ENGINE_TEXT_SPECIAL_TOKEN_MATCHER_H_
#define JAMBA_ENGINE_TEXT_SPECIAL_TOKEN_MATCHER_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace jamba::engine {

// A byte trie over the token strings, so a search costs O(text length x longest token) whatever
// the number of tokens (checkpoints carry hundreds of reserved ones). Immutable once built.
class SpecialTokenMatcher {
 public:
  struct Match {
    size_t begin = 0;
    size_t length = 0;
    int32_t id = -1;
  };

  SpecialTokenMatcher() = default;
  // Empty strings are ignored; for a string listed twice the first id wins.
  explicit SpecialTokenMatcher(const std::vector<std::pair<std::string, int32_t>>& tokens);

  // The leftmost match at or after `from`, the longest one at that position; nullopt if none.
  std::optional<Match> FindNext(std::string_view text, size_t from) const;
  bool empty() const { return nodes_.size() <= 1; }

 private:
  struct Node {
    std::vector<std::pair<unsigned char, int32_t>> children;  // sorted by byte
    int32_t token = -1;                                       // id when a token ends here
  };
  int32_t Child(int32_t node, unsigned char byte) const;

  std::vector<Node> nodes_ = std::vector<Node>(1);  // nodes_[0] is the root
  bool first_byte_[256] = {};
};

}  // namespace jamba::engine

#endif  // JAMBA_ENGINE_TEXT_SPECIAL_TOKEN_MATCHER_H_
