// A fixed pool of worker threads for data-parallel kernels. The caller of ParallelFor takes part
// in the work, so a pool of N threads runs N-1 workers. Passed explicitly to the CPU backend; never
// a process-wide singleton.
#ifndef JAMBA_KERNELS_CPU_THREAD_POOL_H_
#define JAMBA_KERNELS_CPU_THREAD_POOL_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace jamba::kernels::cpu {

class ThreadPool {
 public:
  // `num_threads` <= 0 means one per available hardware thread.
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return num_threads_; }

  // Calls fn(task, thread) for every task in [0, num_tasks), spread over the pool, and returns
  // when all are done. `thread` is in [0, num_threads()) and unique among concurrently running
  // calls, so it can index per-thread scratch. Concurrent ParallelFor calls are serialized.
  void ParallelFor(int64_t num_tasks, const std::function<void(int64_t task, int thread)>& fn);

  // Number of hardware threads this process may use (respects the CPU affinity mask).
  static int AvailableHardwareThreads();

 private:
  void WorkerLoop(int thread);
  void RunTasks(int thread);

  const int num_threads_;
  std::vector<std::thread> workers_;
  absl::Mutex call_mu_;  // serializes ParallelFor callers

  absl::Mutex mu_;
  absl::CondVar work_cv_;  // a new generation or stop
  absl::CondVar done_cv_;  // active_workers_ reached zero
  // Bumped (under mu_, with release order) for every job; workers spin on it briefly before they
  // block on work_cv_, so back-to-back jobs (a decode step is hundreds of them) skip the futex
  // wake-up. The caller waits for active_workers_ the same way.
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> active_workers_{0};
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  // The current job; written under mu_ before generation_ is bumped, read by workers after.
  const std::function<void(int64_t, int)>* job_ = nullptr;
  int64_t job_tasks_ = 0;
  std::atomic<int64_t> next_task_{0};
};

}  // namespace jamba::kernels::cpu

#endif  // JAMBA_KERNELS_CPU_THREAD_POOL_H_
