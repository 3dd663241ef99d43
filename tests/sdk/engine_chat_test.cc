// Chat through the public Engine API on the reasoning-3b demo preset (tokenizer.json only, a
// ChatML template with Hermes tools and <think>): model facts, reasoning kept apart from the
// answer, a required tool call and its round trip, tool choice "none", a tool conversation in a
// session that survives a restart; and documents with the Jamba template of the default demo.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "jamba/engine.h"
#include "nlohmann/json.hpp"
#include "tests/util/test_util.h"
#include "tools/demo_model.h"

namespace jamba {
namespace {

using ::testing::HasSubstr;

Tool WeatherTool() {
  return {"get_weather", "The weather in a city",
          R"({"type": "object", "properties": {"city": {"type": "string"}}})"};
}

GenerateOptions Seeded(int max_tokens, uint64_t seed = 7) {
  GenerateOptions options;
  options.sampling.seed = seed;
  options.stop.max_tokens = max_tokens;
  return options;
}

class EngineChatTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::make_unique<testing::TempDir>();
    tools::DemoModelOptions options;
    options.preset = "reasoning-3b";
    ASSERT_TRUE(tools::WriteDemoModel(dir_->path() + "/model", options).ok());
  }
  static void TearDownTestSuite() { dir_.reset(); }

  std::unique_ptr<Engine> Open() {
    EngineOptions options;
    options.threads = 2;
    options.session_dir = sessions_.path();
    auto engine = Engine::Open(dir_->path() + "/model", options);
    EXPECT_TRUE(engine.ok()) << engine.status();
    return engine.ok() ? *std::move(engine) : nullptr;
  }

  static std::unique_ptr<testing::TempDir> dir_;
  testing::TempDir sessions_;
};
std::unique_ptr<testing::TempDir> EngineChatTest::dir_;

TEST_F(EngineChatTest, TheModelReportsItsTokenizerTemplateAndFormats) {
  auto engine = Open();
  ASSERT_NE(engine, nullptr);
  const ModelInfo& info = engine->model_info();
  EXPECT_EQ(info.tokenizer_kind, "tokenizer.json");
  EXPECT_TRUE(info.has_chat_template);
  EXPECT_EQ(info.chat_template_origin, "tokenizer_config.json");
  EXPECT_EQ(info.chat_template_family, "chatml");
  EXPECT_EQ(info.tool_call_format, "hermes");
  EXPECT_TRUE(info.reasoning);
  EXPECT_EQ(info.num_attention_heads, 20);
  EXPECT_EQ(info.num_key_value_heads, 1);
  // EOS: the tokenizer's and the end of a ChatML turn.
  ASSERT_EQ(info.eos_token_ids.size(), 2u);
  const std::vector<int32_t> end_of_turn = {info.eos_token_ids[1]};
  EXPECT_EQ(engine->TokenPieces(end_of_turn).front(), "<|im_end|>");
}

TEST_F(EngineChatTest, ReasoningIsKeptApartFromTheAnswer) {
  auto engine = Open();
  ASSERT_NE(engine, nullptr);
  const Input question = Input::Chat({{"user", "What is 2+2?"}});
  // The generation prompt opens a <think> block: what the model writes is reasoning until it
  // closes it. The same completion read raw is the reasoning's text exactly.
  std::string streamed_reasoning, streamed_text;
  auto parsed = engine->Generate(question, Seeded(24), [&](const GenerateChunk& chunk) {
    streamed_reasoning += chunk.reasoning;
    streamed_text += chunk.text;
    return true;
  });
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  GenerateOptions raw_options = Seeded(24);
  raw_options.output_parsing = OutputParsing::kRaw;
  auto raw = engine->Generate(question, raw_options);
  ASSERT_TRUE(raw.ok()) << raw.status();
  EXPECT_EQ(parsed->tokens, raw->tokens);
  EXPECT_EQ(streamed_reasoning, parsed->reasoning);
  EXPECT_EQ(streamed_text, parsed->text);
  if (raw->text.find("</think>") == std::string::npos) {
    EXPECT_FALSE(parsed->reasoning.empty());
    EXPECT_EQ(parsed->text, "");
    std::string trimmed = raw->text;
    while (!trimmed.empty() && trimmed.front() == '\n') trimmed.erase(0, 1);
    while (!trimmed.empty() && trimmed.back() == '\n') trimmed.pop_back();
    EXPECT_EQ(parsed->reasoning, trimmed);
  }
}

TEST_F(EngineChatTest, ARequiredToolCallRoundTrip) {
  auto engine = Open();
  ASSERT_NE(engine, nullptr);
  Input ask = Input::Chat({{"user", "Weather in Paris?"}});
  ask.tools = {WeatherTool(), {"get_time", "", "{}"}};
  GenerateOptions options = Seeded(60);
  options.tool_choice.mode = ToolChoice::Mode::kFunction;
  options.tool_choice.function = "get_weather";
  std::vector<ToolCall> streamed;
  auto called = engine->Generate(ask, options, [&](const GenerateChunk& chunk) {
    streamed.insert(streamed.end(), chunk.tool_calls.begin(), chunk.tool_calls.end());
    return true;
  });
  ASSERT_TRUE(called.ok()) << called.status();
  EXPECT_EQ(called->finish_reason, FinishReason::kToolCalls);
  ASSERT_EQ(called->tool_calls.size(), 1u);
  const ToolCall& call = called->tool_calls[0];
  EXPECT_EQ(call.name, "get_weather");
  EXPECT_TRUE(absl::StartsWith(call.id, "call_"));
  EXPECT_TRUE(nlohmann::json::parse(call.arguments, nullptr, false).is_object()) << call.arguments;
  EXPECT_EQ(called->text, "");
  EXPECT_FALSE(called->malformed_tool_call);
  ASSERT_EQ(streamed.size(), 1u);
  EXPECT_EQ(streamed[0].arguments, call.arguments);

  // Required: one of the offered tools.
  options.tool_choice.mode = ToolChoice::Mode::kRequired;
  auto any = engine->Generate(ask, options);
  ASSERT_TRUE(any.ok()) << any.status();
  ASSERT_EQ(any->tool_calls.size(), 1u);
  EXPECT_THAT(any->tool_calls[0].name, ::testing::AnyOf("get_weather", "get_time"));

  // The result goes back and generation continues; the template renders it as a tool response.
  Input answer = Input::Chat({{"user", "Weather in Paris?"}});
  answer.tools = ask.tools;
  ChatMessage assistant{"assistant", ""};
  assistant.tool_calls = called->tool_calls;
  ChatMessage result{"tool", "22 degrees, sunny"};
  result.tool_call_id = call.id;
  result.name = call.name;
  answer.messages.push_back(assistant);
  answer.messages.push_back(result);
  auto rendered = engine->RenderChat(answer);
  ASSERT_TRUE(rendered.ok()) << rendered.status();
  EXPECT_THAT(*rendered, HasSubstr("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": "));
  EXPECT_THAT(*rendered, HasSubstr("<|im_start|>user\n<tool_response>\n22 degrees, sunny\n"
                                   "</tool_response><|im_end|>"));
  auto continued = engine->Generate(answer, Seeded(8));
  ASSERT_TRUE(continued.ok()) << continued.status();
  EXPECT_EQ(continued->usage.completion_tokens, 8);

  // A function that is not offered, or a required call without tools, is an error.
  options.tool_choice.mode = ToolChoice::Mode::kFunction;
  options.tool_choice.function = "launch_rocket";
  EXPECT_EQ(engine->Generate(ask, options).status().code(), absl::StatusCode::kInvalidArgument);
  options.tool_choice.mode = ToolChoice::Mode::kRequired;
  EXPECT_EQ(engine->Generate(Input::Chat({{"user", "hi"}}), options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(EngineChatTest, ToolChoiceNoneNeverProducesTheToolMarkup) {
  auto engine = Open();
  ASSERT_NE(engine, nullptr);
  Input ask = Input::Chat({{"user", "Weather in Paris?"}});
  ask.tools = {WeatherTool()};
  GenerateOptions options = Seeded(64);
  options.tool_choice.mode = ToolChoice::Mode::kNone;
  options.stop.ignore_eos = true;
  auto result = engine->Generate(ask, options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->tool_calls.empty());
  for (const std::string& piece : engine->TokenPieces(result->sampled_tokens)) {
    EXPECT_NE(piece, "<tool_call>");
  }
}

TEST_F(EngineChatTest, AToolConversationInASessionContinuesAfterARestart) {
  std::vector<int32_t> before_restart;
  {
    auto engine = Open();
    ASSERT_NE(engine, nullptr);
    ASSERT_TRUE(engine->CreateSession("default", {.id = "agent"}).ok());
    Input first = Input::Chat({{"system", "You call tools."}, {"user", "Weather in Oslo?"}});
    first.tools = {WeatherTool()};
    GenerateOptions options = Seeded(60);
    options.tool_choice.mode = ToolChoice::Mode::kFunction;
    options.tool_choice.function = "get_weather";
    auto called = engine->GenerateFromSession("default", "agent", first, options, /*commit=*/true);
    ASSERT_TRUE(called.ok()) << called.status();
    ASSERT_EQ(called->tool_calls.size(), 1u);
    EXPECT_EQ(called->finish_reason, FinishReason::kToolCalls);
    // The session now ends with the call: the result continues the conversation.
    ChatMessage result{"tool", "-3 degrees, snow"};
    result.tool_call_id = called->tool_calls[0].id;
    Input answer = Input::Chat({result});
    GenerateOptions greedy = Seeded(12);
    greedy.sampling.temperature = 0;
    ASSERT_TRUE(engine->AppendToSession("default", "agent", answer).ok());
    auto next = engine->GenerateFromSession("default", "agent", std::nullopt, greedy, false);
    ASSERT_TRUE(next.ok()) << next.status();
    before_restart = next->tokens;
  }
  auto engine = Open();  // a restart: nothing in memory
  ASSERT_NE(engine, nullptr);
  GenerateOptions greedy = Seeded(12);
  greedy.sampling.temperature = 0;
  auto after = engine->GenerateFromSession("default", "agent", std::nullopt, greedy, false);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->tokens, before_restart);
  EXPECT_EQ(after->usage.recomputed_tokens, 0);
}

TEST_F(EngineChatTest, ACommittedReplyIsClosedAsTheTemplateClosesATurn) {
  auto engine = Open();
  ASSERT_NE(engine, nullptr);
  // ChatML closes an assistant turn with "<|im_end|>\n": a reply that sampled <|im_end|> (its
  // end of sequence) lacks the newline; a reply cut short lacks both.
  auto closing = engine->Tokenize("<|im_end|>\n", {.add_bos = false, .parse_special_tokens = true});
  ASSERT_TRUE(closing.ok()) << closing.status();
  ASSERT_EQ(closing->size(), 2u);
  ASSERT_TRUE(engine->CreateSession("default", {.id = "closed"}).ok());
  auto expect_closed = [&](const GenerateResult& result, int64_t before, int64_t missing) {
    ASSERT_TRUE(result.session.has_value());
    EXPECT_EQ(result.session->token_count, before + result.usage.prompt_tokens +
                                               static_cast<int64_t>(result.sampled_tokens.size()) +
                                               missing);
  };
  // Cut short by max_tokens, with the end of sequence banned.
  GenerateOptions cut = Seeded(5);
  cut.stop.ignore_eos = true;
  auto first = engine->GenerateFromSession("default", "closed", Input::Chat({{"user", "Hello"}}),
                                           cut, /*commit=*/true);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->finish_reason, FinishReason::kLength);
  expect_closed(*first, 0, 2);
  // A forced tool call ends with <|im_end|>: only the newline is added.
  const int64_t before = first->session->token_count;
  Input ask = Input::Chat({{"user", "Weather in Oslo?"}});
  ask.tools = {WeatherTool()};
  GenerateOptions call = Seeded(60);
  call.tool_choice.mode = ToolChoice::Mode::kRequired;
  auto called = engine->GenerateFromSession("default", "closed", ask, call, /*commit=*/true);
  ASSERT_TRUE(called.ok()) << called.status();
  ASSERT_EQ(called->finish_reason, FinishReason::kToolCalls);
  ASSERT_EQ(called->sampled_tokens.back(), (*closing)[0]);
  expect_closed(*called, before, 1);
  // Text generations are committed as they were sampled.
  const int64_t text_before = called->session->token_count;
  auto text = engine->GenerateFromSession("default", "closed", Input::Text(" and"), cut, true);
  ASSERT_TRUE(text.ok()) << text.status();
  expect_closed(*text, text_before, 0);
}

TEST(EngineDocumentsTest, DocumentsRenderInTheJambaTemplate) {
  testing::TempDir dir;
  ASSERT_TRUE(tools::WriteDemoModel(dir.path(), {}).ok());
  EngineOptions options;
  options.threads = 2;
  auto engine = Engine::Open(dir.path(), options);
  ASSERT_TRUE(engine.ok()) << engine.status();
  EXPECT_EQ((*engine)->model_info().chat_template_family, "jamba");
  EXPECT_EQ((*engine)->model_info().chat_template_origin, "built-in (Jamba 1.5+)");
  Input ask = Input::Chat({{"user", "Summarize the notes."}});
  ask.documents = {{"Notes", "Sessions survive restarts.", {{"author", "ops"}}}};
  auto rendered = (*engine)->RenderChat(ask);
  ASSERT_TRUE(rendered.ok()) << rendered.status();
  EXPECT_THAT(*rendered, HasSubstr("<|bom|><|system|> <documents>\n# Documents\n\nYou can use the "
                                   "following documents for reference:\n\n## Document ID: 0\n"
                                   "Title: Notes\nAuthor: ops\nText: Sessions survive restarts.\n"
                                   "</documents><|eom|><|bom|><|user|> Summarize the notes."));
  auto tokens = (*engine)->Tokenize(ask);
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  auto result = (*engine)->Generate(ask, Seeded(4));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->usage.prompt_tokens, static_cast<int64_t>(tokens->size()));
}

}  // namespace
}  // namespace jamba
