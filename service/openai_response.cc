// GenerateResponses -> OpenAI's response objects and stream chunks.
#include "service/openai_response.h"

#include <cmath>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"

namespace jamba::service {
namespace {

using Json = nlohmann::json;

// OpenAI's finish reasons: an end-of-turn, a stop string or a stop token is "stop"; max_tokens
// and a full context window are "length"; a turn that ended by calling tools is "tool_calls".
Json FinishReasonOf(v1::FinishReason reason) {
  switch (reason) {
    case v1::FINISH_REASON_END_OF_SEQUENCE:
    case v1::FINISH_REASON_STOP_STRING:
    case v1::FINISH_REASON_STOP_TOKEN:
      return "stop";
    case v1::FINISH_REASON_MAX_TOKENS:
    case v1::FINISH_REASON_CONTEXT_LENGTH:
      return "length";
    case v1::FINISH_REASON_TOOL_CALLS:
      return "tool_calls";
    default:
      return nullptr;
  }
}

Json UsageObject(const v1::Usage& usage) {
  return {{"prompt_tokens", usage.prompt_tokens()},
          {"completion_tokens", usage.completion_tokens()},
          {"total_tokens", usage.prompt_tokens() + usage.completion_tokens()},
          {"prompt_tokens_details", {{"cached_tokens", usage.restored_tokens()}}}};
}

// JSON has no infinities; OpenAI reports an impossible token as -9999.
double Logprob(float logprob) { return std::isfinite(logprob) ? logprob : -9999.0; }

Json ByteValues(const std::string& bytes) {
  Json out = Json::array();
  for (char c : bytes) out.push_back(static_cast<unsigned char>(c));
  return out;
}

Json ChatCandidate(const v1::TokenLogprob::Candidate& candidate) {
  return {{"token", candidate.text()},
          {"logprob", Logprob(candidate.logprob())},
          {"bytes", ByteValues(candidate.token_bytes())}};
}

int64_t CodePoints(const std::string& text) {
  int64_t count = 0;
  for (char c : text) count += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return count;
}

// A tool call in OpenAI's shape; streamed calls carry their position in the reply.
Json ToolCallObject(const v1::ToolCall& call, std::optional<int> index) {
  Json out = {{"id", call.id()},
              {"type", "function"},
              {"function", {{"name", call.name()}, {"arguments", call.arguments()}}}};
  if (index.has_value()) out["index"] = *index;
  return out;
}

std::string Event(const Json& chunk) { return absl::StrCat("data: ", JsonText(chunk), "\n\n"); }

}  // namespace

OpenAiResponder::OpenAiResponder(const OpenAiRequest& request, OpenAiResponseInfo info)
    : request_(request),
      info_(std::move(info)),
      chat_(request.endpoint == OpenAiEndpoint::kChatCompletions) {}

Json OpenAiResponder::Logprobs(const v1::GenerateResponse& response) {
  if (!request_.generate.include_logprobs()) return nullptr;
  if (chat_) {
    Json content = Json::array();
    for (const v1::TokenLogprob& token : response.logprobs()) {
      Json entry = ChatCandidate(token.chosen());
      Json top = Json::array();
      for (const auto& candidate : token.top()) top.push_back(ChatCandidate(candidate));
      entry["top_logprobs"] = std::move(top);
      content.push_back(std::move(entry));
    }
    return {{"content", std::move(content)}};
  }
  // The completions endpoint's older shape: parallel lists.
  Json tokens = Json::array();
  Json token_logprobs = Json::array();
  Json top_logprobs = Json::array();
  Json text_offset = Json::array();
  for (const v1::TokenLogprob& token : response.logprobs()) {
    tokens.push_back(token.chosen().text());
    token_logprobs.push_back(Logprob(token.chosen().logprob()));
    if (request_.generate.top_logprobs() > 0) {
      Json top = Json::object();
      for (const auto& candidate : token.top())
        top[candidate.text()] = Logprob(candidate.logprob());
      top_logprobs.push_back(std::move(top));
    } else {
      top_logprobs.push_back(nullptr);
    }
    text_offset.push_back(text_offset_);
    text_offset_ += CodePoints(token.chosen().text());
  }
  return {{"tokens", std::move(tokens)},
          {"token_logprobs", std::move(token_logprobs)},
          {"top_logprobs", std::move(top_logprobs)},
          {"text_offset", std::move(text_offset)}};
}

Json OpenAiResponder::SessionInfo(const v1::GenerateResponse& last) const {
  if (!last.has_session()) return {{"name", request_.session->name}, {"committed", false}};
  return {{"name", last.session().name()},
          {"committed", true},
          {"token_count", last.session().token_count()},
          {"etag", last.session().etag()}};
}

Json OpenAiResponder::Completion(const v1::GenerateResponse& merged) {
  Json choice = {{"index", 0},
                 {"logprobs", Logprobs(merged)},
                 {"finish_reason", FinishReasonOf(merged.finish_reason())}};
  if (chat_) {
    Json message = {{"role", "assistant"}};
    // As OpenAI: a reply that is only tool calls has no content.
    message["content"] =
        merged.text().empty() && merged.tool_calls_size() > 0 ? Json(nullptr) : Json(merged.text());
    // vLLM's name for the reasoning apart from the answer.
    if (!merged.reasoning().empty()) message["reasoning_content"] = merged.reasoning();
    if (merged.tool_calls_size() > 0) {
      Json calls = Json::array();
      for (const v1::ToolCall& call : merged.tool_calls()) {
        calls.push_back(ToolCallObject(call, std::nullopt));
      }
      message["tool_calls"] = std::move(calls);
    }
    // The model wrote a tool call that does not parse: it is in the content, flagged.
    if (merged.malformed_tool_call()) message["malformed_tool_call"] = true;
    choice["message"] = std::move(message);
  } else {
    choice["text"] = merged.text();
  }
  if (!merged.matched_stop_string().empty()) choice["stop_reason"] = merged.matched_stop_string();
  Json out = {{"id", info_.id},
              {"object", chat_ ? "chat.completion" : "text_completion"},
              {"created", info_.created},
              {"model", info_.model},
              {"system_fingerprint", info_.fingerprint},
              {"choices", Json::array({std::move(choice)})},
              {"usage", UsageObject(merged.usage())}};
  if (request_.session.has_value()) out["session"] = SessionInfo(merged);
  return out;
}

Json OpenAiResponder::Chunk(Json choice) const {
  Json chunk = {{"id", info_.id},
                {"object", chat_ ? "chat.completion.chunk" : "text_completion"},
                {"created", info_.created},
                {"model", info_.model},
                {"system_fingerprint", info_.fingerprint},
                {"choices", Json::array({std::move(choice)})}};
  if (request_.include_usage) chunk["usage"] = nullptr;  // as OpenAI: the last chunk has it
  return chunk;
}

Json OpenAiResponder::ContentChoice(const v1::GenerateResponse& delta) {
  Json choice = {{"index", 0}, {"logprobs", Logprobs(delta)}, {"finish_reason", nullptr}};
  if (chat_) {
    Json content = {{"content", delta.text()}};
    if (!delta.reasoning().empty()) content["reasoning_content"] = delta.reasoning();
    if (delta.tool_calls_size() > 0) {
      Json calls = Json::array();
      for (const v1::ToolCall& call : delta.tool_calls()) {
        calls.push_back(ToolCallObject(call, tool_calls_sent_++));
      }
      content["tool_calls"] = std::move(calls);
    }
    choice["delta"] = std::move(content);
  } else {
    choice["text"] = delta.text();
  }
  return choice;
}

std::string OpenAiResponder::Events(const v1::GenerateResponse& delta) {
  std::string out;
  if (chat_ && !role_sent_) {
    out += Event(Chunk({{"index", 0},
                        {"delta", {{"role", "assistant"}, {"content", ""}}},
                        {"logprobs", nullptr},
                        {"finish_reason", nullptr}}));
    role_sent_ = true;
  }
  completion_tokens_ += delta.token_ids_size();
  // Tokens whose text is held back (part of a character, maybe a stop string) still count for
  // continuous usage and logprobs.
  if (!delta.text().empty() || !delta.reasoning().empty() || delta.tool_calls_size() > 0 ||
      delta.logprobs_size() > 0 || (request_.continuous_usage && delta.token_ids_size() > 0)) {
    Json chunk = Chunk(ContentChoice(delta));
    if (request_.continuous_usage) chunk["usage"] = {{"completion_tokens", completion_tokens_}};
    out += Event(chunk);
  }
  if (delta.finish_reason() != v1::FINISH_REASON_UNSPECIFIED) {
    usage_ = delta.usage();
    Json choice = {{"index", 0},
                   {"logprobs", nullptr},
                   {"finish_reason", FinishReasonOf(delta.finish_reason())}};
    if (chat_) {
      choice["delta"] = Json::object();
    } else {
      choice["text"] = "";
    }
    if (!delta.matched_stop_string().empty()) choice["stop_reason"] = delta.matched_stop_string();
    Json chunk = Chunk(std::move(choice));
    if (request_.continuous_usage) chunk["usage"] = UsageObject(usage_);
    if (request_.session.has_value()) chunk["session"] = SessionInfo(delta);
    out += Event(chunk);
  }
  return out;
}

std::string OpenAiResponder::End() const {
  std::string out;
  if (request_.include_usage) {
    Json chunk = Chunk(nullptr);
    chunk["choices"] = Json::array();
    chunk["usage"] = UsageObject(usage_);
    out += Event(chunk);
  }
  out += "data: [DONE]\n\n";
  return out;
}

Json ErrorObject(const HttpError& error) {
  return {{"error",
           {{"message", error.message},
            {"type", error.type},
            {"param", error.param.empty() ? Json(nullptr) : Json(error.param)},
            {"code", error.code}}}};
}

std::string ErrorEvent(const HttpError& error) { return Event(ErrorObject(error)); }

Json ModelObject(const std::string& id, int64_t created, int64_t max_model_len) {
  return {{"id", id},
          {"object", "model"},
          {"created", created},
          {"owned_by", "jambad"},
          {"max_model_len", max_model_len}};
}

std::string JsonText(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace jamba::service
