// A fixed set of threads that run the blocking engine calls of RPCs, with a bounded queue: when
// every thread is busy and the queue is full, TrySubmit refuses and the RPC answers
// RESOURCE_EXHAUSTED (QUEUE_FULL) at once instead of piling up. gRPC's own callback threads never
// block on the engine.
#ifndef JAMBA_SERVICE_WORKER_POOL_H_
#define JAMBA_SERVICE_WORKER_POOL_H_

#include <cstdint>
#include <deque>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"

namespace jamba::service {

class WorkerPool {
 public:
  // `max_queued`: tasks that may wait for a thread (beyond those a free thread takes at once).
  WorkerPool(int threads, int max_queued);
  // Runs what is queued, then joins the threads.
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // False (and `task` dropped) when no thread is free and the queue is full.
  bool TrySubmit(absl::AnyInvocable<void() &&> task);

  int64_t queued() const;  // waiting for a thread
  int64_t active() const;  // running
  int threads() const { return static_cast<int>(threads_.size()); }

 private:
  void Run();

  const int max_queued_;
  mutable absl::Mutex mu_;
  absl::CondVar work_cv_;
  std::deque<absl::AnyInvocable<void() &&>> queue_ ABSL_GUARDED_BY(mu_);
  int64_t active_ ABSL_GUARDED_BY(mu_) = 0;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace jamba::service

#endif  // JAMBA_SERVICE_WORKER_POOL_H_
