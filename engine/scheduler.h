// Scheduler: continuous batching. One engine thread runs every forward step; each step batches
// the next token of every decoding request with chunks of pending prefills (long prefills are cut
// into chunks and interleaved with other requests' decode steps, round-robin, so one long ingest
// does not stall other users). Service and SDK threads only submit requests and read events.
#ifndef JAMBA_ENGINE_SCHEDULER_H_
#define JAMBA_ENGINE_SCHEDULER_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "engine/forward_workspace.h"
#include "engine/generation.h"
#include "engine/jamba_model.h"
#include "engine/sequence_state.h"

namespace jamba::engine {

struct SchedulerOptions {
  int64_t max_batch_tokens = 512;  // tokens per forward step (decode tokens + prefill chunks)
  int64_t prefill_chunk = 256;     // most tokens one request prefills in a step
  int max_running = 32;            // requests advanced together
  int max_queued = 256;            // waiting requests beyond which Submit fails
};

// What a request reports back, on the scheduler thread. Keep callbacks short: hand the data to
// another thread.
struct RequestCallbacks {
  // `done` of `total` prompt tokens are now in the state; (0, total) when the request leaves the
  // queue.
  std::function<void(int64_t done, int64_t total)> on_prefill_progress;
  std::function<void(const GenerationStep& step)> on_step;
  // Called exactly once, last. OK when finished or stopped by `max_tokens`/stop conditions;
  // CANCELLED or DEADLINE_EXCEEDED when stopped early, with the state consistent (every token it
  // holds was fully processed).
  std::function<void(const absl::Status& status)> on_done;
};

// One unit of work: feed `prompt` to `state`, then optionally generate.
struct Request {
  SequenceState* state = nullptr;        // used only by the scheduler until on_done
  std::vector<int32_t> prompt;           // tokens to feed first (may be empty when generating)
  std::optional<Generation> generation;  // generate after the prompt when set
  // Feed the final sampled token too, so the state holds the whole answer (session commits).
  bool feed_final_token = false;
  absl::Time deadline = absl::InfiniteFuture();
  RequestCallbacks callbacks;
  std::atomic<bool> cancelled{false};

  // ---- scheduler-owned progress ----
  size_t prompt_fed = 0;
  std::optional<int32_t> to_feed;  // a sampled token waiting to be fed
};

class Scheduler {
 public:
  Scheduler(const JambaModel& model, const SchedulerOptions& options);
  ~Scheduler();  // stops the thread; requests still queued or running end as CANCELLED
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues a request. RESOURCE_EXHAUSTED when the queue is full or when the state cannot hold its
  // prompt and its generation's max_tokens in memory (JambaModel::CheckContextFits),
  // FAILED_PRECONDITION after Shutdown, INVALID_ARGUMENT for a request with nothing to do.
  absl::Status Submit(std::shared_ptr<Request> request);

  // Stops accepting requests; running and queued ones finish normally. Returns when all are done.
  void Drain();

  int64_t queue_depth() const;
  int64_t running() const;
  const SchedulerOptions& options() const { return options_; }

  // Observed by metrics: the number of sequences and tokens in the last step.
  struct StepStats {
    int64_t steps = 0;
    int64_t last_batch_sequences = 0;
    int64_t last_batch_tokens = 0;
  };
  StepStats stats() const;

 private:
  void Loop();
  // Runs one forward step over `running` and samples; removes the requests that finished.
  void Step(std::vector<std::shared_ptr<Request>>& running);
  void Finish(const std::shared_ptr<Request>& request, const absl::Status& status);

  const JambaModel& model_;
  const SchedulerOptions options_;
  ForwardWorkspace workspace_;

  mutable absl::Mutex mu_;
  absl::CondVar work_cv_;
  absl::CondVar idle_cv_;
  std::deque<std::shared_ptr<Request>> queue_ ABSL_GUARDED_BY(mu_);
  int64_t running_count_ ABSL_GUARDED_BY(mu_) = 0;
  bool accepting_ ABSL_GUARDED_BY(mu_) = true;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  StepStats stats_ ABSL_GUARDED_BY(mu_);
  size_t prefill_cursor_ = 0;  // round-robin start among prefilling requests (scheduler thread)

  std::thread thread_;
};

}  // namespace jamba::engine

#endif  // JAMBA_ENGINE_SCHEDULER_H_
