// Weight x activation products for every SIMD target (Highway foreach_target). Weights are read
// in their stored dtype and widened to fp32 in registers, so bf16 weights stay bf16 in memory.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/matmul.cc"
// clang-format off: foreach_target.h must come first, then highway.h (Highway's re-inclusion idiom).
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// clang-format on
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

// Up to kTokens dot products of one weight row with kTokens activation rows: the weight vector
// is widened once and used for every token, so a row is read from memory once per call.
template <DType kType, int kTokens>
HWY_INLINE void RowTimesTokens(const void* row, int64_t cols, const float* x, float scale, float* y,
                               int64_t y_stride) {
  const DF df;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  VF acc[kTokens];
  for (int t = 0; t < kTokens; ++t) acc[t] = hn::Zero(df);
  int64_t k = 0;
  for (; k + lanes <= cols; k += lanes) {
    const VF w = LoadWeights<kType>(df, row, k);
    for (int t = 0; t < kTokens; ++t)
      acc[t] = hn::MulAdd(w, hn::LoadU(df, x + t * cols + k), acc[t]);
  }
  for (int t = 0; t < kTokens; ++t) {
    float sum = hn::GetLane(hn::SumOfLanes(df, acc[t]));
    for (int64_t kk = k; kk < cols; ++kk) sum += ScalarWeight<kType>(row, kk) * x[t * cols + kk];
    y[t * y_stride] = sum * scale;
  }
}

template <DType kType>
void RowsT(const Matrix& w, int64_t row_begin, int64_t row_end, const float* x, int64_t n, float* y,
           int64_t y_stride) {
  const int64_t cols = w.cols;
  const size_t row_bytes = static_cast<size_t>(cols) * DTypeSize(kType);
  for (int64_t r = row_begin; r < row_end; ++r) {
    const void* row = static_cast<const char*>(w.data) + static_cast<size_t>(r) * row_bytes;
    const float scale = kType == DType::kI8 ? w.row_scales[r] : 1.0f;
    int64_t t = 0;
    for (; t + 4 <= n; t += 4) {
      RowTimesTokens<kType, 4>(row, cols, x + t * cols, scale, y + t * y_stride + r, y_stride);
    }
    for (; t < n; ++t) {
      RowTimesTokens<kType, 1>(row, cols, x + t * cols, scale, y + t * y_stride + r, y_stride);
    }
  }
}

void Rows(const Matrix& w, int64_t row_begin, int64_t row_end, const float* x, int64_t n, float* y,
          int64_t y_stride) {
  switch (w.dtype) {
    case DType::kF32:
      return RowsT<DType::kF32>(w, row_begin, row_end, x, n, y, y_stride);
    case DType::kBF16:
      return RowsT<DType::kBF16>(w, row_begin, row_end, x, n, y, y_stride);
    case DType::kF16:
      return RowsT<DType::kF16>(w, row_begin, row_end, x, n, y, y_stride);
    case DType::kI8:
      return RowsT<DType::kI8>(w, row_begin, row_end, x, n, y, y_stride);
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

template <DType kType>
void ConvertRowT(const Matrix& w, int64_t r, float* dst) {
  const DF df;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  const int64_t cols = w.cols;
  const void* row =
      static_cast<const char*>(w.data) + static_cast<size_t>(r * cols) * DTypeSize(kType);
  const float scale = kType == DType::kI8 ? w.row_scales[r] : 1.0f;
  const VF vs = hn::Set(df, scale);
  int64_t k = 0;
  for (; k + lanes <= cols; k += lanes)
    hn::StoreU(hn::Mul(LoadWeights<kType>(df, row, k), vs), df, dst + k);
  for (; k < cols; ++k) dst[k] = ScalarWeight<kType>(row, k) * scale;
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
