// GrpcCallRecord: a gRPC call's origin from its metadata and deadline.
#include "service/call.h"

#include <chrono>
#include <optional>
#include <string>

namespace jamba::service {
namespace {

std::optional<std::string> MetadataValue(const grpc::CallbackServerContext& context,
                                         absl::string_view key) {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find(grpc::string_ref(key.data(), key.size()));
  if (it == metadata.end()) return std::nullopt;
  return std::string(it->second.data(), it->second.size());
}

CallOrigin OriginOf(const grpc::CallbackServerContext& context) {
  CallOrigin origin;
  origin.request_id = MetadataValue(context, "x-request-id");
  origin.authorization = MetadataValue(context, "authorization");
  const auto deadline = context.deadline();
  if (deadline != std::chrono::system_clock::time_point::max()) {
    origin.deadline = absl::FromChrono(deadline);
  }
  return origin;
}

}  // namespace

GrpcCallRecord::GrpcCallRecord(const ServiceContext& ctx, grpc::CallbackServerContext* context,
                               absl::string_view method)
    : CallRecord(ctx, method, OriginOf(*context)), context_(context) {
  context_->AddInitialMetadata("x-request-id", request_id());
}

}  // namespace jamba::service
