// PreTokenizer: a tokenizer.json's pre-tokenizer (Metaspace, Split on a string, in sequence): cuts
// normalized text into the words the BPE model encodes one by one.
#ifndef JAMBA_ENGINE_TEXT_PRE_TOKENIZER_H_
#define JAMBA_ENGINE_TEXT_PRE_TOKENIZER_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "engine/text/tokenizer_json.h"

namespace jamba::engine {

// Words back to back in one buffer (no allocation per word).
struct WordList {
  std::string text;
  std::vector<size_t> ends;  // word i is text[ends[i - 1], ends[i])
  // Word 0 starts at offset 0 of the original text (Metaspace's "first" scheme prepends there).
  bool first_at_text_start = false;

  size_t size() const { return ends.size(); }
  std::string_view word(size_t i) const {
    const size_t begin = i == 0 ? 0 : ends[i - 1];
    return std::string_view(text).substr(begin, ends[i] - begin);
  }
  void clear() {
    text.clear();
    ends.clear();
  }
  void Add(std::string_view word) {
    if (word.empty()) return;  // tokenizers drops empty splits
    text.append(word);
    ends.push_back(text.size());
  }
};

class PreTokenizer {
 public:
  PreTokenizer() = default;
  explicit PreTokenizer(std::vector<PreTokenizerStep> steps) : steps_(std::move(steps)) {}

  // Replaces `words` by the words of `normalized`; `at_text_start`: it begins the original text.
  // `scratch` is working space.
  void Split(std::string_view normalized, bool at_text_start, WordList& words,
             WordList& scratch) const;

 private:
  std::vector<PreTokenizerStep> steps_;
};

}  // namespace jamba::engine

#endif  // JAMBA_ENGINE_TEXT_PRE_TOKENIZER_H_
