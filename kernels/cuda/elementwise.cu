// Elementwise and row-wise kernels: fill, add, SiLU*mul, RMSNorm, embedding lookup. All fp32,
// with the CPU backend's formulas; memory-bound, so each uses 16-byte accesses where aligned.
#include <algorithm>

#include "kernels/cuda/cuda_common.cuh"

namespace jamba::kernels::cuda {
namespace {

constexpr int kThreads = 256;

unsigned GridFor(int64_t items) {
  return static_cast<unsigned>(
      std::max<int64_t>(1, std::min<int64_t>(CeilDiv(items, kThreads), 1 << 20)));
}

__global__ void FillKernel(float* dst, float value, int64_t count) {
  // dst: [count] output
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < count;
       i += int64_t{gridDim.x} * blockDim.x) {
    dst[i] = value;
  }
}

__global__ void AddKernel(float* y, const float* x, int64_t count) {
  // y: [count] accumulated in place; x: [count] addend
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < count;
       i += int64_t{gridDim.x} * blockDim.x) {
    y[i] += x[i];
  }
}

__global__ void AddKernel4(float4* y, const float4* x, int64_t count4) {
  // y: [count4] float4s accumulated in place; x: [count4] float4 addends
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < count4;
       i += int64_t{gridDim.x} * blockDim.x) {
    float4 a = y[i];
    const float4 b = x[i];
    a.x += b.x, a.y += b.y, a.z += b.z, a.w += b.w;
    y[i] = a;
  }
}

__global__ void SiluMulKernel(const float* gate, const float* up, float* out, int64_t count) {
  // gate: [count] pre-activation; up: [count] multiplier; out: [count] (may alias gate)
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < count;
       i += int64_t{gridDim.x} * blockDim.x) {
    out[i] = Silu(gate[i]) * up[i];
  }
}

__global__ void RmsNormKernel(const float* x, int64_t x_stride, int64_t n, int64_t d,
                              const float* weight, float eps, float* y, int64_t y_stride) {
  // x: [n, x_stride] input rows (first d used); weight: [d]; y: [n, y_stride] output rows.
  // One warp per row.
  const int64_t row = blockIdx.x * int64_t{kThreads / 32} + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= n) return;
  const float* xr = x + row * x_stride;
  float* yr = y + row * y_stride;
  float sum = 0.0f;
  for (int64_t i = lane; i < d; i += 32) sum = fmaf(xr[i], xr[i], sum);
  sum = WarpSum(sum);
  const float inv = 1.0f / sqrtf(sum / static_cast<float>(d) + eps);
  for (int64_t i = lane; i < d; i += 32) yr[i] = xr[i] * inv * weight[i];
}

template <WeightType kType>
__global__ void EmbeddingKernel(const void* table, const float* row_scales, int64_t cols,
                                const int32_t* tokens, float* out) {
  // table: [vocab, cols] stored weights; row_scales: [vocab] (kI8) or null;
  // tokens: [n] row ids (one block each); out: [n, cols] fp32
  const int64_t t = blockIdx.x;
  const int64_t row = tokens[t];
  const float scale = row_scales != nullptr ? row_scales[row] : 1.0f;
  using Elem = typename WeightElem<kType>::T;
  const Elem* src = static_cast<const Elem*>(table) + row * cols;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
    out[t * cols + c] = LoadWeight<kType>(src, c) * scale;
  }
}

}  // namespace

cudaError_t LaunchFill(float* dst, float value, int64_t count, cudaStream_t stream) {
  if (count <= 0) return cudaSuccess;
  FillKernel<<<GridFor(count), kThreads, 0, stream>>>(dst, value, count);
  return cudaGetLastError();
}

cudaError_t LaunchAdd(float* y, const float* x, int64_t count, cudaStream_t stream) {
  if (count <= 0) return cudaSuccess;
  if (IsAligned(y, 16) && IsAligned(x, 16)) {
    const int64_t count4 = count / 4;
    if (count4 > 0) {
      AddKernel4<<<GridFor(count4), kThreads, 0, stream>>>(
          reinterpret_cast<float4*>(y), reinterpret_cast<const float4*>(x), count4);
    }
    const int64_t tail = count - count4 * 4;
    if (tail > 0) AddKernel<<<1, kThreads, 0, stream>>>(y + count4 * 4, x + count4 * 4, tail);
  } else {
    AddKernel<<<GridFor(count), kThreads, 0, stream>>>(y, x, count);
  }
  return cudaGetLastError();
}

cudaError_t LaunchSiluMul(const float* gate, const float* up, float* out, int64_t count,
                          cudaStream_t stream) {
  if (count <= 0) return cudaSuccess;
  SiluMulKernel<<<GridFor(count), kThreads, 0, stream>>>(gate, up, out, count);
  return cudaGetLastError();
}

cudaError_t LaunchRmsNorm(const float* x, int64_t x_stride, int64_t n, int64_t d,
                          const float* weight, float eps, float* y, int64_t y_stride,
                          cudaStream_t stream) {
  if (n <= 0 || d <= 0) return cudaSuccess;
  const int64_t blocks = CeilDiv(n, kThreads / 32);
  RmsNormKernel<<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(x, x_stride, n, d, weight,
                                                                        eps, y, y_stride);
  return cudaGetLastError();
}

cudaError_t LaunchEmbedding(const DeviceMatrix& table, const int32_t* tokens, int64_t n, float* out,
                            cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  const int threads =
      static_cast<int>(std::min<int64_t>(kThreads, std::max<int64_t>(32, table.cols)));
  const dim3 grid(static_cast<unsigned>(n));
  switch (table.type) {
    case WeightType::kF32:
      EmbeddingKernel<WeightType::kF32>
          <<<grid, threads, 0, stream>>>(table.data, nullptr, table.cols, tokens, out);
      break;
    case WeightType::kBF16:
      EmbeddingKernel<WeightType::kBF16>
          <<<grid, threads, 0, stream>>>(table.data, nullptr, table.cols, tokens, out);
      break;
    case WeightType::kF16:
      EmbeddingKernel<WeightType::kF16>
          <<<grid, threads, 0, stream>>>(table.data, nullptr, table.cols, tokens, out);
      break;
    case WeightType::kI8:
      EmbeddingKernel<WeightType::kI8>
          <<<grid, threads, 0, stream>>>(table.data, table.row_scales, table.cols, tokens, out);
      break;
  }
  return cudaGetLastError();
}

}  // namespace jamba::kernels::cuda
