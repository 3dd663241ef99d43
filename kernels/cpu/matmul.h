// Matrix products of stored weights (F32/BF16/F16/I8) with fp32 activations, compiled for every
// SIMD target. The CPU backend splits rows over threads and calls these per block.
#ifndef JAMBA_KERNELS_CPU_MATMUL_H_
#define JAMBA_KERNELS_CPU_MATMUL_H_

#include <cstdint>

#include "kernels/backend.h"
#include "kernels/cpu/cpu_features.h"

namespace jamba::kernels::cpu {

struct MatMulKernels {
  // y[t * y_stride + r] = sum_k w[r, k] * x[t * w.cols + k]  for r in [row_begin, row_end), t < n.
  void (*rows)(const Matrix& w, int64_t row_begin, int64_t row_end, const float* x, int64_t n,
               float* y, int64_t y_stride);
  // sum_i a[i] * b[i]
  float (*dot)(const float* a, const float* b, int64_t n);
  // y[i] += alpha * x[i]
  void (*axpy)(float alpha, const float* x, float* y, int64_t n);
  // dst[i] = float(src[i]) for a row of stored weights (scale applied for I8)
  void (*convert_row)(const Matrix& w, int64_t row, float* dst);
};

const MatMulKernels& GetMatMulKernels(SimdTarget target);

}  // namespace jamba::kernels::cpu

#endif  // JAMBA_KERNELS_CPU_MATMUL_H_
