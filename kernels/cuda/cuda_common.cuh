// Device helpers shared by the .cu files: stored-weight loads widened to fp32, warp reductions,
// and the activation functions with the CPU backend's formulas (accurate expf, IEEE division).
#ifndef JAMBA_KERNELS_CUDA_CUDA_COMMON_CUH_
#define JAMBA_KERNELS_CUDA_CUDA_COMMON_CUH_

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/launchers.h"

namespace jamba::kernels::cuda {

constexpr unsigned kFullMask = 0xffffffffu;

__device__ __forceinline__ float Bf16BitsToFloat(uint32_t bits16) {
  return __uint_as_float(bits16 << 16);
}

__device__ __forceinline__ float F16BitsToFloat(uint32_t bits16) {
  return __half2float(__ushort_as_half(static_cast<unsigned short>(bits16)));
}

// Storage element of each weight type.
template <WeightType kType>
struct WeightElem;
template <>
struct WeightElem<WeightType::kF32> {
  using T = float;
};
template <>
struct WeightElem<WeightType::kBF16> {
  using T = uint16_t;
};
template <>
struct WeightElem<WeightType::kF16> {
  using T = uint16_t;
};
template <>
struct WeightElem<WeightType::kI8> {
  using T = int8_t;
};

// One stored element widened to fp32 (no row scale).
template <WeightType kType>
__device__ __forceinline__ float LoadWeight(const void* base, int64_t index) {
  if constexpr (kType == WeightType::kF32) {
    return static_cast<const float*>(base)[index];
  } else if constexpr (kType == WeightType::kBF16) {
    return Bf16BitsToFloat(static_cast<const uint16_t*>(base)[index]);
  } else if constexpr (kType == WeightType::kF16) {
    return F16BitsToFloat(static_cast<const uint16_t*>(base)[index]);
  } else {
    return static_cast<float>(static_cast<const int8_t*>(base)[index]);
  }
}

// Eight consecutive stored elements starting at `index` widened to fp32, with one 16-byte load
// (8 bytes for kI8). The address must be aligned to the load size.
template <WeightType kType>
__device__ __forceinline__ void LoadWeight8(const void* base, int64_t index, float out[8]) {
  if constexpr (kType == WeightType::kF32) {
    const float4* p = reinterpret_cast<const float4*>(static_cast<const float*>(base) + index);
    const float4 a = __ldg(p);
    const float4 b = __ldg(p + 1);
    out[0] = a.x, out[1] = a.y, out[2] = a.z, out[3] = a.w;
    out[4] = b.x, out[5] = b.y, out[6] = b.z, out[7] = b.w;
  } else if constexpr (kType == WeightType::kBF16 || kType == WeightType::kF16) {
    const uint4 v =
        __ldg(reinterpret_cast<const uint4*>(static_cast<const uint16_t*>(base) + index));
    const uint32_t words[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      if constexpr (kType == WeightType::kBF16) {
        out[2 * i] = Bf16BitsToFloat(words[i] & 0xffffu);
        out[2 * i + 1] = Bf16BitsToFloat(words[i] >> 16);
      } else {
        out[2 * i] = F16BitsToFloat(words[i] & 0xffffu);
        out[2 * i + 1] = F16BitsToFloat(words[i] >> 16);
      }
    }
  } else {
    const uint2 v = __ldg(reinterpret_cast<const uint2*>(static_cast<const int8_t*>(base) + index));
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      out[i] = static_cast<float>(static_cast<int8_t>((v.x >> (8 * i)) & 0xffu));
      out[4 + i] = static_cast<float>(static_cast<int8_t>((v.y >> (8 * i)) & 0xffu));
    }
  }
}

// Eight consecutive fp32 activations (16-byte aligned).
__device__ __forceinline__ void LoadF32x8(const float* p, float out[8]) {
  const float4 a = reinterpret_cast<const float4*>(p)[0];
  const float4 b = reinterpret_cast<const float4*>(p)[1];
  out[0] = a.x, out[1] = a.y, out[2] = a.z, out[3] = a.w;
  out[4] = b.x, out[5] = b.y, out[6] = b.z, out[7] = b.w;
}

// Sum over the 32 lanes; every lane receives the result.
__device__ __forceinline__ float WarpSum(float v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(kFullMask, v, offset);
  return v;
}

__device__ __forceinline__ float WarpMax(float v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1)
    v = fmaxf(v, __shfl_xor_sync(kFullMask, v, offset));
  return v;
}

// SiLU(x) = x / (1 + exp(-x)), as the CPU backend writes it.
__device__ __forceinline__ float Silu(float x) { return x / (1.0f + expf(-x)); }

// PyTorch's softplus with beta 1 and threshold 20.
__device__ __forceinline__ float Softplus(float x) { return x > 20.0f ? x : log1pf(expf(x)); }

template <typename T>
__host__ __device__ __forceinline__ T Min(T a, T b) {
  return b < a ? b : a;
}
template <typename T>
__host__ __device__ __forceinline__ T Max(T a, T b) {
  return a < b ? b : a;
}

inline int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

inline bool IsAligned(const void* p, size_t bytes) {
  return reinterpret_cast<uintptr_t>(p) % bytes == 0;
}

}  // namespace jamba::kernels::cuda

#endif  // JAMBA_KERNELS_CUDA_CUDA_COMMON_CUH_
