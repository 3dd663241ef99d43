// Fixed worker pool; see thread_pool.h.
#include "kernels/cpu/thread_pool.h"

#include <sched.h>

#include <algorithm>
#include <chrono>

namespace jamba::kernels::cpu {
namespace {

// How long a thread polls for the next job or for the workers to finish before it blocks. Jobs
// of one forward pass follow each other within microseconds; blocking and waking through the
// kernel costs tens of microseconds on virtual machines, which adds up to milliseconds a step.
constexpr auto kSpinBudget = std::chrono::microseconds(50);

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Polls `done` until it returns true (returns true) or the spin budget runs out (false).
template <typename Predicate>
bool SpinUntil(Predicate done) {
  const auto deadline = std::chrono::steady_clock::now() + kSpinBudget;
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (done()) return true;
      CpuRelax();
    }
    if (std::chrono::steady_clock::now() >= deadline) return done();
  }
}

}  // namespace

int ThreadPool::AvailableHardwareThreads() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int count = CPU_COUNT(&set);
    if (count > 0) return count;
  }
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

ThreadPool::ThreadPool(int num_threads)
    : num_threads_(num_threads > 0 ? num_threads : AvailableHardwareThreads()) {
  workers_.reserve(num_threads_ - 1);
  for (int t = 1; t < num_threads_; ++t) workers_.emplace_back([this, t] { WorkerLoop(t); });
}

ThreadPool::~ThreadPool() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  work_cv_.SignalAll();
  for (auto& worker : workers_) worker.join();
}

void ThreadPool::RunTasks(int thread) {
  for (;;) {
    const int64_t task = next_task_.fetch_add(1, std::memory_order_relaxed);
    if (task >= job_tasks_) return;
    (*job_)(task, thread);
  }
}

void ThreadPool::WorkerLoop(int thread) {
  uint64_t seen = 0;
  for (;;) {
    if (!SpinUntil([&] { return generation_.load(std::memory_order_acquire) != seen; })) {
      absl::MutexLock lock(&mu_);
      while (!stop_ && generation_.load(std::memory_order_acquire) == seen) work_cv_.Wait(&mu_);
      if (stop_) return;
    }
    seen = generation_.load(std::memory_order_acquire);
    RunTasks(thread);
    if (active_workers_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      // Under mu_, so a caller that checked the count and is about to wait cannot miss it.
      absl::MutexLock lock(&mu_);
      done_cv_.Signal();
    }
  }
}

void ThreadPool::ParallelFor(int64_t num_tasks,
                             const std::function<void(int64_t task, int thread)>& fn) {
  if (num_tasks <= 0) return;
  // Taken for the inline path too: it runs as thread 0, which may not be in use by another call.
  absl::MutexLock call_lock(&call_mu_);
  if (num_threads_ == 1 || num_tasks == 1) {
    for (int64_t task = 0; task < num_tasks; ++task) fn(task, 0);
    return;
  }
  {
    absl::MutexLock lock(&mu_);
    job_ = &fn;
    job_tasks_ = num_tasks;
    next_task_.store(0, std::memory_order_relaxed);
    active_workers_.store(static_cast<int>(workers_.size()), std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_release);
  }
  work_cv_.SignalAll();
  RunTasks(0);
  if (!SpinUntil([&] { return active_workers_.load(std::memory_order_acquire) == 0; })) {
    absl::MutexLock lock(&mu_);
    while (active_workers_.load(std::memory_order_acquire) > 0) done_cv_.Wait(&mu_);
  }
  job_ = nullptr;
}

}  // namespace jamba::kernels::cpu
