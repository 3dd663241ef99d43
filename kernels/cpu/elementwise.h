// Row-wise and elementwise fp32 kernels (RMSNorm, SwiGLU activation, residual add, softmax),
// compiled for every SIMD target.
#ifndef JAMBA_KERNELS_CPU_ELEMENTWISE_H_
#define JAMBA_KERNELS_CPU_ELEMENTWISE_H_

#include <cstdint>

#include "kernels/cpu/cpu_features.h"

namespace jamba::kernels::cpu {

struct ElementwiseKernels {
  // y[:d] = x[:d] / sqrt(mean(x^2) + eps) * weight[:d]   (one row)
  void (*rms_norm_row)(const float* x, int64_t d, const float* weight, float eps, float* y);
  // out[i] = SiLU(gate[i]) * up[i]
  void (*silu_mul)(const float* gate, const float* up, int64_t n, float* out);
  // y[i] += x[i]
  void (*add)(float* y, const float* x, int64_t n);
  // x[:n] = softmax(x[:n]), in place
  void (*softmax)(float* x, int64_t n);
};

const ElementwiseKernels& GetElementwiseKernels(SimdTarget target);

}  // namespace jamba::kernels::cpu

#endif  // JAMBA_KERNELS_CPU_ELEMENTWISE_H_
