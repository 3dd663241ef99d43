// Best-fit reuse of scratch buffers; a few dozen live at most, so a linear scan is fine.
#include "kernels/cpu/scratch_pool.h"

#include <new>

namespace jamba::kernels::cpu {
namespace {

// Buffers beyond this many are freed instead of kept.
constexpr size_t kMaxFree = 32;

}  // namespace

ScratchPool::Lease ScratchPool::Get(size_t floats) {
  floats = std::max<size_t>(floats, 16);
  {
    absl::MutexLock lock(&mu_);
    size_t best = free_.size();
    for (size_t i = 0; i < free_.size(); ++i) {
      if (free_[i].capacity >= floats &&
          (best == free_.size() || free_[i].capacity < free_[best].capacity)) {
        best = i;
      }
    }
    if (best != free_.size()) {
      Free found = std::move(free_[best]);
      free_.erase(free_.begin() + static_cast<std::ptrdiff_t>(best));
      return Lease(this, std::move(found.buffer), found.capacity);
    }
  }
  const size_t bytes = (floats * sizeof(float) + 63) / 64 * 64;
  Buffer buffer(static_cast<float*>(std::aligned_alloc(64, bytes)));
  if (buffer == nullptr) throw std::bad_alloc();
  return Lease(this, std::move(buffer), floats);
}

void ScratchPool::Return(Buffer buffer, size_t capacity) {
  absl::MutexLock lock(&mu_);
  if (free_.size() < kMaxFree) free_.push_back({std::move(buffer), capacity});
}

}  // namespace jamba::kernels::cpu
