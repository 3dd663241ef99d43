// A fixed set of threads that run the blocking engine calls of RPCs, shared fairly between
// tenants: each tenant has its own bounded queue, free threads take tasks from the tenants in
// turn, and no tenant may occupy every thread, so one tenant's slow calls cannot stall another's.
// When a tenant's queue is full, TrySubmit refuses and the RPC answers RESOURCE_EXHAUSTED
// (QUEUE_FULL) at once instead of piling up. gRPC's own callback threads never block on the
// engine.
#ifndef JAMBA_SERVICE_WORKER_POOL_H_
#define JAMBA_SERVICE_WORKER_POOL_H_

#include <cstdint>
#include <deque>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"

namespace jamba::service {

class WorkerPool {
 public:
  // `max_queued`: tasks of one tenant that may wait beyond those its free threads take at once.
  WorkerPool(int threads, int max_queued);
  // Runs what is queued, then joins the threads.
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // False (and `task` dropped) when `tenant`'s queue is full.
  bool TrySubmit(const std::string& tenant, absl::AnyInvocable<void() &&> task);

  int64_t queued() const;  // waiting for a thread, all tenants
  int64_t active() const;  // running
  int threads() const { return static_cast<int>(threads_.size()); }
  // The most threads one tenant may run on at once: all but one (at least one), so a tenant with
  // nothing running always finds a thread once any task ends.
  int max_per_tenant() const { return max_per_tenant_; }

 private:
  struct Tenant {
    std::deque<absl::AnyInvocable<void() &&>> tasks;
    int running = 0;
  };
  void Run();
  // The tenant whose turn it is among those with a task they may start now, or null.
  Tenant* NextEligible(std::string* name) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const int max_queued_;
  const int max_per_tenant_;
  mutable absl::Mutex mu_;
  absl::CondVar work_cv_;
  absl::flat_hash_map<std::string, Tenant> tenants_ ABSL_GUARDED_BY(mu_);
  std::deque<std::string> turns_ ABSL_GUARDED_BY(mu_);  // tenants with queued tasks, in turn
  int64_t queued_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t active_ ABSL_GUARDED_BY(mu_) = 0;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace jamba::service

#endif  // JAMBA_SERVICE_WORKER_POOL_H_
