// Row-wise and elementwise kernels for every SIMD target (Highway foreach_target).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/elementwise.cc"
// clang-format off: foreach_target.h must come first, then highway.h (Highway's re-inclusion idiom).
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// clang-format on
#include <algorithm>
#include <cmath>

#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/exp_sum-inl.h"

HWY_BEFORE_NAMESPACE();
namespace jamba::kernels::cpu::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;

void RmsNormRow(const float* x, int64_t d, const float* weight, float eps, float* y) {
  const DF df;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  VF acc = hn::Zero(df);
  int64_t i = 0;
  for (; i + lanes <= d; i += lanes) {
    const VF v = hn::LoadU(df, x + i);
    acc = hn::MulAdd(v, v, acc);
  }
  float sum = hn::GetLane(hn::SumOfLanes(df, acc));
  for (; i < d; ++i) sum += x[i] * x[i];
  const float inv = 1.0f / std::sqrt(sum / static_cast<float>(d) + eps);
  const VF vinv = hn::Set(df, inv);
  i = 0;
  for (; i + lanes <= d; i += lanes) {
    hn::StoreU(hn::Mul(hn::Mul(hn::LoadU(df, x + i), vinv), hn::LoadU(df, weight + i)), df, y + i);
  }
  for (; i < d; ++i) y[i] = x[i] * inv * weight[i];
}

// SiLU(x) = x * sigmoid(x) = x / (1 + exp(-x))
HWY_INLINE VF Silu(DF df, VF x) {
  const VF one = hn::Set(df, 1.0f);
  return hn::Div(x, hn::Add(one, hn::Exp(df, hn::Neg(x))));
}

void SiluMul(const float* gate, const float* up, int64_t n, float* out) {
  const DF df;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  int64_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    hn::StoreU(hn::Mul(Silu(df, hn::LoadU(df, gate + i)), hn::LoadU(df, up + i)), df, out + i);
  }
  if (i < n) {
    // The tail takes the same vector path through a padded buffer. A scalar std::exp rounds
    // differently from hn::Exp, and callers split ranges by token and thread count, so an
    // element's value depended on how many tokens shared the call: a prefill cut into other
    // chunks (a resumed session) gave different logits.
    HWY_ALIGN float g[HWY_MAX_BYTES / sizeof(float)] = {};
    HWY_ALIGN float u[HWY_MAX_BYTES / sizeof(float)] = {};
    const int64_t rest = n - i;
    std::copy_n(gate + i, rest, g);
    std::copy_n(up + i, rest, u);
    hn::Store(hn::Mul(Silu(df, hn::Load(df, g)), hn::Load(df, u)), df, g);
    std::copy_n(g, rest, out + i);
  }
}

void Add(float* y, const float* x, int64_t n) {
  const DF df;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  int64_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    hn::StoreU(hn::Add(hn::LoadU(df, y + i), hn::LoadU(df, x + i)), df, y + i);
  }
  for (; i < n; ++i) y[i] += x[i];
}

void Softmax(float* x, int64_t n) {
  if (n <= 0) return;
  const DF df;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  float max_value = x[0];
  for (int64_t i = 1; i < n; ++i) max_value = std::max(max_value, x[i]);
  const float sum = ExpSubAndSum(x, n, max_value);
  const VF vinv = hn::Set(df, 1.0f / sum);
  int64_t i = 0;
  for (; i + lanes <= n; i += lanes) hn::StoreU(hn::Mul(hn::LoadU(df, x + i), vinv), df, x + i);
  for (; i < n; ++i) x[i] /= sum;
}

extern const ElementwiseKernels kElementwiseKernels;
const ElementwiseKernels kElementwiseKernels = {&RmsNormRow, &SiluMul, &Add, &Softmax};

}  // namespace jamba::kernels::cpu::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "kernels/cpu/simd_target.h"

namespace jamba::kernels::cpu {

const ElementwiseKernels& GetElementwiseKernels(SimdTarget target) {
  static const ElementwiseKernels* const kTables[] = {JAMBA_PER_TARGET(kElementwiseKernels)};
  return SelectForTarget(target, kTables);
}

}  // namespace jamba::kernels::cpu
#endif  // HWY_ONCE
