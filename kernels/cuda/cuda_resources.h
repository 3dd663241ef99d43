// RAII owners of CUDA runtime and cuBLAS resources: device memory, streams, events, cuBLAS
// handles and CUDA graphs. Each is move-only and releases its resource in the destructor
// (failures there are ignored: a destructor cannot report them and the process may be exiting).
#ifndef JAMBA_KERNELS_CUDA_CUDA_RESOURCES_H_
#define JAMBA_KERNELS_CUDA_CUDA_RESOURCES_H_

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <cstddef>
#include <utility>

#include "absl/status/statusor.h"
#include "kernels/cuda/cuda_check.h"

namespace jamba::kernels::cuda {

// A move-only owner of one raw handle; Traits::Destroy(handle) releases it.
template <typename Handle, typename Traits>
class UniqueHandle {
 public:
  UniqueHandle() = default;
  explicit UniqueHandle(Handle handle) : handle_(handle) {}
  UniqueHandle(UniqueHandle&& other) noexcept : handle_(std::exchange(other.handle_, Handle{})) {}
  UniqueHandle& operator=(UniqueHandle&& other) noexcept {
    if (this != &other) {
      Reset();
      handle_ = std::exchange(other.handle_, Handle{});
    }
    return *this;
  }
  UniqueHandle(const UniqueHandle&) = delete;
  UniqueHandle& operator=(const UniqueHandle&) = delete;
  ~UniqueHandle() { Reset(); }

  Handle get() const { return handle_; }
  explicit operator bool() const { return handle_ != Handle{}; }
  void Reset() {
    if (handle_ != Handle{}) Traits::Destroy(handle_);
    handle_ = Handle{};
  }

 private:
  Handle handle_{};
};

struct DeviceMemoryTraits {
  static void Destroy(void* p) { (void)cudaFree(p); }
};
struct StreamTraits {
  static void Destroy(cudaStream_t s) { (void)cudaStreamDestroy(s); }
};
struct EventTraits {
  static void Destroy(cudaEvent_t e) { (void)cudaEventDestroy(e); }
};
struct CublasTraits {
  static void Destroy(cublasHandle_t h) { (void)cublasDestroy(h); }
};
struct GraphTraits {
  static void Destroy(cudaGraph_t g) { (void)cudaGraphDestroy(g); }
};
struct GraphExecTraits {
  static void Destroy(cudaGraphExec_t g) { (void)cudaGraphExecDestroy(g); }
};

using DeviceMemory = UniqueHandle<void*, DeviceMemoryTraits>;
using Stream = UniqueHandle<cudaStream_t, StreamTraits>;
using Event = UniqueHandle<cudaEvent_t, EventTraits>;
using CublasHandle = UniqueHandle<cublasHandle_t, CublasTraits>;
using Graph = UniqueHandle<cudaGraph_t, GraphTraits>;
using GraphExec = UniqueHandle<cudaGraphExec_t, GraphExecTraits>;

// cudaMalloc of `bytes` (at least 1) on the current device.
inline absl::StatusOr<DeviceMemory> MallocDevice(size_t bytes) {
  void* p = nullptr;
  if (absl::Status s = JAMBA_CUDA_STATUS(cudaMalloc(&p, bytes > 0 ? bytes : 1)); !s.ok()) return s;
  return DeviceMemory(p);
}

inline absl::StatusOr<Stream> CreateStream() {
  cudaStream_t s = nullptr;
  if (absl::Status st = JAMBA_CUDA_STATUS(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
      !st.ok()) {
    return st;
  }
  return Stream(s);
}

inline absl::StatusOr<Event> CreateEvent() {
  cudaEvent_t e = nullptr;
  if (absl::Status s = JAMBA_CUDA_STATUS(cudaEventCreate(&e)); !s.ok()) return s;
  return Event(e);
}

inline absl::StatusOr<CublasHandle> CreateCublas() {
  cublasHandle_t h = nullptr;
  if (absl::Status s = JAMBA_CUDA_STATUS(cublasCreate(&h)); !s.ok()) return s;
  return CublasHandle(h);
}

}  // namespace jamba::kernels::cuda

#endif  // JAMBA_KERNELS_CUDA_CUDA_RESOURCES_H_
