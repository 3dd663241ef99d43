// Tests of constrained tool calls: the JSON-object prefix recognizer against nlohmann-json, and
// ToolCallConstraint driven by random choices on a ChatML tokenizer: every run yields exactly one
// well-formed call of an allowed tool, in the template's markup, within the argument budget.
#include "engine/text/tool_call_constraint.h"

#include <random>
#include <string>
#include <vector>

#include "engine/model_config.h"
#include "engine/text/json_prefix.h"
#include "engine/text/output_parser.h"
#include "engine/text/tokenizer.h"
#include "engine/text/tokenizer_trainer.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/util/demo_tokenizer.h"
#include "tests/util/test_util.h"

namespace jamba::engine {
namespace {

using testing::TempDir;

TEST(JsonObjectPrefixTest, AcceptsExactlyTheJsonObjects) {
  const std::vector<std::string> objects = {
      "{}",
      " {\"a\": 1}",
      "{\"a\":[1,2.5,-3e+4,{\"b\":null}],\"c\":\"x\\\"\\u00e9\"}",
      "{\"t\": true, \"f\": false, \"n\": null, \"s\": \"\xE6\x9D\xB1\"}",
      "{\"a\": {}}",
      "{\"a\": [ ]}",
      "{\"z\": 0.0}"};
  for (const std::string& text : objects) {
    JsonObjectPrefix prefix;
    EXPECT_TRUE(prefix.PushAll(text)) << text;
    EXPECT_TRUE(prefix.complete()) << text;
    EXPECT_EQ(prefix.MinCompletion(), 0u) << text;
  }
  const std::vector<std::string> not_objects = {
      "[1]",         "{\"a\" 1}",   "{\"a\": 01}",     "{\"a\": tru}",
      "{a: 1}",      "{\"a\": 1,}", "{\"a\": 1}}",     "{\"a\": \"\x01\"}",
      "{\"a\": 1.}", "{\"a\": -}",  "{\"a\": \"\\x\"}"};
  for (const std::string& text : not_objects) {
    JsonObjectPrefix prefix;
    EXPECT_FALSE(prefix.PushAll(text) && prefix.complete()) << text;
  }
}

TEST(JsonObjectPrefixTest, MinCompletionIsTheShortestWayToFinish) {
  struct Case {
    std::string prefix;
    size_t min;
  };
  const Case cases[] = {{"", 2},           {"{", 1},           {"{\"k", 4},
                        {"{\"k\"", 3},     {"{\"k\":", 2},     {"{\"k\": [", 2},
                        {"{\"k\": [1", 2}, {"{\"k\": \"v", 2}, {"{\"k\": 1.", 2},
                        {"{\"k\": tr", 3}, {"{\"k\": 1,", 5},  {"{\"k\": \"\\u00", 4}};
  for (const Case& c : cases) {
    JsonObjectPrefix prefix;
    ASSERT_TRUE(prefix.PushAll(c.prefix)) << c.prefix;
    EXPECT_EQ(prefix.MinCompletion(), c.min) << c.prefix;
  }
}

TEST(JsonObjectPrefixTest, RandomTextsItCompletesAreObjectsNlohmannParses) {
  std::mt19937 rng(3);
  const std::string alphabet = "{}[]\":,. \\-+0123456789eEtrufalsn\"ab";
  int complete = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string text;
    JsonObjectPrefix prefix;
    const int length = 1 + static_cast<int>(rng() % 24);
    for (int j = 0; j < length; ++j) {
      const char c = alphabet[rng() % alphabet.size()];
      JsonObjectPrefix next = prefix;
      if (!next.Push(static_cast<uint8_t>(c))) continue;  // keep to valid prefixes
      prefix = next;
      text += c;
      if (prefix.complete()) break;
    }
    if (!prefix.complete()) continue;
    ++complete;
    const nlohmann::json parsed = nlohmann::json::parse(text, nullptr, false);
    ASSERT_FALSE(parsed.is_discarded()) << text;
    EXPECT_TRUE(parsed.is_object()) << text;
  }
  EXPECT_GT(complete, 100);
}

class ToolCallConstraintTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::make_unique<TempDir>();
    DemoTokenizerOptions options;
    options.chat_pieces = {"<|im_start|>", "<|im_end|>",   "<think>",      "</think>",
                           "<tool_call>",  "</tool_call>", "<tool_calls>", "</tool_calls>"};
    ASSERT_TRUE(TrainDemoTokenizer(testing::DemoCorpusText(), 2048, dir_->path(), options).ok());
    ModelConfig config;
    config.bos_token_id = 1;
    config.eos_token_ids = {2};
    auto loaded = Tokenizer::Load(dir_->path(), config);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    tokenizer_ = *std::move(loaded);
  }
  static void TearDownTestSuite() {
    tokenizer_.reset();
    dir_.reset();
  }

  // Drives `constraint` with random choices among the allowed tokens; returns the text.
  static std::string Run(TokenConstraint& constraint, std::mt19937& rng, int32_t* last) {
    std::vector<int32_t> ids;
    for (int step = 0; step < 4000 && !constraint.Finished(); ++step) {
      int32_t token = -1;
      if (auto forced = constraint.ForcedToken()) {
        token = *forced;
      } else {
        std::vector<int32_t> allowed;
        for (int32_t id = 0; id < tokenizer_->num_pieces(); ++id) {
          if (constraint.Allows(id)) allowed.push_back(id);
        }
        EXPECT_FALSE(allowed.empty()) << "no token may come next";
        if (allowed.empty()) break;
        token = allowed[rng() % allowed.size()];
      }
      constraint.Accept(token);
      ids.push_back(token);
    }
    EXPECT_TRUE(constraint.Finished());
    *last = ids.empty() ? -1 : ids.back();
    ids.pop_back();  // the end of turn
    return tokenizer_->Decode(ids, /*skip_special_tokens=*/false);
  }

  static std::unique_ptr<TempDir> dir_;
  static std::unique_ptr<Tokenizer> tokenizer_;
};
std::unique_ptr<TempDir> ToolCallConstraintTest::dir_;
std::unique_ptr<Tokenizer> ToolCallConstraintTest::tokenizer_;

TEST_F(ToolCallConstraintTest, EveryRunIsOneWellFormedCallOfAnOfferedTool) {
  const int32_t end_of_turn = *tokenizer_->PieceToId("<|im_end|>");
  std::mt19937 rng(11);
  for (ToolCallFormat format : {ToolCallFormat::kHermes, ToolCallFormat::kJamba}) {
    for (int run = 0; run < 60; ++run) {
      const std::vector<std::string> names =
          run % 2 == 0 ? std::vector<std::string>{"get_weather"}
                       : std::vector<std::string>{"get_weather", "get_time", "search.web"};
      auto constraint = ToolCallConstraint::Create(*tokenizer_, format, names, end_of_turn, 96);
      ASSERT_TRUE(constraint.ok()) << constraint.status();
      int32_t last = -1;
      const std::string text = Run(**constraint, rng, &last);
      EXPECT_EQ(last, end_of_turn);
      OutputParserOptions options;
      options.tool_calls = format;
      OutputParser parser(options);
      OutputParser::Delta delta = parser.Push(text);
      OutputParser::Delta end = parser.Finish();
      delta.tool_calls.insert(delta.tool_calls.end(), end.tool_calls.begin(), end.tool_calls.end());
      ASSERT_EQ(delta.tool_calls.size(), 1u) << text;
      EXPECT_FALSE(parser.malformed_tool_call()) << text;
      EXPECT_TRUE(delta.content.empty() && end.content.empty()) << text;
      EXPECT_NE(std::find(names.begin(), names.end(), delta.tool_calls[0].name), names.end());
      const nlohmann::json arguments =
          nlohmann::json::parse(delta.tool_calls[0].arguments, nullptr, false);
      EXPECT_TRUE(arguments.is_object()) << text;
    }
  }
}

TEST_F(ToolCallConstraintTest, BadRequestsAreRefused) {
  EXPECT_EQ(
      ToolCallConstraint::Create(*tokenizer_, ToolCallFormat::kNone, {"f"}, -1).status().code(),
      absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(
      ToolCallConstraint::Create(*tokenizer_, ToolCallFormat::kHermes, {}, -1).status().code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ToolCallConstraint::Create(*tokenizer_, ToolCallFormat::kHermes, {"bad name\""}, -1)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace jamba::engine
