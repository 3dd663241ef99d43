// The payload behind ExhaustedResource: one byte under a private key.
#include "engine/exhausted_resource.h"

#include <string>

#include "absl/strings/cord.h"

namespace jamba::engine {
namespace {

constexpr char kPayloadKey[] = "jamba.ai/exhausted-resource";

}  // namespace

absl::Status ResourceExhausted(ExhaustedResource resource, std::string_view message) {
  absl::Status status = absl::ResourceExhaustedError(std::string(message));
  status.SetPayload(kPayloadKey, absl::Cord(std::string(1, static_cast<char>(resource))));
  return status;
}

ExhaustedResource ExhaustedResourceOf(const absl::Status& status) {
  if (status.code() != absl::StatusCode::kResourceExhausted) return ExhaustedResource::kUnknown;
  const auto payload = status.GetPayload(kPayloadKey);
  if (!payload.has_value() || payload->size() != 1) return ExhaustedResource::kUnknown;
  const int value = static_cast<unsigned char>(std::string(*payload)[0]);
  if (value > static_cast<int>(ExhaustedResource::kMemory)) return ExhaustedResource::kUnknown;
  return static_cast<ExhaustedResource>(value);
}

}  // namespace jamba::engine
