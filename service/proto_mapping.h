// SDK values <-> jamba.v1 messages, and the one place that reconciles the API's session model
// with the SDK's:
//
// The API says a session created without skip_bos holds BOS from creation (token_count 1, a
// CREATE checkpoint at position 1). The SDK's sessions start empty and only prepend BOS when text
// is first fed at position 0, and its prefix reuse only applies to the first append. So the
// service keeps such a session empty in the SDK, shows it as holding BOS ("virtual BOS"), and
// puts BOS in front of the first content it feeds. Positions and counts are shifted only while
// the session is empty; once content is fed, BOS is a real token at position 0. skip_bos is kept
// as a session label.
#ifndef JAMBA_SERVICE_PROTO_MAPPING_H_
#define JAMBA_SERVICE_PROTO_MAPPING_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "google/protobuf/timestamp.pb.h"
#include "jamba/types.h"
#include "jamba/v1/generation.pb.h"
#include "jamba/v1/model.pb.h"
#include "jamba/v1/session.pb.h"

namespace jamba::service {

inline constexpr char kSkipBosLabel[] = "jamba.ai/skip-bos";

std::string SessionName(const std::string& id);
std::string CheckpointName(const std::string& session_id, int64_t position);
void ToTimestamp(absl::Time time, google::protobuf::Timestamp* out);

// The API's view of one SDK session.
class SessionView {
 public:
  SessionView(SessionInfo info, int32_t bos_token_id);
  const SessionInfo& info() const { return info_; }
  bool skip_bos() const { return skip_bos_; }
  // Empty in the SDK but holding BOS in the API: the next content fed needs BOS in front.
  bool virtual_bos() const { return !skip_bos_ && info_.token_count == 0; }
  int64_t token_count() const { return info_.token_count + (virtual_bos() ? 1 : 0); }
  // API checkpoint position <-> SDK position.
  int64_t ToSdkPosition(int64_t api_position) const;
  int64_t ToApiPosition(int64_t sdk_position) const;
  // Whether `api_position` can be an API checkpoint at all (position 0 is not, with BOS).
  bool IsApiPosition(int64_t api_position) const { return skip_bos_ || api_position >= 1; }

  v1::Session ToProto(const std::string& model_id, const std::string& fingerprint) const;
  v1::Checkpoint CheckpointToProto(const CheckpointInfo& checkpoint) const;

 private:
  SessionInfo info_;
  bool skip_bos_ = false;
};

v1::FinishReason ToProtoFinishReason(FinishReason reason);

struct ServerLimitsInfo {
  int64_t max_context_tokens = 0;
  int64_t max_prompt_tokens = 0;
  int64_t max_completion_tokens = 0;
  int64_t default_max_tokens = 0;
  int64_t checkpoint_interval_tokens = 0;
  int64_t max_request_bytes = 0;
};
v1::ModelInfo ToProtoModelInfo(const ModelInfo& info, const std::string& model_id,
                               const ServerLimitsInfo& limits, const std::string& version);

}  // namespace jamba::service

#endif  // JAMBA_SERVICE_PROTO_MAPPING_H_
