// AVX-512 BF16 dot-product matrix kernels (see matmul_bf16_dot.h). Written with intrinsics under a
// function-level target attribute: the rest of the build does not assume the instruction, and the
// backend calls in here only after checking the CPU has it.
#include "kernels/cpu/matmul_bf16_dot.h"

#include <algorithm>
#include <cstring>

#include "kernels/cpu/four_lane_sums.h"
#include "kernels/dtype.h"

#if defined(__x86_64__)
// GCC 12 reports the intrinsics' deliberately undefined placeholder operands
// (_mm512_undefined_ps) as uninitialized once they are inlined into this file.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#define JAMBA_BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
#endif

namespace jamba::kernels::cpu {

#if defined(__x86_64__)

bool CpuHasAvx512Bf16() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512bw");
}

namespace {

// Tile shapes: kR weight rows x kT tokens of zmm accumulators (kR * kT + kR + 1 of the 32 vector
// registers are live).
constexpr int kRows = 4;
constexpr int kTokens = 6;

// Sum of the 16 lanes in a fixed order (GCC 12's _mm512_reduce_add_ps trips -Wuninitialized).
JAMBA_BF16_TARGET inline float SumLanes(__m512 v) {
  const __m512 halves = _mm512_add_ps(v, _mm512_shuffle_f32x4(v, v, 0x4E));
  const __m256 eight = _mm512_castps512_ps256(halves);
  __m128 four = _mm_add_ps(_mm256_castps256_ps128(eight), _mm256_extractf128_ps(eight, 1));
  four = _mm_add_ps(four, _mm_movehl_ps(four, four));
  return _mm_cvtss_f32(_mm_add_ss(four, _mm_movehdup_ps(four)));
}

// SumLanes of four accumulators at once, stored to y[0..3]: the same additions in the same order
// per accumulator, with the shuffles shared, so a row's result is bit-identical to SumLanes'. A
// tile's epilogue had spent more instructions reducing than its k-loop for short rows (dt_proj:
// 128 columns).
JAMBA_BF16_TARGET inline void StoreFourSums(__m512 a, __m512 b, __m512 c, __m512 d, float* y) {
  _mm_storeu_ps(y, FourLaneSums(a, b, c, d));
}

// Element k of row r of a tile starting at `w`: row-major rows are `cols` apart; an interleaved
// tile is one row group whose rows' 32-column pieces alternate (kInterleaveCols == 32, one
// vdpbf16ps operand).
template <bool kInterleavedLayout>
inline int64_t Bf16Offset(int64_t cols, int r, int64_t k) {
  if constexpr (kInterleavedLayout) {
    static_assert(kInterleaveCols == 32);
    return InterleavedOffset(r, k);
  } else {
    return r * cols + k;
  }
}

// kSecondPass: the tile follows others over the same row group, whose weights then come from the
// caches while the stream behind them should keep flowing.
template <int kR, int kT, bool kInterleavedLayout = false, bool kSecondPass = false>
JAMBA_BF16_TARGET inline void DotTile(const uint16_t* w, int64_t cols, const uint16_t* x,
                                      int64_t x_stride, float* y, int64_t y_stride) {
  __m512 acc[kR][kT];
#pragma GCC unroll 8
  for (int r = 0; r < kR; ++r) {
#pragma GCC unroll 8
    for (int t = 0; t < kT; ++t) acc[r][t] = _mm512_setzero_ps();
  }
  const int64_t vector_cols = cols - cols % 32;
  // Row-major weight rows are short streams the hardware prefetcher keeps losing; this loop
  // consumes them faster than the fp32 one, so it asks for lines four row groups ahead (two were
  // too few). An interleaved group is one sequential stream the prefetcher follows unaided for
  // one or two tokens (requests of our own then cost it: two tokens over 1 GiB streamed 48 GB/s
  // with them, 62 without, when one token streamed 62); from three tokens on, the arithmetic
  // slows the stream enough that lines one and two groups ahead are requested into the outer
  // caches (as in matmul.cc's Tile; three tokens: 39 GB/s without, 57 with). A one- or two-token
  // tile after full tiles asks too: the stream would otherwise stall while it runs from the
  // caches (seven tokens, 6 + 1: 30.9 GB/s without, 35.3 with, six tokens alone 34.4).
  const int64_t ahead = 4 * kR * cols;
  const int64_t group = kInterleaveRows * cols;
  for (int64_t k = 0; k < vector_cols; k += 32) {
    __m512bh wv[kR];
#pragma GCC unroll 8
    for (int r = 0; r < kR; ++r) {
      const uint16_t* p = w + Bf16Offset<kInterleavedLayout>(cols, r, k);
      if constexpr (!kInterleavedLayout) {
        _mm_prefetch(reinterpret_cast<const char*>(p + ahead), _MM_HINT_T0);
      } else if constexpr (kT > 2 || kSecondPass) {
        _mm_prefetch(reinterpret_cast<const char*>(p + group), _MM_HINT_T1);
        _mm_prefetch(reinterpret_cast<const char*>(p + 2 * group), _MM_HINT_T2);
      }
      wv[r] = reinterpret_cast<__m512bh>(_mm512_loadu_si512(p));
    }
#pragma GCC unroll 8
    for (int t = 0; t < kT; ++t) {
      const __m512bh xv = reinterpret_cast<__m512bh>(_mm512_loadu_si512(x + t * x_stride + k));
#pragma GCC unroll 8
      for (int r = 0; r < kR; ++r) acc[r][t] = _mm512_dpbf16_ps(acc[r][t], wv[r], xv);
    }
  }
  if constexpr (kR == 4) {
    if (vector_cols == cols) {  // no scalar tail to add after the reduction
#pragma GCC unroll 8
      for (int t = 0; t < kT; ++t)
        StoreFourSums(acc[0][t], acc[1][t], acc[2][t], acc[3][t], y + t * y_stride);
      return;
    }
  }
  for (int r = 0; r < kR; ++r) {
    for (int t = 0; t < kT; ++t) {
      float sum = SumLanes(acc[r][t]);
      for (int64_t k = vector_cols; k < cols; ++k) {
        sum += BF16ToF32(w[Bf16Offset<kInterleavedLayout>(cols, r, k)]) *
               BF16ToF32(x[t * x_stride + k]);
      }
      y[t * y_stride + r] = sum;
    }
  }
}

// Tokens [0, remaining) with remaining < kTokens, in one pass of exactly that width (see
// matmul.cc's RemainderTile).
template <int kR, bool kInterleavedLayout, bool kSecondPass, int kT = kTokens - 1>
JAMBA_BF16_TARGET inline void DotRemainder(const uint16_t* w, int64_t cols, const uint16_t* x,
                                           int64_t x_stride, int64_t remaining, float* y,
                                           int64_t y_stride) {
  if constexpr (kT >= 1) {
    if (remaining == kT)
      return DotTile<kR, kT, kInterleavedLayout, kSecondPass>(w, cols, x, x_stride, y, y_stride);
    DotRemainder<kR, kInterleavedLayout, kSecondPass, kT - 1>(w, cols, x, x_stride, remaining, y,
                                                              y_stride);
  }
}

template <int kR, bool kInterleavedLayout = false>
JAMBA_BF16_TARGET inline void DotRowGroup(const uint16_t* w, int64_t cols, const uint16_t* x,
                                          int64_t x_stride, int64_t n, float* y, int64_t y_stride) {
  int64_t t = 0;
  for (; t + kTokens <= n; t += kTokens) {
    DotTile<kR, kTokens, kInterleavedLayout>(w, cols, x + t * x_stride, x_stride, y + t * y_stride,
                                             y_stride);
  }
  if (t == 0) {
    return DotRemainder<kR, kInterleavedLayout, false>(w, cols, x, x_stride, n, y, y_stride);
  }
  DotRemainder<kR, kInterleavedLayout, true>(w, cols, x + t * x_stride, x_stride, n - t,
                                             y + t * y_stride, y_stride);
}

// ---- kPairBlocks: one vector holds 16 rows' pair of columns ----

// acc[b][t], lane i = row 16b + i's sum for token t, over the column pairs in order: the pair of
// block b times token t's broadcast pair, one vdpbf16ps per block, token and pair.
// kPrefetch: ask for each block's weights 8 KiB ahead into L2. Many-token tiles run at the
// instruction's rate and the hardware prefetcher alone falls behind (16 tokens, in one process
// alternating: 8192x2048 304-393 -> 377-425 GFLOP/s, 2048x4096 361-406 -> 393-434); for few
// tokens, which stream at memory speed, the requests cost more than they gain (4 tokens: 135 ->
// 130).
template <int kB, int kT, bool kPrefetch>
JAMBA_BF16_TARGET inline void PairTile(const uint16_t* w, int64_t cols, const Bf16Activations& x,
                                       float* y, int64_t y_stride) {
  __m512 acc[kB][kT];
#pragma GCC unroll 16
  for (int b = 0; b < kB; ++b) {
#pragma GCC unroll 16
    for (int t = 0; t < kT; ++t) acc[b][t] = _mm512_setzero_ps();
  }
  const int64_t block = kPairBlockRows * cols;
  const int64_t pairs = cols / 2;
  for (int64_t j = 0; j < pairs; ++j) {
    __m512bh wv[kB];
#pragma GCC unroll 16
    for (int b = 0; b < kB; ++b) {
      const uint16_t* p = w + b * block + PairBlockOffset(0, 2 * j);
      if constexpr (kPrefetch) _mm_prefetch(reinterpret_cast<const char*>(p) + 8192, _MM_HINT_T1);
      wv[b] = reinterpret_cast<__m512bh>(_mm512_loadu_si512(p));
    }
#pragma GCC unroll 16
    for (int t = 0; t < kT; ++t) {
      uint32_t pair;
      std::memcpy(&pair, x.data + t * x.token_stride + j * x.pair_stride, sizeof(pair));
      const __m512bh xv = reinterpret_cast<__m512bh>(_mm512_set1_epi32(static_cast<int>(pair)));
#pragma GCC unroll 16
      for (int b = 0; b < kB; ++b) acc[b][t] = _mm512_dpbf16_ps(acc[b][t], wv[b], xv);
    }
  }
#pragma GCC unroll 16
  for (int b = 0; b < kB; ++b) {
#pragma GCC unroll 16
    for (int t = 0; t < kT; ++t) _mm512_storeu_ps(y + t * y_stride + b * kPairBlockRows, acc[b][t]);
  }
}

// PairTile for `width` <= kT tokens, dispatched to the exact width.
template <int kB, int kT, bool kPrefetch>
JAMBA_BF16_TARGET inline void PairTileOfWidth(int64_t width, const uint16_t* w, int64_t cols,
                                              const Bf16Activations& x, float* y,
                                              int64_t y_stride) {
  if constexpr (kT >= 1) {
    if (width == kT) return PairTile<kB, kT, kPrefetch>(w, cols, x, y, y_stride);
    PairTileOfWidth<kB, kT - 1, kPrefetch>(width, w, cols, x, y, y_stride);
  }
}

// `blocks` 16-row blocks from `w` against n tokens: kB blocks at a time (then one at a time),
// each against tiles of up to kT tokens.
template <int kB, int kT, bool kPrefetch>
JAMBA_BF16_TARGET inline void PairBlockRows(const uint16_t* w, int64_t cols, int64_t blocks,
                                            const Bf16Activations& x, int64_t n, float* y,
                                            int64_t y_stride) {
  const int64_t block = kPairBlockRows * cols;
  int64_t b = 0;
  for (; b + kB <= blocks; b += kB) {
    for (int64_t t = 0; t < n; t += kT) {
      PairTileOfWidth<kB, kT, kPrefetch>(std::min<int64_t>(kT, n - t), w + b * block, cols,
                                         x.FromToken(t), y + t * y_stride + b * kPairBlockRows,
                                         y_stride);
    }
  }
  for (; b < blocks; ++b) {
    for (int64_t t = 0; t < n; t += kT) {
      PairTileOfWidth<1, kT, kPrefetch>(std::min<int64_t>(kT, n - t), w + b * block, cols,
                                        x.FromToken(t), y + t * y_stride + b * kPairBlockRows,
                                        y_stride);
    }
  }
}

// Transposes a 16 x 16 matrix of 32-bit elements held as 16 rows.
JAMBA_BF16_TARGET inline void Transpose16x16(__m512i (&r)[16]) {
  __m512i a[16];
  for (int i = 0; i < 16; i += 2) {  // within 128-bit lanes: pairs of rows, elements interleaved
    a[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
    a[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
  }
  __m512i b[16];  // b[4g + m], lane L: rows 4g..4g+3 of column 4L + m
  for (int g = 0; g < 16; g += 4) {
    b[g] = _mm512_unpacklo_epi64(a[g], a[g + 2]);
    b[g + 1] = _mm512_unpackhi_epi64(a[g], a[g + 2]);
    b[g + 2] = _mm512_unpacklo_epi64(a[g + 1], a[g + 3]);
    b[g + 3] = _mm512_unpackhi_epi64(a[g + 1], a[g + 3]);
  }
  for (int m = 0; m < 4; ++m) {  // across lanes: column 4L + m gathers lane L of b[m + 4g]
    const __m512i c0 = _mm512_shuffle_i32x4(b[m], b[4 + m], 0x44);
    const __m512i c1 = _mm512_shuffle_i32x4(b[m], b[4 + m], 0xEE);
    const __m512i c2 = _mm512_shuffle_i32x4(b[8 + m], b[12 + m], 0x44);
    const __m512i c3 = _mm512_shuffle_i32x4(b[8 + m], b[12 + m], 0xEE);
    r[m] = _mm512_shuffle_i32x4(c0, c2, 0x88);
    r[4 + m] = _mm512_shuffle_i32x4(c0, c2, 0xDD);
    r[8 + m] = _mm512_shuffle_i32x4(c1, c3, 0x88);
    r[12 + m] = _mm512_shuffle_i32x4(c1, c3, 0xDD);
  }
}

// Pair-major activations (token_stride 2), 16 tokens x 16 pairs at a time: each token's 32
// columns rounded into one vector of 16 pairs, then transposed so each pair's 16 tokens are one
// store. (Pair by pair, a 16-token row of 4096 columns took 45 us, more than the product.)
JAMBA_BF16_TARGET inline void RoundActivationPairs(const float* x, int64_t x_stride, int64_t n,
                                                   int64_t cols, const Bf16Activations& out,
                                                   int64_t col0) {
  for (int64_t t0 = 0; t0 < n; t0 += 16) {
    const int tokens = static_cast<int>(std::min<int64_t>(16, n - t0));
    const __mmask16 lanes = static_cast<__mmask16>((1u << tokens) - 1);
    int64_t k = 0;
    for (; k + 32 <= cols; k += 32) {
      __m512i r[16];
      for (int i = 0; i < 16; ++i) {
        const float* src = x + (t0 + i) * x_stride + k;
        r[i] = i < tokens ? reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(_mm512_loadu_ps(src + 16),
                                                                          _mm512_loadu_ps(src)))
                          : _mm512_setzero_si512();
      }
      Transpose16x16(r);
      for (int j = 0; j < 16; ++j)
        _mm512_mask_storeu_epi32(out.data + out.Offset(t0, col0 + k + 2 * j), lanes, r[j]);
    }
    for (int64_t t = t0; t < t0 + tokens; ++t) {
      for (int64_t kk = k; kk < cols; ++kk)
        out.data[out.Offset(t, col0 + kk)] = F32ToBF16(x[t * x_stride + kk]);
    }
  }
}

}  // namespace

JAMBA_BF16_TARGET void RoundActivationsToBf16(const float* x, int64_t x_stride, int64_t n,
                                              int64_t cols, const Bf16Activations& out,
                                              int64_t col0) {
  if (out.pair_stride != 2) return RoundActivationPairs(x, x_stride, n, cols, out, col0);
  for (int64_t t = 0; t < n; ++t) {  // token rows
    const float* src = x + t * x_stride;
    uint16_t* dst = out.data + out.Offset(t, col0);
    int64_t k = 0;
    for (; k + 16 <= cols; k += 16) {
      const __m256bh packed = _mm512_cvtneps_pbh(_mm512_loadu_ps(src + k));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + k), reinterpret_cast<__m256i>(packed));
    }
    for (; k < cols; ++k) dst[k] = F32ToBF16(src[k]);
  }
}

JAMBA_BF16_TARGET void Bf16DotRows(const Matrix& w, int64_t row_begin, int64_t row_end,
                                   const Bf16Activations& xb, int64_t n, float* y,
                                   int64_t y_stride) {
  const int64_t cols = w.cols;
  const uint16_t* base = static_cast<const uint16_t*>(w.data) + row_begin * cols;
  float* out = y + row_begin;
  const int64_t rows = row_end - row_begin;
  if (w.layout == MatrixLayout::kPairBlocks) {
    // Whole blocks only (the backend splits rows on 16-row multiples). Up to six tokens, four
    // blocks share each token's broadcasts (four weight streams); more tokens take two blocks
    // against twelve-token tiles, which keeps the instruction at its peak rate from L2.
    const int64_t blocks = rows / kPairBlockRows;
    if (n <= 6) return PairBlockRows<4, 6, false>(base, cols, blocks, xb, n, out, y_stride);
    return PairBlockRows<2, 12, true>(base, cols, blocks, xb, n, out, y_stride);
  }
  // The row-wise layouts read token rows.
  const uint16_t* x = xb.data;
  const int64_t x_stride = xb.token_stride;
  int64_t r = 0;
  if (w.layout == MatrixLayout::kInterleaved) {
    // Whole groups only (the backend interleaves rows % 4 == 0 and splits on 16-row multiples).
    static_assert(kRows == kInterleaveRows);
    for (; r + kRows <= rows; r += kRows)
      DotRowGroup<kRows, true>(base + r * cols, cols, x, x_stride, n, out + r, y_stride);
    return;
  }
  for (; r + kRows <= rows; r += kRows)
    DotRowGroup<kRows>(base + r * cols, cols, x, x_stride, n, out + r, y_stride);
  for (; r < rows; ++r) DotRowGroup<1>(base + r * cols, cols, x, x_stride, n, out + r, y_stride);
}

#else  // not x86-64: no AVX512_BF16; the backend refuses bf16 activations before calling these.

bool CpuHasAvx512Bf16() { return false; }

void RoundActivationsToBf16(const float* x, int64_t x_stride, int64_t n, int64_t cols,
                            const Bf16Activations& out, int64_t col0) {
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t k = 0; k < cols; ++k)
      out.data[out.Offset(t, col0 + k)] = F32ToBF16(x[t * x_stride + k]);
  }
}

void Bf16DotRows(const Matrix& w, int64_t row_begin, int64_t row_end, const Bf16Activations& xb,
                 int64_t n, float* y, int64_t y_stride) {
  // Never reached: without AVX512_BF16 the backend refuses bf16 activations before any product
  // runs. Row-major weights only.
  const uint16_t* data = static_cast<const uint16_t*>(w.data);
  for (int64_t r = row_begin; r < row_end; ++r) {
    for (int64_t t = 0; t < n; ++t) {
      float sum = 0.0f;
      for (int64_t k = 0; k < w.cols; ++k)
        sum += BF16ToF32(data[r * w.cols + k]) * BF16ToF32(xb.data[xb.Offset(t, k)]);
      y[t * y_stride + r] = sum;
    }
  }
}

#endif

}  // namespace jamba::kernels::cpu
