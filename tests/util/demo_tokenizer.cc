// Trains and loads the demo tokenizer for DemoTokenizerTest.
#include "tests/util/demo_tokenizer.h"

#include <filesystem>

#include "engine/model_config.h"
#include "engine/text/tokenizer_trainer.h"

namespace jamba::testing {

std::unique_ptr<TempDir> DemoTokenizerTest::dir_;
std::unique_ptr<TempDir> DemoTokenizerTest::spm_dir_;
std::unique_ptr<TempDir> DemoTokenizerTest::json_dir_;
std::unique_ptr<engine::Tokenizer> DemoTokenizerTest::tokenizer_;
std::unique_ptr<engine::Tokenizer> DemoTokenizerTest::json_tokenizer_;

namespace {

// Copies the files of `from` into `to`, except `left_out`.
void CopyAllBut(const std::string& from, const std::string& to, const std::string& left_out) {
  for (const auto& entry : std::filesystem::directory_iterator(from)) {
    if (entry.path().filename() == left_out) continue;
    std::filesystem::copy_file(entry.path(), to + "/" + entry.path().filename().string());
  }
}

}  // namespace

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
  spm_dir_ = std::make_unique<TempDir>();
  json_dir_ = std::make_unique<TempDir>();
  CopyAllBut(dir_->path(), spm_dir_->path(), "tokenizer.json");
  CopyAllBut(dir_->path(), json_dir_->path(), "tokenizer.model");
  auto loaded = engine::Tokenizer::Load(spm_dir_->path(), engine::ModelConfig());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  tokenizer_ = *std::move(loaded);
  auto json_loaded = engine::Tokenizer::Load(json_dir_->path(), engine::ModelConfig());
  ASSERT_TRUE(json_loaded.ok()) << json_loaded.status();
  json_tokenizer_ = *std::move(json_loaded);
}

void DemoTokenizerTest::TearDownTestSuite() {
  tokenizer_.reset();
  json_tokenizer_.reset();
  spm_dir_.reset();
  json_dir_.reset();
  dir_.reset();
}

void DemoTokenizerTest::SetUp() {
  ASSERT_NE(tokenizer_, nullptr) << "the demo tokenizer did not train or load (see above)";
  ASSERT_NE(json_tokenizer_, nullptr) << "the demo tokenizer.json did not load (see above)";
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
