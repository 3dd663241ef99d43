// The one place where absl statuses become what clients see: gRPC statuses and the errors of the
// OpenAI-compatible HTTP API. Code below the mapping reports errors as absl::Status and attaches
// the google.rpc details it knows (a BadRequest naming fields, the ResourceInfo of a session, the
// RetryInfo of a full queue, an ErrorInfo reason) as status payloads with the helpers here;
// ToGrpcStatus turns them into the `grpc-status-details-bin` trailer (a google.rpc.Status) and
// adds the ErrorInfo every jambad error carries; ToHttpError turns the same status into an HTTP
// status and OpenAI's error object.
#ifndef JAMBA_SERVICE_STATUS_MAPPING_H_
#define JAMBA_SERVICE_STATUS_MAPPING_H_

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "grpcpp/support/status.h"

namespace jamba::service {

// ErrorInfo.reason values (docs/api.md lists them for clients).
inline constexpr char kReasonInvalidField[] = "INVALID_FIELD";
inline constexpr char kReasonContextLength[] = "CONTEXT_LENGTH_EXCEEDED";
inline constexpr char kReasonApiKeyMissing[] = "API_KEY_MISSING";
inline constexpr char kReasonApiKeyInvalid[] = "API_KEY_INVALID";
inline constexpr char kReasonSessionNotFound[] = "SESSION_NOT_FOUND";
inline constexpr char kReasonCheckpointNotFound[] = "CHECKPOINT_NOT_FOUND";
inline constexpr char kReasonSessionExists[] = "SESSION_ALREADY_EXISTS";
inline constexpr char kReasonModelMismatch[] = "SESSION_MODEL_MISMATCH";
inline constexpr char kReasonChatTemplateMissing[] = "CHAT_TEMPLATE_MISSING";
inline constexpr char kReasonTokenizerMissing[] = "TOKENIZER_MISSING";
inline constexpr char kReasonSessionsDisabled[] = "SESSIONS_DISABLED";
inline constexpr char kReasonEtagMismatch[] = "ETAG_MISMATCH";
inline constexpr char kReasonSessionBusy[] = "SESSION_BUSY";
inline constexpr char kReasonQueueFull[] = "QUEUE_FULL";
inline constexpr char kReasonQuotaExceeded[] = "QUOTA_EXCEEDED";
inline constexpr char kReasonStorageFull[] = "STORAGE_FULL";
inline constexpr char kReasonUnavailable[] = "SERVER_UNAVAILABLE";
inline constexpr char kReasonSessionOwnedElsewhere[] = "SESSION_OWNED_ELSEWHERE";
inline constexpr char kReasonSessionCorrupted[] = "SESSION_CORRUPTED";
inline constexpr char kReasonInternal[] = "INTERNAL";
// The HTTP API's own: a parameter it knows but does not serve yet, a body that is not a JSON
// object, a model id it does not serve, a body over max_request_bytes, an unknown route.
inline constexpr char kReasonUnsupportedParameter[] = "UNSUPPORTED_PARAMETER";
inline constexpr char kReasonInvalidJson[] = "INVALID_JSON";
inline constexpr char kReasonModelNotFound[] = "MODEL_NOT_FOUND";
inline constexpr char kReasonRequestTooLarge[] = "REQUEST_TOO_LARGE";
inline constexpr char kReasonNotFound[] = "NOT_FOUND";

inline constexpr char kErrorDomain[] = "jamba.ai";
inline constexpr char kSessionType[] = "jamba.v1.Session";
inline constexpr char kCheckpointType[] = "jamba.v1.Checkpoint";

// Error messages and details echo client values (names, etags) through QuoteValue, and every
// message and detail is bounded, so an error always fits gRPC's default 8 KiB metadata limit
// whatever the client sent.
inline constexpr size_t kMaxQuotedValueBytes = 64;
inline constexpr size_t kMaxErrorMessageBytes = 512;
inline constexpr size_t kMaxFieldViolations = 16;

// `value` in double quotes; a longer one is cut (at a character boundary) with its size:
// "sessions/aaaa…" (4009 bytes).
std::string QuoteValue(absl::string_view value);
// `text` cut to `max_bytes` at a character boundary, ending in "…" when cut.
std::string Truncate(absl::string_view text, size_t max_bytes);

struct FieldViolation {
  std::string field;  // path from the request root: "sampling.top_p", "stop.stop_strings[3]"
  std::string description;
};

// Collects every bad field of a request, so one INVALID_ARGUMENT names them all (the first
// kMaxFieldViolations of them, and how many more there were).
class FieldErrors {
 public:
  void Add(std::string field, std::string description);
  // A violation that means "too many tokens": the error's reason becomes CONTEXT_LENGTH_EXCEEDED.
  void AddContextLength(std::string field, std::string description);
  bool empty() const { return violations_.empty(); }
  // OK when no field was added; otherwise INVALID_ARGUMENT with a BadRequest listing them.
  absl::Status ToStatus() const;

 private:
  std::vector<FieldViolation> violations_;
  size_t dropped_ = 0;
  bool context_length_ = false;
};

// INVALID_ARGUMENT naming one field.
absl::Status InvalidField(std::string field, std::string description,
                          absl::string_view reason = kReasonInvalidField);

// INVALID_ARGUMENT (UNSUPPORTED_PARAMETER) naming `field` with exactly `message`: a request field
// this server version knows but does not serve yet.
absl::Status UnsupportedField(std::string field, std::string message);

// Attach details to a status (returned with the payload added; OK stays OK). `metadata` goes into
// the ErrorInfo (keys and values are cut to kMaxQuotedValueBytes).
absl::Status WithReason(absl::Status status, absl::string_view reason,
                        const std::vector<std::pair<std::string, std::string>>& metadata = {});
absl::Status WithResource(absl::Status status, absl::string_view type, absl::string_view name);
absl::Status WithRetryDelay(absl::Status status, absl::Duration delay);
absl::Status WithQuotaViolation(absl::Status status, absl::string_view subject,
                                absl::string_view description);

// The service's own load errors.
absl::Status QueueFull(absl::string_view message, absl::Duration retry_after);
absl::Status Draining(absl::Duration retry_after);
// UNAVAILABLE for a session another replica sharing the session directory holds: RetryInfo with
// `retry_after` (bounded to [100 ms, 30 s]), ErrorInfo SESSION_OWNED_ELSEWHERE with the `owner`
// in its metadata, and the session's ResourceInfo.
absl::Status OwnedElsewhere(absl::Status status, absl::string_view session_name,
                            absl::string_view owner, absl::Duration retry_after);

// `status` with every occurrence of a private path (pairs of path, replacement name) replaced by
// its name, in the message and in the texts of the details attached above; for errors clients see.
absl::Status WithoutPrivatePaths(const absl::Status& status,
                                 const std::vector<std::pair<std::string, std::string>>& paths);

// The reason attached with WithReason (or by the helpers above); "" if none.
std::string ReasonOf(const absl::Status& status);

// Maps the code one to one (absl and gRPC share the canonical codes) and builds the
// google.rpc.Status details: the attached payloads, plus an ErrorInfo with domain "jamba.ai" and
// the attached reason or a default for the code. CANCELLED and DEADLINE_EXCEEDED carry no
// details, like the ones gRPC itself produces.
grpc::Status ToGrpcStatus(const absl::Status& status);

// An error as the OpenAI-compatible HTTP API sends it: the HTTP status, the fields of OpenAI's
// error object `{"error": {"message", "type", "param", "code"}}`, and Retry-After.
struct HttpError {
  int status = 500;
  std::string type;     // "invalid_request_error", "authentication_error", ...
  std::string code;     // the ErrorInfo reason in lower case ("context_length_exceeded")
  std::string param;    // the first bad field, as the client named it; "" when none
  std::string message;  // bounded like the gRPC message, field paths as the client named them
  std::optional<absl::Duration> retry_after;  // from RetryInfo: a full queue, a draining server
};

// Maps the code (and for RESOURCE_EXHAUSTED the reason) to the HTTP status: INVALID_ARGUMENT,
// OUT_OF_RANGE and FAILED_PRECONDITION 400, UNAUTHENTICATED 401, PERMISSION_DENIED 403,
// NOT_FOUND 404, DEADLINE_EXCEEDED 408, ALREADY_EXISTS and ABORTED 409, a full queue or a quota
// 429, a request over the size limit 413, full session storage 507, UNAVAILABLE 503,
// UNIMPLEMENTED 501, CANCELLED 499 (for the log: the client is gone), the rest 500.
// `param_name` turns a BadRequest field path of the request the status is about into the name the
// client used for it (the HTTP API runs v1 requests translated from OpenAI's fields).
HttpError ToHttpError(const absl::Status& status,
                      absl::FunctionRef<std::string(absl::string_view)> param_name);

}  // namespace jamba::service

#endif  // JAMBA_SERVICE_STATUS_MAPPING_H_
