// Products of bf16 weights with activations rounded to bf16, on the AVX-512 BF16 dot-product
// instruction (vdpbf16ps): it multiplies pairs of bf16 values and adds both products to an fp32
// lane, so one instruction does twice the multiply-adds of an fp32 FMA and the weights need no
// widening. The price is bf16 activations (8 significant bits, as in Hugging Face's bf16
// inference), so the CPU backend uses it only when asked (CpuBackendOptions::bf16_activations).
#ifndef JAMBA_KERNELS_CPU_MATMUL_BF16_DOT_H_
#define JAMBA_KERNELS_CPU_MATMUL_BF16_DOT_H_

#include <cstdint>

#include "kernels/backend.h"

namespace jamba::kernels::cpu {

// True when this CPU executes AVX512_BF16 (and this build targets x86-64).
bool CpuHasAvx512Bf16();

// Row stride, in bf16 elements, of activations prepared for Bf16DotRows: the row rounded up to
// whole 64-byte vectors plus one more, so token rows do not alias in L1.
inline int64_t Bf16ActivationStride(int64_t cols) { return (cols + 31) / 32 * 32 + 32; }

// out[t * out_stride + k] = bf16(x[t * x_stride + k]) rounded to nearest even, for t < n, k < cols.
void RoundActivationsToBf16(const float* x, int64_t x_stride, int64_t n, int64_t cols,
                            uint16_t* out, int64_t out_stride);

// y[t * y_stride + r] = sum_k w[r, k] * xb[t * xb_stride + k] for r in [row_begin, row_end) of a
// BF16 matrix and t < n. Each output is one dot product in a fixed order (32 columns a step, then
// a fixed reduction, then the tail), whatever the tiling: a token's result does not depend on the
// batch it is computed in. Requires CpuHasAvx512Bf16().
void Bf16DotRows(const Matrix& w, int64_t row_begin, int64_t row_end, const uint16_t* xb,
                 int64_t xb_stride, int64_t n, float* y, int64_t y_stride);

}  // namespace jamba::kernels::cpu

#endif  // JAMBA_KERNELS_CPU_MATMUL_BF16_DOT_H_
