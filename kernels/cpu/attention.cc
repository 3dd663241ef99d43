// Attention for every SIMD target (Highway foreach_target): scores with dot products over the
// head dimension, an fp32 softmax, and a weighted sum of value rows.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/attention.cc"
// clang-format off: foreach_target.h must come first, then highway.h (Highway's re-inclusion idiom).
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// clang-format on
#include <cmath>

#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"
#include "kernels/cpu/attention.h"

HWY_BEFORE_NAMESPACE();
namespace jamba::kernels::cpu::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;

HWY_INLINE float DotF32(const float* a, const float* b, int64_t n) {
  const DF df;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  VF acc = hn::Zero(df);
  int64_t i = 0;
  for (; i + lanes <= n; i += lanes)
    acc = hn::MulAdd(hn::LoadU(df, a + i), hn::LoadU(df, b + i), acc);
  float sum = hn::GetLane(hn::SumOfLanes(df, acc));
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

void Attend(const AttentionArgs& a, int64_t item_begin, int64_t item_end, float* scores) {
  const DF df;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  const int64_t dh = a.head_dim;
  const int64_t q_stride = static_cast<int64_t>(a.num_heads) * dh;
  const int64_t kv_stride = static_cast<int64_t>(a.num_kv_heads) * dh;
  const int group = a.num_heads / a.num_kv_heads;
  const float scale = 1.0f / std::sqrt(static_cast<float>(dh));
  for (int64_t item = item_begin; item < item_end; ++item) {
    const int64_t t = item / a.num_heads;
    const int head = static_cast<int>(item % a.num_heads);
    const int kv_head = head / group;
    const float* q = a.q + t * q_stride + head * dh;
    const int64_t visible = a.past + t + 1;
    float max_score = -INFINITY;
    for (int64_t p = 0; p < visible; ++p) {
      scores[p] = DotF32(q, a.keys + p * kv_stride + kv_head * dh, dh) * scale;
      max_score = std::max(max_score, scores[p]);
    }
    float sum = 0.0f;
    for (int64_t p = 0; p < visible; ++p) {
      scores[p] = std::exp(scores[p] - max_score);
      sum += scores[p];
    }
    const float inv = 1.0f / sum;
    float* out = a.out + t * q_stride + head * dh;
    for (int64_t i = 0; i < dh; ++i) out[i] = 0.0f;
    for (int64_t p = 0; p < visible; ++p) {
      const float* v = a.values + p * kv_stride + kv_head * dh;
      const VF w = hn::Set(df, scores[p] * inv);
      int64_t i = 0;
      for (; i + lanes <= dh; i += lanes) {
        hn::StoreU(hn::MulAdd(w, hn::LoadU(df, v + i), hn::LoadU(df, out + i)), df, out + i);
      }
      for (; i < dh; ++i) out[i] += scores[p] * inv * v[i];
    }
  }
}

extern const AttentionKernels kAttentionKernels;
const AttentionKernels kAttentionKernels = {&Attend};

}  // namespace jamba::kernels::cpu::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "kernels/cpu/simd_target.h"

namespace jamba::kernels::cpu {

const AttentionKernels& GetAttentionKernels(SimdTarget target) {
  static const AttentionKernels* const kTables[] = {JAMBA_PER_TARGET(kAttentionKernels)};
  return SelectForTarget(target, kTables);
}

}  // namespace jamba::kernels::cpu
#endif  // HWY_ONCE
