// The OpenAI-compatible HTTP API's responses, built from the jamba.v1 GenerateResponses the
// generation core streams: the chat.completion / text_completion objects, their streamed chunks
// as server-sent events ending in `data: [DONE]`, usage with prompt_tokens_details.cached_tokens
// (the tokens restored instead of computed), logprobs in each endpoint's shape, jambad's session
// extension, the error object, and the model objects.
#ifndef JAMBA_SERVICE_OPENAI_RESPONSE_H_
#define JAMBA_SERVICE_OPENAI_RESPONSE_H_

#include <cstdint>
#include <string>

#include "jamba/v1/generation_service.pb.h"
#include "nlohmann/json.hpp"
#include "service/openai_request.h"
#include "service/status_mapping.h"

namespace jamba::service {

// What every response of one request carries besides the generation.
struct OpenAiResponseInfo {
  std::string id;           // "chatcmpl-<request id>" or "cmpl-<request id>"
  int64_t created = 0;      // Unix seconds
  std::string model;        // the served model's id
  std::string fingerprint;  // system_fingerprint: the model's fingerprint
};

// The responses of one request. Not thread-safe: one connection thread uses it.
class OpenAiResponder {
 public:
  OpenAiResponder(const OpenAiRequest& request, OpenAiResponseInfo info);

  // Not streaming: the response object of the whole generation (all its responses merged with
  // MergeGenerateResponse).
  nlohmann::json Completion(const v1::GenerateResponse& merged);

  // Streaming: the events for the next delta (the responses that arrived since the last call,
  // merged). The first call begins with the assistant-role chunk (chat); the delta that carries
  // the finish reason adds the finish chunk. Empty when there is nothing to say.
  std::string Events(const v1::GenerateResponse& delta);
  // The events that end a successful stream: the usage chunk (stream_options.include_usage) and
  // `data: [DONE]`.
  std::string End() const;

 private:
  nlohmann::json Chunk(nlohmann::json choice) const;
  nlohmann::json ContentChoice(const v1::GenerateResponse& delta);
  nlohmann::json Logprobs(const v1::GenerateResponse& response);
  nlohmann::json SessionInfo(const v1::GenerateResponse& last) const;

  const OpenAiRequest& request_;
  const OpenAiResponseInfo info_;
  const bool chat_;
  bool role_sent_ = false;
  int64_t completion_tokens_ = 0;  // streamed so far (continuous usage)
  int tool_calls_sent_ = 0;        // streamed so far (each call's index)
  int64_t text_offset_ = 0;        // completions logprobs: characters of text so far
  v1::Usage usage_;                // from the last response
};

// {"error": {"message", "type", "param", "code"}}.
nlohmann::json ErrorObject(const HttpError& error);
// The server-sent event of an error that ends a stream early (what OpenAI's SDKs raise).
std::string ErrorEvent(const HttpError& error);

// The model object of GET /v1/models and /v1/models/{id}; `max_model_len` as vLLM reports it.
nlohmann::json ModelObject(const std::string& id, int64_t created, int64_t max_model_len);

// JSON text with any invalid UTF-8 replaced by U+FFFD (serialization never fails).
std::string JsonText(const nlohmann::json& value);

}  // namespace jamba::service

#endif  // JAMBA_SERVICE_OPENAI_RESPONSE_H_
