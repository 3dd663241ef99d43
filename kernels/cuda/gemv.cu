// MatMul's small-batch (decode) path: y = x W^T for up to kGemvMaxTokens activation rows, reading
// W once in its stored type (bf16/f16/f32/int8) and accumulating in fp32 like the CPU backend, so
// decode steps are bound by weight bandwidth and keep fp32-exact products.
#include <algorithm>

#include "kernels/cuda/gemv.cuh"

namespace jamba::kernels::cuda {
namespace {

template <WeightType kType, int kTokens, bool kVec>
__global__ void __launch_bounds__(kGemvWarps * 32)
    GemvKernel(const void* w, const float* row_scales, int64_t rows, int64_t cols, const float* x,
               int n, float* y, int64_t ldy, const float* bias) {
  // w: [rows, cols] stored weights; row_scales: [rows] (kI8) or null;
  // x: [n, cols] fp32 activations, n <= kTokens; y: [n, ldy] output (column = weight row);
  // bias: [rows] or null
  const int warp = threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  const int64_t row0 = (int64_t{blockIdx.x} * kGemvWarps + warp) * kGemvRowsPerWarp;
  if (row0 >= rows) return;  // whole warp; no block-level synchronisation below
  const void* w_rows[kGemvRowsPerWarp];
#pragma unroll
  for (int r = 0; r < kGemvRowsPerWarp; ++r) {
    w_rows[r] = WeightRow<kType>(w, Min<int64_t>(row0 + r, rows - 1), cols);
  }
  const float* x_rows[kTokens];
#pragma unroll
  for (int t = 0; t < kTokens; ++t) x_rows[t] = x + int64_t{Min(t, n - 1)} * cols;
  float acc[kGemvRowsPerWarp][kTokens] = {};
  WarpRowsDot<kType, kTokens, kVec>(w_rows, x_rows, cols, lane, acc);
#pragma unroll
  for (int r = 0; r < kGemvRowsPerWarp; ++r) {
#pragma unroll
    for (int t = 0; t < kTokens; ++t) {
      float v = WarpSum(acc[r][t]);
      const int64_t row = row0 + r;
      if (lane == (r * kTokens + t) % 32 && row < rows && t < n) {
        if (row_scales != nullptr) v *= row_scales[row];
        if (bias != nullptr) v += bias[row];
        y[t * ldy + row] = v;
      }
    }
  }
}

template <WeightType kType, int kTokens>
cudaError_t LaunchTyped(const DeviceMatrix& w, const float* x, int64_t n, float* y, int64_t ldy,
                        const float* bias, bool vec, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>(CeilDiv(w.rows, kGemvBlockRows)));
  const dim3 block(kGemvWarps * 32);
  const int nn = static_cast<int>(n);
  if (vec) {
    GemvKernel<kType, kTokens, true>
        <<<grid, block, 0, stream>>>(w.data, w.row_scales, w.rows, w.cols, x, nn, y, ldy, bias);
  } else {
    GemvKernel<kType, kTokens, false>
        <<<grid, block, 0, stream>>>(w.data, w.row_scales, w.rows, w.cols, x, nn, y, ldy, bias);
  }
  return cudaGetLastError();
}

template <WeightType kType>
cudaError_t LaunchForType(const DeviceMatrix& w, const float* x, int64_t n, float* y, int64_t ldy,
                          const float* bias, cudaStream_t stream) {
  const size_t vec_bytes = kType == WeightType::kI8 ? 8 : 16;
  const bool vec = w.cols % 8 == 0 && IsAligned(w.data, vec_bytes) && IsAligned(x, 16);
  if (n <= 1) return LaunchTyped<kType, 1>(w, x, n, y, ldy, bias, vec, stream);
  if (n <= 2) return LaunchTyped<kType, 2>(w, x, n, y, ldy, bias, vec, stream);
  if (n <= 4) return LaunchTyped<kType, 4>(w, x, n, y, ldy, bias, vec, stream);
  return LaunchTyped<kType, 8>(w, x, n, y, ldy, bias, vec, stream);
}

}  // namespace

cudaError_t LaunchGemv(const DeviceMatrix& w, const float* x, int64_t n, float* y, int64_t ldy,
                       const float* bias, cudaStream_t stream) {
  if (n <= 0 || w.rows <= 0) return cudaSuccess;
  if (n > kGemvMaxTokens) return cudaErrorInvalidValue;
  switch (w.type) {
    case WeightType::kF32:
      return LaunchForType<WeightType::kF32>(w, x, n, y, ldy, bias, stream);
    case WeightType::kBF16:
      return LaunchForType<WeightType::kBF16>(w, x, n, y, ldy, bias, stream);
    case WeightType::kF16:
      return LaunchForType<WeightType::kF16>(w, x, n, y, ldy, bias, stream);
    case WeightType::kI8:
      return LaunchForType<WeightType::kI8>(w, x, n, y, ldy, bias, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace jamba::kernels::cuda
