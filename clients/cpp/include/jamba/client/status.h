// Errors of the jamba C++ client: gRPC statuses become absl::Status with the same code, and the
// google.rpc details the server sent (ErrorInfo, BadRequest, ResourceInfo, RetryInfo,
// QuotaFailure, ...) become the status's payloads, keyed by their type URL
// ("type.googleapis.com/google.rpc.ErrorInfo"). These helpers read them back.
#ifndef JAMBA_CLIENT_STATUS_H_
#define JAMBA_CLIENT_STATUS_H_

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "grpcpp/support/status.h"

namespace jamba::client {

// The type URL under which a detail message is stored, e.g.
// "type.googleapis.com/google.rpc.BadRequest".
template <typename Detail>
std::string DetailTypeUrl() {
  return absl::StrCat("type.googleapis.com/", Detail::descriptor()->full_name());
}

// A grpc::Status as an absl::Status: the same code and message, and every detail of its
// google.rpc.Status (the grpc-status-details-bin trailer) as a payload keyed by its type URL
// (if two details have one type, the first is kept).
absl::Status FromGrpcStatus(const grpc::Status& status);

// The detail of this type the server sent with an error, if any.
template <typename Detail>
std::optional<Detail> GetErrorDetail(const absl::Status& status) {
  absl::optional<absl::Cord> payload = status.GetPayload(DetailTypeUrl<Detail>());
  if (!payload.has_value()) return std::nullopt;
  Detail detail;
  if (!detail.ParseFromString(std::string(*payload))) return std::nullopt;
  return detail;
}

// ErrorInfo.reason (e.g. "SESSION_NOT_FOUND"), or "" if the error carries no ErrorInfo.
std::string ErrorReason(const absl::Status& status);

// BadRequest's violations as (field, description) pairs; empty without a BadRequest.
std::vector<std::pair<std::string, std::string>> FieldViolations(const absl::Status& status);

}  // namespace jamba::client

#endif  // JAMBA_CLIENT_STATUS_H_
