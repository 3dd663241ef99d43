// Engine::Tokenize(Input), TokenPieces and the tokenizer facts of ModelInfo, on the demo model
// (built by the demo_model target): what jambad's Tokenize and GetModelInfo report.
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "jamba/engine.h"
#include "tests/util/demo_engine_suite.h"

namespace jamba {
namespace {

using EngineTokenizeTest = testing::DemoEngineSuite;

GenerateOptions Greedy(int max_tokens) {
  GenerateOptions options;
  options.sampling.temperature = 0;
  options.stop.max_tokens = max_tokens;
  options.stop.ignore_eos = true;
  return options;
}

TEST_F(EngineTokenizeTest, ModelInfoCarriesTheTokenizerFactsAndShapes) {
  const ModelInfo& info = engine_->model_info();
  EXPECT_TRUE(info.has_tokenizer);
  EXPECT_TRUE(info.has_chat_template);
  auto bos_only = engine_->Tokenize("", /*add_bos=*/true);
  ASSERT_TRUE(bos_only.ok()) << bos_only.status();
  EXPECT_EQ(*bos_only, std::vector<int32_t>{info.bos_token_id});
  EXPECT_FALSE(info.eos_token_ids.empty());
  EXPECT_EQ(info.model_type, "jamba");
  EXPECT_EQ(info.head_dim * info.num_attention_heads, info.hidden_size);
  EXPECT_GT(info.max_position_embeddings, 0);
  EXPECT_GT(info.mamba_inner_size, info.hidden_size);
}

TEST_F(EngineTokenizeTest, TextInputTokenizesLikeTokenizeWithBos) {
  auto from_input = engine_->Tokenize(Input::Text("the quick brown fox"));
  auto plain = engine_->Tokenize("the quick brown fox", /*add_bos=*/true);
  ASSERT_TRUE(from_input.ok() && plain.ok());
  EXPECT_EQ(*from_input, *plain);
  auto without_bos = engine_->Tokenize(Input::Text("the quick brown fox", /*add_bos=*/false));
  ASSERT_TRUE(without_bos.ok());
  EXPECT_EQ(without_bos->size() + 1, plain->size());
}

TEST_F(EngineTokenizeTest, ChatTokensGenerateExactlyWhatTheChatInputDoes) {
  const Input chat = Input::Chat({{"system", "Be brief."}, {"user", "Hello there"}});
  auto tokens = engine_->Tokenize(chat);
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  EXPECT_EQ(tokens->front(), engine_->model_info().bos_token_id);
  auto from_chat = engine_->Generate(chat, Greedy(6));
  auto from_tokens = engine_->Generate(Input::Tokens(*tokens), Greedy(6));
  ASSERT_TRUE(from_chat.ok() && from_tokens.ok());
  EXPECT_EQ(from_chat->sampled_tokens, from_tokens->sampled_tokens);
  EXPECT_EQ(from_chat->usage.prompt_tokens, static_cast<int64_t>(tokens->size()));
}

TEST_F(EngineTokenizeTest, ChatWithAnUnknownRoleIsInvalid) {
  auto tokens = engine_->Tokenize(Input::Chat({{"robot", "beep"}}));
  EXPECT_EQ(tokens.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(EngineTokenizeTest, PiecesSpellTheVocabulary) {
  auto tokens = engine_->Tokenize("hello world", /*add_bos=*/false);
  ASSERT_TRUE(tokens.ok());
  const std::vector<std::string> pieces = engine_->TokenPieces(*tokens);
  ASSERT_EQ(pieces.size(), tokens->size());
  std::string joined;
  for (const std::string& piece : pieces) joined += piece;
  EXPECT_EQ(joined, "\xE2\x96\x81hello\xE2\x96\x81world");  // U+2581 marks word starts
  EXPECT_EQ(engine_->TokenPieces(std::vector<int32_t>{-1}), std::vector<std::string>{""});
}

}  // namespace
}  // namespace jamba
