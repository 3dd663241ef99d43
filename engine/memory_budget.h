// MemoryBudget: how much memory an engine's sequence states (their KV pages) hold, and how much
// more they may take. A request whose context cannot fit is refused when it arrives, with the
// limit in the message, instead of failing (or being killed) half-way through its prefill.
//
// Thread-safety: every method may be called from any thread.
#ifndef JAMBA_ENGINE_MEMORY_BUDGET_H_
#define JAMBA_ENGINE_MEMORY_BUDGET_H_

#include <atomic>
#include <cstdint>
#include <string>

namespace jamba::engine {

// The machine's memory available to this process now: MemAvailable from /proc/meminfo (free
// memory plus what the kernel can reclaim, such as clean page cache), or the room left under
// the process's cgroup v2 memory limit when that is lower. -1 when neither can be read.
int64_t ProbeAvailableMemory();

class MemoryBudget {
 public:
  // limit_bytes > 0: the KV caches of all sequences together may hold at most this much.
  // 0: they may grow while the machine has memory available, less `kProbeReserveBytes` left for
  // workspaces, the rest of the process and the system.
  explicit MemoryBudget(int64_t limit_bytes) : limit_(limit_bytes) {}
  MemoryBudget(const MemoryBudget&) = delete;
  MemoryBudget& operator=(const MemoryBudget&) = delete;

  static constexpr int64_t kProbeReserveBytes = int64_t{512} << 20;

  // Called by the KV caches as they allocate and free pages.
  void Add(int64_t bytes) { used_.fetch_add(bytes, std::memory_order_relaxed); }
  void Remove(int64_t bytes) { used_.fetch_sub(bytes, std::memory_order_relaxed); }
  int64_t used() const { return used_.load(std::memory_order_relaxed); }
  int64_t limit() const { return limit_; }

  // Bytes the states may still allocate.
  int64_t Available() const;
  // What bounds Available(), for error messages: "kv_memory_bytes (N bytes)" or "the machine's
  // available memory".
  std::string LimitName() const;

 private:
  const int64_t limit_;
  std::atomic<int64_t> used_{0};
};

}  // namespace jamba::engine

#endif  // JAMBA_ENGINE_MEMORY_BUDGET_H_
