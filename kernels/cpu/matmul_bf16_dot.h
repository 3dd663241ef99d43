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

// Row stride, in bf16 elements, of token-row activations: the row rounded up to whole 64-byte
// vectors plus one more, so token rows do not alias in L1.
inline int64_t Bf16ActivationStride(int64_t cols) { return (cols + 31) / 32 * 32 + 32; }

// bf16 activations as Bf16DotRows reads them: token t's column k at data[Offset(t, k)]. The
// row-wise matrix layouts take token rows (pair_stride 2); kPairBlocks takes every token's pair of
// columns 2j, 2j + 1 side by side (token_stride 2), so that the pairs a tile broadcasts at one
// step share a cache line instead of each token's row being a stream of its own.
struct Bf16Activations {
  uint16_t* data = nullptr;
  int64_t token_stride = 0;  // elements from token t to token t + 1
  int64_t pair_stride = 0;   // elements from columns 2j, 2j + 1 to 2j + 2, 2j + 3

  int64_t Offset(int64_t t, int64_t k) const {
    return t * token_stride + (k / 2) * pair_stride + k % 2;
  }
  // The same activations from token t on.
  Bf16Activations FromToken(int64_t t) const {
    return {data + t * token_stride, token_stride, pair_stride};
  }
};

// Elements of bf16 scratch for n tokens of `cols` columns against a matrix in `layout`.
inline int64_t Bf16ActivationElements(MatrixLayout layout, int64_t n, int64_t cols) {
  return layout == MatrixLayout::kPairBlocks ? n * (cols + cols % 2)
                                             : n * Bf16ActivationStride(cols);
}

// Activations for n tokens of `cols` columns against a matrix in `layout`, held in `data`
// (Bf16ActivationElements of them).
inline Bf16Activations Bf16ActivationsFor(MatrixLayout layout, int64_t n, int64_t cols,
                                          uint16_t* data) {
  if (layout == MatrixLayout::kPairBlocks) return {data, 2, 2 * n};
  return {data, Bf16ActivationStride(cols), 2};
}

// out's element (t, col0 + k) = bf16(x[t * x_stride + k]) rounded to nearest even, for t < n,
// k < cols; col0 is even.
void RoundActivationsToBf16(const float* x, int64_t x_stride, int64_t n, int64_t cols,
                            const Bf16Activations& out, int64_t col0);

// y[t * y_stride + r] = sum_k w[r, k] * xb(t, k) for r in [row_begin, row_end) of a BF16 matrix
// and t < n, with xb laid out for w.layout (Bf16ActivationsFor). Each output is one dot product in
// a fixed order, whatever the tiling: a token's result does not depend on the batch it is
// computed in. The row-wise layouts sum 32 columns a step, then reduce the lanes in a fixed order,
// then add the tail; kPairBlocks sums the column pairs in order in one lane. Interleaved and
// pair-block matrices take whole row groups (row_begin and row_end multiples of 4 and of 16).
// Requires CpuHasAvx512Bf16().
void Bf16DotRows(const Matrix& w, int64_t row_begin, int64_t row_end, const Bf16Activations& xb,
                 int64_t n, float* y, int64_t y_stride);

}  // namespace jamba::kernels::cpu

#endif  // JAMBA_KERNELS_CPU_MATMUL_BF16_DOT_H_
