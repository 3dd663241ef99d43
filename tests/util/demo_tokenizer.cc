// Trains and loads the demo tokenizer for DemoTokenizerTest.
#include "tests/util/demo_tokenizer.h"

#include "engine/model_config.h"
#include "engine/text/tokenizer_trainer.h"

namespace jamba::testing {

std::unique_ptr<TempDir> DemoTokenizerTest::dir_;
std::unique_ptr<engine::Tokenizer> DemoTokenizerTest::tokenizer_;

std::string DemoCorpusText() { return ReadFile(JAMBA_DEMO_CORPUS); }

std::vector<std::string> DemoCorpusLines() {
  const std::string corpus = DemoCorpusText();
  std::vector<std::string> lines;
  for (size_t start = 0; start < corpus.size();) {
    size_t end = corpus.find('\n', start);
    if (end == std::string::npos) end = corpus.size();
    if (end > start) lines.push_back(corpus.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

void DemoTokenizerTest::SetUpTestSuite() {
  dir_ = std::make_unique<TempDir>();
  const std::string corpus = DemoCorpusText();
  ASSERT_FALSE(corpus.empty()) << "cannot read " << JAMBA_DEMO_CORPUS;
  const absl::Status trained = engine::TrainDemoTokenizer(corpus, kDemoTestVocabSize, dir_->path());
  ASSERT_TRUE(trained.ok()) << trained;
  auto loaded = engine::Tokenizer::Load(dir_->path(), engine::ModelConfig());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  tokenizer_ = *std::move(loaded);
}

void DemoTokenizerTest::TearDownTestSuite() {
  tokenizer_.reset();
  dir_.reset();
}

void DemoTokenizerTest::SetUp() {
  ASSERT_NE(tokenizer_, nullptr) << "the demo tokenizer did not train or load (see above)";
}

std::vector<int32_t> DemoTokenizerTest::Ids(std::string_view text) {
  auto ids = tokenizer_->Encode(text, {});
  EXPECT_TRUE(ids.ok()) << ids.status();
  return ids.ok() ? *ids : std::vector<int32_t>();
}

int32_t DemoTokenizerTest::Id(std::string_view piece) {
  std::optional<int32_t> id = tokenizer_->PieceToId(piece);
  EXPECT_TRUE(id.has_value()) << "no piece " << piece;
  return id.value_or(-1);
}

}  // namespace jamba::testing
