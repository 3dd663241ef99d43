// Attention for every SIMD target (Highway foreach_target): query tiles x GQA head groups, keys in
// blocks with an online softmax (see attention.h).
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

void Attend(const AttentionArgs& a, int64_t item_begin, int64_t item_end, float* scratch) {
  const DF df;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  const int64_t dh = a.head_dim;
  const int64_t q_stride = static_cast<int64_t>(a.num_heads) * dh;
  const int64_t kv_stride = static_cast<int64_t>(a.num_kv_heads) * dh;
  const int64_t group = a.num_heads / a.num_kv_heads;
  const float scale = 1.0f / std::sqrt(static_cast<float>(dh));
  const int64_t rows_max = kAttentionQueryTile * group;
  // Per row (a query token and head of the tile): scores of one key block, the running output,
  // and the running max and sum of the online softmax.
  float* scores = scratch;
  float* acc = scores + rows_max * kAttentionKeyBlock;
  float* row_max = acc + rows_max * dh;
  float* row_sum = row_max + rows_max;
  for (int64_t item = item_begin; item < item_end; ++item) {
    const int64_t tile = item / a.num_kv_heads;
    const int64_t kv_head = item % a.num_kv_heads;
    const int64_t t0 = tile * kAttentionQueryTile;
    const int64_t tile_tokens = std::min(kAttentionQueryTile, a.tokens - t0);
    const int64_t rows = tile_tokens * group;
    // Row r: token t0 + r / group, head kv_head * group + r % group; it sees keys [0, visible).
    auto query = [&](int64_t r) {
      return a.q + (t0 + r / group) * q_stride + (kv_head * group + r % group) * dh;
    };
    auto visible = [&](int64_t r) { return a.past + t0 + r / group + 1; };
    for (int64_t r = 0; r < rows; ++r) {
      row_max[r] = -INFINITY;
      row_sum[r] = 0.0f;
      for (int64_t i = 0; i < dh; ++i) acc[r * dh + i] = 0.0f;
    }
    const int64_t keys_end = visible(rows - 1);
    for (int64_t p0 = 0; p0 < keys_end; p0 += kAttentionKeyBlock) {
      const int64_t p1 = std::min(keys_end, p0 + kAttentionKeyBlock);
      // Scores: each key row is loaded once for all rows of the tile.
      for (int64_t p = p0; p < p1; ++p) {
        const float* k = a.keys + p * kv_stride + kv_head * dh;
        for (int64_t r = 0; r < rows; ++r) {
          scores[r * kAttentionKeyBlock + (p - p0)] =
              p < visible(r) ? DotF32(query(r), k, dh) * scale : -INFINITY;
        }
      }
      // Online softmax: rescale what was accumulated to the new running max.
      for (int64_t r = 0; r < rows; ++r) {
        float* s = scores + r * kAttentionKeyBlock;
        const int64_t n = std::min(p1, visible(r)) - p0;
        if (n <= 0) continue;
        float block_max = s[0];
        for (int64_t j = 1; j < n; ++j) block_max = std::max(block_max, s[j]);
        const float new_max = std::max(row_max[r], block_max);
        const float correction = std::exp(row_max[r] - new_max);  // 0 on the first block
        row_max[r] = new_max;
        const VF vmax = hn::Set(df, new_max);
        VF vsum = hn::Zero(df);
        int64_t j = 0;
        for (; j + lanes <= n; j += lanes) {
          const VF e = hn::Exp(df, hn::Sub(hn::LoadU(df, s + j), vmax));
          hn::StoreU(e, df, s + j);
          vsum = hn::Add(vsum, e);
        }
        float sum = hn::GetLane(hn::SumOfLanes(df, vsum));
        for (; j < n; ++j) {
          s[j] = std::exp(s[j] - new_max);
          sum += s[j];
        }
        row_sum[r] = row_sum[r] * correction + sum;
        if (correction != 1.0f) {
          const VF vc = hn::Set(df, correction);
          float* out = acc + r * dh;
          int64_t i = 0;
          for (; i + lanes <= dh; i += lanes)
            hn::StoreU(hn::Mul(hn::LoadU(df, out + i), vc), df, out + i);
          for (; i < dh; ++i) out[i] *= correction;
        }
      }
      // Weighted values: each value row is loaded once for all rows of the tile.
      for (int64_t p = p0; p < p1; ++p) {
        const float* v = a.values + p * kv_stride + kv_head * dh;
        for (int64_t r = 0; r < rows; ++r) {
          if (p >= visible(r)) continue;
          const float weight = scores[r * kAttentionKeyBlock + (p - p0)];
          const VF vw = hn::Set(df, weight);
          float* out = acc + r * dh;
          int64_t i = 0;
          for (; i + lanes <= dh; i += lanes) {
            hn::StoreU(hn::MulAdd(vw, hn::LoadU(df, v + i), hn::LoadU(df, out + i)), df, out + i);
          }
          for (; i < dh; ++i) out[i] += weight * v[i];
        }
      }
    }
    for (int64_t r = 0; r < rows; ++r) {
      const float inv = 1.0f / row_sum[r];
      float* out = a.out + (t0 + r / group) * q_stride + (kv_head * group + r % group) * dh;
      for (int64_t i = 0; i < dh; ++i) out[i] = acc[r * dh + i] * inv;
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
