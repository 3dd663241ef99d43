// Allocates synthetic tensors through the backend's pool and fills them with LaunchHashFill on
// the backend's stream (so they are ready before any op issued afterwards).
#include "kernels/cuda/synthetic_weights.h"

#include "absl/status/status.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/launchers.h"

namespace jamba::kernels::cuda {

absl::StatusOr<void*> SyntheticWeights::Fill(size_t bytes, WeightType type, int64_t count, float lo,
                                             float hi) {
  auto buffer = backend_.Allocate(bytes);
  if (!buffer.ok()) return buffer.status();
  if (absl::Status s = JAMBA_CUDA_STATUS(
          LaunchHashFill(buffer->data(), type, count, next_seed_++, lo, hi, backend_.stream()));
      !s.ok()) {
    return s;
  }
  void* data = buffer->data();
  bytes_ += bytes;
  buffers_.push_back(*std::move(buffer));
  return data;
}

absl::StatusOr<Matrix> SyntheticWeights::MakeMatrix(int64_t rows, int64_t cols, DType dtype,
                                                    float scale) {
  if (rows <= 0 || cols <= 0) return absl::InvalidArgumentError("synthetic matrix shape");
  Matrix m;
  m.dtype = dtype;
  m.rows = rows;
  m.cols = cols;
  auto data = Fill(m.bytes(), static_cast<WeightType>(dtype), rows * cols, -scale, scale);
  if (!data.ok()) return data.status();
  m.data = *data;
  if (dtype == DType::kI8) {
    const float row_scale = scale / 127.0f;
    auto scales = Fill(static_cast<size_t>(rows) * sizeof(float), WeightType::kF32, rows, row_scale,
                       row_scale);
    if (!scales.ok()) return scales.status();
    m.row_scales = static_cast<const float*>(*scales);
  }
  return m;
}

absl::StatusOr<const float*> SyntheticWeights::MakeVector(int64_t count, float lo, float hi) {
  if (count <= 0) return absl::InvalidArgumentError("synthetic vector size");
  auto data = Fill(static_cast<size_t>(count) * sizeof(float), WeightType::kF32, count, lo, hi);
  if (!data.ok()) return data.status();
  return static_cast<const float*>(*data);
}

}  // namespace jamba::kernels::cuda
