// DevicePool: a caching device allocator with size buckets. Blocks freed by the backend go back to
// a per-bucket free list and are handed out again without cudaMalloc/cudaFree (both synchronise
// the device). All users enqueue work on the backend's single stream, so a block freed after an
// op was enqueued and reused by a later op is safe: stream order serialises the two uses.
//
// Buckets: requests up to 1 MiB round up to a power of two (at least 256 bytes); larger ones to a
// multiple of 2 MiB (waste under 2 MiB per block, a fraction of a percent for big blocks). A
// cached block is reused only for the same bucket. When cudaMalloc fails the pool releases every
// cached block and tries once more.
#ifndef JAMBA_KERNELS_CUDA_DEVICE_POOL_H_
#define JAMBA_KERNELS_CUDA_DEVICE_POOL_H_

#include <cstddef>
#include <map>
#include <unordered_map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace jamba::kernels::cuda {

class DevicePool {
 public:
  struct Stats {
    size_t live_bytes = 0;       // bucket bytes handed out and not yet freed
    size_t peak_live_bytes = 0;  // highest live_bytes since creation or ResetPeak()
    size_t cached_bytes = 0;     // bucket bytes held in free lists
    size_t mallocs = 0;          // cudaMalloc calls so far
    size_t reuses = 0;           // allocations served from a free list
  };

  DevicePool() = default;
  DevicePool(const DevicePool&) = delete;
  DevicePool& operator=(const DevicePool&) = delete;
  // Frees every block, cached or live (the owner must have synchronised its stream).
  ~DevicePool();

  // A block of at least `bytes` bytes, 256-byte aligned.
  absl::StatusOr<void*> Allocate(size_t bytes);
  // Returns a block from Allocate to its free list. Aborts on a pointer this pool did not hand out.
  void Free(void* block);
  // cudaFree of every cached block (not the live ones).
  void ReleaseCached();
  Stats stats() const;
  // Restarts peak_live_bytes from the current live_bytes.
  void ResetPeak();

  static size_t BucketSize(size_t bytes);

 private:
  void ReleaseCachedLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  std::unordered_map<void*, size_t> live_ ABSL_GUARDED_BY(mu_);       // block -> bucket size
  std::map<size_t, std::vector<void*>> cached_ ABSL_GUARDED_BY(mu_);  // bucket size -> blocks
  Stats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace jamba::kernels::cuda

#endif  // JAMBA_KERNELS_CUDA_DEVICE_POOL_H_
