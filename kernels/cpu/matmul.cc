// Weight x activation products for every SIMD target (Highway foreach_target). Weights are read
// in their stored dtype and widened to fp32 in registers, so bf16 weights stay bf16 in memory.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/matmul.cc"
// clang-format off: foreach_target.h must come first, then highway.h (Highway's re-inclusion idiom).
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// clang-format on
#include <vector>

#include "hwy/cache_control.h"
#include "hwy/highway.h"
#include "kernels/cpu/matmul.h"

HWY_BEFORE_NAMESPACE();
namespace jamba::kernels::cpu::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;

// Loads Lanes(DF) weights starting at element `k` of a row, widened to fp32.
template <DType kType>
HWY_INLINE VF LoadWeights(DF df, const void* row, int64_t k) {
  if constexpr (kType == DType::kF32) {
    return hn::LoadU(df, static_cast<const float*>(row) + k);
  } else if constexpr (kType == DType::kBF16) {
    const hn::Rebind<hwy::bfloat16_t, DF> dbf;
    return hn::PromoteTo(df, hn::LoadU(dbf, static_cast<const hwy::bfloat16_t*>(row) + k));
  } else if constexpr (kType == DType::kF16) {
    const hn::Rebind<hwy::float16_t, DF> dh;
    return hn::PromoteTo(df, hn::LoadU(dh, static_cast<const hwy::float16_t*>(row) + k));
  } else {
    const hn::Rebind<int32_t, DF> di32;
    const hn::Rebind<int8_t, DF> di8;
    return hn::ConvertTo(df,
                         hn::PromoteTo(di32, hn::LoadU(di8, static_cast<const int8_t*>(row) + k)));
  }
}

// Where element k of row r of a tile lies, in bytes from the tile's first row `w` (see
// TileStart). Row-major rows are `row_bytes` apart; interleaved rows are pieces of one chunk.
template <DType kType, MatrixLayout kLayout>
HWY_INLINE size_t WeightOffset(size_t row_bytes, int r, int64_t k) {
  constexpr size_t kSize = DTypeSize(kType);
  if constexpr (kLayout == MatrixLayout::kRowMajor) {
    return static_cast<size_t>(r) * row_bytes + static_cast<size_t>(k) * kSize;
  } else {
    (void)row_bytes;
    return static_cast<size_t>(InterleavedOffset(r, k)) * kSize;
  }
}

// Start of row r (relative to `data`, the start of a row group) for WeightOffset.
template <DType kType, MatrixLayout kLayout>
HWY_INLINE const char* TileStart(const char* data, size_t row_bytes, int64_t r) {
  if constexpr (kLayout == MatrixLayout::kRowMajor) {
    return data + static_cast<size_t>(r) * row_bytes;
  } else {
    return data + static_cast<size_t>(r / kInterleaveRows) * kInterleaveRows * row_bytes +
           static_cast<size_t>(InterleavedOffset(r % kInterleaveRows, 0)) * DTypeSize(kType);
  }
}

template <DType kType>
HWY_INLINE float ScalarWeight(const void* row, int64_t k) {
  if constexpr (kType == DType::kF32) {
    return static_cast<const float*>(row)[k];
  } else if constexpr (kType == DType::kBF16) {
    return BF16ToF32(static_cast<const uint16_t*>(row)[k]);
  } else if constexpr (kType == DType::kF16) {
    return F16ToF32(static_cast<const uint16_t*>(row)[k]);
  } else {
    return static_cast<float>(static_cast<const int8_t*>(row)[k]);
  }
}

// Every output element y[t, r] is one dot product computed the same way on every path: a single
// vector accumulator over k in steps of Lanes (in order), reduced with SumOfLanes, then the
// scalar tail, then the int8 scale. Tiles only change how many such products run side by side,
// never the order inside one, so a token's result does not depend on the batch it was computed
// in (decode alone, decode batched with others, or a prefill chunk of any size).

// Tile shapes: R weight rows x T tokens of accumulators in registers. AVX-512 has 32 vector
// registers (R*T + R + 1 of them are live), AVX2 and the scalar target 16.
#if HWY_TARGET == HWY_AVX3
constexpr int kTileRows = 4;
constexpr int kTileTokens = 6;
#else
constexpr int kTileRows = 2;
constexpr int kTileTokens = 4;
#endif
// Tokens of one packed-panel product (a multiple of both targets' kTileTokens).
constexpr int64_t kPanelTokens = 48;

// y[t * y_stride + r] for r < kR, t < kT: rows from `w` (TileStart; row-major rows `row_bytes`
// apart, interleaved rows as pieces of each chunk), tokens at `x` (`x_stride` apart). With kScaled,
// each row's sum is multiplied by scales[r] (int8 weights, whether read as int8 or from a packed
// fp32 copy of the int8 values).
template <DType kType, MatrixLayout kLayout, bool kScaled, int kR, int kT>
HWY_INLINE void Tile(const char* w, size_t row_bytes, const float* x, int64_t x_stride,
                     int64_t cols, const float* scales, float* y, int64_t y_stride) {
  const DF df;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  // The pragmas make the compiler unroll every tile loop, so the kR x kT accumulators live in
  // registers instead of memory.
  VF acc[kR][kT];
#pragma GCC unroll 8
  for (int r = 0; r < kR; ++r) {
#pragma GCC unroll 8
    for (int t = 0; t < kT; ++t) acc[r][t] = hn::Zero(df);
  }
  int64_t k = 0;
  // Row-major weight rows are short streams (a few KiB) that the hardware prefetcher has to
  // rediscover at every row; asking for the next row group's lines one group ahead keeps memory
  // busy. An interleaved group is one sequential stream: for one token the prefetcher follows it
  // best unaided (software prefetches measured slower), but with several tokens the arithmetic
  // slows its consumption and the prefetcher falls behind, so lines one and two groups ahead are
  // requested into the outer caches (4-token products from DRAM: 22 -> 35 GB/s).
  const size_t ahead = 2 * static_cast<size_t>(kR) * row_bytes;
  const size_t group_bytes = static_cast<size_t>(kInterleaveRows) * row_bytes;
  for (; k + lanes <= cols; k += lanes) {
    VF wv[kR];
#pragma GCC unroll 8
    for (int r = 0; r < kR; ++r) {
      const char* p = w + WeightOffset<kType, kLayout>(row_bytes, r, k);
      if constexpr (kLayout == MatrixLayout::kRowMajor) {
        hwy::Prefetch(p + ahead);
      } else if constexpr (kT > 1) {
        __builtin_prefetch(p + group_bytes, 0, 2);  // locality 2: L2 (hwy::Prefetch is L1 only)
        __builtin_prefetch(p + 2 * group_bytes, 0, 1);
      }
      wv[r] = LoadWeights<kType>(df, p, 0);
    }
#pragma GCC unroll 8
    for (int t = 0; t < kT; ++t) {
      const VF xv = hn::LoadU(df, x + t * x_stride + k);
#pragma GCC unroll 8
      for (int r = 0; r < kR; ++r) acc[r][t] = hn::MulAdd(wv[r], xv, acc[r][t]);
    }
  }
  // The column tail (interleaved matrices have none: cols % kInterleaveCols == 0).
  for (int r = 0; r < kR; ++r) {
    for (int t = 0; t < kT; ++t) {
      float sum = hn::GetLane(hn::SumOfLanes(df, acc[r][t]));
      for (int64_t kk = k; kk < cols; ++kk) {
        sum += ScalarWeight<kType>(w + WeightOffset<kType, kLayout>(row_bytes, r, kk), 0) *
               x[t * x_stride + kk];
      }
      y[t * y_stride + r] = kScaled ? sum * scales[r] : sum;
    }
  }
}

// Tokens [t, n) with n - t < kTileTokens, in one pass of exactly that width: a narrower pass
// after a wider one would widen every weight vector again (an expert's share of a batch-16
// decode step is a handful of tokens).
template <DType kType, MatrixLayout kLayout, bool kScaled, int kR, int kT = kTileTokens - 1>
HWY_INLINE void RemainderTile(const char* w, size_t row_bytes, const float* x, int64_t x_stride,
                              int64_t cols, int64_t remaining, const float* scales, float* y,
                              int64_t y_stride) {
  if constexpr (kT >= 1) {
    if (remaining == kT) {
      return Tile<kType, kLayout, kScaled, kR, kT>(w, row_bytes, x, x_stride, cols, scales, y,
                                                   y_stride);
    }
    RemainderTile<kType, kLayout, kScaled, kR, kT - 1>(w, row_bytes, x, x_stride, cols, remaining,
                                                       scales, y, y_stride);
  }
}

// All tokens [0, n) against kR rows: full tiles, then one of the remaining width.
template <DType kType, MatrixLayout kLayout, bool kScaled, int kR>
HWY_INLINE void RowGroup(const char* w, size_t row_bytes, const float* x, int64_t x_stride,
                         int64_t cols, int64_t n, const float* scales, float* y, int64_t y_stride) {
  int64_t t = 0;
  for (; t + kTileTokens <= n; t += kTileTokens) {
    Tile<kType, kLayout, kScaled, kR, kTileTokens>(w, row_bytes, x + t * x_stride, x_stride, cols,
                                                   scales, y + t * y_stride, y_stride);
  }
  RemainderTile<kType, kLayout, kScaled, kR>(w, row_bytes, x + t * x_stride, x_stride, cols, n - t,
                                             scales, y + t * y_stride, y_stride);
}

// Rows [0, rows) of a weight block (stored as kType in kLayout, starting at a row group) times
// tokens [0, n). kTileRows divides kInterleaveRows, so interleaved tiles never straddle a group.
template <DType kType, MatrixLayout kLayout, bool kScaled>
void RowsT(const char* data, size_t row_bytes, const float* scales, int64_t rows, int64_t cols,
           const float* x, int64_t x_stride, int64_t n, float* y, int64_t y_stride) {
  static_assert(kInterleaveRows % kTileRows == 0);
  int64_t r = 0;
  for (; r + kTileRows <= rows; r += kTileRows) {
    RowGroup<kType, kLayout, kScaled, kTileRows>(TileStart<kType, kLayout>(data, row_bytes, r),
                                                 row_bytes, x, x_stride, cols, n,
                                                 kScaled ? scales + r : nullptr, y + r, y_stride);
  }
  for (; r < rows; ++r) {
    RowGroup<kType, kLayout, kScaled, 1>(TileStart<kType, kLayout>(data, row_bytes, r), row_bytes,
                                         x, x_stride, cols, n, kScaled ? scales + r : nullptr,
                                         y + r, y_stride);
  }
}

template <DType kType, bool kScaled>
void RowsAnyLayout(MatrixLayout layout, const char* data, size_t row_bytes, const float* scales,
                   int64_t rows, int64_t cols, const float* x, int64_t x_stride, int64_t n,
                   float* y, int64_t y_stride) {
  if (layout == MatrixLayout::kInterleaved) {
    return RowsT<kType, MatrixLayout::kInterleaved, kScaled>(data, row_bytes, scales, rows, cols, x,
                                                             x_stride, n, y, y_stride);
  }
  RowsT<kType, MatrixLayout::kRowMajor, kScaled>(data, row_bytes, scales, rows, cols, x, x_stride,
                                                 n, y, y_stride);
}

// ---- many-token products on a packed fp32 panel, blocked over k ----
// The k dimension is walked in blocks so the panel's slice, one token tile's activations and
// that tile's accumulators all stay in L1. Accumulators are saved to `acc` between blocks as
// whole vectors, so every output is still the one fixed-order dot product described above.
constexpr int64_t kKBlock = 512;  // floats; a multiple of every target's lane count

template <int kR, int kT>
HWY_INLINE void TileK(const float* w, int64_t w_stride, const float* x, int64_t x_stride,
                      int64_t k0, int64_t k1, float* acc, int64_t acc_row_stride, bool first) {
  const DF df;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  VF a[kR][kT];
#pragma GCC unroll 8
  for (int r = 0; r < kR; ++r) {
#pragma GCC unroll 8
    for (int t = 0; t < kT; ++t) {
      a[r][t] = first ? hn::Zero(df) : hn::LoadU(df, acc + r * acc_row_stride + t * lanes);
    }
  }
  for (int64_t k = k0; k < k1; k += lanes) {
    VF wv[kR];
#pragma GCC unroll 8
    for (int r = 0; r < kR; ++r) wv[r] = hn::LoadU(df, w + r * w_stride + k);
#pragma GCC unroll 8
    for (int t = 0; t < kT; ++t) {
      const VF xv = hn::LoadU(df, x + t * x_stride + k);
#pragma GCC unroll 8
      for (int r = 0; r < kR; ++r) a[r][t] = hn::MulAdd(wv[r], xv, a[r][t]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < kR; ++r) {
#pragma GCC unroll 8
    for (int t = 0; t < kT; ++t) hn::StoreU(a[r][t], df, acc + r * acc_row_stride + t * lanes);
  }
}

template <int kR>
HWY_INLINE void TileRowK(const float* w, int64_t w_stride, const float* x, int64_t x_stride,
                         int64_t tokens, int64_t k0, int64_t k1, float* acc, int64_t acc_row_stride,
                         bool first) {
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(DF()));
  int64_t t = 0;
  for (; t + kTileTokens <= tokens; t += kTileTokens) {
    TileK<kR, kTileTokens>(w, w_stride, x + t * x_stride, x_stride, k0, k1, acc + t * lanes,
                           acc_row_stride, first);
  }
  for (; t + 2 <= tokens; t += 2) {
    TileK<kR, 2>(w, w_stride, x + t * x_stride, x_stride, k0, k1, acc + t * lanes, acc_row_stride,
                 first);
  }
  if (t < tokens) {
    TileK<kR, 1>(w, w_stride, x + t * x_stride, x_stride, k0, k1, acc + t * lanes, acc_row_stride,
                 first);
  }
}

// y[t * y_stride + r] for the panel's `rows` (fp32, `w_stride` apart) and `tokens` tokens
// (`x_stride` apart, at most kPanelTokens). `acc` holds rows * kPanelTokens vectors.
template <bool kScaled>
void PanelTimesTokens(const float* panel, int64_t w_stride, int64_t rows, int64_t cols,
                      const float* x, int64_t x_stride, int64_t tokens, const float* scales,
                      float* y, int64_t y_stride, float* acc) {
  const DF df;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  const int64_t vector_cols = cols - cols % lanes;
  const int64_t acc_row_stride = tokens * lanes;
  for (int64_t k0 = 0; k0 < vector_cols; k0 += kKBlock) {
    const int64_t k1 = std::min(vector_cols, k0 + kKBlock);
    const bool first = k0 == 0;
    for (int64_t t = 0; t < tokens; t += kTileTokens) {
      const int64_t tt = std::min<int64_t>(kTileTokens, tokens - t);
      int64_t r = 0;
      for (; r + kTileRows <= rows; r += kTileRows) {
        TileRowK<kTileRows>(panel + r * w_stride, w_stride, x + t * x_stride, x_stride, tt, k0, k1,
                            acc + r * acc_row_stride + t * lanes, acc_row_stride, first);
      }
      for (; r < rows; ++r) {
        TileRowK<1>(panel + r * w_stride, w_stride, x + t * x_stride, x_stride, tt, k0, k1,
                    acc + r * acc_row_stride + t * lanes, acc_row_stride, first);
      }
    }
  }
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t t = 0; t < tokens; ++t) {
      float sum = 0.0f;
      if (vector_cols > 0)
        sum = hn::GetLane(hn::SumOfLanes(df, hn::LoadU(df, acc + r * acc_row_stride + t * lanes)));
      for (int64_t k = vector_cols; k < cols; ++k)
        sum += panel[r * w_stride + k] * x[t * x_stride + k];
      y[t * y_stride + r] = kScaled ? sum * scales[r] : sum;
    }
  }
}

// Many-token products first widen all the call's rows (at most kPackMaxRows) to fp32 once, then
// walk token blocks that stay in L2, each against 16-row panels of the widened rows. Widening is
// exact, so the result is the same as converting in registers.
constexpr int64_t kPackRows = 16;

template <DType kType, bool kApplyScale = true>
void ConvertRowT(const Matrix& w, int64_t r, float* dst);

float Dot(const float* a, const float* b, int64_t n);

void Rows(const Matrix& w, int64_t row_begin, int64_t row_end, const float* x, int64_t x_stride,
          int64_t n, float* y, int64_t y_stride, float* pack) {
  if (w.layout == MatrixLayout::kPairBlocks) {
    // The backend gives this layout only to the bf16 dot-product kernels; a caller of this table
    // with such a matrix still gets right results, a widened row at a time.
    std::vector<float> row(static_cast<size_t>(w.cols));
    for (int64_t r = row_begin; r < row_end; ++r) {
      ConvertRowT<DType::kBF16>(w, r, row.data());
      for (int64_t t = 0; t < n; ++t)
        y[t * y_stride + r] = Dot(row.data(), x + t * x_stride, w.cols);
    }
    return;
  }
  const size_t row_bytes = static_cast<size_t>(w.cols) * DTypeSize(w.dtype);
  const char* base = static_cast<const char*>(w.data) + static_cast<size_t>(row_begin) * row_bytes;
  const float* scales = w.row_scales != nullptr ? w.row_scales + row_begin : nullptr;
  float* out = y + row_begin;
  const int64_t rows = row_end - row_begin;
  if (w.dtype != DType::kF32 && n >= kPackMinTokens && pack != nullptr && rows <= kPackMaxRows) {
    // Packed rows are padded by one cache line so rows that are a power of two apart do not all
    // land in the same L1 sets.
    const int64_t panel_stride = PackedRowStride(w.cols);
    for (int64_t i = 0; i < rows; ++i) {
      switch (w.dtype) {
        case DType::kBF16:
          ConvertRowT<DType::kBF16>(w, row_begin + i, pack + i * panel_stride);
          break;
        case DType::kF16:
          ConvertRowT<DType::kF16>(w, row_begin + i, pack + i * panel_stride);
          break;
        case DType::kI8:
          // Packed int8 rows keep their scale separate: convert without it.
          ConvertRowT<DType::kI8, false>(w, row_begin + i, pack + i * panel_stride);
          break;
        case DType::kF32:
          break;
      }
    }
    float* acc = pack + kPackMaxRows * panel_stride;
    for (int64_t t0 = 0; t0 < n; t0 += kPanelTokens) {
      const int64_t tn = std::min(kPanelTokens, n - t0);
      for (int64_t r = 0; r < rows; r += kPackRows) {
        const int64_t block = std::min(kPackRows, rows - r);
        const float* panel = pack + r * panel_stride;
        if (w.dtype == DType::kI8) {
          // The int8 path multiplies by the row scale after the sum, exactly as in registers.
          PanelTimesTokens<true>(panel, panel_stride, block, w.cols, x + t0 * x_stride, x_stride,
                                 tn, scales + r, out + r + t0 * y_stride, y_stride, acc);
        } else {
          PanelTimesTokens<false>(panel, panel_stride, block, w.cols, x + t0 * x_stride, x_stride,
                                  tn, nullptr, out + r + t0 * y_stride, y_stride, acc);
        }
      }
    }
    return;
  }
  switch (w.dtype) {
    case DType::kF32:
      return RowsAnyLayout<DType::kF32, false>(w.layout, base, row_bytes, nullptr, rows, w.cols, x,
                                               x_stride, n, out, y_stride);
    case DType::kBF16:
      return RowsAnyLayout<DType::kBF16, false>(w.layout, base, row_bytes, nullptr, rows, w.cols, x,
                                                x_stride, n, out, y_stride);
    case DType::kF16:
      return RowsAnyLayout<DType::kF16, false>(w.layout, base, row_bytes, nullptr, rows, w.cols, x,
                                               x_stride, n, out, y_stride);
    case DType::kI8:
      return RowsAnyLayout<DType::kI8, true>(w.layout, base, row_bytes, scales, rows, w.cols, x,
                                             x_stride, n, out, y_stride);
  }
}

float Dot(const float* a, const float* b, int64_t n) {
  const DF df;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  VF acc0 = hn::Zero(df), acc1 = hn::Zero(df);
  int64_t i = 0;
  for (; i + 2 * lanes <= n; i += 2 * lanes) {
    acc0 = hn::MulAdd(hn::LoadU(df, a + i), hn::LoadU(df, b + i), acc0);
    acc1 = hn::MulAdd(hn::LoadU(df, a + i + lanes), hn::LoadU(df, b + i + lanes), acc1);
  }
  for (; i + lanes <= n; i += lanes)
    acc0 = hn::MulAdd(hn::LoadU(df, a + i), hn::LoadU(df, b + i), acc0);
  float sum = hn::GetLane(hn::SumOfLanes(df, hn::Add(acc0, acc1)));
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

void Axpy(float alpha, const float* x, float* y, int64_t n) {
  const DF df;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  const VF va = hn::Set(df, alpha);
  int64_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    hn::StoreU(hn::MulAdd(va, hn::LoadU(df, x + i), hn::LoadU(df, y + i)), df, y + i);
  }
  for (; i < n; ++i) y[i] += alpha * x[i];
}

template <DType kType, MatrixLayout kLayout, bool kApplyScale>
void ConvertRowInLayout(const Matrix& w, int64_t r, float* dst) {
  const DF df;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  const int64_t cols = w.cols;
  const size_t row_bytes = static_cast<size_t>(cols) * DTypeSize(kType);
  const char* row = TileStart<kType, kLayout>(static_cast<const char*>(w.data), row_bytes, r);
  const float scale = kType == DType::kI8 && kApplyScale ? w.row_scales[r] : 1.0f;
  const VF vs = hn::Set(df, scale);
  int64_t k = 0;
  for (; k + lanes <= cols; k += lanes) {
    const VF v = LoadWeights<kType>(df, row + WeightOffset<kType, kLayout>(row_bytes, 0, k), 0);
    hn::StoreU(hn::Mul(v, vs), df, dst + k);
  }
  for (; k < cols; ++k)
    dst[k] = ScalarWeight<kType>(row + WeightOffset<kType, kLayout>(row_bytes, 0, k), 0) * scale;
}

// A row of a kPairBlocks matrix, whose pairs of elements are 64 bytes apart: slow, for the rows
// read one at a time (embedding lookups, and Rows above).
template <DType kType>
void ConvertPairBlockRow(const Matrix& w, int64_t r, float* dst) {
  const char* block =
      static_cast<const char*>(w.data) +
      static_cast<size_t>((r / kPairBlockRows) * kPairBlockRows * w.cols) * DTypeSize(kType);
  for (int64_t k = 0; k < w.cols; ++k) {
    dst[k] = ScalarWeight<kType>(block, PairBlockOffset(r % kPairBlockRows, k));
  }
}

template <DType kType, bool kApplyScale>
void ConvertRowT(const Matrix& w, int64_t r, float* dst) {
  if constexpr (kType == DType::kBF16) {
    if (w.layout == MatrixLayout::kPairBlocks) return ConvertPairBlockRow<kType>(w, r, dst);
  }
  if (w.layout == MatrixLayout::kInterleaved)
    return ConvertRowInLayout<kType, MatrixLayout::kInterleaved, kApplyScale>(w, r, dst);
  ConvertRowInLayout<kType, MatrixLayout::kRowMajor, kApplyScale>(w, r, dst);
}

void ConvertRow(const Matrix& w, int64_t r, float* dst) {
  switch (w.dtype) {
    case DType::kF32:
      return ConvertRowT<DType::kF32>(w, r, dst);
    case DType::kBF16:
      return ConvertRowT<DType::kBF16>(w, r, dst);
    case DType::kF16:
      return ConvertRowT<DType::kF16>(w, r, dst);
    case DType::kI8:
      return ConvertRowT<DType::kI8>(w, r, dst);
  }
}

extern const MatMulKernels kMatMulKernels;
const MatMulKernels kMatMulKernels = {&Rows, &Dot, &Axpy, &ConvertRow};

}  // namespace jamba::kernels::cpu::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "kernels/cpu/simd_target.h"

namespace jamba::kernels::cpu {

const MatMulKernels& GetMatMulKernels(SimdTarget target) {
  static const MatMulKernels* const kTables[] = {JAMBA_PER_TARGET(kMatMulKernels)};
  return SelectForTarget(target, kTables);
}

}  // namespace jamba::kernels::cpu
#endif  // HWY_ONCE
