// x[i] = exp(x[i] - max_value) in place, and their sum: the step softmax (elementwise.cc) and
// attention's online softmax (attention.cc) share, so both sum in the same order (lane-wise
// vector accumulation, then the scalar tail). A Highway "-inl.h" header: files compiled for every
// target (foreach_target.h) include it after highway.h, once per target.
#if defined(JAMBA_KERNELS_CPU_EXP_SUM_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef JAMBA_KERNELS_CPU_EXP_SUM_INL_H_
#undef JAMBA_KERNELS_CPU_EXP_SUM_INL_H_
#else
#define JAMBA_KERNELS_CPU_EXP_SUM_INL_H_
#endif

#include <cmath>
#include <cstdint>

#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace jamba::kernels::cpu::HWY_NAMESPACE {

HWY_INLINE float ExpSubAndSum(float* x, int64_t n, float max_value) {
  namespace hn = hwy::HWY_NAMESPACE;
  const hn::ScalableTag<float> df;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  const auto vmax = hn::Set(df, max_value);
  auto vsum = hn::Zero(df);
  int64_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    const auto e = hn::Exp(df, hn::Sub(hn::LoadU(df, x + i), vmax));
    hn::StoreU(e, df, x + i);
    vsum = hn::Add(vsum, e);
  }
  float sum = hn::GetLane(hn::SumOfLanes(df, vsum));
  for (; i < n; ++i) {
    x[i] = std::exp(x[i] - max_value);
    sum += x[i];
  }
  return sum;
}

}  // namespace jamba::kernels::cpu::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // JAMBA_KERNELS_CPU_EXP_SUM_INL_H_
