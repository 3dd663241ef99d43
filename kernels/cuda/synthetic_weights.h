// SyntheticWeights: full-size weight matrices and vectors allocated on a CudaBackend's device and
// filled there with reproducible hash-based random values, so a model of any shape (Jamba-v0.1's
// 52B parameters included) can be benchmarked without a checkpoint. The tensors are ordinary
// backend memory, usable by every op; they live as long as this object, which must be destroyed
// before the backend.
//
//   SyntheticWeights synth(backend, /*seed=*/1);
//   auto w = synth.MakeMatrix(14336, 4096, DType::kBF16, 1.0f / 64);  // U(-1/64, 1/64)
#ifndef JAMBA_KERNELS_CUDA_SYNTHETIC_WEIGHTS_H_
#define JAMBA_KERNELS_CUDA_SYNTHETIC_WEIGHTS_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/backend.h"
#include "kernels/cuda/cuda_backend.h"

namespace jamba::kernels::cuda {

class SyntheticWeights {
 public:
  SyntheticWeights(CudaBackend& backend, uint64_t seed) : backend_(backend), next_seed_(seed) {}
  SyntheticWeights(const SyntheticWeights&) = delete;
  SyntheticWeights& operator=(const SyntheticWeights&) = delete;

  // A [rows, cols] matrix of `dtype` with values uniform in [-scale, scale). kI8 holds random
  // integers in [-127, 127] with every row scale scale / 127 (same range).
  absl::StatusOr<Matrix> MakeMatrix(int64_t rows, int64_t cols, DType dtype, float scale);
  // `count` fp32 values uniform in [lo, hi).
  absl::StatusOr<const float*> MakeVector(int64_t count, float lo, float hi);

  // Device bytes held (sum of the requested sizes).
  size_t bytes() const { return bytes_; }

 private:
  absl::StatusOr<void*> Fill(size_t bytes, WeightType type, int64_t count, float lo, float hi);

  CudaBackend& backend_;
  uint64_t next_seed_;
  std::vector<DeviceBuffer> buffers_;
  size_t bytes_ = 0;
};

}  // namespace jamba::kernels::cuda

#endif  // JAMBA_KERNELS_CUDA_SYNTHETIC_WEIGHTS_H_
