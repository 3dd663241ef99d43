// Runs one scheduler request on behalf of a blocking API call: submits it, relays the events the
// engine thread produces to the calling thread, and returns when the request is done. Callbacks
// of the observer run on the calling thread, so a slow consumer never stalls the batch.
#ifndef JAMBA_SDK_REQUEST_RUNNER_H_
#define JAMBA_SDK_REQUEST_RUNNER_H_

#include <cstdint>
#include <functional>
#include <memory>

#include "absl/status/status.h"
#include "engine/generation.h"
#include "engine/scheduler.h"

namespace jamba::sdk {

struct RunObserver {
  // Return false to cancel the request.
  std::function<bool(int64_t done, int64_t total)> on_progress;
  std::function<bool(const engine::GenerationStep& step)> on_step;
};

// Returns the request's final status: OK, CANCELLED (observer or `external_cancel`),
// DEADLINE_EXCEEDED, or the submit error (RESOURCE_EXHAUSTED when the queue is full).
absl::Status RunRequest(engine::Scheduler& scheduler, std::shared_ptr<engine::Request> request,
                        const RunObserver& observer);

}  // namespace jamba::sdk

#endif  // JAMBA_SDK_REQUEST_RUNNER_H_
