// jambad under load: a full engine queue and a full worker pool answer RESOURCE_EXHAUSTED with
// RetryInfo at once; a client's cancellation frees its capacity; a client deadline ends the call
// with DEADLINE_EXCEEDED and the server stays usable.
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/integration/jambad_process.h"

namespace jamba::testing {
namespace {

// A generation that runs until cancelled (the demo model needs minutes for this many tokens).
v1::GenerateRequest Endless() {
  v1::GenerateRequest request;
  request.set_prompt("Once upon a time");
  request.set_max_tokens(100000);
  request.mutable_sampling()->set_temperature(0);
  request.mutable_stop()->set_ignore_eos(true);
  return request;
}

v1::GenerateRequest Short() {
  v1::GenerateRequest request;
  request.set_prompt("Hello");
  request.set_max_tokens(4);
  request.mutable_sampling()->set_temperature(0);
  return request;
}

// A Generate stream the test holds open.
struct OpenStream {
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReader<v1::GenerateResponse>> reader;
};

std::unique_ptr<OpenStream> StartStream(v1::GenerationService::Stub& stub,
                                        const v1::GenerateRequest& request) {
  auto stream = std::make_unique<OpenStream>();
  stream->reader = stub.Generate(&stream->context, request);
  return stream;
}

// Cancels and drains a held stream.
void Cancel(OpenStream& stream) {
  stream.context.TryCancel();
  v1::GenerateResponse ignored;
  while (stream.reader->Read(&ignored)) {
  }
  EXPECT_EQ(stream.reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
}

std::vector<std::string> LimitFlags(int workers, int running, int queued) {
  return {"--worker-threads",        absl::StrCat(workers),
          "--worker-queue",          "0",
          "--max-running-requests",  absl::StrCat(running),
          "--max-queued-requests",   absl::StrCat(queued),
          "--max-completion-tokens", "100000"};
}

TEST(LimitsIntegrationTest, AFullEngineQueueIsResourceExhaustedWithRetryInfo) {
  auto server = JambadProcess::Start({.model_dir = DemoModelDir(), .flags = LimitFlags(3, 1, 1)});
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = v1::GenerationService::NewStub((*server)->Channel());
  auto running = StartStream(*stub, Endless());
  v1::GenerateResponse first;
  ASSERT_TRUE(running->reader->Read(&first));  // it holds the one running slot
  auto queued = StartStream(*stub, Endless());
  // Wait until the second request sits in the engine's queue (its one place).
  bool in_queue = false;
  for (int i = 0; i < 500 && !in_queue; ++i) {
    in_queue = (*server)->HttpGet("/metrics").find("jambad_queue_depth{queue=\"engine\"} 1\n") !=
               std::string::npos;
    if (!in_queue) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(in_queue) << (*server)->HttpGet("/metrics");

  GenerateOutcome refused = Generate(*stub, Short());
  EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(ErrorReason(refused.status), "QUEUE_FULL");
  ASSERT_TRUE(RetryInfo(refused.status).has_value());
  EXPECT_EQ(RetryInfo(refused.status)->retry_delay().seconds(), 1);
  Cancel(*running);
  Cancel(*queued);
}

TEST(LimitsIntegrationTest, AFullWorkerPoolIsRefusedAndCancellingFreesItsWorker) {
  auto server = JambadProcess::Start({.model_dir = DemoModelDir(), .flags = LimitFlags(1, 8, 8)});
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = v1::GenerationService::NewStub((*server)->Channel());
  auto running = StartStream(*stub, Endless());
  v1::GenerateResponse first;
  ASSERT_TRUE(running->reader->Read(&first));  // it holds the only worker

  GenerateOutcome refused = Generate(*stub, Short());
  EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(ErrorReason(refused.status), "QUEUE_FULL");
  EXPECT_TRUE(RetryInfo(refused.status).has_value());

  Cancel(*running);
  // The worker is released once the engine notices, within a step: a later request runs.
  GenerateOutcome later;
  for (int attempt = 0; attempt < 500; ++attempt) {
    later = Generate(*stub, Short());
    if (later.status.error_code() != grpc::StatusCode::RESOURCE_EXHAUSTED) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(later.status.ok()) << later.status.error_message();
  EXPECT_EQ(later.tokens.size(), 4u);
}

TEST(LimitsIntegrationTest, ADeadlineEndsTheCallAndTheServerStaysUsable) {
  auto server = JambadProcess::Start({.model_dir = DemoModelDir(), .flags = LimitFlags(1, 8, 8)});
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = v1::GenerationService::NewStub((*server)->Channel());
  GenerateOutcome late = Generate(*stub, Endless(), "", absl::Milliseconds(300));
  EXPECT_EQ(late.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_EQ(late.last.finish_reason(), v1::FINISH_REASON_UNSPECIFIED);
  // The engine stopped the request at its deadline, so the single worker comes free.
  GenerateOutcome next;
  for (int attempt = 0; attempt < 500; ++attempt) {
    next = Generate(*stub, Short());
    if (next.status.error_code() != grpc::StatusCode::RESOURCE_EXHAUSTED) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(next.status.ok()) << next.status.error_message();
}

}  // namespace
}  // namespace jamba::testing
