// Causal GQA attention in fp32 (no positional encoding), one online-softmax tiled kernel for
// prefill and decode. A block takes 16 query rows of one KV head, where a row is (token, query
// head of the KV head's group): for Jamba's 4:1 grouping, 4 tokens x 4 heads, so every K/V tile
// loaded into shared memory serves the whole group. Each warp owns 4 rows; lane j scores key j of
// a 32-key tile, then the warp rescales and accumulates P*V with each lane owning 4 (or 8) output
// dims. When the grid would leave most multiprocessors idle (decode, long contexts) the keys are
// split across blocks (split-KV) and a second kernel merges the partial (max, sum, acc) results.
// Products stay fp32 on the CUDA cores to keep the CPU backend's numerics.
#include <cmath>

#include "kernels/cuda/cuda_common.cuh"

namespace jamba::kernels::cuda {
namespace {

constexpr int kWarps = 4;
constexpr int kRowsPerWarp = 4;
constexpr int kBlockRows = kWarps * kRowsPerWarp;
constexpr int kTileKeys = 32;
constexpr int kThreads = kWarps * 32;

struct Plan {
  int dp = 0;              // head_dim rounded up to a multiple of 4 (shared-memory row length)
  int chunks = 0;          // 128-dim chunks per lane's output slice (1 or 2)
  int64_t rows_total = 0;  // tokens * group
  int64_t row_blocks = 0;
  int splits = 1;
  int64_t split_keys = 0;  // keys per split, a multiple of kTileKeys
  size_t smem_bytes = 0;
  size_t scratch_bytes = 0;
};

Plan MakePlan(const AttentionParams& p, int num_sms) {
  Plan plan;
  plan.dp = (p.head_dim + 3) / 4 * 4;
  plan.chunks = plan.dp <= 128 ? 1 : 2;
  const int64_t group = p.num_heads / p.num_kv_heads;
  plan.rows_total = p.tokens * group;
  plan.row_blocks = CeilDiv(plan.rows_total, kBlockRows);
  const int64_t kv_len = p.past + p.tokens;
  plan.split_keys = CeilDiv(kv_len, kTileKeys) * kTileKeys;
  const int64_t base_blocks = plan.row_blocks * p.num_kv_heads;
  if (base_blocks < num_sms && kv_len > 512) {
    const int64_t want = CeilDiv(2 * int64_t{num_sms}, base_blocks);
    const int64_t by_length = CeilDiv(kv_len, 256);
    const int64_t splits = Min(want, by_length);
    if (splits > 1) {
      plan.split_keys = CeilDiv(CeilDiv(kv_len, splits), kTileKeys) * kTileKeys;
      plan.splits = static_cast<int>(CeilDiv(kv_len, plan.split_keys));
    }
  }
  plan.smem_bytes =
      sizeof(float) * (size_t{kBlockRows} * plan.dp + size_t{kTileKeys} * (plan.dp + 4) +
                       size_t{kTileKeys} * plan.dp + size_t{kBlockRows} * kTileKeys);
  if (plan.splits > 1) {
    const size_t entries = size_t(plan.splits) * p.num_kv_heads * plan.rows_total;
    plan.scratch_bytes = entries * (plan.dp + 2) * sizeof(float);
  }
  return plan;
}

template <int kChunks, bool kVecLoad>
__global__ void __launch_bounds__(kThreads)
    AttentionKernel(AttentionParams p, int dp, int64_t split_keys, float scale, float* partial_acc,
                    float* partial_ml) {
  // q: [tokens, NH*Dh] queries; keys, values: [past+tokens, NKV*Dh]; out: [tokens, NH*Dh].
  // partial_acc: [splits, NKV, rows, dp] and partial_ml: [splits, NKV, rows, 2] (max, sum) when
  // the keys are split (null otherwise). grid: (row blocks, NKV, splits).
  extern __shared__ float4 smem4[];
  float* smem = reinterpret_cast<float*>(smem4);
  float* qs = smem;                       // [kBlockRows][dp]
  float* ks = qs + kBlockRows * dp;       // [kTileKeys][dp + 4]
  float* vs = ks + kTileKeys * (dp + 4);  // [kTileKeys][dp]
  float* ps = vs + kTileKeys * dp;        // [kBlockRows][kTileKeys] probabilities
  const int dh = p.head_dim;
  const int group = p.num_heads / p.num_kv_heads;
  const int64_t rows_total = p.tokens * group;
  const int kvh = blockIdx.y;
  const int split = blockIdx.z;
  const int64_t row0 = int64_t{blockIdx.x} * kBlockRows;
  const int warp = threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  const int64_t q_stride = int64_t{p.num_heads} * dh;
  const int64_t kv_stride = int64_t{p.num_kv_heads} * dh;

  for (int i = threadIdx.x; i < kBlockRows * dp; i += kThreads) {
    const int rr = i / dp;
    const int d = i % dp;
    const int64_t r = row0 + rr;
    float v = 0.0f;
    if (r < rows_total && d < dh) {
      const int64_t t = r / group;
      const int64_t head = int64_t{kvh} * group + r % group;
      v = p.q[t * q_stride + head * dh + d];
    }
    qs[i] = v;
  }
  int64_t visible[kRowsPerWarp];  // keys row j may see (0 for rows past the end)
#pragma unroll
  for (int j = 0; j < kRowsPerWarp; ++j) {
    const int64_t r = row0 + warp * kRowsPerWarp + j;
    visible[j] = r < rows_total ? p.past + r / group + 1 : 0;
  }
  const int64_t last_row = Min(row0 + kBlockRows, rows_total) - 1;
  const int64_t block_keys = p.past + last_row / group + 1;
  const int64_t key_begin = int64_t{split} * split_keys;
  const int64_t key_end = Min(key_begin + split_keys, block_keys);

  float m[kRowsPerWarp];
  float l[kRowsPerWarp];  // this lane's share of the softmax denominator
  float acc[kRowsPerWarp][kChunks][4];
#pragma unroll
  for (int j = 0; j < kRowsPerWarp; ++j) {
    m[j] = -INFINITY;
    l[j] = 0.0f;
#pragma unroll
    for (int c = 0; c < kChunks; ++c) {
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[j][c][e] = 0.0f;
    }
  }
  __syncthreads();

  for (int64_t kt = key_begin; kt < key_end; kt += kTileKeys) {
    const int nk = static_cast<int>(Min<int64_t>(kTileKeys, key_end - kt));
    if constexpr (kVecLoad) {
      const int d4n = dp / 4;
      for (int i = threadIdx.x; i < kTileKeys * d4n; i += kThreads) {
        const int key = i / d4n;
        const int d = (i % d4n) * 4;
        float4 kv = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        float4 vv = kv;
        if (key < nk) {
          const int64_t offset = (kt + key) * kv_stride + int64_t{kvh} * dh + d;
          kv = *reinterpret_cast<const float4*>(p.keys + offset);
          vv = *reinterpret_cast<const float4*>(p.values + offset);
        }
        *reinterpret_cast<float4*>(ks + key * (dp + 4) + d) = kv;
        *reinterpret_cast<float4*>(vs + key * dp + d) = vv;
      }
    } else {
      for (int i = threadIdx.x; i < kTileKeys * dp; i += kThreads) {
        const int key = i / dp;
        const int d = i % dp;
        float kv = 0.0f, vv = 0.0f;
        if (key < nk && d < dh) {
          const int64_t offset = (kt + key) * kv_stride + int64_t{kvh} * dh + d;
          kv = p.keys[offset];
          vv = p.values[offset];
        }
        ks[key * (dp + 4) + d] = kv;
        vs[key * dp + d] = vv;
      }
    }
    __syncthreads();

    // Scores: lane `lane` takes key kt + lane for the warp's 4 rows.
    const int64_t key = kt + lane;
    float s[kRowsPerWarp] = {};
    const float* krow = ks + lane * (dp + 4);
    for (int d = 0; d < dp; d += 4) {
      const float4 kv = *reinterpret_cast<const float4*>(krow + d);
#pragma unroll
      for (int j = 0; j < kRowsPerWarp; ++j) {
        const float4 qv = *reinterpret_cast<const float4*>(qs + (warp * kRowsPerWarp + j) * dp + d);
        s[j] = fmaf(qv.x, kv.x, s[j]);
        s[j] = fmaf(qv.y, kv.y, s[j]);
        s[j] = fmaf(qv.z, kv.z, s[j]);
        s[j] = fmaf(qv.w, kv.w, s[j]);
      }
    }
#pragma unroll
    for (int j = 0; j < kRowsPerWarp; ++j) {
      const float sj = (key < key_end && key < visible[j]) ? s[j] * scale : -INFINITY;
      const float m_new = fmaxf(m[j], WarpMax(sj));
      float pj = 0.0f;
      float alpha = 1.0f;
      if (m_new != -INFINITY) {
        pj = expf(sj - m_new);
        alpha = expf(m[j] - m_new);
      }
      l[j] = l[j] * alpha + pj;
      m[j] = m_new;
#pragma unroll
      for (int c = 0; c < kChunks; ++c) {
#pragma unroll
        for (int e = 0; e < 4; ++e) acc[j][c][e] *= alpha;
      }
      ps[(warp * kRowsPerWarp + j) * kTileKeys + lane] = pj;
    }
    __syncwarp();

    // P * V: lane owns dims c * 128 + 4 * lane .. +3.
    for (int kk = 0; kk < nk; ++kk) {
      float pk[kRowsPerWarp];
#pragma unroll
      for (int j = 0; j < kRowsPerWarp; ++j) pk[j] = ps[(warp * kRowsPerWarp + j) * kTileKeys + kk];
#pragma unroll
      for (int c = 0; c < kChunks; ++c) {
        const int d = c * 128 + lane * 4;
        if (d < dp) {
          const float4 vv = *reinterpret_cast<const float4*>(vs + kk * dp + d);
#pragma unroll
          for (int j = 0; j < kRowsPerWarp; ++j) {
            acc[j][c][0] = fmaf(pk[j], vv.x, acc[j][c][0]);
            acc[j][c][1] = fmaf(pk[j], vv.y, acc[j][c][1]);
            acc[j][c][2] = fmaf(pk[j], vv.z, acc[j][c][2]);
            acc[j][c][3] = fmaf(pk[j], vv.w, acc[j][c][3]);
          }
        }
      }
    }
    __syncthreads();  // the next tile overwrites ks, vs and ps
  }

#pragma unroll
  for (int j = 0; j < kRowsPerWarp; ++j) {
    const float lsum = WarpSum(l[j]);
    const int64_t r = row0 + warp * kRowsPerWarp + j;
    if (r >= rows_total) continue;  // uniform across the warp
    const int64_t t = r / group;
    const int64_t head = int64_t{kvh} * group + r % group;
    if (partial_acc == nullptr) {
      const float inv = 1.0f / lsum;
      float* out = p.out + t * q_stride + head * dh;
#pragma unroll
      for (int c = 0; c < kChunks; ++c) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int d = c * 128 + lane * 4 + e;
          if (d < dh) out[d] = acc[j][c][e] * inv;
        }
      }
    } else {
      const int64_t entry = (int64_t{split} * p.num_kv_heads + kvh) * rows_total + r;
#pragma unroll
      for (int c = 0; c < kChunks; ++c) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int d = c * 128 + lane * 4 + e;
          if (d < dp) partial_acc[entry * dp + d] = acc[j][c][e];
        }
      }
      if (lane == 0) {
        partial_ml[entry * 2] = m[j];
        partial_ml[entry * 2 + 1] = lsum;
      }
    }
  }
}

__global__ void AttentionCombineKernel(AttentionParams p, int dp, int splits,
                                       const float* partial_acc, const float* partial_ml) {
  // partial_acc: [splits, NKV, rows, dp]; partial_ml: [splits, NKV, rows, 2] (running max, sum);
  // out: [tokens, NH*Dh]. grid: (rows, NKV); threads over the head dimension.
  const int group = p.num_heads / p.num_kv_heads;
  const int64_t rows_total = p.tokens * group;
  const int64_t r = blockIdx.x;
  const int kvh = blockIdx.y;
  auto entry = [&](int s) { return (int64_t{s} * p.num_kv_heads + kvh) * rows_total + r; };
  float max_all = -INFINITY;
  for (int s = 0; s < splits; ++s) max_all = fmaxf(max_all, partial_ml[entry(s) * 2]);
  float denom = 0.0f;
  for (int s = 0; s < splits; ++s) {
    const float ms = partial_ml[entry(s) * 2];
    if (ms != -INFINITY) denom += expf(ms - max_all) * partial_ml[entry(s) * 2 + 1];
  }
  const float inv = 1.0f / denom;
  const int64_t t = r / group;
  const int64_t head = int64_t{kvh} * group + r % group;
  float* out = p.out + t * int64_t{p.num_heads} * p.head_dim + head * p.head_dim;
  for (int d = threadIdx.x; d < p.head_dim; d += blockDim.x) {
    float sum = 0.0f;
    for (int s = 0; s < splits; ++s) {
      const float ms = partial_ml[entry(s) * 2];
      if (ms != -INFINITY) sum += expf(ms - max_all) * partial_acc[entry(s) * dp + d];
    }
    out[d] = sum * inv;
  }
}

template <int kChunks, bool kVecLoad>
void LaunchMain(const AttentionParams& p, const Plan& plan, float scale, float* partial_acc,
                float* partial_ml, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>(plan.row_blocks), static_cast<unsigned>(p.num_kv_heads),
                  static_cast<unsigned>(plan.splits));
  AttentionKernel<kChunks, kVecLoad><<<grid, kThreads, plan.smem_bytes, stream>>>(
      p, plan.dp, plan.split_keys, scale, partial_acc, partial_ml);
}

template <int kChunks, bool kVecLoad>
cudaError_t RaiseSmemLimit() {
  const size_t max_dp = kChunks == 1 ? 128 : kAttentionMaxHeadDim;
  const size_t bytes = sizeof(float) * (kBlockRows * max_dp + kTileKeys * (max_dp + 4) +
                                        kTileKeys * max_dp + kBlockRows * kTileKeys);
  return cudaFuncSetAttribute(AttentionKernel<kChunks, kVecLoad>,
                              cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes));
}

}  // namespace

size_t AttentionScratchBytes(const AttentionParams& p, int num_sms) {
  if (p.tokens <= 0 || p.num_kv_heads <= 0) return 0;
  return MakePlan(p, num_sms).scratch_bytes;
}

cudaError_t InitAttentionKernels() {
  for (cudaError_t e : {RaiseSmemLimit<1, true>(), RaiseSmemLimit<1, false>(),
                        RaiseSmemLimit<2, true>(), RaiseSmemLimit<2, false>()}) {
    if (e != cudaSuccess) return e;
  }
  return cudaSuccess;
}

cudaError_t LaunchAttention(const AttentionParams& p, int num_sms, void* scratch,
                            cudaStream_t stream) {
  if (p.tokens <= 0) return cudaSuccess;
  if (p.head_dim <= 0 || p.head_dim > kAttentionMaxHeadDim || p.num_kv_heads <= 0 ||
      p.num_heads % p.num_kv_heads != 0) {
    return cudaErrorInvalidValue;
  }
  const Plan plan = MakePlan(p, num_sms);
  if (plan.splits > 1 && scratch == nullptr) return cudaErrorInvalidValue;
  const float scale = 1.0f / std::sqrt(static_cast<float>(p.head_dim));
  float* partial_acc = nullptr;
  float* partial_ml = nullptr;
  if (plan.splits > 1) {
    partial_acc = static_cast<float*>(scratch);
    partial_ml = partial_acc + size_t(plan.splits) * p.num_kv_heads * plan.rows_total * plan.dp;
  }
  const bool vec = p.head_dim % 4 == 0 && IsAligned(p.keys, 16) && IsAligned(p.values, 16);
  if (plan.chunks == 1) {
    if (vec) {
      LaunchMain<1, true>(p, plan, scale, partial_acc, partial_ml, stream);
    } else {
      LaunchMain<1, false>(p, plan, scale, partial_acc, partial_ml, stream);
    }
  } else if (vec) {
    LaunchMain<2, true>(p, plan, scale, partial_acc, partial_ml, stream);
  } else {
    LaunchMain<2, false>(p, plan, scale, partial_acc, partial_ml, stream);
  }
  if (plan.splits > 1) {
    const dim3 grid(static_cast<unsigned>(plan.rows_total), static_cast<unsigned>(p.num_kv_heads));
    AttentionCombineKernel<<<grid, 128, 0, stream>>>(p, plan.dp, plan.splits, partial_acc,
                                                     partial_ml);
  }
  return cudaGetLastError();
}

}  // namespace jamba::kernels::cuda
