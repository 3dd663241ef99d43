// Weight conversions for the matmul paths and load-time int8 quantization: per-row int8
// quantization (bit-identical to the CPU backend's), stored rows -> fp32 or bf16 for cuBLAS,
// fp32 activations -> a bf16 hi/lo pair, and the fp32 epilogue that sums split products and
// applies row scales and bias.
#include <algorithm>

#include "kernels/cuda/cuda_common.cuh"

namespace jamba::kernels::cuda {
namespace {

constexpr int kThreads = 256;

int64_t GridFor(int64_t items) {
  return std::max<int64_t>(1, std::min<int64_t>(CeilDiv(items, kThreads), 1 << 20));
}

template <WeightType kType>
__global__ void QuantizeRowsKernel(const void* src, int64_t cols, int8_t* q, float* scales) {
  // src: [rows, cols] stored weights (one block per row); q: [rows, cols] int8 out;
  // scales: [rows] fp32 out
  __shared__ float warp_max[kThreads / 32];
  const int64_t row = blockIdx.x;
  const int64_t base = row * cols;
  float m = 0.0f;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
    m = fmaxf(m, fabsf(LoadWeight<kType>(src, base + c)));
  }
  m = WarpMax(m);
  if (threadIdx.x % 32 == 0) warp_max[threadIdx.x / 32] = m;
  __syncthreads();
  float max_abs = 0.0f;
  for (int w = 0; w < kThreads / 32; ++w) max_abs = fmaxf(max_abs, warp_max[w]);
  const float scale = max_abs > 0.0f ? max_abs / 127.0f : 1.0f;
  if (threadIdx.x == 0) scales[row] = scale;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
    const float v = rintf(LoadWeight<kType>(src, base + c) / scale);
    q[base + c] = static_cast<int8_t>(fminf(fmaxf(v, -127.0f), 127.0f));
  }
}

template <WeightType kType>
__global__ void ConvertRowsKernel(const void* w, int64_t row_begin, int64_t count, int64_t cols,
                                  bool to_bf16, void* dst) {
  // w: [rows, cols] stored weights; dst: [count / cols, cols] fp32 or bf16 bits of rows
  // row_begin.. (count = rows * cols of the chunk)
  const int64_t base = row_begin * cols;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < count;
       i += int64_t{gridDim.x} * blockDim.x) {
    if constexpr (kType == WeightType::kBF16) {
      if (to_bf16) {
        static_cast<uint16_t*>(dst)[i] = static_cast<const uint16_t*>(w)[base + i];
        continue;
      }
    }
    const float v = LoadWeight<kType>(w, base + i);
    if (to_bf16) {
      static_cast<uint16_t*>(dst)[i] = __bfloat16_as_ushort(__float2bfloat16_rn(v));
    } else {
      static_cast<float*>(dst)[i] = v;
    }
  }
}

__global__ void SplitBf16Kernel(const float* x, int64_t count, uint16_t* hi, uint16_t* lo) {
  // x: [count] fp32; hi: [count] bf16 bits of x; lo: [count] bf16 bits of x - hi, or null
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < count;
       i += int64_t{gridDim.x} * blockDim.x) {
    const float v = x[i];
    const __nv_bfloat16 h = __float2bfloat16_rn(v);
    hi[i] = __bfloat16_as_ushort(h);
    if (lo != nullptr) lo[i] = __bfloat16_as_ushort(__float2bfloat16_rn(v - __bfloat162float(h)));
  }
}

__global__ void EpilogueKernel(const float* c, int64_t ldc, int64_t part_stride, int num_parts,
                               int64_t n, int64_t m, const float* scale, const float* bias,
                               float* y, int64_t ldy) {
  // c: num_parts x [n, ldc] partial products (first m columns used); scale, bias: [m] or null;
  // y: [n, ldy] output (may alias c for one part)
  const int64_t total = n * m;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total;
       i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t t = i / m;
    const int64_t r = i - t * m;
    float v = c[t * ldc + r];
    for (int p = 1; p < num_parts; ++p) v += c[p * part_stride + t * ldc + r];
    if (scale != nullptr) v *= scale[r];
    if (bias != nullptr) v += bias[r];
    y[t * ldy + r] = v;
  }
}

}  // namespace

cudaError_t LaunchQuantizeRowsInt8(const void* src, WeightType type, int64_t rows, int64_t cols,
                                   int8_t* q, float* scales, cudaStream_t stream) {
  if (rows <= 0) return cudaSuccess;
  const dim3 grid(static_cast<unsigned>(rows));
  switch (type) {
    case WeightType::kF32:
      QuantizeRowsKernel<WeightType::kF32><<<grid, kThreads, 0, stream>>>(src, cols, q, scales);
      break;
    case WeightType::kBF16:
      QuantizeRowsKernel<WeightType::kBF16><<<grid, kThreads, 0, stream>>>(src, cols, q, scales);
      break;
    case WeightType::kF16:
      QuantizeRowsKernel<WeightType::kF16><<<grid, kThreads, 0, stream>>>(src, cols, q, scales);
      break;
    case WeightType::kI8:
      return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

cudaError_t LaunchConvertRows(const DeviceMatrix& w, int64_t row_begin, int64_t row_end,
                              bool to_bf16, void* dst, cudaStream_t stream) {
  const int64_t count = (row_end - row_begin) * w.cols;
  if (count <= 0) return cudaSuccess;
  const dim3 grid(static_cast<unsigned>(GridFor(count)));
  switch (w.type) {
    case WeightType::kF32:
      ConvertRowsKernel<WeightType::kF32>
          <<<grid, kThreads, 0, stream>>>(w.data, row_begin, count, w.cols, to_bf16, dst);
      break;
    case WeightType::kBF16:
      ConvertRowsKernel<WeightType::kBF16>
          <<<grid, kThreads, 0, stream>>>(w.data, row_begin, count, w.cols, to_bf16, dst);
      break;
    case WeightType::kF16:
      ConvertRowsKernel<WeightType::kF16>
          <<<grid, kThreads, 0, stream>>>(w.data, row_begin, count, w.cols, to_bf16, dst);
      break;
    case WeightType::kI8:
      ConvertRowsKernel<WeightType::kI8>
          <<<grid, kThreads, 0, stream>>>(w.data, row_begin, count, w.cols, to_bf16, dst);
      break;
  }
  return cudaGetLastError();
}

cudaError_t LaunchSplitBf16(const float* x, int64_t count, uint16_t* hi, uint16_t* lo,
                            cudaStream_t stream) {
  if (count <= 0) return cudaSuccess;
  SplitBf16Kernel<<<static_cast<unsigned>(GridFor(count)), kThreads, 0, stream>>>(x, count, hi, lo);
  return cudaGetLastError();
}

cudaError_t LaunchMatMulEpilogue(const float* c, int64_t ldc, int64_t part_stride, int num_parts,
                                 int64_t n, int64_t m, const float* scale, const float* bias,
                                 float* y, int64_t ldy, cudaStream_t stream) {
  if (n <= 0 || m <= 0) return cudaSuccess;
  EpilogueKernel<<<static_cast<unsigned>(GridFor(n * m)), kThreads, 0, stream>>>(
      c, ldc, part_stride, num_parts, n, m, scale, bias, y, ldy);
  return cudaGetLastError();
}

}  // namespace jamba::kernels::cuda
