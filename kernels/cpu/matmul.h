// Matrix products of stored weights (F32/BF16/F16/I8) with fp32 activations, compiled for every
// SIMD target. The CPU backend splits rows over threads and calls these per block.
#ifndef JAMBA_KERNELS_CPU_MATMUL_H_
#define JAMBA_KERNELS_CPU_MATMUL_H_

#include <cstdint>

#include "kernels/backend.h"
#include "kernels/cpu/cpu_features.h"

namespace jamba::kernels::cpu {

struct MatMulKernels {
  // y[t * y_stride + r] = sum_k w[r, k] * x[t * x_stride + k]  for r in [row_begin, row_end), t <
  // n. `pack` (optional) is scratch for PackScratchFloats(w.cols) floats: with it, many-token
  // products widen weight rows to fp32 once per block. The result is bitwise the same with or
  // without it and for every n: each output is one dot product in a fixed order (batch invariance).
  // For an interleaved matrix, row_begin and row_end are multiples of kInterleaveRows.
  void (*rows)(const Matrix& w, int64_t row_begin, int64_t row_end, const float* x,
               int64_t x_stride, int64_t n, float* y, int64_t y_stride, float* pack);
  // sum_i a[i] * b[i]
  float (*dot)(const float* a, const float* b, int64_t n);
  // y[i] += alpha * x[i]
  void (*axpy)(float alpha, const float* x, float* y, int64_t n);
  // dst[i] = float(w[row, i]) for a row of stored weights in either layout (scale applied for I8)
  void (*convert_row)(const Matrix& w, int64_t row, float* dst);
};

const MatMulKernels& GetMatMulKernels(SimdTarget target);

// From this many tokens on, MatMulKernels::rows widens weight rows to fp32 panels (when given
// `pack` scratch); below it, weights are widened in registers, which is faster for decode batches.
inline constexpr int64_t kPackMinTokens = 24;

// Row stride of packed fp32 weight panels and padded activation copies: one cache line more than
// the row, so rows a power of two apart do not compete for the same L1 sets.
inline int64_t PackedRowStride(int64_t cols) { return cols + 16; }

// Most rows one many-token MatMulKernels::rows call widens to fp32 (callers split bigger ranges).
inline constexpr int64_t kPackMaxRows = 128;

// Floats of `pack` scratch that MatMulKernels::rows needs for a matrix with `cols` columns: the
// widened rows and 16 x 48 accumulator vectors of up to 16 lanes.
inline int64_t PackScratchFloats(int64_t cols) {
  return kPackMaxRows * PackedRowStride(cols) + 16 * 48 * 16;
}

}  // namespace jamba::kernels::cpu

#endif  // JAMBA_KERNELS_CPU_MATMUL_H_
