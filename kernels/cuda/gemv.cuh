// The warp-level building block of the small-batch matmuls (MatMul's decode path and the MoE
// expert GEMVs): one warp multiplies kRowsPerWarp weight rows, read once in their stored type,
// with up to kTokens fp32 activation rows, accumulating in fp32.
#ifndef JAMBA_KERNELS_CUDA_GEMV_CUH_
#define JAMBA_KERNELS_CUDA_GEMV_CUH_

#include "kernels/cuda/cuda_common.cuh"

namespace jamba::kernels::cuda {

constexpr int kGemvWarps = 4;        // warps per block
constexpr int kGemvRowsPerWarp = 4;  // weight rows per warp: each activation load feeds 4 rows
constexpr int kGemvBlockRows = kGemvWarps * kGemvRowsPerWarp;

// acc[r][t] += sum over this lane's share of k of w_r[k] * x_t[k]. With kVec the lane takes chunks
// of 8 consecutive elements (16-byte weight loads; cols % 8 == 0, rows and activations aligned),
// otherwise single elements. All pointers must be readable (callers clamp rows and tokens past the
// valid ones to the last valid one and discard those results).
template <WeightType kType, int kTokens, bool kVec>
__device__ __forceinline__ void WarpRowsDot(const void* const* w_rows, const float* const* x_rows,
                                            int64_t cols, int lane,
                                            float (&acc)[kGemvRowsPerWarp][kTokens]) {
  if constexpr (kVec) {
#pragma unroll 2
    for (int64_t k = int64_t{lane} * 8; k < cols; k += 32 * 8) {
      float wv[kGemvRowsPerWarp][8];
#pragma unroll
      for (int r = 0; r < kGemvRowsPerWarp; ++r) LoadWeight8<kType>(w_rows[r], k, wv[r]);
#pragma unroll
      for (int t = 0; t < kTokens; ++t) {
        float xv[8];
        LoadF32x8(x_rows[t] + k, xv);
#pragma unroll
        for (int r = 0; r < kGemvRowsPerWarp; ++r) {
#pragma unroll
          for (int i = 0; i < 8; ++i) acc[r][t] = fmaf(wv[r][i], xv[i], acc[r][t]);
        }
      }
    }
  } else {
    for (int64_t k = lane; k < cols; k += 32) {
      float wv[kGemvRowsPerWarp];
#pragma unroll
      for (int r = 0; r < kGemvRowsPerWarp; ++r) wv[r] = LoadWeight<kType>(w_rows[r], k);
#pragma unroll
      for (int t = 0; t < kTokens; ++t) {
        const float xv = x_rows[t][k];
#pragma unroll
        for (int r = 0; r < kGemvRowsPerWarp; ++r) acc[r][t] = fmaf(wv[r], xv, acc[r][t]);
      }
    }
  }
}

// Pointer to row `row` of a [rows, cols] matrix of kType.
template <WeightType kType>
__device__ __forceinline__ const void* WeightRow(const void* base, int64_t row, int64_t cols) {
  return static_cast<const typename WeightElem<kType>::T*>(base) + row * cols;
}

}  // namespace jamba::kernels::cuda

#endif  // JAMBA_KERNELS_CUDA_GEMV_CUH_
