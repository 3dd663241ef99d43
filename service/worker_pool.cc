// WorkerPool: per-tenant FIFOs served in turn, with a per-tenant cap on running tasks.
#include "service/worker_pool.h"

#include <algorithm>
#include <utility>

namespace jamba::service {

WorkerPool::WorkerPool(int threads, int max_queued)
    : max_queued_(max_queued), max_per_tenant_(std::max(1, threads - 1)) {
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

bool WorkerPool::TrySubmit(const std::string& tenant, absl::AnyInvocable<void() &&> task) {
  {
    absl::MutexLock lock(&mu_);
    if (stop_) return false;
    Tenant& entry = tenants_[tenant];
    const int64_t startable = std::max(0, max_per_tenant_ - entry.running);
    if (static_cast<int64_t>(entry.tasks.size()) >= startable + max_queued_) {
      if (entry.tasks.empty() && entry.running == 0) tenants_.erase(tenant);
      return false;
    }
    if (entry.tasks.empty()) turns_.emplace_back(tenant);
    entry.tasks.push_back(std::move(task));
    ++queued_;
  }
  work_cv_.SignalAll();
  return true;
}

int64_t WorkerPool::queued() const {
  absl::MutexLock lock(&mu_);
  return queued_;
}

int64_t WorkerPool::active() const {
  absl::MutexLock lock(&mu_);
  return active_;
}

WorkerPool::Tenant* WorkerPool::NextEligible(std::string* name) {
  for (auto it = turns_.begin(); it != turns_.end(); ++it) {
    Tenant& tenant = tenants_.at(*it);
    if (tenant.running >= max_per_tenant_) continue;
    *name = std::move(*it);
    turns_.erase(it);
    return &tenant;
  }
  return nullptr;
}

void WorkerPool::Run() {
  for (;;) {
    absl::AnyInvocable<void() &&> task;
    std::string name;
    {
      absl::MutexLock lock(&mu_);
      Tenant* tenant = nullptr;
      while ((tenant = NextEligible(&name)) == nullptr) {
        if (stop_ && queued_ == 0) return;
        work_cv_.Wait(&mu_);
      }
      task = std::move(tenant->tasks.front());
      tenant->tasks.pop_front();
      if (!tenant->tasks.empty()) turns_.push_back(name);  // its next task waits for its turn
      ++tenant->running;
      --queued_;
      ++active_;
    }
    std::move(task)();
    {
      absl::MutexLock lock(&mu_);
      --active_;
      auto it = tenants_.find(name);
      if (--it->second.running == 0 && it->second.tasks.empty()) tenants_.erase(it);
    }
    work_cv_.SignalAll();
  }
}

}  // namespace jamba::service
