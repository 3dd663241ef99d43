// CudaBackend::Scratch, shared by the backend's .cc files: device scratch memory for the duration
// of one op. Not part of the public interface.
#ifndef JAMBA_KERNELS_CUDA_SCRATCH_H_
#define JAMBA_KERNELS_CUDA_SCRATCH_H_

#include <utility>

#include "kernels/cuda/cuda_backend.h"

namespace jamba::kernels::cuda {

// A scratch buffer for the duration of one op. While a graph is being captured the buffer moves
// into the graph instead of returning to the pool, since replays keep using its address.
class CudaBackend::Scratch {
 public:
  Scratch(CudaBackend& backend, size_t bytes) ABSL_NO_THREAD_SAFETY_ANALYSIS
      : backend_(backend),
        buffer_(backend.TakeScratch(bytes)) {}
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  ~Scratch() ABSL_NO_THREAD_SAFETY_ANALYSIS { backend_.ReturnScratch(std::move(buffer_)); }

  template <typename T>
  T* as() const {
    return static_cast<T*>(buffer_.data());
  }

 private:
  CudaBackend& backend_;
  DeviceBuffer buffer_;
};

}  // namespace jamba::kernels::cuda

#endif  // JAMBA_KERNELS_CUDA_SCRATCH_H_
