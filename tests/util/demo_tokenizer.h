// A fixture for the tokenizer tests: trains the demo tokenizer from tools/demo_corpus.txt once per
// test suite (well under a second) into a temporary directory and loads it, once from its
// tokenizer.model alone and once from its tokenizer.json alone (each with the side files).
#ifndef JAMBA_TESTS_UTIL_DEMO_TOKENIZER_H_
#define JAMBA_TESTS_UTIL_DEMO_TOKENIZER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/text/tokenizer.h"
#include "gtest/gtest.h"
#include "tests/util/test_util.h"

namespace jamba::testing {

inline constexpr int kDemoTestVocabSize = 2048;

// The text of tools/demo_corpus.txt, and its non-empty lines.
std::string DemoCorpusText();
std::vector<std::string> DemoCorpusLines();

class DemoTokenizerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite();
  static void TearDownTestSuite();
  void SetUp() override;

  // tokenizer.model and the side files (no tokenizer.json): the SentencePiece tokenizer.
  static const std::string& tokenizer_dir() { return spm_dir_->path(); }
  static const engine::Tokenizer& tokenizer() { return *tokenizer_; }
  // tokenizer.json and the side files (no tokenizer.model).
  static const std::string& json_tokenizer_dir() { return json_dir_->path(); }
  static const engine::Tokenizer& json_tokenizer() { return *json_tokenizer_; }
  // Everything TrainDemoTokenizer wrote.
  static const std::string& trained_dir() { return dir_->path(); }
  // Encode(text) without BOS, failing the test on error.
  static std::vector<int32_t> Ids(std::string_view text);
  // The id of `piece`, failing the test if it is not in the vocabulary.
  static int32_t Id(std::string_view piece);

 private:
  static std::unique_ptr<TempDir> dir_, spm_dir_, json_dir_;
  static std::unique_ptr<engine::Tokenizer> tokenizer_, json_tokenizer_;
};

}  // namespace jamba::testing

#endif  // JAMBA_TESTS_UTIL_DEMO_TOKENIZER_H_
