// Tools, documents and reasoning through jambad's gRPC API on the reasoning-3b demo preset
// (tokenizer.json only, a ChatML template with Hermes tools and <think>): the model's facts, a
// tool-call round trip, reasoning apart from the answer, the same conversation in a session
// across a restart, documents in the Jamba template of the default demo, and the errors of
// malformed tool input.
#include <csignal>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/integration/jambad_process.h"

namespace jamba::testing {
namespace {

using ::testing::HasSubstr;

void AddMessage(v1::ChatMessages& chat, v1::ChatMessage::Role role, const std::string& content) {
  v1::ChatMessage& message = *chat.add_messages();
  message.set_role(role);
  message.set_content(content);
}

void OfferWeatherTool(v1::ChatMessages& chat) {
  v1::Tool& tool = *chat.add_tools();
  tool.set_name("get_weather");
  tool.set_description("The weather in a city");
  tool.set_parameters(R"({"type": "object", "properties": {"city": {"type": "string"}}})");
}

v1::GenerateRequest Seeded(int max_tokens, uint64_t seed) {
  v1::GenerateRequest request;
  request.set_max_tokens(max_tokens);
  request.mutable_sampling()->set_seed(seed);
  return request;
}

std::vector<v1::ToolCall> StreamedToolCalls(const GenerateOutcome& outcome) {
  std::vector<v1::ToolCall> calls;
  for (const v1::GenerateResponse& response : outcome.responses) {
    calls.insert(calls.end(), response.tool_calls().begin(), response.tool_calls().end());
  }
  return calls;
}

std::string StreamedReasoning(const GenerateOutcome& outcome) {
  std::string reasoning;
  for (const v1::GenerateResponse& response : outcome.responses) reasoning += response.reasoning();
  return reasoning;
}

class ChatToolsTest : public ::testing::Test {
 protected:
  void Start(const std::string& session_dir = "") {
    auto server =
        JambadProcess::Start({.model_dir = ReasoningDemoModelDir(), .session_dir = session_dir});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    generation_ = v1::GenerationService::NewStub(server_->Channel());
    models_ = v1::ModelService::NewStub(server_->Channel());
    sessions_ = v1::SessionService::NewStub(server_->Channel());
  }

  std::unique_ptr<JambadProcess> server_;
  std::unique_ptr<v1::GenerationService::Stub> generation_;
  std::unique_ptr<v1::ModelService::Stub> models_;
  std::unique_ptr<v1::SessionService::Stub> sessions_;
};

TEST_F(ChatToolsTest, TheModelReportsItsTokenizerTemplateAndFormats) {
  Start();
  grpc::ClientContext context;
  v1::ModelInfo info;
  ASSERT_TRUE(models_->GetModelInfo(&context, v1::GetModelInfoRequest(), &info).ok());
  const v1::TokenizerInfo& tokenizer = info.tokenizer();
  EXPECT_EQ(tokenizer.kind(), "tokenizer.json");
  EXPECT_EQ(tokenizer.chat_template_origin(), "tokenizer_config.json");
  EXPECT_EQ(tokenizer.chat_template_family(), "chatml");
  EXPECT_EQ(tokenizer.tool_call_format(), "hermes");
  EXPECT_TRUE(tokenizer.reasoning());
  EXPECT_EQ(tokenizer.eos_token_ids_size(), 2);
}

TEST_F(ChatToolsTest, ConfigOverridesHowRepliesAreRead) {
  auto server =
      JambadProcess::Start({.model_dir = ReasoningDemoModelDir(),
                            .flags = {"--tool-call-format", "none", "--reasoning-format", "none"}});
  ASSERT_TRUE(server.ok()) << server.status();
  auto models = v1::ModelService::NewStub((*server)->Channel());
  grpc::ClientContext context;
  v1::ModelInfo info;
  ASSERT_TRUE(models->GetModelInfo(&context, v1::GetModelInfoRequest(), &info).ok());
  EXPECT_EQ(info.tokenizer().tool_call_format(), "none");
  EXPECT_FALSE(info.tokenizer().reasoning());
  // Nothing is read out of the reply: what would have been reasoning stays in the text.
  auto generation = v1::GenerationService::NewStub((*server)->Channel());
  v1::GenerateRequest ask = Seeded(24, 7);
  AddMessage(*ask.mutable_messages(), v1::ChatMessage::USER, "What is 2+2?");
  const GenerateOutcome raw = Generate(*generation, ask);
  ASSERT_TRUE(raw.status.ok()) << raw.status.error_message();
  EXPECT_EQ(StreamedReasoning(raw), "");
  EXPECT_FALSE(raw.text.empty());
}

TEST_F(ChatToolsTest, AToolCallRoundTrip) {
  Start();
  v1::GenerateRequest ask = Seeded(60, 11);
  AddMessage(*ask.mutable_messages(), v1::ChatMessage::USER, "Weather in Paris?");
  OfferWeatherTool(*ask.mutable_messages());
  ask.mutable_tool_choice()->set_mode(v1::ToolChoice::FUNCTION);
  ask.mutable_tool_choice()->set_function("get_weather");
  const GenerateOutcome called = Generate(*generation_, ask);
  ASSERT_TRUE(called.status.ok()) << called.status.error_message();
  EXPECT_EQ(called.last.finish_reason(), v1::FINISH_REASON_TOOL_CALLS);
  const std::vector<v1::ToolCall> calls = StreamedToolCalls(called);
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].name(), "get_weather");
  EXPECT_TRUE(absl::StartsWith(calls[0].id(), "call_"));
  EXPECT_TRUE(nlohmann::json::parse(calls[0].arguments(), nullptr, false).is_object())
      << calls[0].arguments();
  EXPECT_FALSE(called.last.malformed_tool_call());
  EXPECT_EQ(called.text, "");  // the call is not in the answer text

  // The result goes back with the call, and generation continues from it.
  v1::GenerateRequest answer = Seeded(8, 12);
  *answer.mutable_messages() = ask.messages();
  v1::ChatMessage& assistant = *answer.mutable_messages()->add_messages();
  assistant.set_role(v1::ChatMessage::ASSISTANT);
  *assistant.add_tool_calls() = calls[0];
  v1::ChatMessage& result = *answer.mutable_messages()->add_messages();
  result.set_role(v1::ChatMessage::TOOL);
  result.set_tool_call_id(calls[0].id());
  result.set_name("get_weather");
  result.set_content("22 degrees, sunny");
  const GenerateOutcome continued = Generate(*generation_, answer);
  ASSERT_TRUE(continued.status.ok()) << continued.status.error_message();
  EXPECT_GT(continued.last.usage().completion_tokens(), 0);
  // The template rendered the call and its result, as Tokenize shows.
  v1::TokenizeRequest tokenize;
  *tokenize.mutable_messages() = answer.messages();
  tokenize.set_include_pieces(true);
  grpc::ClientContext context;
  v1::TokenizeResponse prompt;
  ASSERT_TRUE(models_->Tokenize(&context, tokenize, &prompt).ok());
  std::string rendered;
  for (const std::string& piece : prompt.pieces()) rendered += piece;
  EXPECT_THAT(rendered, HasSubstr("<tool_call>"));
  EXPECT_THAT(rendered, HasSubstr("<tool_response>"));
  EXPECT_EQ(continued.last.usage().prompt_tokens(), prompt.token_ids_size());
}

TEST_F(ChatToolsTest, ReasoningComesApartFromTheAnswer) {
  Start();
  v1::GenerateRequest ask = Seeded(24, 7);
  AddMessage(*ask.mutable_messages(), v1::ChatMessage::USER, "What is 2+2?");
  const GenerateOutcome parsed = Generate(*generation_, ask);
  ASSERT_TRUE(parsed.status.ok()) << parsed.status.error_message();
  // The same tokens read raw (a prompt of the same ids is not a chat input): the prompt opened a
  // <think> block, so everything up to its end is reasoning, without the newlines around it.
  v1::TokenizeRequest tokenize;
  *tokenize.mutable_messages() = ask.messages();
  grpc::ClientContext context;
  v1::TokenizeResponse prompt;
  ASSERT_TRUE(models_->Tokenize(&context, tokenize, &prompt).ok());
  v1::GenerateRequest raw = Seeded(24, 7);
  raw.mutable_prompt_token_ids()->mutable_ids()->Add(prompt.token_ids().begin(),
                                                     prompt.token_ids().end());
  const GenerateOutcome plain = Generate(*generation_, raw);
  ASSERT_TRUE(plain.status.ok()) << plain.status.error_message();
  ASSERT_EQ(parsed.tokens, plain.tokens);
  ASSERT_EQ(plain.text.find("</think>"), std::string::npos) << plain.text;
  const std::string reasoning = StreamedReasoning(parsed);
  EXPECT_FALSE(reasoning.empty());
  EXPECT_EQ(reasoning, absl::StripAsciiWhitespace(plain.text));
  EXPECT_EQ(parsed.text, "");
}

TEST_F(ChatToolsTest, AToolConversationInASessionContinuesAfterARestart) {
  TempDir sessions;
  Start(sessions.path());
  {
    grpc::ClientContext context;
    v1::CreateSessionRequest create;
    create.set_session_id("agent");
    v1::Session session;
    ASSERT_TRUE(sessions_->CreateSession(&context, create, &session).ok());
  }
  v1::GenerateRequest ask = Seeded(60, 21);
  v1::SessionInput& first = *ask.mutable_session();
  first.set_session("sessions/agent");
  first.set_commit(true);
  AddMessage(*first.mutable_messages(), v1::ChatMessage::SYSTEM, "You call tools.");
  AddMessage(*first.mutable_messages(), v1::ChatMessage::USER, "Weather in Oslo?");
  OfferWeatherTool(*first.mutable_messages());
  ask.mutable_tool_choice()->set_mode(v1::ToolChoice::REQUIRED);
  const GenerateOutcome called = Generate(*generation_, ask);
  ASSERT_TRUE(called.status.ok()) << called.status.error_message();
  const std::vector<v1::ToolCall> calls = StreamedToolCalls(called);
  ASSERT_EQ(calls.size(), 1u);
  ASSERT_TRUE(called.last.has_session());
  const int32_t committed = called.last.session().token_count();

  // The tool's result continues the session: greedy, not committed, before and after a restart.
  v1::GenerateRequest answer;
  answer.set_max_tokens(12);
  answer.mutable_sampling()->set_temperature(0);
  v1::SessionInput& next = *answer.mutable_session();
  next.set_session("sessions/agent");
  v1::ChatMessage& result = *next.mutable_messages()->add_messages();
  result.set_role(v1::ChatMessage::TOOL);
  result.set_tool_call_id(calls[0].id());
  result.set_content("-3 degrees, snow");
  const GenerateOutcome before = Generate(*generation_, answer);
  ASSERT_TRUE(before.status.ok()) << before.status.error_message();

  server_->Signal(SIGTERM);
  ASSERT_EQ(server_->Wait(), 0);
  Start(sessions.path());
  const GenerateOutcome after = Generate(*generation_, answer);
  ASSERT_TRUE(after.status.ok()) << after.status.error_message();
  EXPECT_EQ(after.tokens, before.tokens);
  EXPECT_EQ(after.text, before.text);
  EXPECT_EQ(StreamedReasoning(after), StreamedReasoning(before));
  EXPECT_EQ(after.last.usage().restored_tokens(), committed);
}

TEST_F(ChatToolsTest, MalformedToolInputIsAnErrorNamingTheField) {
  Start();
  struct Case {
    std::string what;
    std::function<void(v1::GenerateRequest&)> edit;
    std::string field;
  };
  const std::vector<Case> cases = {
      {"a tool result with tool calls",
       [](v1::GenerateRequest& r) {
         v1::ChatMessage& m = *r.mutable_messages()->add_messages();
         m.set_role(v1::ChatMessage::TOOL);
         m.set_content("x");
         v1::ToolCall& call = *m.add_tool_calls();
         call.set_name("get_weather");
         call.set_arguments("{}");
       },
       "messages.messages[1].tool_calls"},
      {"arguments that are not an object",
       [](v1::GenerateRequest& r) {
         v1::ChatMessage& m = *r.mutable_messages()->add_messages();
         m.set_role(v1::ChatMessage::ASSISTANT);
         v1::ToolCall& call = *m.add_tool_calls();
         call.set_name("get_weather");
         call.set_arguments("[1, 2");
       },
       "messages.messages[1].tool_calls[0].arguments"},
      {"a tool name with a space",
       [](v1::GenerateRequest& r) {
         r.mutable_messages()->mutable_tools(0)->set_name("get weather");
       },
       "messages.tools[0].name"},
      {"parameters that are not JSON",
       [](v1::GenerateRequest& r) {
         r.mutable_messages()->mutable_tools(0)->set_parameters("{type: object}");
       },
       "messages.tools[0].parameters"},
      {"template variables that are a list",
       [](v1::GenerateRequest& r) { r.mutable_messages()->set_template_variables("[]"); },
       "messages.template_variables"},
      {"a function that is not offered",
       [](v1::GenerateRequest& r) {
         r.mutable_tool_choice()->set_mode(v1::ToolChoice::FUNCTION);
         r.mutable_tool_choice()->set_function("launch_rocket");
       },
       "tool_choice.function"},
      {"a required call without tools",
       [](v1::GenerateRequest& r) {
         r.mutable_messages()->clear_tools();
         r.mutable_tool_choice()->set_mode(v1::ToolChoice::REQUIRED);
       },
       "tool_choice.mode"},
      {"a document without text",
       [](v1::GenerateRequest& r) { r.mutable_messages()->add_documents()->set_title("Empty"); },
       "messages.documents[0].text"},
  };
  for (const Case& c : cases) {
    v1::GenerateRequest request = Seeded(4, 1);
    AddMessage(*request.mutable_messages(), v1::ChatMessage::USER, "hi");
    OfferWeatherTool(*request.mutable_messages());
    c.edit(request);
    const GenerateOutcome outcome = Generate(*generation_, request);
    EXPECT_EQ(outcome.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.what;
    EXPECT_THAT(BadRequestFields(outcome.status), ::testing::ElementsAre(c.field)) << c.what;
  }
}

TEST(ChatDocumentsTest, DocumentsRenderInTheJambaTemplate) {
  auto server = JambadProcess::Start({.model_dir = DemoModelDir()});
  ASSERT_TRUE(server.ok()) << server.status();
  auto models = v1::ModelService::NewStub((*server)->Channel());
  auto generation = v1::GenerationService::NewStub((*server)->Channel());
  v1::ChatMessages chat;
  AddMessage(chat, v1::ChatMessage::USER, "Summarize the report.");
  v1::Document& document = *chat.add_documents();
  document.set_title("Quarterly report");
  document.set_text("Revenue grew 12 percent.");
  (*document.mutable_metadata())["author"] = "Finance";
  v1::TokenizeRequest tokenize;
  *tokenize.mutable_messages() = chat;
  tokenize.set_include_pieces(true);
  grpc::ClientContext context;
  v1::TokenizeResponse prompt;
  ASSERT_TRUE(models->Tokenize(&context, tokenize, &prompt).ok());
  std::string rendered;
  for (const std::string& piece : prompt.pieces()) rendered += piece;
  EXPECT_THAT(rendered, HasSubstr("<documents>"));
  EXPECT_THAT(rendered, HasSubstr("Quarterly"));
  EXPECT_THAT(rendered, HasSubstr("Finance"));
  v1::GenerateRequest request = Seeded(6, 3);
  *request.mutable_messages() = chat;
  const GenerateOutcome outcome = Generate(*generation, request);
  ASSERT_TRUE(outcome.status.ok()) << outcome.status.error_message();
  EXPECT_EQ(outcome.last.usage().prompt_tokens(), prompt.token_ids_size());
}

}  // namespace
}  // namespace jamba::testing
