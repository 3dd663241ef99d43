// absl::Status -> grpc::Status with google.rpc details. Details travel inside absl statuses as
// payloads keyed by their Any type URL, so they survive being returned through any layer and
// ToGrpcStatus can pack them without knowing who attached them.
#include "service/status_mapping.h"

#include <optional>
#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
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

}  // namespace

void FieldErrors::Add(std::string field, std::string description) {
  violations_.push_back({std::move(field), std::move(description)});
}

void FieldErrors::AddContextLength(std::string field, std::string description) {
  Add(std::move(field), std::move(description));
  context_length_ = true;
}

absl::Status FieldErrors::ToStatus() const {
  if (violations_.empty()) return absl::OkStatus();
  google::rpc::BadRequest bad_request;
  std::vector<std::string> parts;
  for (const FieldViolation& v : violations_) {
    google::rpc::BadRequest::FieldViolation* out = bad_request.add_field_violations();
    out->set_field(v.field);
    out->set_description(v.description);
    parts.push_back(absl::StrCat(v.field, ": ", v.description));
  }
  absl::Status status = absl::InvalidArgumentError(absl::StrJoin(parts, "; "));
  status = WithDetail(std::move(status), bad_request);
  return WithReason(std::move(status),
                    context_length_ ? kReasonContextLength : kReasonInvalidField);
}

absl::Status InvalidField(std::string field, std::string description, absl::string_view reason) {
  FieldErrors errors;
  errors.Add(std::move(field), std::move(description));
  return WithReason(errors.ToStatus(), reason);
}

absl::Status WithReason(absl::Status status, absl::string_view reason) {
  google::rpc::ErrorInfo info;
  info.set_reason(std::string(reason));
  info.set_domain(kErrorDomain);
  return WithDetail(std::move(status), info);
}

absl::Status WithResource(absl::Status status, absl::string_view type, absl::string_view name) {
  google::rpc::ResourceInfo info;
  info.set_resource_type(std::string(type));
  info.set_resource_name(std::string(name));
  info.set_description(std::string(status.message()));
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
  violation->set_subject(std::string(subject));
  violation->set_description(std::string(description));
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
  std::string message(status.message());
  if (code == grpc::StatusCode::CANCELLED || code == grpc::StatusCode::DEADLINE_EXCEEDED) {
    return grpc::Status(code, std::move(message));
  }
  google::rpc::Status details;
  details.set_code(static_cast<int32_t>(code));
  details.set_message(message);
  // ErrorInfo first: it is the detail clients match on.
  google::rpc::ErrorInfo info;
  const std::string reason = ReasonOf(status);
  info.set_reason(reason.empty() ? std::string(DefaultReason(status.code())) : reason);
  info.set_domain(kErrorDomain);
  details.add_details()->PackFrom(info);
  const std::string error_info_url = TypeUrl<google::rpc::ErrorInfo>();
  status.ForEachPayload([&](absl::string_view url, const absl::Cord& payload) {
    if (url == error_info_url || !absl::StartsWith(url, kTypeUrlPrefix)) return;
    google::protobuf::Any* any = details.add_details();
    any->set_type_url(std::string(url));
    any->set_value(std::string(payload));
  });
  return grpc::Status(code, std::move(message), details.SerializeAsString());
}

}  // namespace jamba::service
