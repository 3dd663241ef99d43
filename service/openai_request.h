// The OpenAI-compatible HTTP API's requests: a chat completion or completion body (JSON, OpenAI's
// field names) and jambad's extension headers, checked for shape and type and translated into the
// jamba.v1 GenerateRequest that the gRPC API runs, so both APIs share one validation, sampling and
// session path (generate_runner.h). Only what OpenAI's shapes need is checked here: field types,
// values the v1 request cannot express (n > 1, echo, logit_bias, structured output, tools for
// now). Ranges and limits are checked by ValidateGenerateRequest on the translated request; the
// field names in its errors are the client's again through OpenAiRequest::ParamName.
#ifndef JAMBA_SERVICE_OPENAI_REQUEST_H_
#define JAMBA_SERVICE_OPENAI_REQUEST_H_

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "jamba/v1/generation_service.pb.h"
#include "nlohmann/json.hpp"

namespace jamba::service {

enum class OpenAiEndpoint { kChatCompletions, kCompletions };

// Bodies nested deeper than this are refused before they are parsed (no request needs more).
inline constexpr int kMaxJsonDepth = 64;

// jambad's session extension: the body fields `session` ("sessions/ID"), `session_commit`,
// `session_create` and `session_etag`, or the headers X-Jamba-Session (ID or sessions/ID),
// X-Jamba-Session-Commit, X-Jamba-Session-Create and X-Jamba-Session-Etag.
struct OpenAiSession {
  std::string name;     // "sessions/ID"
  bool commit = true;   // append the new content and the reply to the session
  bool create = false;  // create the session first when this tenant has none of that id
};

// The extension headers as sent (nullopt when absent).
struct OpenAiHeaders {
  std::optional<std::string> session;         // X-Jamba-Session
  std::optional<std::string> session_commit;  // X-Jamba-Session-Commit: true | false
  std::optional<std::string> session_create;  // X-Jamba-Session-Create: true | false
  std::optional<std::string> session_etag;    // X-Jamba-Session-Etag
};

struct OpenAiRequest {
  OpenAiEndpoint endpoint = OpenAiEndpoint::kChatCompletions;
  std::string model;  // as sent; "" when absent (the served model)
  bool stream = false;
  bool include_usage = false;     // stream_options.include_usage: a last chunk with the usage
  bool continuous_usage = false;  // stream_options.continuous_usage_stats (vLLM): usage per chunk
  std::string user;
  std::optional<OpenAiSession> session;
  // The request the generation core runs.
  v1::GenerateRequest generate;

  // The name the client used for the field at `v1_path` of `generate` ("sampling.top_p" ->
  // "top_p", "messages.messages[2].role" -> "messages[2].role"); other paths as they are.
  std::string ParamName(absl::string_view v1_path) const;

  // (v1 path prefix, client name), most specific first.
  std::vector<std::pair<std::string, std::string>> param_names;
};

// Parses and translates a request. Errors are INVALID_ARGUMENT naming the client's field (reason
// INVALID_JSON for a body that is not a JSON object, UNSUPPORTED_PARAMETER for what this server
// does not serve); several bad fields are reported together.
absl::StatusOr<OpenAiRequest> ParseOpenAiRequest(OpenAiEndpoint endpoint, absl::string_view body,
                                                 const OpenAiHeaders& headers);

}  // namespace jamba::service

#endif  // JAMBA_SERVICE_OPENAI_REQUEST_H_
