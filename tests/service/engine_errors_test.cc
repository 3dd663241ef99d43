// AnnotateEngineError: the SDK's errors become the API's, each RESOURCE_EXHAUSTED by what ran out
// (a full queue is retried, a quota is a quota, a full disk is neither and names no server path),
// and a busy session is SESSION_BUSY.
#include "engine/exhausted_resource.h"
#include "google/rpc/error_details.pb.h"
#include "gtest/gtest.h"
#include "service/call.h"
#include "service/status_mapping.h"

namespace jamba::service {
namespace {

using engine::ExhaustedResource;

EngineErrorContext Context() {
  EngineErrorContext context;
  context.session_name = "sessions/s1";
  context.field = "session.text";
  context.retry_delay = absl::Seconds(2);
  return context;
}

TEST(EngineErrorsTest, AFullDiskIsStorageFullAndNamesNoServerPath) {
  const absl::Status status = AnnotateEngineError(
      engine::ResourceExhausted(ExhaustedResource::kStorage,
                                "cannot write /var/lib/jambad/sessions/acme/s1/tmp-1: No space"),
      Context());
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ReasonOf(status), kReasonStorageFull);
  EXPECT_EQ(std::string(status.message()).find("/var/lib"), std::string::npos) << status;
  EXPECT_EQ(ToGrpcStatus(status).error_details().find("/var/lib"), std::string::npos);
}

TEST(EngineErrorsTest, EachExhaustedResourceHasItsOwnReason) {
  const absl::Status queue = AnnotateEngineError(
      engine::ResourceExhausted(ExhaustedResource::kRequestQueue, "request queue is full"),
      Context());
  EXPECT_EQ(ReasonOf(queue), kReasonQueueFull);
  const absl::Status quota = AnnotateEngineError(
      engine::ResourceExhausted(ExhaustedResource::kSessionQuota, "quota of 10 bytes exceeded"),
      Context());
  EXPECT_EQ(ReasonOf(quota), kReasonQuotaExceeded);
  const absl::Status unknown =
      AnnotateEngineError(absl::ResourceExhaustedError("something else"), Context());
  EXPECT_EQ(ReasonOf(unknown), kReasonInternal);
  EXPECT_EQ(ExhaustedResourceOf(engine::ResourceExhausted(ExhaustedResource::kStorage, "x")),
            jamba::ExhaustedResource::kStorage);
}

TEST(EngineErrorsTest, ABusySessionIsSessionBusy) {
  const absl::Status status =
      AnnotateEngineError(absl::AbortedError("session \"s1\" is busy"), Context());
  EXPECT_EQ(status.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(ReasonOf(status), kReasonSessionBusy);
}

}  // namespace
}  // namespace jamba::service
