// ParseOpenAiRequest: OpenAI bodies become the v1 GenerateRequest the gRPC API runs; wrong types
// are errors naming the client's field; what this server does not serve (n > 1, strict tool
// schemas, the deprecated functions) is refused rather than ignored; unknown fields and nulls are
// ignored; and the errors the shared validation reports name the client's fields again.
#include "service/openai_request.h"

#include <string>

#include "google/rpc/error_details.pb.h"
#include "gtest/gtest.h"
#include "service/status_mapping.h"
#include "service/validation.h"

namespace jamba::service {
namespace {

OpenAiRequest Chat(const std::string& body, const OpenAiHeaders& headers = {}) {
  absl::StatusOr<OpenAiRequest> request =
      ParseOpenAiRequest(OpenAiEndpoint::kChatCompletions, body, headers);
  EXPECT_TRUE(request.ok()) << request.status();
  return request.ok() ? *std::move(request) : OpenAiRequest();
}

OpenAiRequest Completion(const std::string& body) {
  absl::StatusOr<OpenAiRequest> request =
      ParseOpenAiRequest(OpenAiEndpoint::kCompletions, body, {});
  EXPECT_TRUE(request.ok()) << request.status();
  return request.ok() ? *std::move(request) : OpenAiRequest();
}

// The HTTP error a body gets (before any validation of ranges).
HttpError ChatError(const std::string& body,
                    OpenAiEndpoint endpoint = OpenAiEndpoint::kChatCompletions) {
  absl::StatusOr<OpenAiRequest> request = ParseOpenAiRequest(endpoint, body, {});
  EXPECT_FALSE(request.ok()) << body;
  return ToHttpError(request.status(), [](absl::string_view path) { return std::string(path); });
}

// The HTTP error of a well-formed body that the shared validation refuses.
HttpError ValidationError(const std::string& body, OpenAiEndpoint endpoint) {
  absl::StatusOr<OpenAiRequest> request = ParseOpenAiRequest(endpoint, body, {});
  EXPECT_TRUE(request.ok()) << request.status();
  RequestLimits limits;
  limits.vocab_size = 1000;
  limits.max_context_tokens = 4096;
  limits.max_prompt_tokens = 4096;
  limits.max_completion_tokens = 512;
  limits.default_max_tokens = 64;
  const absl::Status status = ValidateGenerateRequest(request->generate, limits);
  EXPECT_FALSE(status.ok()) << body;
  return ToHttpError(status, [&](absl::string_view path) { return request->ParamName(path); });
}

constexpr char kHello[] = R"("messages": [{"role": "user", "content": "hi"}])";

TEST(OpenAiRequestTest, ChatMessagesBecomeV1MessagesWithTheirRoles) {
  const OpenAiRequest r = Chat(R"({"model": "m", "messages": [
      {"role": "developer", "content": "be brief"},
      {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
      {"role": "assistant", "content": null},
      {"role": "user", "content": "c", "name": "ann"}]})");
  ASSERT_EQ(r.generate.input_case(), v1::GenerateRequest::kMessages);
  const v1::ChatMessages& m = r.generate.messages();
  ASSERT_EQ(m.messages_size(), 4);
  EXPECT_EQ(m.messages(0).role(), v1::ChatMessage::SYSTEM);
  EXPECT_EQ(m.messages(0).content(), "be brief");
  EXPECT_EQ(m.messages(1).role(), v1::ChatMessage::USER);
  EXPECT_EQ(m.messages(1).content(), "a\nb");
  EXPECT_EQ(m.messages(2).role(), v1::ChatMessage::ASSISTANT);
  EXPECT_EQ(m.messages(2).content(), "");
  EXPECT_EQ(m.messages(3).content(), "c");
  EXPECT_EQ(r.model, "m");
  EXPECT_FALSE(r.stream);
}

TEST(OpenAiRequestTest, SamplingAndStopFieldsMapToTheV1Request) {
  const OpenAiRequest r = Chat(std::string("{") + kHello + R"(,
      "temperature": 0.5, "top_p": 0.9, "presence_penalty": 0.25, "frequency_penalty": -0.5,
      "seed": 42, "max_tokens": 10, "max_completion_tokens": 12, "stop": ["x", "yz"],
      "logprobs": true, "top_logprobs": 3, "top_k": 5, "min_p": 0.125, "ignore_eos": true,
      "stream": true, "stream_options": {"include_usage": true}, "user": "u1"})");
  const v1::GenerateRequest& g = r.generate;
  EXPECT_FLOAT_EQ(g.sampling().temperature(), 0.5f);
  EXPECT_FLOAT_EQ(g.sampling().top_p(), 0.9f);
  EXPECT_FLOAT_EQ(g.sampling().presence_penalty(), 0.25f);
  EXPECT_FLOAT_EQ(g.sampling().frequency_penalty(), -0.5f);
  EXPECT_EQ(g.sampling().seed(), 42u);
  EXPECT_EQ(g.sampling().top_k(), 5);
  EXPECT_FLOAT_EQ(g.sampling().min_p(), 0.125f);
  EXPECT_EQ(g.max_tokens(), 12);  // max_completion_tokens wins, as OpenAI's newer name
  ASSERT_EQ(g.stop().stop_strings_size(), 2);
  EXPECT_EQ(g.stop().stop_strings(1), "yz");
  EXPECT_TRUE(g.stop().ignore_eos());
  EXPECT_TRUE(g.include_logprobs());
  EXPECT_EQ(g.top_logprobs(), 3);
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
  EXPECT_EQ(r.user, "u1");
}

TEST(OpenAiRequestTest, NegativeSeedsAreTakenModulo2To64) {
  EXPECT_EQ(Chat(std::string("{") + kHello + R"(, "seed": -1})").generate.sampling().seed(),
            UINT64_MAX);
  EXPECT_EQ(Chat(std::string("{") + kHello + R"(, "seed": 18446744073709551615})")
                .generate.sampling()
                .seed(),
            UINT64_MAX);
}

TEST(OpenAiRequestTest, UnknownFieldsAndNullsAreIgnored) {
  const OpenAiRequest r = Chat(std::string("{") + kHello + R"(, "frobnicate": {"a": [1, 2]},
      "temperature": null, "stop": null, "tools": null, "n": null, "metadata": {"k": "v"},
      "store": true, "reasoning_effort": "low"})");
  EXPECT_FALSE(r.generate.sampling().has_temperature());
  EXPECT_EQ(r.generate.stop().stop_strings_size(), 0);
  EXPECT_EQ(r.generate.messages().tools_size(), 0);
  EXPECT_FALSE(r.generate.has_tool_choice());
}

TEST(OpenAiRequestTest, CompletionPromptsAreTextOrTokenIds) {
  EXPECT_EQ(Completion(R"({"prompt": "Once"})").generate.prompt(), "Once");
  EXPECT_EQ(Completion(R"({"prompt": ["Once"]})").generate.prompt(), "Once");
  const OpenAiRequest ids = Completion(R"({"prompt": [1, 2, 3]})");
  ASSERT_EQ(ids.generate.input_case(), v1::GenerateRequest::kPromptTokenIds);
  EXPECT_EQ(ids.generate.prompt_token_ids().ids_size(), 3);
  EXPECT_EQ(Completion(R"({"prompt": [[7, 8]]})").generate.prompt_token_ids().ids(1), 8);
}

TEST(OpenAiRequestTest, CompletionLogprobsIsTheNumberOfAlternatives) {
  const OpenAiRequest r = Completion(R"({"prompt": "x", "logprobs": 2})");
  EXPECT_TRUE(r.generate.include_logprobs());
  EXPECT_EQ(r.generate.top_logprobs(), 2);
  EXPECT_FALSE(Completion(R"({"prompt": "x"})").generate.include_logprobs());
}

TEST(OpenAiRequestTest, WrongTypesAreErrorsNamingEveryBadField) {
  const HttpError error = ChatError(std::string("{") + kHello +
                                    R"(, "temperature": "hot", "stream": "yes", "stop": [1]})");
  EXPECT_EQ(error.status, 400);
  EXPECT_EQ(error.type, "invalid_request_error");
  EXPECT_EQ(error.code, "invalid_field");
  EXPECT_EQ(error.param, "stream");  // the first in the order fields are read
  EXPECT_NE(error.message.find("temperature: must be a number, got a string"), std::string::npos)
      << error.message;
  EXPECT_NE(error.message.find("stream: must be a boolean"), std::string::npos);
  EXPECT_NE(error.message.find("stop[0]: must be a string, got a number"), std::string::npos);
}

TEST(OpenAiRequestTest, MessageShapesAreCheckedPerMessage) {
  EXPECT_EQ(ChatError(R"({"messages": "hi"})").param, "messages");
  EXPECT_EQ(ChatError(R"({"messages": [{"content": "hi"}]})").param, "messages[0].role");
  EXPECT_EQ(ChatError(R"({"messages": [{"role": "user"}]})").param, "messages[0].content");
  EXPECT_EQ(ChatError(R"({"messages": [{"role": "wizard", "content": "x"}]})").param,
            "messages[0].role");
  EXPECT_EQ(ChatError(R"({"messages": [{"role": "user", "content": [{"text": "x"}]}]})").param,
            "messages[0].content[0].type");
  EXPECT_EQ(ChatError(R"({})").param, "messages");
  const HttpError image = ChatError(
      R"({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]})");
  EXPECT_EQ(image.code, "unsupported_parameter");
  EXPECT_EQ(image.param, "messages[0].content[0].type");
}

TEST(OpenAiRequestTest, IntegersOutsideTheFieldsRangeAreRejected) {
  EXPECT_EQ(ChatError(std::string("{") + kHello + R"(, "max_tokens": 99999999999})").param,
            "max_tokens");
  // A number no double can hold is not JSON this server reads at all.
  EXPECT_EQ(ChatError(std::string("{") + kHello + R"(, "max_tokens": 1e400})").code,
            "invalid_json");
  EXPECT_EQ(ChatError(std::string("{") + kHello + R"(, "max_tokens": 2.5})").param, "max_tokens");
  EXPECT_EQ(ChatError(std::string("{") + kHello + R"(, "seed": 1e30})").param, "seed");
}

TEST(OpenAiRequestTest, NMustBeOne) {
  EXPECT_EQ(Chat(std::string("{") + kHello + R"(, "n": 1})").generate.messages().messages_size(),
            1);
  const HttpError error = ChatError(std::string("{") + kHello + R"(, "n": 3})");
  EXPECT_EQ(error.status, 400);
  EXPECT_EQ(error.param, "n");
  EXPECT_EQ(error.code, "unsupported_parameter");
}

TEST(OpenAiRequestTest, FieldsThatWouldChangeTheAnswerAreRefusedNotIgnored) {
  EXPECT_EQ(ChatError(std::string("{") + kHello + R"(, "logit_bias": {"5": 10}})").param,
            "logit_bias");
  EXPECT_EQ(
      ChatError(std::string("{") + kHello + R"(, "response_format": {"type": "json_object"}})")
          .param,
      "response_format");
  EXPECT_EQ(ChatError(R"({"prompt": "x", "echo": true})", OpenAiEndpoint::kCompletions).param,
            "echo");
  EXPECT_EQ(ChatError(R"({"prompt": "x", "suffix": "y"})", OpenAiEndpoint::kCompletions).param,
            "suffix");
  EXPECT_EQ(ChatError(R"({"prompt": ["a", "b"]})", OpenAiEndpoint::kCompletions).param, "prompt");
  // Harmless defaults pass.
  Chat(std::string("{") + kHello + R"(, "logit_bias": {}, "response_format": {"type": "text"}})");
}

TEST(OpenAiRequestTest, ToolsGoWithTheMessagesAndToolChoiceOntoTheRequest) {
  const OpenAiRequest r = Chat(std::string("{") + kHello + R"(, "tools": [{"type": "function",
      "function": {"name": "get_weather", "description": "Weather now",
                   "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
      "tool_choice": "auto", "parallel_tool_calls": true})");
  const v1::ChatMessages& m = r.generate.messages();
  ASSERT_EQ(m.tools_size(), 1);
  EXPECT_EQ(m.tools(0).name(), "get_weather");
  EXPECT_EQ(m.tools(0).description(), "Weather now");
  EXPECT_EQ(m.tools(0).parameters(),
            R"({"properties":{"city":{"type":"string"}},"type":"object"})");
  EXPECT_EQ(r.generate.tool_choice().mode(), v1::ToolChoice::AUTO);

  const OpenAiRequest forced = Chat(std::string("{") + kHello + R"(, "tools": [{"type": "function",
      "function": {"name": "f"}}], "tool_choice": {"type": "function", "function": {"name": "f"}}})");
  EXPECT_EQ(forced.generate.tool_choice().mode(), v1::ToolChoice::FUNCTION);
  EXPECT_EQ(forced.generate.tool_choice().function(), "f");
  EXPECT_EQ(forced.generate.messages().tools(0).parameters(), "");
  // An empty list offers nothing.
  const OpenAiRequest none =
      Chat(std::string("{") + kHello + R"(, "tools": [], "tool_choice": "none"})");
  EXPECT_EQ(none.generate.messages().tools_size(), 0);
  EXPECT_EQ(none.generate.tool_choice().mode(), v1::ToolChoice::NONE);
}

TEST(OpenAiRequestTest, ToolShapesAreCheckedAndStrictSchemasRefused) {
  EXPECT_EQ(ChatError(std::string("{") + kHello + R"(, "tools": [{"type": "function",
      "function": {"description": "no name"}}]})")
                .param,
            "tools[0].function.name");
  EXPECT_EQ(ChatError(std::string("{") + kHello + R"(, "tools": [{"type": "retrieval"}]})").param,
            "tools[0].type");
  EXPECT_EQ(ChatError(std::string("{") + kHello + R"(, "tool_choice": 7})").param, "tool_choice");
  EXPECT_EQ(ChatError(std::string("{") + kHello + R"(, "tool_choice": "sometimes"})").param,
            "tool_choice");
  // Arguments are a JSON object, not checked against the schema: strict is refused, not ignored.
  const HttpError strict = ChatError(std::string("{") + kHello + R"(, "tools": [{"type": "function",
      "function": {"name": "f", "strict": true, "parameters": {"type": "object"}}}]})");
  EXPECT_EQ(strict.param, "tools[0].function.strict");
  EXPECT_EQ(strict.code, "unsupported_parameter");
  const HttpError functions =
      ChatError(std::string("{") + kHello + R"(, "functions": [{"name": "f"}]})");
  EXPECT_EQ(functions.param, "functions");
  EXPECT_EQ(functions.code, "unsupported_parameter");
  // Choices that need tools are checked with the rest of the request, naming the client's field.
  const HttpError required =
      ValidationError(std::string("{") + kHello + R"(, "tool_choice": "required"})",
                      OpenAiEndpoint::kChatCompletions);
  EXPECT_EQ(required.param, "tool_choice");
  EXPECT_EQ(required.message, "tool_choice: REQUIRED needs tools in the messages");
  EXPECT_EQ(ValidationError(std::string("{") + kHello + R"(, "tools": [{"type": "function",
      "function": {"name": "f"}}], "tool_choice": {"type": "function", "function": {"name": "g"}}})",
                            OpenAiEndpoint::kChatCompletions)
                .param,
            "tool_choice.function.name");
  EXPECT_EQ(ValidationError(std::string("{") + kHello + R"(, "tools": [{"type": "function",
      "function": {"name": "no spaces allowed"}}]})",
                            OpenAiEndpoint::kChatCompletions)
                .param,
            "tools[0].function.name");
}

TEST(OpenAiRequestTest, ToolCallsToolResultsAndReasoningBecomeV1Messages) {
  const OpenAiRequest r = Chat(R"({"messages": [{"role": "user", "content": "weather?"},
      {"role": "assistant", "content": null, "reasoning_content": "look it up",
       "tool_calls": [{"id": "c1", "type": "function",
                       "function": {"name": "get_weather", "arguments": "{\"city\": \"Oslo\"}"}},
                      {"id": "c2", "type": "function",
                       "function": {"name": "get_time", "arguments": {"tz": "CET"}}}]},
      {"role": "tool", "tool_call_id": "c1", "content": "sunny"}]})");
  const v1::ChatMessages& m = r.generate.messages();
  ASSERT_EQ(m.messages_size(), 3);
  const v1::ChatMessage& call = m.messages(1);
  EXPECT_EQ(call.reasoning(), "look it up");
  ASSERT_EQ(call.tool_calls_size(), 2);
  EXPECT_EQ(call.tool_calls(0).id(), "c1");
  EXPECT_EQ(call.tool_calls(0).name(), "get_weather");
  EXPECT_EQ(call.tool_calls(0).arguments(), R"({"city": "Oslo"})");
  EXPECT_EQ(call.tool_calls(1).arguments(), R"({"tz":"CET"})");
  EXPECT_EQ(m.messages(2).role(), v1::ChatMessage::TOOL);
  EXPECT_EQ(m.messages(2).tool_call_id(), "c1");
  EXPECT_EQ(m.messages(2).content(), "sunny");

  EXPECT_EQ(ChatError(R"({"messages": [{"role": "user", "content": "x"},
      {"role": "tool", "content": "sunny"}]})")
                .param,
            "messages[1].tool_call_id");
  const HttpError function = ChatError(R"({"messages": [{"role": "user", "content": "x"},
      {"role": "function", "name": "f", "content": "sunny"}]})");
  EXPECT_EQ(function.param, "messages[1].role");
  EXPECT_EQ(function.code, "unsupported_parameter");
  EXPECT_EQ(ChatError(R"({"messages": [{"role": "assistant", "content": null,
      "tool_calls": [{"id": "c1", "type": "function"}]}]})")
                .param,
            "messages[0].tool_calls[0].function");
  // Arguments that are not a JSON object are refused by the shared validation.
  EXPECT_EQ(ValidationError(R"({"messages": [{"role": "user", "content": "x"},
      {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function",
       "function": {"name": "f", "arguments": "[1]"}}]}]})",
                            OpenAiEndpoint::kChatCompletions)
                .param,
            "messages[1].tool_calls[0].function.arguments");
}

TEST(OpenAiRequestTest, DocumentsAndChatTemplateKwargsGoWithTheMessages) {
  const OpenAiRequest r = Chat(std::string("{") + kHello + R"(, "documents": [
      {"title": "Q3", "text": "Revenue rose.", "source": "report.pdf"}],
      "chat_template_kwargs": {"enable_thinking": false}})");
  const v1::ChatMessages& m = r.generate.messages();
  ASSERT_EQ(m.documents_size(), 1);
  EXPECT_EQ(m.documents(0).title(), "Q3");
  EXPECT_EQ(m.documents(0).text(), "Revenue rose.");
  EXPECT_EQ(m.documents(0).metadata().at("source"), "report.pdf");
  EXPECT_EQ(m.template_variables(), R"({"enable_thinking":false})");

  EXPECT_EQ(ChatError(std::string("{") + kHello + R"(, "documents": [{"text": 3}]})").param,
            "documents[0].text");
  EXPECT_EQ(ChatError(std::string("{") + kHello + R"(, "chat_template_kwargs": [1]})").param,
            "chat_template_kwargs");
  // On a session they describe new messages; alone they would be dropped, so they are an error.
  EXPECT_EQ(ChatError(R"({"messages": [], "session": "sessions/doc",
      "documents": [{"text": "x"}]})")
                .param,
            "messages");
}

TEST(OpenAiRequestTest, SessionsComeFromTheBodyOrTheHeaders) {
  const OpenAiRequest body = Chat(std::string("{") + kHello + R"(, "session": "sessions/doc-1"})");
  ASSERT_TRUE(body.session.has_value());
  EXPECT_EQ(body.session->name, "sessions/doc-1");
  EXPECT_TRUE(body.session->commit);
  EXPECT_FALSE(body.session->create);
  ASSERT_EQ(body.generate.input_case(), v1::GenerateRequest::kSession);
  EXPECT_EQ(body.generate.session().session(), "sessions/doc-1");
  EXPECT_TRUE(body.generate.session().commit());
  EXPECT_EQ(body.generate.session().messages().messages(0).content(), "hi");

  OpenAiHeaders headers;
  headers.session = "doc-2";
  headers.session_commit = "false";
  headers.session_create = "TRUE";
  headers.session_etag = "e1";
  const OpenAiRequest header = Chat(std::string("{") + kHello + "}", headers);
  EXPECT_EQ(header.session->name, "sessions/doc-2");
  EXPECT_FALSE(header.generate.session().commit());
  EXPECT_TRUE(header.session->create);
  EXPECT_EQ(header.generate.session().etag(), "e1");

  headers.session_commit = "maybe";
  EXPECT_EQ(ToHttpError(ParseOpenAiRequest(OpenAiEndpoint::kChatCompletions,
                                           std::string("{") + kHello + "}", headers)
                            .status(),
                        [](absl::string_view p) { return std::string(p); })
                .param,
            "X-Jamba-Session-Commit");
  OpenAiHeaders other;
  other.session = "doc-3";
  EXPECT_FALSE(ParseOpenAiRequest(OpenAiEndpoint::kChatCompletions,
                                  std::string("{") + kHello + R"(, "session": "sessions/doc-4"})",
                                  other)
                   .ok());
}

TEST(OpenAiRequestTest, ASessionTurnWithoutNewMessagesStartsTheAssistantsTurn) {
  const OpenAiRequest r = Chat(R"({"session": "sessions/s", "messages": []})");
  EXPECT_TRUE(r.generate.session().start_assistant_turn());
  EXPECT_FALSE(r.generate.session().has_messages());
  const OpenAiRequest text = Completion(R"({"session": "sessions/s", "prompt": "more"})");
  EXPECT_EQ(text.generate.session().text(), "more");
}

TEST(OpenAiRequestTest, MalformedBodiesAreInvalidJson) {
  for (const std::string body :
       {"", "  ", "{", "[1, 2]", "\"text\"", "{\"a\": }", "{'a': 1}", "nul", "{\"a\": NaN}"}) {
    absl::StatusOr<OpenAiRequest> r =
        ParseOpenAiRequest(OpenAiEndpoint::kChatCompletions, body, {});
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(ReasonOf(r.status()), kReasonInvalidJson) << body;
  }
  const std::string deep =
      std::string(kMaxJsonDepth + 1, '[') + std::string(kMaxJsonDepth + 1, ']');
  EXPECT_EQ(ReasonOf(ParseOpenAiRequest(OpenAiEndpoint::kCompletions, deep, {}).status()),
            kReasonInvalidJson);
  // Brackets inside strings do not count as nesting.
  Completion(R"({"prompt": ")" + std::string(1000, '[') + R"("})");
  // Invalid UTF-8 is not JSON.
  EXPECT_EQ(
      ReasonOf(ParseOpenAiRequest(OpenAiEndpoint::kCompletions, "{\"prompt\": \"\xff\xfe\"}", {})
                   .status()),
      kReasonInvalidJson);
}

TEST(OpenAiRequestTest, ValidationErrorsNameTheClientsFields) {
  const HttpError temperature = ValidationError(
      std::string("{") + kHello + R"(, "temperature": 3})", OpenAiEndpoint::kChatCompletions);
  EXPECT_EQ(temperature.param, "temperature");
  EXPECT_EQ(temperature.message, "temperature: must be in [0, 2], got 3");
  EXPECT_EQ(ValidationError(R"({"messages": [{"role": "user", "content": "a"},
      {"role": "system", "content": "late"}]})",
                            OpenAiEndpoint::kChatCompletions)
                .param,
            "messages[1].role");
  EXPECT_EQ(ValidationError(R"({"messages": []})", OpenAiEndpoint::kChatCompletions).param,
            "messages");
  EXPECT_EQ(ValidationError(std::string("{") + kHello + R"(, "stop": ""})",
                            OpenAiEndpoint::kChatCompletions)
                .param,
            "stop");
  EXPECT_EQ(ValidationError(std::string("{") + kHello + R"(, "stop": ["a", ""]})",
                            OpenAiEndpoint::kChatCompletions)
                .param,
            "stop[1]");
  EXPECT_EQ(ValidationError(std::string("{") + kHello + R"(, "max_completion_tokens": 0})",
                            OpenAiEndpoint::kChatCompletions)
                .param,
            "max_completion_tokens");
  EXPECT_EQ(
      ValidationError(R"({"prompt": "x", "logprobs": 21})", OpenAiEndpoint::kCompletions).param,
      "logprobs");
  EXPECT_EQ(ValidationError(R"({"prompt": [3, 5000]})", OpenAiEndpoint::kCompletions).param,
            "prompt[1]");
  EXPECT_EQ(ValidationError(R"({"prompt": ""})", OpenAiEndpoint::kCompletions).param, "prompt");
  EXPECT_EQ(ValidationError(std::string("{") + kHello + R"(, "session": "doc"})",
                            OpenAiEndpoint::kChatCompletions)
                .param,
            "session");
}

}  // namespace
}  // namespace jamba::service
