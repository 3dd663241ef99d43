// absl::Status -> grpc::Status with google.rpc details. Details travel inside absl statuses as
// payloads keyed by their Any type URL, so they survive being returned through any layer and
// ToGrpcStatus can pack them without knowing who attached them.
#include "service/status_mapping.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace jamba::service {
namespace {

constexpr char kTypeUrlPrefix[] = "type.googleapis.com/";

template <typename Message>
std::string TypeUrl() {
  return absl::StrCat(kTypeUrlPrefix, Message::descriptor()->full_name());
}

template <typename Message>
absl::Status WithDetail(absl::Status status, const Message& detail) {
  if (status.ok()) return status;
  status.SetPayload(TypeUrl<Message>(), absl::Cord(detail.SerializeAsString()));
  return status;
}

absl::string_view DefaultReason(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return kReasonInvalidField;
    case absl::StatusCode::kUnauthenticated:
      return kReasonApiKeyInvalid;
    case absl::StatusCode::kNotFound:
      return kReasonSessionNotFound;
    case absl::StatusCode::kAlreadyExists:
      return kReasonSessionExists;
    case absl::StatusCode::kFailedPrecondition:
      return kReasonModelMismatch;
    case absl::StatusCode::kAborted:
      return kReasonSessionBusy;
    case absl::StatusCode::kResourceExhausted:
      return kReasonQueueFull;
    case absl::StatusCode::kUnavailable:
      return kReasonUnavailable;
    case absl::StatusCode::kDataLoss:
      return kReasonSessionCorrupted;
    default:
      return kReasonInternal;
  }
}

grpc::StatusCode ToGrpcCode(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return grpc::StatusCode::OK;
    case absl::StatusCode::kCancelled:
      return grpc::StatusCode::CANCELLED;
    case absl::StatusCode::kUnknown:
      return grpc::StatusCode::UNKNOWN;
    case absl::StatusCode::kInvalidArgument:
      return grpc::StatusCode::INVALID_ARGUMENT;
    case absl::StatusCode::kDeadlineExceeded:
      return grpc::StatusCode::DEADLINE_EXCEEDED;
    case absl::StatusCode::kNotFound:
      return grpc::StatusCode::NOT_FOUND;
    case absl::StatusCode::kAlreadyExists:
      return grpc::StatusCode::ALREADY_EXISTS;
    case absl::StatusCode::kPermissionDenied:
      return grpc::StatusCode::PERMISSION_DENIED;
    case absl::StatusCode::kResourceExhausted:
      return grpc::StatusCode::RESOURCE_EXHAUSTED;
    case absl::StatusCode::kFailedPrecondition:
      return grpc::StatusCode::FAILED_PRECONDITION;
    case absl::StatusCode::kAborted:
      return grpc::StatusCode::ABORTED;
    case absl::StatusCode::kOutOfRange:
      return grpc::StatusCode::OUT_OF_RANGE;
    case absl::StatusCode::kUnimplemented:
      return grpc::StatusCode::UNIMPLEMENTED;
    case absl::StatusCode::kInternal:
      return grpc::StatusCode::INTERNAL;
    case absl::StatusCode::kUnavailable:
      return grpc::StatusCode::UNAVAILABLE;
    case absl::StatusCode::kDataLoss:
      return grpc::StatusCode::DATA_LOSS;
    case absl::StatusCode::kUnauthenticated:
      return grpc::StatusCode::UNAUTHENTICATED;
    default:
      return grpc::StatusCode::UNKNOWN;
  }
}

// The end of the longest prefix of `text` of at most `max_bytes` that ends between characters.
size_t CharacterBoundary(absl::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return text.size();
  size_t end = max_bytes;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return end;
}

// Largest google.rpc.Status detail payload kept; bigger ones are dropped (the ErrorInfo and the
// message stay), so trailers stay far below gRPC's 8 KiB metadata limit.
constexpr size_t kMaxDetailsBytes = 3584;

}  // namespace

std::string Truncate(absl::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  constexpr absl::string_view kEllipsis = "\xE2\x80\xA6";  // U+2026
  const size_t keep = max_bytes > kEllipsis.size() ? max_bytes - kEllipsis.size() : 0;
  return absl::StrCat(text.substr(0, CharacterBoundary(text, keep)), kEllipsis);
}

std::string QuoteValue(absl::string_view value) {
  if (value.size() <= kMaxQuotedValueBytes) return absl::StrCat("\"", value, "\"");
  return absl::StrCat("\"", value.substr(0, CharacterBoundary(value, kMaxQuotedValueBytes)),
                      "\xE2\x80\xA6\" (", value.size(), " bytes)");
}

void FieldErrors::Add(std::string field, std::string description) {
  if (violations_.size() >= kMaxFieldViolations) {
    ++dropped_;
    return;
  }
  violations_.push_back({std::move(field), std::move(description)});
}

void FieldErrors::AddContextLength(std::string field, std::string description) {
  Add(std::move(field), std::move(description));
  context_length_ = true;
}

absl::Status FieldErrors::ToStatus() const {
  if (violations_.empty()) return absl::OkStatus();
  // Each violation gets an equal share of the details' budget, so the BadRequest and the message
  // stay inside kMaxDetailsBytes however many fields (and however long values) a request has.
  const size_t share = std::max<size_t>(64, 2400 / violations_.size());
  google::rpc::BadRequest bad_request;
  std::vector<std::string> parts;
  for (const FieldViolation& v : violations_) {
    const std::string field = Truncate(v.field, share / 2);
    const std::string description = Truncate(v.description, share - field.size());
    google::rpc::BadRequest::FieldViolation* out = bad_request.add_field_violations();
    out->set_field(field);
    out->set_description(description);
    parts.push_back(absl::StrCat(field, ": ", description));
  }
  if (dropped_ > 0) parts.push_back(absl::StrCat("and ", dropped_, " more"));
  absl::Status status =
      absl::InvalidArgumentError(Truncate(absl::StrJoin(parts, "; "), kMaxErrorMessageBytes));
  status = WithDetail(std::move(status), bad_request);
  return WithReason(std::move(status),
                    context_length_ ? kReasonContextLength : kReasonInvalidField);
}

absl::Status InvalidField(std::string field, std::string description, absl::string_view reason) {
  FieldErrors errors;
  errors.Add(std::move(field), std::move(description));
  return WithReason(errors.ToStatus(), reason);
}

absl::Status UnsupportedField(std::string field, std::string message) {
  google::rpc::BadRequest bad_request;
  google::rpc::BadRequest::FieldViolation* violation = bad_request.add_field_violations();
  violation->set_field(Truncate(field, kMaxErrorMessageBytes / 2));
  violation->set_description(Truncate(message, kMaxErrorMessageBytes));
  return WithReason(
      WithDetail(absl::InvalidArgumentError(Truncate(message, kMaxErrorMessageBytes)), bad_request),
      kReasonUnsupportedParameter);
}

absl::Status WithReason(absl::Status status, absl::string_view reason,
                        const std::vector<std::pair<std::string, std::string>>& metadata) {
  google::rpc::ErrorInfo info;
  info.set_reason(std::string(reason));
  info.set_domain(kErrorDomain);
  for (const auto& [key, value] : metadata) {
    (*info.mutable_metadata())[Truncate(key, kMaxQuotedValueBytes)] =
        Truncate(value, kMaxQuotedValueBytes);
  }
  return WithDetail(std::move(status), info);
}

absl::Status WithResource(absl::Status status, absl::string_view type, absl::string_view name) {
  google::rpc::ResourceInfo info;
  info.set_resource_type(std::string(type));
  info.set_resource_name(Truncate(name, 2 * kMaxQuotedValueBytes));
  info.set_description(Truncate(status.message(), kMaxErrorMessageBytes));
  return WithDetail(std::move(status), info);
}

absl::Status WithRetryDelay(absl::Status status, absl::Duration delay) {
  google::rpc::RetryInfo info;
  const int64_t nanos = absl::ToInt64Nanoseconds(delay);
  info.mutable_retry_delay()->set_seconds(nanos / 1000000000);
  info.mutable_retry_delay()->set_nanos(static_cast<int32_t>(nanos % 1000000000));
  return WithDetail(std::move(status), info);
}

absl::Status WithQuotaViolation(absl::Status status, absl::string_view subject,
                                absl::string_view description) {
  google::rpc::QuotaFailure failure;
  google::rpc::QuotaFailure::Violation* violation = failure.add_violations();
  violation->set_subject(Truncate(subject, kMaxQuotedValueBytes));
  violation->set_description(Truncate(description, kMaxErrorMessageBytes));
  return WithReason(WithDetail(std::move(status), failure), kReasonQuotaExceeded);
}

absl::Status QueueFull(absl::string_view message, absl::Duration retry_after) {
  return WithReason(WithRetryDelay(absl::ResourceExhaustedError(message), retry_after),
                    kReasonQueueFull);
}

absl::Status Draining(absl::Duration retry_after) {
  return WithReason(
      WithRetryDelay(absl::UnavailableError("the server is draining; retry on another replica"),
                     retry_after),
      kReasonUnavailable);
}

absl::Status OwnedElsewhere(absl::Status status, absl::string_view session_name,
                            absl::string_view owner, absl::Duration retry_after) {
  const absl::Duration delay = std::clamp(retry_after, absl::Milliseconds(100), absl::Seconds(30));
  status = WithResource(WithRetryDelay(std::move(status), delay), kSessionType, session_name);
  return WithReason(std::move(status), kReasonSessionOwnedElsewhere,
                    {{"owner", std::string(owner)}});
}

absl::Status WithoutPrivatePaths(const absl::Status& status,
                                 const std::vector<std::pair<std::string, std::string>>& paths) {
  if (status.ok() || paths.empty()) return status;
  bool changed = false;
  auto scrub = [&](std::string text) {
    for (const auto& [path, name] : paths)
      changed |= absl::StrReplaceAll({{path, name}}, &text) > 0;
    return text;
  };
  absl::Status out(status.code(), scrub(std::string(status.message())));
  status.ForEachPayload([&](absl::string_view url, const absl::Cord& payload) {
    if (url == TypeUrl<google::rpc::ResourceInfo>()) {
      google::rpc::ResourceInfo info;
      if (info.ParseFromString(std::string(payload))) {
        info.set_description(scrub(info.description()));
        out.SetPayload(url, absl::Cord(info.SerializeAsString()));
        return;
      }
    } else if (url == TypeUrl<google::rpc::BadRequest>()) {
      google::rpc::BadRequest bad_request;
      if (bad_request.ParseFromString(std::string(payload))) {
        for (auto& violation : *bad_request.mutable_field_violations()) {
          violation.set_description(scrub(violation.description()));
        }
        out.SetPayload(url, absl::Cord(bad_request.SerializeAsString()));
        return;
      }
    } else if (url == TypeUrl<google::rpc::QuotaFailure>()) {
      google::rpc::QuotaFailure failure;
      if (failure.ParseFromString(std::string(payload))) {
        for (auto& violation : *failure.mutable_violations()) {
          violation.set_description(scrub(violation.description()));
        }
        out.SetPayload(url, absl::Cord(failure.SerializeAsString()));
        return;
      }
    }
    out.SetPayload(url, payload);
  });
  return changed ? out : status;
}

std::string ReasonOf(const absl::Status& status) {
  auto payload = status.GetPayload(TypeUrl<google::rpc::ErrorInfo>());
  if (!payload.has_value()) return "";
  google::rpc::ErrorInfo info;
  if (!info.ParseFromString(std::string(*payload))) return "";
  return info.reason();
}

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  const grpc::StatusCode code = ToGrpcCode(status.code());
  std::string message = Truncate(status.message(), kMaxErrorMessageBytes);
  if (code == grpc::StatusCode::CANCELLED || code == grpc::StatusCode::DEADLINE_EXCEEDED) {
    return grpc::Status(code, std::move(message));
  }
  google::rpc::Status details;
  details.set_code(static_cast<int32_t>(code));
  details.set_message(message);
  // ErrorInfo first: it is the detail clients match on. The one attached (with its metadata), or
  // the code's default reason.
  google::rpc::ErrorInfo info;
  if (auto attached = status.GetPayload(TypeUrl<google::rpc::ErrorInfo>()); attached.has_value()) {
    info.ParseFromString(std::string(*attached));
  }
  if (info.reason().empty()) info.set_reason(std::string(DefaultReason(status.code())));
  info.set_domain(kErrorDomain);
  details.add_details()->PackFrom(info);
  const std::string error_info_url = TypeUrl<google::rpc::ErrorInfo>();
  status.ForEachPayload([&](absl::string_view url, const absl::Cord& payload) {
    if (url == error_info_url || !absl::StartsWith(url, kTypeUrlPrefix)) return;
    if (payload.size() > kMaxDetailsBytes) return;
    google::protobuf::Any* any = details.add_details();
    any->set_type_url(std::string(url));
    any->set_value(std::string(payload));
  });
  if (details.ByteSizeLong() > kMaxDetailsBytes) {  // many details, each within its bound
    details.mutable_details()->DeleteSubrange(1, details.details_size() - 1);
  }
  return grpc::Status(code, std::move(message), details.SerializeAsString());
}

namespace {

template <typename Message>
std::optional<Message> Detail(const absl::Status& status) {
  auto payload = status.GetPayload(TypeUrl<Message>());
  if (!payload.has_value()) return std::nullopt;
  Message detail;
  if (!detail.ParseFromString(std::string(*payload))) return std::nullopt;
  return detail;
}

// HTTP status and OpenAI error type of a status.
std::pair<int, const char*> HttpStatusOf(const absl::Status& status, absl::string_view reason) {
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kFailedPrecondition:
      return {400, "invalid_request_error"};
    case absl::StatusCode::kUnauthenticated:
      return {401, "authentication_error"};
    case absl::StatusCode::kPermissionDenied:
      return {403, "permission_error"};
    case absl::StatusCode::kNotFound:
      return {404, "not_found_error"};
    case absl::StatusCode::kDeadlineExceeded:
      return {408, "timeout_error"};
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kAborted:
      return {409, "conflict_error"};
    case absl::StatusCode::kResourceExhausted:
      if (reason == kReasonRequestTooLarge) return {413, "invalid_request_error"};
      if (reason == kReasonQueueFull) return {429, "rate_limit_error"};
      if (reason == kReasonQuotaExceeded) return {429, "insufficient_quota"};
      if (reason == kReasonStorageFull) return {507, "server_error"};
      return {500, "server_error"};
    case absl::StatusCode::kUnavailable:
      return {503, "server_error"};
    case absl::StatusCode::kUnimplemented:
      return {501, "server_error"};
    case absl::StatusCode::kCancelled:
      return {499, "cancelled"};
    default:
      return {500, "server_error"};
  }
}

}  // namespace

HttpError ToHttpError(const absl::Status& status,
                      absl::FunctionRef<std::string(absl::string_view)> param_name) {
  HttpError out;
  if (status.ok()) {
    out.status = 200;
    return out;
  }
  std::string reason = ReasonOf(status);
  if (reason.empty()) {
    // gRPC's own deadline and cancellation carry no reason; name them by their code.
    const bool bare = status.code() == absl::StatusCode::kDeadlineExceeded ||
                      status.code() == absl::StatusCode::kCancelled;
    reason =
        bare ? absl::StatusCodeToString(status.code()) : std::string(DefaultReason(status.code()));
  }
  const auto [http_status, type] = HttpStatusOf(status, reason);
  out.status = http_status;
  out.type = type;
  out.code = absl::AsciiStrToLower(reason);
  out.message = std::string(status.message());
  if (std::optional<google::rpc::BadRequest> bad_request = Detail<google::rpc::BadRequest>(status);
      bad_request.has_value()) {
    // The message names each field as "path: ..." (FieldErrors); say it as the client did.
    for (const auto& violation : bad_request->field_violations()) {
      const std::string name = param_name(violation.field());
      if (out.param.empty()) out.param = name;
      if (name != violation.field() && !violation.field().empty()) {
        absl::StrReplaceAll({{absl::StrCat(violation.field(), ": "), absl::StrCat(name, ": ")}},
                            &out.message);
      }
    }
  }
  out.message = Truncate(out.message, kMaxErrorMessageBytes);
  if (std::optional<google::rpc::RetryInfo> retry = Detail<google::rpc::RetryInfo>(status);
      retry.has_value()) {
    out.retry_after = absl::Seconds(retry->retry_delay().seconds()) +
                      absl::Nanoseconds(retry->retry_delay().nanos());
  }
  return out;
}

}  // namespace jamba::service
