// Hash-based fill of device tensors for benchmarks without a checkpoint: element i gets a value
// derived from splitmix64(seed, i), so a fill is reproducible and needs no RNG state or curand.
#include <algorithm>

#include "kernels/cuda/cuda_common.cuh"

namespace jamba::kernels::cuda {
namespace {

__device__ __forceinline__ uint64_t SplitMix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

template <WeightType kType>
__global__ void HashFillKernel(void* dst, int64_t count, uint64_t seed, float lo, float hi) {
  // dst: [count] elements of kType out
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < count;
       i += int64_t{gridDim.x} * blockDim.x) {
    const uint64_t bits = SplitMix64(seed ^ (static_cast<uint64_t>(i) * 0xd1b54a32d192ed03ull));
    const float u = static_cast<float>(bits >> 40) * (1.0f / 16777216.0f);  // [0, 1)
    if constexpr (kType == WeightType::kI8) {
      static_cast<int8_t*>(dst)[i] = static_cast<int8_t>(static_cast<int>(bits % 255) - 127);
    } else {
      const float v = lo + (hi - lo) * u;
      if constexpr (kType == WeightType::kF32) {
        static_cast<float*>(dst)[i] = v;
      } else if constexpr (kType == WeightType::kBF16) {
        static_cast<uint16_t*>(dst)[i] = __bfloat16_as_ushort(__float2bfloat16_rn(v));
      } else {
        static_cast<uint16_t*>(dst)[i] = __half_as_ushort(__float2half_rn(v));
      }
    }
  }
}

}  // namespace

cudaError_t LaunchHashFill(void* dst, WeightType type, int64_t count, uint64_t seed, float lo,
                           float hi, cudaStream_t stream) {
  if (count <= 0) return cudaSuccess;
  constexpr int kThreads = 256;
  const dim3 grid(static_cast<unsigned>(std::min<int64_t>(CeilDiv(count, kThreads), 1 << 16)));
  switch (type) {
    case WeightType::kF32:
      HashFillKernel<WeightType::kF32><<<grid, kThreads, 0, stream>>>(dst, count, seed, lo, hi);
      break;
    case WeightType::kBF16:
      HashFillKernel<WeightType::kBF16><<<grid, kThreads, 0, stream>>>(dst, count, seed, lo, hi);
      break;
    case WeightType::kF16:
      HashFillKernel<WeightType::kF16><<<grid, kThreads, 0, stream>>>(dst, count, seed, lo, hi);
      break;
    case WeightType::kI8:
      HashFillKernel<WeightType::kI8><<<grid, kThreads, 0, stream>>>(dst, count, seed, lo, hi);
      break;
  }
  return cudaGetLastError();
}

}  // namespace jamba::kernels::cuda
