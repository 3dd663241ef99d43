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
#include "kernels/cpu/exp_sum-inl.h"

HWY_BEFORE_NAMESPACE();
namespace jamba::kernels::cpu::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;

// Scores of kRows query rows against kKeys consecutive keys: out[r * out_stride + j] =
// q[r] . k[j]. Every score is summed exactly as a lone dot product would be (one vector
// accumulator over the head in lane steps, SumOfLanes, then the scalar tail), so grouping rows
// and keys changes only how many independent sums run side by side: a decode step's scores are
// latency-bound otherwise, and each key row is loaded once for the group.
template <int kRows, int kKeys>
HWY_INLINE void Scores(const float* const* q, const float* k, int64_t k_stride, int64_t dh,
                       float scale, float* out, int64_t out_stride) {
  const DF df;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  VF acc[kRows][kKeys];
#pragma GCC unroll 4
  for (int r = 0; r < kRows; ++r) {
#pragma GCC unroll 4
    for (int j = 0; j < kKeys; ++j) acc[r][j] = hn::Zero(df);
  }
  int64_t i = 0;
  for (; i + lanes <= dh; i += lanes) {
    VF kv[kKeys];
#pragma GCC unroll 4
    for (int j = 0; j < kKeys; ++j) kv[j] = hn::LoadU(df, k + j * k_stride + i);
#pragma GCC unroll 4
    for (int r = 0; r < kRows; ++r) {
      const VF qv = hn::LoadU(df, q[r] + i);
#pragma GCC unroll 4
      for (int j = 0; j < kKeys; ++j) acc[r][j] = hn::MulAdd(qv, kv[j], acc[r][j]);
    }
  }
  for (int r = 0; r < kRows; ++r) {
    for (int j = 0; j < kKeys; ++j) {
      float sum = hn::GetLane(hn::SumOfLanes(df, acc[r][j]));
      for (int64_t t = i; t < dh; ++t) sum += q[r][t] * k[j * k_stride + t];
      out[r * out_stride + j] = sum * scale;
    }
  }
}

// acc[r] += sum over keys p in [0, keys) of weights[r * weight_stride + p] * v[p] for kRows rows,
// keys in order, lane chunks side by side in registers: the same sequence of multiply-adds per
// output element as adding one key at a time to memory.
// K and V rows of one KV head are short pieces (head_dim floats) of rows that interleave all KV
// heads, so the hardware prefetcher does not follow them: the loops below ask for the piece this
// many keys ahead, into L2 (prefetcht1): far enough ahead to cover DRAM latency at decode's pace,
// near enough that a key block's lines are still there. Against 32 keys ahead into L1, measured
// in one process, alternating: one decode query over 16K keys 4.3-5.7 -> 2.4-4.4 ms, 16
// sequences' queries over 4K keys each 18.7-19.7 -> 11.2-12.3 ms, a 2048-token prefill 230-233
// -> 218-222 ms.
constexpr int64_t kPrefetchKeys = 128;

HWY_INLINE void PrefetchPiece(const float* row, int64_t floats) {
  for (int64_t i = 0; i < floats; i += 16) __builtin_prefetch(row + i, /*rw=*/0, /*locality=*/2);
}

template <int kRows>
HWY_INLINE void WeightedValues(const float* weights, int64_t weight_stride, const float* v,
                               int64_t v_stride, int64_t keys, int64_t dh, float* acc,
                               int64_t acc_stride) {
  const DF df;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  int64_t i = 0;
  for (; i + 2 * lanes <= dh; i += 2 * lanes) {
    VF a0[kRows], a1[kRows];
#pragma GCC unroll 4
    for (int r = 0; r < kRows; ++r) {
      a0[r] = hn::LoadU(df, acc + r * acc_stride + i);
      a1[r] = hn::LoadU(df, acc + r * acc_stride + i + lanes);
    }
    for (int64_t p = 0; p < keys; ++p) {
      PrefetchPiece(v + (p + kPrefetchKeys) * v_stride + i, 2 * lanes);
      const VF v0 = hn::LoadU(df, v + p * v_stride + i);
      const VF v1 = hn::LoadU(df, v + p * v_stride + i + lanes);
#pragma GCC unroll 4
      for (int r = 0; r < kRows; ++r) {
        const VF w = hn::Set(df, weights[r * weight_stride + p]);
        a0[r] = hn::MulAdd(w, v0, a0[r]);
        a1[r] = hn::MulAdd(w, v1, a1[r]);
      }
    }
#pragma GCC unroll 4
    for (int r = 0; r < kRows; ++r) {
      hn::StoreU(a0[r], df, acc + r * acc_stride + i);
      hn::StoreU(a1[r], df, acc + r * acc_stride + i + lanes);
    }
  }
  for (; i + lanes <= dh; i += lanes) {
    VF a0[kRows];
    for (int r = 0; r < kRows; ++r) a0[r] = hn::LoadU(df, acc + r * acc_stride + i);
    for (int64_t p = 0; p < keys; ++p) {
      const VF v0 = hn::LoadU(df, v + p * v_stride + i);
      for (int r = 0; r < kRows; ++r)
        a0[r] = hn::MulAdd(hn::Set(df, weights[r * weight_stride + p]), v0, a0[r]);
    }
    for (int r = 0; r < kRows; ++r) hn::StoreU(a0[r], df, acc + r * acc_stride + i);
  }
  for (int r = 0; r < kRows; ++r) {
    for (int64_t p = 0; p < keys; ++p) {
      const float w = weights[r * weight_stride + p];
      for (int64_t t = i; t < dh; ++t) acc[r * acc_stride + t] += w * v[p * v_stride + t];
    }
  }
}

// One key block [p0, p1) of one KV head for a tile's rows: scores, online-softmax update, and
// weighted values into the rows' running state (`scores`, `acc`, `row_max`, `row_sum`).
HWY_INLINE void AttendBlock(const AttentionArgs& a, int64_t t0, int64_t rows, int64_t kv_head,
                            int64_t p0, int64_t p1, float* scores, float* acc, float* row_max,
                            float* row_sum) {
  const DF df;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  const int64_t dh = a.head_dim;
  const int64_t q_stride = static_cast<int64_t>(a.num_heads) * dh;
  const int64_t kv_stride = static_cast<int64_t>(a.num_kv_heads) * dh;
  const int64_t group = a.num_heads / a.num_kv_heads;
  const float scale = 1.0f / std::sqrt(static_cast<float>(dh));
  // Row r: token t0 + r / group, head kv_head * group + r % group; it sees keys [0, visible).
  auto query = [&](int64_t r) {
    return a.q + (t0 + r / group) * q_stride + (kv_head * group + r % group) * dh;
  };
  auto visible = [&](int64_t r) { return a.past + t0 + r / group + 1; };
  // Scores, in groups of 4 rows x 2 keys; rows past a key's visibility are masked after.
  {
    const float* q4[4];
    int64_t r = 0;
    for (; r < rows; r += 4) {
      const int64_t n = std::min<int64_t>(4, rows - r);
      for (int64_t g = 0; g < n; ++g) q4[g] = query(r + g);
      float* out = scores + r * kAttentionKeyBlock;
      int64_t p = p0;
      const float* k = a.keys + p0 * kv_stride + kv_head * dh;
      if (n == 4) {
        for (; p + 2 <= p1; p += 2, k += 2 * kv_stride) {
          PrefetchPiece(k + kPrefetchKeys * kv_stride, dh);
          PrefetchPiece(k + (kPrefetchKeys + 1) * kv_stride, dh);
          Scores<4, 2>(q4, k, kv_stride, dh, scale, out + (p - p0), kAttentionKeyBlock);
        }
        for (; p < p1; ++p, k += kv_stride)
          Scores<4, 1>(q4, k, kv_stride, dh, scale, out + (p - p0), kAttentionKeyBlock);
      } else {
        for (int64_t g = 0; g < n; ++g) {
          const float* kg = k;
          for (int64_t pg = p; pg < p1; ++pg, kg += kv_stride) {
            Scores<1, 1>(q4 + g, kg, kv_stride, dh, scale, out + g * kAttentionKeyBlock + (pg - p0),
                         kAttentionKeyBlock);
          }
        }
      }
    }
    for (r = 0; r < rows; ++r) {
      for (int64_t p = std::max(p0, visible(r)); p < p1; ++p)
        scores[r * kAttentionKeyBlock + (p - p0)] = -INFINITY;
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
    row_sum[r] = row_sum[r] * correction + ExpSubAndSum(s, n, new_max);
    if (correction != 1.0f) {
      const VF vc = hn::Set(df, correction);
      float* out = acc + r * dh;
      int64_t i = 0;
      for (; i + lanes <= dh; i += lanes)
        hn::StoreU(hn::Mul(hn::LoadU(df, out + i), vc), df, out + i);
      for (; i < dh; ++i) out[i] *= correction;
    }
  }
  // Weighted values: groups of 4 rows share each value row over the keys all four see;
  // each row then adds the keys only it sees, still in key order.
  const float* v0 = a.values + p0 * kv_stride + kv_head * dh;
  int64_t r = 0;
  for (; r + 4 <= rows; r += 4) {
    int64_t common = p1;
    for (int64_t g = 0; g < 4; ++g) common = std::min(common, visible(r + g));
    common = std::max(common, p0);
    WeightedValues<4>(scores + r * kAttentionKeyBlock, kAttentionKeyBlock, v0, kv_stride,
                      common - p0, dh, acc + r * dh, dh);
    for (int64_t g = 0; g < 4; ++g) {
      const int64_t end = std::min(p1, visible(r + g));
      if (end <= common) continue;
      WeightedValues<1>(scores + (r + g) * kAttentionKeyBlock + (common - p0), kAttentionKeyBlock,
                        v0 + (common - p0) * kv_stride, kv_stride, end - common, dh,
                        acc + (r + g) * dh, dh);
    }
  }
  for (; r < rows; ++r) {
    const int64_t end = std::min(p1, visible(r));
    if (end <= p0) continue;
    WeightedValues<1>(scores + r * kAttentionKeyBlock, kAttentionKeyBlock, v0, kv_stride, end - p0,
                      dh, acc + r * dh, dh);
  }
}

// One KV head's running state for a tile's rows (a query token and head each), in scratch:
// scores of one key block, the running output, and the online softmax's running max and sum.
struct HeadState {
  float* scores;
  float* acc;
  float* row_max;
  float* row_sum;
};

HWY_INLINE HeadState HeadStateAt(float* scratch, int64_t h, int64_t rows_max, int64_t dh) {
  HeadState s;
  s.scores = scratch + h * rows_max * (kAttentionKeyBlock + dh + 2);
  s.acc = s.scores + rows_max * kAttentionKeyBlock;
  s.row_max = s.acc + rows_max * dh;
  s.row_sum = s.row_max + rows_max;
  return s;
}

void Attend(const AttentionArgs& a, int64_t heads_per_item, int64_t item_begin, int64_t item_end,
            float* scratch) {
  const int64_t dh = a.head_dim;
  const int64_t q_stride = static_cast<int64_t>(a.num_heads) * dh;
  const int64_t group = a.num_heads / a.num_kv_heads;
  const int64_t head_groups = a.num_kv_heads / heads_per_item;
  const int64_t rows_max = kAttentionQueryTile * group;
  for (int64_t item = item_begin; item < item_end; ++item) {
    const int64_t tile = item / head_groups;
    const int64_t first_kv_head = (item % head_groups) * heads_per_item;
    const int64_t t0 = tile * kAttentionQueryTile;
    const int64_t tile_tokens = std::min(kAttentionQueryTile, a.tokens - t0);
    const int64_t rows = tile_tokens * group;
    for (int64_t h = 0; h < heads_per_item; ++h) {
      const HeadState s = HeadStateAt(scratch, h, rows_max, dh);
      for (int64_t r = 0; r < rows; ++r) {
        s.row_max[r] = -INFINITY;
        s.row_sum[r] = 0.0f;
        for (int64_t i = 0; i < dh; ++i) s.acc[r * dh + i] = 0.0f;
      }
    }
    const int64_t keys_end = a.past + t0 + tile_tokens;  // the last row's visible keys
    for (int64_t p0 = 0; p0 < keys_end; p0 += kAttentionKeyBlock) {
      const int64_t p1 = std::min(keys_end, p0 + kAttentionKeyBlock);
      for (int64_t h = 0; h < heads_per_item; ++h) {
        const HeadState s = HeadStateAt(scratch, h, rows_max, dh);
        AttendBlock(a, t0, rows, first_kv_head + h, p0, p1, s.scores, s.acc, s.row_max, s.row_sum);
      }
    }
    for (int64_t h = 0; h < heads_per_item; ++h) {
      const HeadState s = HeadStateAt(scratch, h, rows_max, dh);
      const int64_t kv_head = first_kv_head + h;
      for (int64_t r = 0; r < rows; ++r) {
        const float inv = 1.0f / s.row_sum[r];
        float* out = a.out + (t0 + r / group) * q_stride + (kv_head * group + r % group) * dh;
        for (int64_t i = 0; i < dh; ++i) out[i] = s.acc[r * dh + i] * inv;
      }
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
