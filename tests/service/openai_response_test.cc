// OpenAiResponder: the v1 responses of a generation in OpenAI's shapes: the whole object, the
// stream's events from the role chunk to `data: [DONE]`, usage with cached_tokens, both logprobs
// shapes, finish reasons, the session extension, and errors.
#include "service/openai_response.h"

#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace jamba::service {
namespace {

using Json = nlohmann::json;

OpenAiRequest Request(OpenAiEndpoint endpoint, const std::string& body) {
  absl::StatusOr<OpenAiRequest> request = ParseOpenAiRequest(endpoint, body, {});
  EXPECT_TRUE(request.ok()) << request.status();
  return *std::move(request);
}

OpenAiResponseInfo Info() { return {"chatcmpl-r1", 1700000000, "demo", "fp"}; }

v1::GenerateResponse Delta(const std::string& text, std::vector<int32_t> tokens) {
  v1::GenerateResponse r;
  r.set_text(text);
  for (int32_t t : tokens) r.add_token_ids(t);
  return r;
}

v1::GenerateResponse Last(v1::FinishReason reason) {
  v1::GenerateResponse r;
  r.set_finish_reason(reason);
  r.mutable_usage()->set_prompt_tokens(40);
  r.mutable_usage()->set_restored_tokens(32);
  r.mutable_usage()->set_recomputed_tokens(8);
  r.mutable_usage()->set_completion_tokens(5);
  return r;
}

void AddLogprob(v1::GenerateResponse& r, const std::string& text, float logprob,
                const std::vector<std::pair<std::string, float>>& top) {
  v1::TokenLogprob* entry = r.add_logprobs();
  entry->mutable_chosen()->set_text(text);
  entry->mutable_chosen()->set_token_bytes(text);
  entry->mutable_chosen()->set_logprob(logprob);
  for (const auto& [t, lp] : top) {
    auto* c = entry->add_top();
    c->set_text(t);
    c->set_token_bytes(t);
    c->set_logprob(lp);
  }
}

// The JSON payloads of a stream's events, and whether it ended with [DONE].
std::vector<Json> Payloads(const std::string& events, bool* done) {
  std::vector<Json> out;
  *done = false;
  for (absl::string_view event : absl::StrSplit(events, "\n\n", absl::SkipEmpty())) {
    EXPECT_TRUE(absl::ConsumePrefix(&event, "data: ")) << event;
    if (event == "[DONE]") {
      *done = true;
      continue;
    }
    out.push_back(Json::parse(event));
  }
  return out;
}

TEST(OpenAiResponseTest, AChatCompletionHasOpenAisShapeAndCachedTokens) {
  const OpenAiRequest request = Request(OpenAiEndpoint::kChatCompletions,
                                        R"({"messages": [{"role": "user", "content": "hi"}]})");
  OpenAiResponder responder(request, Info());
  v1::GenerateResponse merged = Last(v1::FINISH_REASON_END_OF_SEQUENCE);
  merged.set_text("Hello!");
  const Json out = responder.Completion(merged);
  EXPECT_EQ(out["id"], "chatcmpl-r1");
  EXPECT_EQ(out["object"], "chat.completion");
  EXPECT_EQ(out["created"], 1700000000);
  EXPECT_EQ(out["model"], "demo");
  EXPECT_EQ(out["choices"][0]["index"], 0);
  EXPECT_EQ(out["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(out["choices"][0]["message"]["content"], "Hello!");
  EXPECT_EQ(out["choices"][0]["finish_reason"], "stop");
  EXPECT_TRUE(out["choices"][0]["logprobs"].is_null());
  EXPECT_EQ(out["usage"]["prompt_tokens"], 40);
  EXPECT_EQ(out["usage"]["completion_tokens"], 5);
  EXPECT_EQ(out["usage"]["total_tokens"], 45);
  EXPECT_EQ(out["usage"]["prompt_tokens_details"]["cached_tokens"], 32);
  EXPECT_FALSE(out.contains("session"));
}

TEST(OpenAiResponseTest, FinishReasonsAreStopOrLength) {
  const OpenAiRequest request = Request(OpenAiEndpoint::kCompletions, R"({"prompt": "x"})");
  OpenAiResponder responder(request, Info());
  v1::GenerateResponse stop = Last(v1::FINISH_REASON_STOP_STRING);
  stop.set_matched_stop_string("END");
  const Json stopped = responder.Completion(stop);
  EXPECT_EQ(stopped["object"], "text_completion");
  EXPECT_EQ(stopped["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(stopped["choices"][0]["stop_reason"], "END");
  EXPECT_EQ(responder.Completion(Last(v1::FINISH_REASON_STOP_TOKEN))["choices"][0]["finish_reason"],
            "stop");
  EXPECT_EQ(responder.Completion(Last(v1::FINISH_REASON_MAX_TOKENS))["choices"][0]["finish_reason"],
            "length");
  EXPECT_EQ(
      responder.Completion(Last(v1::FINISH_REASON_CONTEXT_LENGTH))["choices"][0]["finish_reason"],
      "length");
}

TEST(OpenAiResponseTest, AChatStreamBeginsWithTheRoleAndEndsWithUsageAndDone) {
  const OpenAiRequest request =
      Request(OpenAiEndpoint::kChatCompletions,
              R"({"messages": [{"role": "user", "content": "hi"}], "stream": true,
                  "stream_options": {"include_usage": true}})");
  OpenAiResponder responder(request, Info());
  bool done = false;
  std::vector<Json> first = Payloads(responder.Events(Delta("Hel", {5, 6})), &done);
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(first[0]["object"], "chat.completion.chunk");
  EXPECT_EQ(first[0]["choices"][0]["delta"]["role"], "assistant");
  EXPECT_TRUE(first[0].contains("usage") && first[0]["usage"].is_null());
  EXPECT_EQ(first[1]["choices"][0]["delta"]["content"], "Hel");
  EXPECT_TRUE(first[1]["choices"][0]["finish_reason"].is_null());
  // Tokens whose text is held back make no event.
  EXPECT_EQ(responder.Events(Delta("", {7})), "");
  std::vector<Json> last = Payloads(responder.Events(Last(v1::FINISH_REASON_MAX_TOKENS)), &done);
  ASSERT_EQ(last.size(), 1u);
  EXPECT_EQ(last[0]["choices"][0]["finish_reason"], "length");
  EXPECT_TRUE(last[0]["choices"][0]["delta"].empty());
  std::vector<Json> end = Payloads(responder.End(), &done);
  EXPECT_TRUE(done);
  ASSERT_EQ(end.size(), 1u);
  EXPECT_TRUE(end[0]["choices"].empty());
  EXPECT_EQ(end[0]["usage"]["prompt_tokens_details"]["cached_tokens"], 32);
}

v1::GenerateResponse WithToolCall(v1::GenerateResponse r, const std::string& id,
                                  const std::string& name, const std::string& arguments) {
  v1::ToolCall* call = r.add_tool_calls();
  call->set_id(id);
  call->set_name(name);
  call->set_arguments(arguments);
  return r;
}

TEST(OpenAiResponseTest, AToolCallingReplyHasToolCallsReasoningAndNoContent) {
  const OpenAiRequest request = Request(OpenAiEndpoint::kChatCompletions,
                                        R"({"messages": [{"role": "user", "content": "hi"}]})");
  OpenAiResponder responder(request, Info());
  v1::GenerateResponse merged = WithToolCall(Last(v1::FINISH_REASON_TOOL_CALLS), "call_1",
                                             "get_weather", R"({"city":"Oslo"})");
  merged.set_reasoning("Need the weather.");
  const Json out = responder.Completion(merged);
  const Json& choice = out["choices"][0];
  EXPECT_EQ(choice["finish_reason"], "tool_calls");
  EXPECT_TRUE(choice["message"]["content"].is_null());
  EXPECT_EQ(choice["message"]["reasoning_content"], "Need the weather.");
  ASSERT_EQ(choice["message"]["tool_calls"].size(), 1u);
  const Json& call = choice["message"]["tool_calls"][0];
  EXPECT_EQ(call["id"], "call_1");
  EXPECT_EQ(call["type"], "function");
  EXPECT_EQ(call["function"]["name"], "get_weather");
  EXPECT_EQ(call["function"]["arguments"], R"({"city":"Oslo"})");
  EXPECT_FALSE(call.contains("index"));
  EXPECT_FALSE(choice["message"].contains("malformed_tool_call"));

  // A call the model wrote badly comes back as text, flagged.
  v1::GenerateResponse bad = Last(v1::FINISH_REASON_END_OF_SEQUENCE);
  bad.set_text("<tool_call>{oops</tool_call>");
  bad.set_malformed_tool_call(true);
  const Json flagged = responder.Completion(bad)["choices"][0]["message"];
  EXPECT_EQ(flagged["content"], "<tool_call>{oops</tool_call>");
  EXPECT_EQ(flagged["malformed_tool_call"], true);
  EXPECT_FALSE(flagged.contains("tool_calls"));
}

TEST(OpenAiResponseTest, AStreamSendsReasoningThenEachToolCallWithItsIndex) {
  const OpenAiRequest request =
      Request(OpenAiEndpoint::kChatCompletions,
              R"({"messages": [{"role": "user", "content": "hi"}], "stream": true})");
  OpenAiResponder responder(request, Info());
  bool done = false;
  v1::GenerateResponse thinking = Delta("", {5});
  thinking.set_reasoning("Need ");
  std::vector<Json> first = Payloads(responder.Events(thinking), &done);
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(first[1]["choices"][0]["delta"]["reasoning_content"], "Need ");
  EXPECT_EQ(first[1]["choices"][0]["delta"]["content"], "");
  std::vector<Json> calls =
      Payloads(responder.Events(WithToolCall(Delta("", {6, 7}), "call_1", "a", "{}")), &done);
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0]["choices"][0]["delta"]["tool_calls"][0]["index"], 0);
  EXPECT_EQ(calls[0]["choices"][0]["delta"]["tool_calls"][0]["function"]["name"], "a");
  std::vector<Json> second =
      Payloads(responder.Events(
                   WithToolCall(Last(v1::FINISH_REASON_TOOL_CALLS), "call_2", "b", "{\"x\":1}")),
               &done);
  ASSERT_EQ(second.size(), 2u);
  EXPECT_EQ(second[0]["choices"][0]["delta"]["tool_calls"][0]["index"], 1);
  EXPECT_EQ(second[0]["choices"][0]["delta"]["tool_calls"][0]["id"], "call_2");
  EXPECT_EQ(second[0]["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"],
            "{\"x\":1}");
  EXPECT_EQ(second[1]["choices"][0]["finish_reason"], "tool_calls");
}

TEST(OpenAiResponseTest, ContinuousUsageCountsTheTokensSoFar) {
  const OpenAiRequest request = Request(
      OpenAiEndpoint::kCompletions,
      R"({"prompt": "x", "stream": true, "stream_options": {"continuous_usage_stats": true}})");
  OpenAiResponder responder(request, Info());
  bool done = false;
  std::vector<Json> a = Payloads(responder.Events(Delta("ab", {1, 2})), &done);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0]["choices"][0]["text"], "ab");
  EXPECT_EQ(a[0]["usage"]["completion_tokens"], 2);
  std::vector<Json> b = Payloads(responder.Events(Delta("", {3})), &done);
  ASSERT_EQ(b.size(), 1u);  // (held-back text, but the count moves)
  EXPECT_EQ(b[0]["usage"]["completion_tokens"], 3);
  const std::string end = responder.End();
  EXPECT_EQ(end, "data: [DONE]\n\n");
}

TEST(OpenAiResponseTest, ChatLogprobsListEachTokenWithBytesAndAlternatives) {
  const OpenAiRequest request = Request(OpenAiEndpoint::kChatCompletions,
                                        R"({"messages": [{"role": "user", "content": "hi"}],
                                            "logprobs": true, "top_logprobs": 2})");
  OpenAiResponder responder(request, Info());
  v1::GenerateResponse merged = Last(v1::FINISH_REASON_MAX_TOKENS);
  merged.set_text("Hi");
  AddLogprob(merged, "Hi", -0.5f, {{"Hi", -0.5f}, {"Ho", -1.5f}});
  const Json content = responder.Completion(merged)["choices"][0]["logprobs"]["content"];
  ASSERT_EQ(content.size(), 1u);
  EXPECT_EQ(content[0]["token"], "Hi");
  EXPECT_DOUBLE_EQ(content[0]["logprob"].get<double>(), -0.5);
  EXPECT_EQ(content[0]["bytes"], Json::array({72, 105}));
  ASSERT_EQ(content[0]["top_logprobs"].size(), 2u);
  EXPECT_EQ(content[0]["top_logprobs"][1]["token"], "Ho");
}

TEST(OpenAiResponseTest, CompletionLogprobsAreParallelListsWithTextOffsets) {
  const OpenAiRequest request =
      Request(OpenAiEndpoint::kCompletions, R"({"prompt": "x", "logprobs": 1})");
  OpenAiResponder responder(request, Info());
  v1::GenerateResponse merged = Last(v1::FINISH_REASON_MAX_TOKENS);
  AddLogprob(merged, "ab", -0.25f, {{"ab", -0.25f}});
  AddLogprob(merged, "\xC3\xA9", -1.0f, {{"x", -0.75f}});  // é: one character, two bytes
  AddLogprob(merged, "c", -2.0f, {{"c", -2.0f}});
  const Json logprobs = responder.Completion(merged)["choices"][0]["logprobs"];
  EXPECT_EQ(logprobs["tokens"], Json::array({"ab", "\xC3\xA9", "c"}));
  EXPECT_EQ(logprobs["text_offset"], Json::array({0, 2, 3}));
  EXPECT_DOUBLE_EQ(logprobs["token_logprobs"][2].get<double>(), -2.0);
  EXPECT_DOUBLE_EQ(logprobs["top_logprobs"][1]["x"].get<double>(), -0.75);
}

TEST(OpenAiResponseTest, ImpossibleTokensGetOpenAisFloorLogprob) {
  const OpenAiRequest request =
      Request(OpenAiEndpoint::kCompletions, R"({"prompt": "x", "logprobs": 0})");
  OpenAiResponder responder(request, Info());
  v1::GenerateResponse merged = Last(v1::FINISH_REASON_MAX_TOKENS);
  AddLogprob(merged, "a", -std::numeric_limits<float>::infinity(), {});
  const Json logprobs = responder.Completion(merged)["choices"][0]["logprobs"];
  EXPECT_DOUBLE_EQ(logprobs["token_logprobs"][0].get<double>(), -9999.0);
  EXPECT_TRUE(logprobs["top_logprobs"][0].is_null());
}

TEST(OpenAiResponseTest, SessionRequestsReportWhatWasCommitted) {
  const OpenAiRequest request =
      Request(OpenAiEndpoint::kChatCompletions,
              R"({"messages": [{"role": "user", "content": "hi"}], "session": "sessions/s1"})");
  OpenAiResponder responder(request, Info());
  v1::GenerateResponse merged = Last(v1::FINISH_REASON_END_OF_SEQUENCE);
  merged.mutable_session()->set_name("sessions/s1");
  merged.mutable_session()->set_token_count(77);
  merged.mutable_session()->set_etag("e7");
  const Json session = responder.Completion(merged)["session"];
  EXPECT_EQ(session["name"], "sessions/s1");
  EXPECT_EQ(session["committed"], true);
  EXPECT_EQ(session["token_count"], 77);
  EXPECT_EQ(session["etag"], "e7");
  const Json uncommitted = responder.Completion(Last(v1::FINISH_REASON_END_OF_SEQUENCE))["session"];
  EXPECT_EQ(uncommitted["committed"], false);
}

TEST(OpenAiResponseTest, ErrorsHaveOpenAisErrorObject) {
  HttpError error;
  error.status = 400;
  error.type = "invalid_request_error";
  error.code = "invalid_field";
  error.param = "temperature";
  error.message = "temperature: must be in [0, 2], got 3";
  const Json object = ErrorObject(error);
  EXPECT_EQ(object["error"]["message"], error.message);
  EXPECT_EQ(object["error"]["type"], "invalid_request_error");
  EXPECT_EQ(object["error"]["param"], "temperature");
  EXPECT_EQ(object["error"]["code"], "invalid_field");
  error.param.clear();
  EXPECT_TRUE(ErrorObject(error)["error"]["param"].is_null());
  bool done = false;
  std::vector<Json> events = Payloads(ErrorEvent(error), &done);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_FALSE(done);
  EXPECT_EQ(events[0]["error"]["code"], "invalid_field");
}

TEST(OpenAiResponseTest, InvalidUtf8NeverBreaksSerialization) {
  const std::string text = JsonText(Json{{"content", std::string("a\xff"
                                                                 "b")}});
  EXPECT_EQ(text,
            "{\"content\":\"a\xEF\xBF\xBD"
            "b\"}");
}

TEST(OpenAiResponseTest, ModelObjectsAreOpenAis) {
  const Json model = ModelObject("demo", 1700000000, 4096);
  EXPECT_EQ(model["id"], "demo");
  EXPECT_EQ(model["object"], "model");
  EXPECT_EQ(model["owned_by"], "jambad");
  EXPECT_EQ(model["max_model_len"], 4096);
}

}  // namespace
}  // namespace jamba::service
