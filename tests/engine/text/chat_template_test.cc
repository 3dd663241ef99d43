// Tests of engine/chat_template: the exact Jamba template as ids and as text, and its errors.
#include "engine/text/chat_template.h"

#include <vector>

#include "engine/model_config.h"
#include "engine/text/spm_trainer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/util/demo_tokenizer.h"
#include "tests/util/test_util.h"

namespace jamba::testing {
namespace {

using engine::ChatMessage;
using engine::EncodeChat;
using engine::RenderChatText;
using ::testing::HasSubstr;
using ::testing::Not;

class ChatTemplateTest : public DemoTokenizerTest {
 protected:
  // `ids` followed by `more`.
  static void Append(std::vector<int32_t>& ids, const std::vector<int32_t>& more) {
    ids.insert(ids.end(), more.begin(), more.end());
  }
};

const std::vector<ChatMessage>& History() {
  static const std::vector<ChatMessage> history = {
      {"system", "You are a concise assistant."},
      {"user", "What is the capital of Japan?"},
      {"assistant", "Tokyo (東京)."},
      {"user", "And its population? 🙂"},
  };
  return history;
}

TEST_F(ChatTemplateTest, EncodesSystemUserAssistantHistoryWithGenerationPrompt) {
  const int32_t bom = Id("<|bom|>"), eom = Id("<|eom|>");
  std::vector<int32_t> expected = {1, bom, Id("<|system|>")};
  Append(expected, Ids("You are a concise assistant."));
  Append(expected, {eom, bom, Id("<|user|>")});
  Append(expected, Ids("What is the capital of Japan?"));
  Append(expected, {eom, bom, Id("<|assistant|>")});
  Append(expected, Ids("Tokyo (東京)."));
  Append(expected, {eom, bom, Id("<|user|>")});
  Append(expected, Ids("And its population? 🙂"));
  Append(expected, {eom, bom, Id("<|assistant|>")});
  EXPECT_EQ(expected[1], 4);  // the demo layout: <|bom|> 4 ... <|assistant|> 8
  EXPECT_EQ(expected.back(), 8);

  auto ids = EncodeChat(tokenizer(), History(), /*add_generation_prompt=*/true);
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_EQ(*ids, expected);

  auto text = RenderChatText(History(), /*add_generation_prompt=*/true);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text,
            "<|startoftext|><|bom|><|system|> You are a concise assistant.<|eom|>"
            "<|bom|><|user|> What is the capital of Japan?<|eom|>"
            "<|bom|><|assistant|> Tokyo (東京).<|eom|>"
            "<|bom|><|user|> And its population? 🙂<|eom|>"
            "<|bom|><|assistant|>");
  // The ids and the text are the same template.
  EXPECT_EQ(tokenizer().Decode(*ids, /*skip_special_tokens=*/false), *text);
  EXPECT_EQ(tokenizer().Decode(*ids, /*skip_special_tokens=*/true),
            "You are a concise assistant. What is the capital of Japan? Tokyo (東京). And its "
            "population? 🙂");
}

TEST_F(ChatTemplateTest, WithoutGenerationPromptEndsAfterTheLastMessage) {
  const std::vector<ChatMessage> messages = {{"user", "Hi"}};
  auto ids = EncodeChat(tokenizer(), messages, /*add_generation_prompt=*/false);
  ASSERT_TRUE(ids.ok()) << ids.status();
  std::vector<int32_t> expected = {1, Id("<|bom|>"), Id("<|user|>")};
  Append(expected, Ids("Hi"));
  expected.push_back(Id("<|eom|>"));
  EXPECT_EQ(*ids, expected);
  EXPECT_EQ(*RenderChatText(messages, false), "<|startoftext|><|bom|><|user|> Hi<|eom|>");
}

TEST_F(ChatTemplateTest, EmptyConversationWithPromptIsBosAndTheAssistantHeader) {
  auto ids = EncodeChat(tokenizer(), {}, /*add_generation_prompt=*/true);
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_EQ(*ids, (std::vector<int32_t>{1, 4, 8}));
  EXPECT_EQ(*RenderChatText({}, true), "<|startoftext|><|bom|><|assistant|>");
}

TEST_F(ChatTemplateTest, ContentWhitespaceIsKept) {
  const std::vector<ChatMessage> messages = {{"user", "  indented\n\tand tabbed  "}};
  auto ids = EncodeChat(tokenizer(), messages, true);
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_EQ(tokenizer().Decode(*ids, false), *RenderChatText(messages, true));
}

TEST_F(ChatTemplateTest, RejectsUnknownRoles) {
  const std::vector<ChatMessage> messages = {{"user", "Hi"}, {"tool", "{}"}};
  for (const absl::Status& status : {EncodeChat(tokenizer(), messages, true).status(),
                                     RenderChatText(messages, true).status()}) {
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(status.message()), HasSubstr("'tool'"));
    EXPECT_THAT(std::string(status.message()), HasSubstr("message 1"));
  }
  const std::vector<ChatMessage> capitalized = {{"User", "Hi"}};
  EXPECT_EQ(EncodeChat(tokenizer(), capitalized, true).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(ChatTemplateTest, RejectsASystemMessageAfterTheFirst) {
  const std::vector<ChatMessage> messages = {{"user", "Hi"}, {"system", "Be brief."}};
  for (const absl::Status& status : {EncodeChat(tokenizer(), messages, true).status(),
                                     RenderChatText(messages, true).status()}) {
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(status.message()), HasSubstr("system"));
  }
}

TEST_F(ChatTemplateTest, RejectsContentThatIsNotUtf8) {
  const std::vector<ChatMessage> messages = {{"user", "fine"}, {"assistant", "bad \xC3"}};
  auto ids = EncodeChat(tokenizer(), messages, true);
  ASSERT_FALSE(ids.ok());
  EXPECT_EQ(ids.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(ids.status().message()), HasSubstr("chat message 1"));
}

// Trains a SentencePiece model on the demo corpus with `options` and loads it from `dir`.
std::unique_ptr<engine::Tokenizer> TrainTokenizer(
    const TempDir& dir, std::vector<std::pair<std::string, std::string>> options) {
  options.insert(options.end(), {{"model_type", "bpe"},
                                 {"vocab_size", "600"},
                                 {"byte_fallback", "true"},
                                 {"pad_id", "0"},
                                 {"bos_id", "1"},
                                 {"eos_id", "2"},
                                 {"unk_id", "3"},
                                 {"bos_piece", "<|startoftext|>"},
                                 {"eos_piece", "<|endoftext|>"},
                                 {"num_threads", "1"},
                                 {"minloglevel", "1"}});
  std::string model, error;
  EXPECT_TRUE(engine::TrainSentencePieceModel(DemoCorpusLines(), options, model, error)) << error;
  WriteFile(dir.File("tokenizer.model"), model);
  auto loaded = engine::Tokenizer::Load(dir.path(), engine::ModelConfig());
  EXPECT_TRUE(loaded.ok()) << loaded.status();
  return loaded.ok() ? *std::move(loaded) : nullptr;
}

TEST_F(ChatTemplateTest, NamesTheChatTokensATokenizerLacks) {
  TempDir dir;
  auto plain = TrainTokenizer(dir, {});  // Jamba's BOS/EOS but no chat markup
  ASSERT_NE(plain, nullptr);
  const std::vector<ChatMessage> messages = {{"user", "Hi"}};
  auto ids = EncodeChat(*plain, messages, true);
  ASSERT_FALSE(ids.ok());
  EXPECT_EQ(ids.status().code(), absl::StatusCode::kFailedPrecondition);
  const std::string message(ids.status().message());
  EXPECT_THAT(message, HasSubstr("<|bom|>"));
  EXPECT_THAT(message, HasSubstr("<|eom|>"));
  EXPECT_THAT(message, HasSubstr("<|user|>"));
  EXPECT_THAT(message, HasSubstr("<|assistant|>"));
  EXPECT_THAT(message, Not(HasSubstr("<|system|>")));  // not needed by this conversation
}

TEST_F(ChatTemplateTest, KeepsTheSpaceAfterTheRoleWhenTheTokenizerAddsNoSpacePrefix) {
  TempDir dir;
  auto tokenizer = TrainTokenizer(
      dir, {{"add_dummy_prefix", "false"},
            {"remove_extra_whitespaces", "false"},
            {"normalization_rule_name", "identity"},
            {"user_defined_symbols", "<|bom|>,<|eom|>,<|system|>,<|user|>,<|assistant|>"}});
  ASSERT_NE(tokenizer, nullptr);
  ASSERT_FALSE(tokenizer->adds_space_prefix());
  auto ids = EncodeChat(*tokenizer, History(), true);
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_EQ(tokenizer->Decode(*ids, false), *RenderChatText(History(), true));
}

}  // namespace
}  // namespace jamba::testing
