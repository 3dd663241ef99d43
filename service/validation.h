// Request validation: every field the jamba.v1 protos document, checked before any work starts,
// each failure an INVALID_ARGUMENT whose BadRequest names the field by its path. Also the raw
// request parsing that turns invalid UTF-8 in a string field into such an error instead of the
// INTERNAL gRPC would report for a failed parse (the services take requests as ByteBuffers).
#ifndef JAMBA_SERVICE_VALIDATION_H_
#define JAMBA_SERVICE_VALIDATION_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "grpcpp/support/byte_buffer.h"
#include "jamba/v1/generation.pb.h"
#include "jamba/v1/generation_service.pb.h"
#include "jamba/v1/session_service.pb.h"
#include "service/status_mapping.h"

namespace jamba::service {

// Fixed limits (ModelInfo.limits reports them).
inline constexpr int kMaxStopStrings = 16;
inline constexpr int kMaxStopStringBytes = 256;
inline constexpr int kMaxStopTokenIds = 16;
inline constexpr int kMaxTopLogprobs = 20;
inline constexpr int kMaxPageSize = 1000;
inline constexpr int kMaxDisplayNameChars = 256;
inline constexpr int kMaxTools = 128;
inline constexpr int kMaxDocuments = 256;
inline constexpr size_t kMaxToolNameBytes = 64;
inline constexpr int kDefaultProgressInterval = 2048;
inline constexpr int kMinProgressInterval = 128;
inline constexpr int kMaxProgressInterval = 1 << 20;

// The configured limits requests are checked against.
struct RequestLimits {
  int64_t vocab_size = 0;
  int64_t max_context_tokens = 0;
  int64_t max_prompt_tokens = 0;
  int64_t max_completion_tokens = 0;
  int64_t default_max_tokens = 0;
};

bool IsValidUtf8(absl::string_view text);

// The path ("session.messages.messages[2].content") of the first string field of a serialized
// `type` message whose value is not valid UTF-8, or nullopt if there is none (or the bytes are not
// well-formed enough to walk).
std::optional<std::string> FindInvalidUtf8Field(const google::protobuf::Descriptor& type,
                                                absl::string_view wire);

// Parses a request. A string field with invalid UTF-8 is INVALID_ARGUMENT naming the field; any
// other malformed message is INVALID_ARGUMENT too (the client sent bytes that are not the request).
absl::Status ParseRequest(const grpc::ByteBuffer& buffer, google::protobuf::Message& request);
grpc::ByteBuffer SerializeResponse(const google::protobuf::Message& response);

// Why `name` is not `sessions/{id}`; "" when it is.
std::string SessionNameProblem(absl::string_view name);
// `sessions/{id}` -> id. The error names `field`.
absl::StatusOr<std::string> ParseSessionName(absl::string_view name, absl::string_view field);
// `sessions/{id}/checkpoints/{position}` -> (id, position).
struct ParsedCheckpoint {
  std::string session_id;
  int64_t position = 0;
};
absl::StatusOr<ParsedCheckpoint> ParseCheckpointName(absl::string_view name,
                                                     absl::string_view field);
bool IsValidSessionId(absl::string_view id);

// Generation checks that need no tokenizer: the input's shape, token ids, sampling ranges, stop
// conditions, logprobs. Prompt lengths in tokens are checked after tokenization by the caller.
absl::Status ValidateGenerateRequest(const v1::GenerateRequest& request,
                                     const RequestLimits& limits);

// Shared pieces, adding to `errors` with `field` as the path prefix.
void ValidateTokenIds(const v1::TokenIds& ids, int64_t vocab_size, const std::string& field,
                      FieldErrors& errors);
void ValidateChatMessages(const v1::ChatMessages& messages, const std::string& field,
                          FieldErrors& errors);
void ValidateChatRole(v1::ChatMessage::Role role, bool first, const std::string& field,
                      FieldErrors& errors);
// tool_choice against the request's chat input (null when it has none): FUNCTION names one of
// the tools offered (any tool, for a session generation without messages), REQUIRED needs tools.
void ValidateToolChoice(const v1::ToolChoice& choice, const v1::ChatMessages* chat,
                        FieldErrors& errors);
// display_name: at most 256 characters.
void ValidateDisplayName(absl::string_view name, const std::string& field, FieldErrors& errors);

// page_size: negative is invalid; 0 means `default_size`; above 1000 means 1000.
absl::StatusOr<int> EffectivePageSize(int32_t page_size, int default_size);

// "system", "user", "assistant" or "tool" (the SDK's role names); "" for ROLE_UNSPECIFIED.
std::string RoleName(v1::ChatMessage::Role role);

}  // namespace jamba::service

#endif  // JAMBA_SERVICE_VALIDATION_H_
