// HTTP call origins and error replies.
#include "service/http_call.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "httplib.h"
#include "service/openai_response.h"

namespace jamba::service {
namespace {

std::optional<std::string> Header(const httplib::Request& request, const char* name) {
  if (!request.has_header(name)) return std::nullopt;
  return request.get_header_value(name);
}

// Longest deadline a client may ask for: a day (a bound, so that no arithmetic overflows).
constexpr int64_t kMaxTimeoutMs = int64_t{24} * 3600 * 1000;

}  // namespace

absl::StatusOr<CallOrigin> HttpCallOrigin(const httplib::Request& request) {
  CallOrigin origin;
  origin.request_id = Header(request, "X-Request-Id");
  origin.authorization = Header(request, "Authorization");
  if (std::optional<std::string> timeout = Header(request, kTimeoutHeader)) {
    int64_t ms = 0;
    if (!absl::SimpleAtoi(*timeout, &ms) || ms < 1 || ms > kMaxTimeoutMs) {
      return InvalidField(kTimeoutHeader,
                          absl::StrCat("must be milliseconds in [1, ", kMaxTimeoutMs, "], got ",
                                       QuoteValue(*timeout)));
    }
    origin.deadline = absl::Now() + absl::Milliseconds(ms);
  }
  return origin;
}

OpenAiHeaders HttpExtensionHeaders(const httplib::Request& request) {
  OpenAiHeaders headers;
  headers.session = Header(request, "X-Jamba-Session");
  headers.session_commit = Header(request, "X-Jamba-Session-Commit");
  headers.session_create = Header(request, "X-Jamba-Session-Create");
  headers.session_etag = Header(request, "X-Jamba-Session-Etag");
  return headers;
}

absl::Status ModelNotFound(absl::string_view requested, absl::string_view served) {
  return WithReason(
      absl::NotFoundError(absl::StrCat("the model ", QuoteValue(requested),
                                       " does not exist: this server serves ", QuoteValue(served))),
      kReasonModelNotFound);
}

void ReplyError(const HttpError& error, httplib::Response& response) {
  response.status = error.status;
  if (error.retry_after.has_value()) {
    const double seconds = std::ceil(absl::ToDoubleSeconds(*error.retry_after));
    response.set_header("Retry-After",
                        absl::StrCat(std::max<int64_t>(1, static_cast<int64_t>(seconds))));
  }
  response.set_content(JsonText(ErrorObject(error)), "application/json");
}

void ReplyError(CallRecord& record, const absl::Status& status,
                absl::FunctionRef<std::string(absl::string_view)> param_name,
                httplib::Response& response) {
  ReplyError(ToHttpError(record.Finish(status), param_name), response);
}

void ReplyError(CallRecord& record, const absl::Status& status, httplib::Response& response) {
  ReplyError(
      record, status, [](absl::string_view path) { return std::string(path); }, response);
}

}  // namespace jamba::service
