// Attention for every SIMD target (Highway foreach_target): query tiles x GQA head groups, keys in
// blocks with an online softmax (see attention.h), over a KV cache read in its stored dtype from
// its chunks (one instantiation per dtype).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/attention.cc"
// clang-format off: foreach_target.h must come first, then highway.h (Highway's re-inclusion idiom).
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// clang-format on
#include <cmath>
#include <cstring>
#include <span>
#include <type_traits>

#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/exp_sum-inl.h"
#include "kernels/kv_dtype.h"

HWY_BEFORE_NAMESPACE();
namespace jamba::kernels::cpu::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;

// The element type each KV dtype stores (E4M3 as raw bytes).
template <KvDType kDType>
struct KvElement;
template <>
struct KvElement<KvDType::kF32> {
  using Type = float;
};
template <>
struct KvElement<KvDType::kBF16> {
  using Type = hwy::bfloat16_t;
};
template <>
struct KvElement<KvDType::kI8> {
  using Type = int8_t;
};
template <>
struct KvElement<KvDType::kF8E4M3> {
  using Type = uint8_t;
};

// Stored elements to fp32, a vector's worth at a time: the kernels below read the cache in its
// own dtype and widen in registers. The per-head scales of the 8-bit dtypes are applied per key
// outside the inner loops (to scores, and to the softmax weights before the weighted values).
template <KvDType kDType>
HWY_INLINE VF LoadKv(DF df, const typename KvElement<kDType>::Type* p) {
  if constexpr (kDType == KvDType::kF32) {
    return hn::LoadU(df, p);
  } else if constexpr (kDType == KvDType::kBF16) {
    const hn::Rebind<hwy::bfloat16_t, DF> dbf;
    return hn::PromoteTo(df, hn::LoadU(dbf, p));
  } else if constexpr (kDType == KvDType::kI8) {
    const hn::Rebind<int8_t, DF> d8;
    const hn::Rebind<int32_t, DF> d32;
    return hn::ConvertTo(df, hn::PromoteTo(d32, hn::LoadU(d8, p)));
  } else {
    // E4M3 bits moved into an fp32's sign, low exponent and high mantissa bits, then rebiased
    // (exponent bias 7 -> 127) by one multiply, which also normalizes E4M3's subnormals.
    const hn::Rebind<uint8_t, DF> d8;
    const hn::Rebind<uint32_t, DF> du;
    const auto u = hn::PromoteTo(du, hn::LoadU(d8, p));
    const auto bits = hn::Or(hn::ShiftLeft<24>(hn::And(u, hn::Set(du, 0x80u))),
                             hn::ShiftLeft<20>(hn::And(u, hn::Set(du, 0x7fu))));
    return hn::Mul(hn::BitCast(df, bits), hn::Set(df, 0x1p120f));
  }
}

template <KvDType kDType>
HWY_INLINE float KvToF32(typename KvElement<kDType>::Type v) {
  if constexpr (kDType == KvDType::kF32) {
    return v;
  } else if constexpr (kDType == KvDType::kBF16) {
    return hwy::F32FromBF16(v);
  } else if constexpr (kDType == KvDType::kI8) {
    return static_cast<float>(v);
  } else {
    return E4M3ToF32(v);
  }
}

// The fp32 scale `offset` bytes after `at` (rows need not keep scales 4-byte aligned).
HWY_INLINE float ScaleAt(const void* at, int64_t offset) {
  float scale;
  std::memcpy(&scale, static_cast<const char*>(at) + offset, sizeof(float));
  return scale;
}

// Scores of kRows query rows against kKeys consecutive keys: out[r * out_stride + j] =
// q[r] . k[j] * scale (* key j's head scale when the dtype has scales, `scale_offset` bytes after
// its piece). Every score is summed exactly as a lone dot product would be (one vector
// accumulator over the head in lane steps, SumOfLanes, then the scalar tail), so grouping rows
// and keys changes only how many independent sums run side by side: a decode step's scores are
// latency-bound otherwise, and each key row is loaded once for the group.
template <int kRows, int kKeys, KvDType kDType>
HWY_INLINE void Scores(const float* const* q, const typename KvElement<kDType>::Type* k,
                       int64_t k_stride, int64_t dh, float scale, int64_t scale_offset, float* out,
                       int64_t out_stride) {
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
    for (int j = 0; j < kKeys; ++j) kv[j] = LoadKv<kDType>(df, k + j * k_stride + i);
#pragma GCC unroll 4
    for (int r = 0; r < kRows; ++r) {
      const VF qv = hn::LoadU(df, q[r] + i);
#pragma GCC unroll 4
      for (int j = 0; j < kKeys; ++j) acc[r][j] = hn::MulAdd(qv, kv[j], acc[r][j]);
    }
  }
  for (int j = 0; j < kKeys; ++j) {
    float key_scale = scale;
    if constexpr (KvHasScales(kDType)) key_scale *= ScaleAt(k + j * k_stride, scale_offset);
    for (int r = 0; r < kRows; ++r) {
      float sum = hn::GetLane(hn::SumOfLanes(df, acc[r][j]));
      for (int64_t t = i; t < dh; ++t) sum += q[r][t] * KvToF32<kDType>(k[j * k_stride + t]);
      out[r * out_stride + j] = sum * key_scale;
    }
  }
}

// acc[r] += sum over keys p in [0, keys) of weights[r * weight_stride + p] * v[p] for kRows rows,
// keys in order, lane chunks side by side in registers: the same sequence of multiply-adds per
// output element as adding one key at a time to memory, so a key range split in pieces (a block
// that spans two KV chunks) adds exactly what it adds whole.
// K and V rows of one KV head are short pieces (head_dim elements) of rows that interleave all KV
// heads, so the hardware prefetcher does not follow them: the loops below ask for the piece this
// many keys ahead, into L2 (prefetcht1): far enough ahead to cover DRAM latency at decode's pace,
// near enough that a key block's lines are still there. Against 32 keys ahead into L1, measured
// in one process, alternating: one decode query over 16K keys 4.3-5.7 -> 2.4-4.4 ms, 16
// sequences' queries over 4K keys each 18.7-19.7 -> 11.2-12.3 ms, a 2048-token prefill 230-233
// -> 218-222 ms. (A prefetch past a chunk's end is harmless: prefetches never fault.)
constexpr int64_t kPrefetchKeys = 128;

HWY_INLINE void PrefetchPiece(const void* row, int64_t bytes) {
  const auto* p = static_cast<const char*>(row);
  for (int64_t i = 0; i < bytes; i += 64) __builtin_prefetch(p + i, /*rw=*/0, /*locality=*/2);
}

template <int kRows, KvDType kDType>
HWY_INLINE void WeightedValues(const float* weights, int64_t weight_stride,
                               const typename KvElement<kDType>::Type* v, int64_t v_stride,
                               int64_t keys, int64_t dh, float* acc, int64_t acc_stride) {
  using Elem = typename KvElement<kDType>::Type;
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
      PrefetchPiece(v + (p + kPrefetchKeys) * v_stride + i,
                    2 * lanes * static_cast<int64_t>(sizeof(Elem)));
      const VF v0 = LoadKv<kDType>(df, v + p * v_stride + i);
      const VF v1 = LoadKv<kDType>(df, v + p * v_stride + i + lanes);
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
      const VF v0 = LoadKv<kDType>(df, v + p * v_stride + i);
      for (int r = 0; r < kRows; ++r)
        a0[r] = hn::MulAdd(hn::Set(df, weights[r * weight_stride + p]), v0, a0[r]);
    }
    for (int r = 0; r < kRows; ++r) hn::StoreU(a0[r], df, acc + r * acc_stride + i);
  }
  for (int r = 0; r < kRows; ++r) {
    for (int64_t p = 0; p < keys; ++p) {
      const float w = weights[r * weight_stride + p];
      for (int64_t t = i; t < dh; ++t)
        acc[r * acc_stride + t] += w * KvToF32<kDType>(v[p * v_stride + t]);
    }
  }
}

// Walks a call's KV chunks: key positions to the chunk rows that hold them. Positions are visited
// mostly in increasing order, so the cursor moves from where it last was.
class ChunkCursor {
 public:
  ChunkCursor(std::span<const KvChunk> chunks, int64_t row_bytes)
      : chunks_(chunks), row_bytes_(row_bytes) {}

  // Calls fn(keys, values, p, n) for each run [p, p + n) of positions [begin, end) that lies in
  // one chunk, in order; `keys` and `values` point at position p's rows.
  template <typename Fn>
  HWY_INLINE void ForEachRun(int64_t begin, int64_t end, const Fn& fn) {
    for (int64_t p = begin; p < end;) {
      if (!Seek(p)) return;  // fewer rows than positions: a caller's bug, read nothing past them
      const KvChunk& c = chunks_[index_];
      const int64_t n = std::min(end, first_ + c.rows) - p;
      const int64_t offset = (p - first_) * row_bytes_;
      fn(static_cast<const char*>(c.keys) + offset, static_cast<const char*>(c.values) + offset, p,
         n);
      p += n;
    }
  }

 private:
  bool Seek(int64_t p) {
    while (p < first_ && index_ > 0) first_ -= chunks_[--index_].rows;
    while (index_ < chunks_.size() && p >= first_ + chunks_[index_].rows)
      first_ += chunks_[index_++].rows;
    return index_ < chunks_.size();
  }

  std::span<const KvChunk> chunks_;
  int64_t row_bytes_;
  size_t index_ = 0;
  int64_t first_ = 0;  // position of chunks_[index_]'s first row
};

// One key block [p0, p1) of one KV head for a tile's rows: scores, online-softmax update, and
// weighted values into the rows' running state (`scores`, `acc`, `row_max`, `row_sum`).
template <KvDType kDType>
HWY_INLINE void AttendBlock(const AttentionArgs& a, ChunkCursor& kv, int64_t t0, int64_t rows,
                            int64_t kv_head, int64_t p0, int64_t p1, float* scores, float* acc,
                            float* row_max, float* row_sum) {
  using Elem = typename KvElement<kDType>::Type;
  const DF df;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  const int64_t dh = a.head_dim;
  const int64_t q_stride = static_cast<int64_t>(a.num_heads) * dh;
  const int64_t row_bytes = KvRowBytes(kDType, a.num_kv_heads, dh);
  const int64_t kv_stride = row_bytes / static_cast<int64_t>(sizeof(Elem));
  const int64_t head_offset = kv_head * dh;  // elements from a row's start to this head's piece
  // Bytes from this head's piece to its scale (8-bit dtypes).
  const int64_t scale_offset =
      KvScaleOffset(a.num_kv_heads, dh, kv_head) - head_offset * static_cast<int64_t>(sizeof(Elem));
  const int64_t group = a.num_heads / a.num_kv_heads;
  const float scale = 1.0f / std::sqrt(static_cast<float>(dh));
  // Row r: token t0 + r / group, head kv_head * group + r % group; it sees keys [0, visible).
  auto query = [&](int64_t r) {
    return a.q + (t0 + r / group) * q_stride + (kv_head * group + r % group) * dh;
  };
  auto visible = [&](int64_t r) { return a.past + t0 + r / group + 1; };
  auto piece = [&](const char* row) { return reinterpret_cast<const Elem*>(row) + head_offset; };
  // Scores, in groups of 4 rows x 2 keys; rows past a key's visibility are masked after.
  {
    const float* q4[4];
    int64_t r = 0;
    for (; r < rows; r += 4) {
      const int64_t n = std::min<int64_t>(4, rows - r);
      for (int64_t g = 0; g < n; ++g) q4[g] = query(r + g);
      float* out = scores + r * kAttentionKeyBlock;
      kv.ForEachRun(p0, p1, [&](const char* keys, const char*, int64_t p, int64_t count) {
        const Elem* k = piece(keys);
        float* run_out = out + (p - p0);
        int64_t j = 0;
        if (n == 4) {
          for (; j + 2 <= count; j += 2, k += 2 * kv_stride) {
            PrefetchPiece(k + kPrefetchKeys * kv_stride, dh * static_cast<int64_t>(sizeof(Elem)));
            PrefetchPiece(k + (kPrefetchKeys + 1) * kv_stride,
                          dh * static_cast<int64_t>(sizeof(Elem)));
            Scores<4, 2, kDType>(q4, k, kv_stride, dh, scale, scale_offset, run_out + j,
                                 kAttentionKeyBlock);
          }
          for (; j < count; ++j, k += kv_stride) {
            Scores<4, 1, kDType>(q4, k, kv_stride, dh, scale, scale_offset, run_out + j,
                                 kAttentionKeyBlock);
          }
        } else {
          for (int64_t g = 0; g < n; ++g) {
            const Elem* kg = k;
            for (int64_t jg = 0; jg < count; ++jg, kg += kv_stride) {
              Scores<1, 1, kDType>(q4 + g, kg, kv_stride, dh, scale, scale_offset,
                                   run_out + g * kAttentionKeyBlock + jg, kAttentionKeyBlock);
            }
          }
        }
      });
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
  // 8-bit values: each key's weight takes its value row's head scale, so the weighted values
  // below add stored values times one factor per key. The block's scales are gathered once and
  // multiply every row's weights a vector at a time.
  if constexpr (KvHasScales(kDType)) {
    float value_scales[kAttentionKeyBlock];
    kv.ForEachRun(p0, p1, [&](const char*, const char* values, int64_t p, int64_t count) {
      const Elem* v = piece(values);
      for (int64_t j = 0; j < count; ++j)
        value_scales[p - p0 + j] = ScaleAt(v + j * kv_stride, scale_offset);
    });
    for (int64_t r = 0; r < rows; ++r) {
      float* s = scores + r * kAttentionKeyBlock;
      const int64_t n = std::min(p1, visible(r)) - p0;
      int64_t j = 0;
      for (; j + lanes <= n; j += lanes) {
        hn::StoreU(hn::Mul(hn::LoadU(df, s + j), hn::LoadU(df, value_scales + j)), df, s + j);
      }
      for (; j < n; ++j) s[j] *= value_scales[j];
    }
  }
  // Weighted values: groups of 4 rows share each value row over the keys all four see;
  // each row then adds the keys only it sees, still in key order.
  auto weighted = [&](auto rows_tag, int64_t r, int64_t from, int64_t to) {
    constexpr int kRows = decltype(rows_tag)::value;
    kv.ForEachRun(from, to, [&](const char*, const char* values, int64_t p, int64_t count) {
      WeightedValues<kRows, kDType>(scores + r * kAttentionKeyBlock + (p - p0), kAttentionKeyBlock,
                                    piece(values), kv_stride, count, dh, acc + r * dh, dh);
    });
  };
  int64_t r = 0;
  for (; r + 4 <= rows; r += 4) {
    int64_t common = p1;
    for (int64_t g = 0; g < 4; ++g) common = std::min(common, visible(r + g));
    common = std::max(common, p0);
    weighted(std::integral_constant<int, 4>(), r, p0, common);
    for (int64_t g = 0; g < 4; ++g) {
      const int64_t end = std::min(p1, visible(r + g));
      if (end > common) weighted(std::integral_constant<int, 1>(), r + g, common, end);
    }
  }
  for (; r < rows; ++r) {
    const int64_t end = std::min(p1, visible(r));
    if (end > p0) weighted(std::integral_constant<int, 1>(), r, p0, end);
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

template <KvDType kDType>
void AttendStored(const AttentionArgs& a, int64_t heads_per_item, int64_t item_begin,
                  int64_t item_end, float* scratch) {
  const int64_t dh = a.head_dim;
  const int64_t q_stride = static_cast<int64_t>(a.num_heads) * dh;
  const int64_t group = a.num_heads / a.num_kv_heads;
  const int64_t head_groups = a.num_kv_heads / heads_per_item;
  const int64_t rows_max = kAttentionQueryTile * group;
  ChunkCursor kv(a.kv, KvRowBytes(kDType, a.num_kv_heads, dh));
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
        AttendBlock<kDType>(a, kv, t0, rows, first_kv_head + h, p0, p1, s.scores, s.acc, s.row_max,
                            s.row_sum);
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

void Attend(const AttentionArgs& a, int64_t heads_per_item, int64_t item_begin, int64_t item_end,
            float* scratch) {
  switch (a.kv_dtype) {
    case KvDType::kF32:
      return AttendStored<KvDType::kF32>(a, heads_per_item, item_begin, item_end, scratch);
    case KvDType::kBF16:
      return AttendStored<KvDType::kBF16>(a, heads_per_item, item_begin, item_end, scratch);
    case KvDType::kI8:
      return AttendStored<KvDType::kI8>(a, heads_per_item, item_begin, item_end, scratch);
    case KvDType::kF8E4M3:
      return AttendStored<KvDType::kF8E4M3>(a, heads_per_item, item_begin, item_end, scratch);
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
