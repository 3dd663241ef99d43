// WorkerPool: threads taking tasks from a bounded FIFO.
#include "service/worker_pool.h"

#include <algorithm>
#include <utility>

namespace jamba::service {

WorkerPool::WorkerPool(int threads, int max_queued) : max_queued_(max_queued) {
  threads_.reserve(threads);
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Run(); });
}

WorkerPool::~WorkerPool() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  work_cv_.SignalAll();
  for (std::thread& thread : threads_) thread.join();
}

bool WorkerPool::TrySubmit(absl::AnyInvocable<void() &&> task) {
  {
    absl::MutexLock lock(&mu_);
    const int64_t idle = static_cast<int64_t>(threads_.size()) - active_;
    if (stop_ || static_cast<int64_t>(queue_.size()) >= idle + max_queued_) return false;
    queue_.push_back(std::move(task));
  }
  work_cv_.Signal();
  return true;
}

int64_t WorkerPool::queued() const {
  absl::MutexLock lock(&mu_);
  const int64_t idle = static_cast<int64_t>(threads_.size()) - active_;
  return std::max<int64_t>(0, static_cast<int64_t>(queue_.size()) - idle);
}

int64_t WorkerPool::active() const {
  absl::MutexLock lock(&mu_);
  return active_;
}

void WorkerPool::Run() {
  for (;;) {
    absl::AnyInvocable<void() &&> task;
    {
      absl::MutexLock lock(&mu_);
      while (queue_.empty() && !stop_) work_cv_.Wait(&mu_);
      if (queue_.empty()) return;  // stopping, and nothing left to run
      task = std::move(queue_.front());
      queue_.pop_front();
      ++active_;
    }
    std::move(task)();
    absl::MutexLock lock(&mu_);
    --active_;
  }
}

}  // namespace jamba::service
