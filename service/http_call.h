// The HTTP side of one call of the OpenAI-compatible API: its CallOrigin read from the request's
// headers (X-Request-Id, Authorization, X-Jamba-Timeout-Ms), the extension headers, and error
// replies in OpenAI's shape with the status ToHttpError maps them to.
#ifndef JAMBA_SERVICE_HTTP_CALL_H_
#define JAMBA_SERVICE_HTTP_CALL_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "service/call_record.h"
#include "service/openai_request.h"
#include "service/status_mapping.h"

namespace httplib {
struct Request;
struct Response;
}  // namespace httplib

namespace jamba::service {

// The served model as the HTTP API describes it.
struct HttpModel {
  std::string id;
  std::string fingerprint;
  int64_t created = 0;  // Unix seconds: when the server started
  int64_t max_model_len = 0;
};

// The header a client may set to give its call a deadline, in milliseconds from its arrival (the
// HTTP counterpart of a gRPC deadline: generation stops there, and a committing session call
// commits only while commit_margin is left).
inline constexpr char kTimeoutHeader[] = "X-Jamba-Timeout-Ms";

// The call's origin; INVALID_ARGUMENT naming the header for a malformed X-Jamba-Timeout-Ms.
absl::StatusOr<CallOrigin> HttpCallOrigin(const httplib::Request& request);
// X-Jamba-Session and its companions.
OpenAiHeaders HttpExtensionHeaders(const httplib::Request& request);

// NOT_FOUND (MODEL_NOT_FOUND): a request for a model this server does not serve.
absl::Status ModelNotFound(absl::string_view requested, absl::string_view served);

// Ends `response` with `error`: its status, Retry-After (whole seconds, at least 1) when the
// error has a retry delay, and the error object as the body.
void ReplyError(const HttpError& error, httplib::Response& response);
// Records `status` as the call's outcome and replies with it, field paths named by `param_name`.
void ReplyError(CallRecord& record, const absl::Status& status,
                absl::FunctionRef<std::string(absl::string_view)> param_name,
                httplib::Response& response);
// The same for errors that concern no request field.
void ReplyError(CallRecord& record, const absl::Status& status, httplib::Response& response);

}  // namespace jamba::service

#endif  // JAMBA_SERVICE_HTTP_CALL_H_
