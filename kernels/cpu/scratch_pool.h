// Reusable host scratch buffers for the CPU kernels. A lease returns its buffer to the pool when
// it dies, so a hot path does not map, fault in and zero fresh pages on every call (which cost
// more than the arithmetic in large prefills). Buffers are 64-byte aligned: a vector load that
// straddles two cache lines costs two L1 accesses.
#ifndef JAMBA_KERNELS_CPU_SCRATCH_POOL_H_
#define JAMBA_KERNELS_CPU_SCRATCH_POOL_H_

#include <cstddef>
#include <cstdlib>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace jamba::kernels::cpu {

class ScratchPool {
  struct AlignedFree {
    void operator()(float* p) const { std::free(p); }
  };

 public:
  using Buffer = std::unique_ptr<float[], AlignedFree>;

  // Uninitialized floats, valid until the lease is destroyed.
  class Lease {
   public:
    Lease(ScratchPool* pool, Buffer buffer, size_t capacity)
        : pool_(pool), buffer_(std::move(buffer)), capacity_(capacity) {}
    Lease(Lease&&) noexcept = default;
    Lease& operator=(Lease&&) noexcept = default;
    ~Lease() {
      if (buffer_ != nullptr) pool_->Return(std::move(buffer_), capacity_);
    }
    float* data() const { return buffer_.get(); }

   private:
    ScratchPool* pool_;
    Buffer buffer_;
    size_t capacity_;
  };

  Lease Get(size_t floats);

 private:
  void Return(Buffer buffer, size_t capacity);

  struct Free {
    Buffer buffer;
    size_t capacity;
  };
  absl::Mutex mu_;
  std::vector<Free> free_ ABSL_GUARDED_BY(mu_);
};

}  // namespace jamba::kernels::cpu

#endif  // JAMBA_KERNELS_CPU_SCRATCH_POOL_H_
