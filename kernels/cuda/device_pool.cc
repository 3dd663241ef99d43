// The caching device allocator behind CudaBackend::Allocate (see device_pool.h).
#include "kernels/cuda/device_pool.h"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <bit>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "kernels/cuda/cuda_check.h"

namespace jamba::kernels::cuda {
namespace {

constexpr size_t kMinBlock = 256;
constexpr size_t kSmallLimit = size_t{1} << 20;
constexpr size_t kLargeGranule = size_t{2} << 20;

}  // namespace

size_t DevicePool::BucketSize(size_t bytes) {
  if (bytes <= kMinBlock) return kMinBlock;
  if (bytes <= kSmallLimit) return std::bit_ceil(bytes);
  return (bytes + kLargeGranule - 1) / kLargeGranule * kLargeGranule;
}

DevicePool::~DevicePool() {
  absl::MutexLock lock(&mu_);
  ReleaseCachedLocked();
  for (auto& [block, size] : live_) (void)cudaFree(block);
  live_.clear();
}

absl::StatusOr<void*> DevicePool::Allocate(size_t bytes) {
  const size_t bucket = BucketSize(bytes);
  absl::MutexLock lock(&mu_);
  if (auto it = cached_.find(bucket); it != cached_.end() && !it->second.empty()) {
    void* block = it->second.back();
    it->second.pop_back();
    stats_.cached_bytes -= bucket;
    stats_.live_bytes += bucket;
    stats_.peak_live_bytes = std::max(stats_.peak_live_bytes, stats_.live_bytes);
    ++stats_.reuses;
    live_.emplace(block, bucket);
    return block;
  }
  void* block = nullptr;
  absl::Status status = JAMBA_CUDA_STATUS(cudaMalloc(&block, bucket));
  if (!status.ok() && stats_.cached_bytes > 0) {
    ReleaseCachedLocked();
    status = JAMBA_CUDA_STATUS(cudaMalloc(&block, bucket));
  }
  if (!status.ok()) {
    return absl::Status(status.code(),
                        absl::StrCat("cannot allocate ", bytes, " bytes of device memory (",
                                     stats_.live_bytes, " bytes in use): ", status.message()));
  }
  ++stats_.mallocs;
  stats_.live_bytes += bucket;
  stats_.peak_live_bytes = std::max(stats_.peak_live_bytes, stats_.live_bytes);
  live_.emplace(block, bucket);
  return block;
}

void DevicePool::Free(void* block) {
  if (block == nullptr) return;
  absl::MutexLock lock(&mu_);
  auto it = live_.find(block);
  JAMBA_CUDA_REQUIRE(it != live_.end(), "DevicePool::Free of a block this pool did not allocate");
  const size_t bucket = it->second;
  live_.erase(it);
  stats_.live_bytes -= bucket;
  stats_.cached_bytes += bucket;
  cached_[bucket].push_back(block);
}

void DevicePool::ReleaseCached() {
  absl::MutexLock lock(&mu_);
  ReleaseCachedLocked();
}

// cudaFree failures are ignored here and in the destructor: a block is either freed or leaked,
// and nothing the caller could do differs.
void DevicePool::ReleaseCachedLocked() {
  for (auto& [bucket, blocks] : cached_) {
    for (void* block : blocks) (void)cudaFree(block);
  }
  cached_.clear();
  stats_.cached_bytes = 0;
}

void DevicePool::ResetPeak() {
  absl::MutexLock lock(&mu_);
  stats_.peak_live_bytes = stats_.live_bytes;
}

DevicePool::Stats DevicePool::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

}  // namespace jamba::kernels::cuda
