// MoE routing and the small-batch expert path: softmax + top-k per token, a stable on-device sort
// of the assignments by expert, the grouped expert GEMVs (gate/up fused with SiLU*mul, then down)
// that read each used expert's weights once without a host round trip, and the weighted combine
// in ascending expert order. Large batches reuse the sort and combine but run the expert
// products through cuBLAS (see cuda_backend.cc).
#include <algorithm>

#include "kernels/cuda/gemv.cuh"

namespace jamba::kernels::cuda {
namespace {

constexpr int kSortThreads = 1024;
constexpr int kSortWarps = kSortThreads / 32;

__global__ void MoeTopKKernel(const float* logits, int64_t n, int num_experts, int top_k,
                              int32_t* expert_ids, float* weights) {
  // logits: [n, E] router outputs; expert_ids, weights: [n, top_k] out, best first.
  // One thread per token.
  const int64_t t = blockIdx.x * int64_t{blockDim.x} + threadIdx.x;
  if (t >= n) return;
  const float* l = logits + t * num_experts;
  float max_value = l[0];
  for (int e = 1; e < num_experts; ++e) max_value = fmaxf(max_value, l[e]);
  float sum = 0.0f;
  for (int e = 0; e < num_experts; ++e) sum += expf(l[e] - max_value);
  const float inv = 1.0f / sum;
  // The j-th pick is the largest (probability desc, index asc) strictly after pick j-1 in that
  // order; probabilities are recomputed identically each pass, so no scratch array is needed.
  float prev_p = 0.0f;
  int prev_e = -1;
  for (int j = 0; j < top_k; ++j) {
    int best = -1;
    float best_p = 0.0f;
    for (int e = 0; e < num_experts; ++e) {
      const float p = expf(l[e] - max_value) * inv;
      if (j > 0 && !(p < prev_p || (p == prev_p && e > prev_e))) continue;
      if (best < 0 || p > best_p) {
        best = e;
        best_p = p;
      }
    }
    expert_ids[t * top_k + j] = best;
    weights[t * top_k + j] = best_p;
    prev_p = best_p;
    prev_e = best;
  }
}

__global__ void __launch_bounds__(kSortThreads)
    MoeSortKernel(const int32_t* expert_ids, int64_t count, int top_k, int num_experts,
                  int32_t* offsets, int32_t* sorted_token, int32_t* slot_of) {
  // expert_ids: [count = n * top_k] assignments in token order; offsets: [E + 1] out;
  // sorted_token: [count] out (token of each slot); slot_of: [count] out (slot of each
  // assignment). One block; assignments are placed chunk by chunk in flat order, so each
  // expert's slots keep ascending token order.
  __shared__ int base[kMoeMaxExperts];
  __shared__ int warp_counts[kSortWarps][kMoeMaxExperts];
  const int tid = threadIdx.x;
  const int warp = tid / 32;
  const int lane = tid % 32;
  for (int e = tid; e < num_experts; e += blockDim.x) base[e] = 0;
  __syncthreads();
  for (int64_t i = tid; i < count; i += blockDim.x) atomicAdd(&base[expert_ids[i]], 1);
  __syncthreads();
  if (tid == 0) {
    int running = 0;
    for (int e = 0; e < num_experts; ++e) {
      const int c = base[e];
      base[e] = running;
      offsets[e] = running;
      running += c;
    }
    offsets[num_experts] = running;
  }
  __syncthreads();
  for (int64_t chunk = 0; chunk < count; chunk += blockDim.x) {
    const int64_t i = chunk + tid;
    const bool valid = i < count;
    const int e = valid ? expert_ids[i] : -1;
    for (int j = tid; j < kSortWarps * num_experts; j += blockDim.x) {
      warp_counts[j / num_experts][j % num_experts] = 0;
    }
    __syncthreads();
    const unsigned peers = __match_any_sync(kFullMask, e);
    const int rank = __popc(peers & ((1u << lane) - 1u));
    if (valid && lane == __ffs(peers) - 1) warp_counts[warp][e] = __popc(peers);
    __syncthreads();
    for (int ex = tid; ex < num_experts; ex += blockDim.x) {
      int running = base[ex];
      for (int w = 0; w < kSortWarps; ++w) {
        const int c = warp_counts[w][ex];
        warp_counts[w][ex] = running;
        running += c;
      }
      base[ex] = running;
    }
    __syncthreads();
    if (valid) {
      const int slot = warp_counts[warp][e] + rank;
      sorted_token[slot] = static_cast<int32_t>(i / top_k);
      slot_of[i] = slot;
    }
    __syncthreads();
  }
}

__global__ void MoeGatherKernel(const float* x, int64_t hidden, const int32_t* sorted_token,
                                float* xs) {
  // x: [n, H] tokens; sorted_token: [slots]; xs: [slots, H] out (one block per slot)
  const int64_t slot = blockIdx.x;
  const float* src = x + int64_t{sorted_token[slot]} * hidden;
  float* dst = xs + slot * hidden;
  for (int64_t h = threadIdx.x; h < hidden; h += blockDim.x) dst[h] = src[h];
}

template <WeightType kType, int kTokens, bool kVec>
__global__ void __launch_bounds__(kGemvWarps * 32)
    MoeGateUpKernel(const DeviceExpert* experts, int64_t hidden, int64_t ffn, const float* x,
                    const int32_t* offsets, const int32_t* sorted_token, float* act) {
  // experts: [E] weight pointers (gate/up [F, H]); x: [n, H] tokens; offsets: [E + 1];
  // sorted_token: [slots]; act: [slots, F] out = SiLU(gate x) * (up x).
  // grid: (F row tiles, E); a block whose expert has no tokens exits at once.
  const int e = blockIdx.y;
  const int begin = offsets[e];
  const int end = offsets[e + 1];
  if (begin == end) return;
  const int warp = threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  const int64_t row0 = (int64_t{blockIdx.x} * kGemvWarps + warp) * kGemvRowsPerWarp;
  if (row0 >= ffn) return;
  const DeviceExpert ex = experts[e];
  const void* gate_rows[kGemvRowsPerWarp];
  const void* up_rows[kGemvRowsPerWarp];
#pragma unroll
  for (int r = 0; r < kGemvRowsPerWarp; ++r) {
    const int64_t row = Min<int64_t>(row0 + r, ffn - 1);
    gate_rows[r] = WeightRow<kType>(ex.gate, row, hidden);
    up_rows[r] = WeightRow<kType>(ex.up, row, hidden);
  }
  for (int s0 = begin; s0 < end; s0 += kTokens) {
    const int cnt = Min(kTokens, end - s0);
    const float* x_rows[kTokens];
#pragma unroll
    for (int t = 0; t < kTokens; ++t) {
      x_rows[t] = x + int64_t{sorted_token[s0 + Min(t, cnt - 1)]} * hidden;
    }
    float g[kGemvRowsPerWarp][kTokens] = {};
    float u[kGemvRowsPerWarp][kTokens] = {};
    WarpRowsDot<kType, kTokens, kVec>(gate_rows, x_rows, hidden, lane, g);
    WarpRowsDot<kType, kTokens, kVec>(up_rows, x_rows, hidden, lane, u);
#pragma unroll
    for (int r = 0; r < kGemvRowsPerWarp; ++r) {
#pragma unroll
      for (int t = 0; t < kTokens; ++t) {
        float gv = WarpSum(g[r][t]);
        float uv = WarpSum(u[r][t]);
        const int64_t row = row0 + r;
        if (lane == (r * kTokens + t) % 32 && row < ffn && t < cnt) {
          if (ex.gate_scales != nullptr) gv *= ex.gate_scales[row];
          if (ex.up_scales != nullptr) uv *= ex.up_scales[row];
          act[(s0 + t) * ffn + row] = Silu(gv) * uv;
        }
      }
    }
  }
}

template <WeightType kType, int kTokens, bool kVec>
__global__ void __launch_bounds__(kGemvWarps * 32)
    MoeDownKernel(const DeviceExpert* experts, int64_t hidden, int64_t ffn, const float* act,
                  const int32_t* offsets, float* ys) {
  // experts: [E] weight pointers (down [H, F]); act: [slots, F]; offsets: [E + 1];
  // ys: [slots, H] out = down act. grid: (H row tiles, E).
  const int e = blockIdx.y;
  const int begin = offsets[e];
  const int end = offsets[e + 1];
  if (begin == end) return;
  const int warp = threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  const int64_t row0 = (int64_t{blockIdx.x} * kGemvWarps + warp) * kGemvRowsPerWarp;
  if (row0 >= hidden) return;
  const DeviceExpert ex = experts[e];
  const void* down_rows[kGemvRowsPerWarp];
#pragma unroll
  for (int r = 0; r < kGemvRowsPerWarp; ++r) {
    down_rows[r] = WeightRow<kType>(ex.down, Min<int64_t>(row0 + r, hidden - 1), ffn);
  }
  for (int s0 = begin; s0 < end; s0 += kTokens) {
    const int cnt = Min(kTokens, end - s0);
    const float* x_rows[kTokens];
#pragma unroll
    for (int t = 0; t < kTokens; ++t) x_rows[t] = act + int64_t{s0 + Min(t, cnt - 1)} * ffn;
    float acc[kGemvRowsPerWarp][kTokens] = {};
    WarpRowsDot<kType, kTokens, kVec>(down_rows, x_rows, ffn, lane, acc);
#pragma unroll
    for (int r = 0; r < kGemvRowsPerWarp; ++r) {
#pragma unroll
      for (int t = 0; t < kTokens; ++t) {
        float v = WarpSum(acc[r][t]);
        const int64_t row = row0 + r;
        if (lane == (r * kTokens + t) % 32 && row < hidden && t < cnt) {
          if (ex.down_scales != nullptr) v *= ex.down_scales[row];
          ys[(s0 + t) * hidden + row] = v;
        }
      }
    }
  }
}

__global__ void MoeCombineKernel(const float* ys, int64_t hidden, const int32_t* expert_ids,
                                 const float* weights, const int32_t* slot_of, int top_k,
                                 float* out) {
  // ys: [slots, H] expert outputs; expert_ids, weights, slot_of: [n, top_k];
  // out: [n, H] = sum_j weight_j * ys[slot_j] in ascending expert order (one block per token)
  __shared__ int order_slot[kMoeMaxTopK];
  __shared__ float order_weight[kMoeMaxTopK];
  const int64_t t = blockIdx.x;
  if (threadIdx.x == 0) {
    int order_expert[kMoeMaxTopK];
    for (int j = 0; j < top_k; ++j) {
      const int e = expert_ids[t * top_k + j];
      const int slot = slot_of[t * top_k + j];
      const float w = weights[t * top_k + j];
      int pos = j;
      while (pos > 0 && order_expert[pos - 1] > e) {
        order_expert[pos] = order_expert[pos - 1];
        order_slot[pos] = order_slot[pos - 1];
        order_weight[pos] = order_weight[pos - 1];
        --pos;
      }
      order_expert[pos] = e;
      order_slot[pos] = slot;
      order_weight[pos] = w;
    }
  }
  __syncthreads();
  for (int64_t h = threadIdx.x; h < hidden; h += blockDim.x) {
    float acc = 0.0f;
    for (int j = 0; j < top_k; ++j) {
      acc = fmaf(order_weight[j], ys[int64_t{order_slot[j]} * hidden + h], acc);
    }
    out[t * hidden + h] = acc;
  }
}

template <WeightType kType, int kTokens, bool kVec>
void LaunchGateUpDown(bool gate_up, const DeviceExpert* experts, int num_experts, int64_t hidden,
                      int64_t ffn, const float* in, const int32_t* offsets,
                      const int32_t* sorted_token, float* out, cudaStream_t stream) {
  const dim3 block(kGemvWarps * 32);
  if (gate_up) {
    const dim3 grid(static_cast<unsigned>(CeilDiv(ffn, kGemvBlockRows)),
                    static_cast<unsigned>(num_experts));
    MoeGateUpKernel<kType, kTokens, kVec>
        <<<grid, block, 0, stream>>>(experts, hidden, ffn, in, offsets, sorted_token, out);
  } else {
    const dim3 grid(static_cast<unsigned>(CeilDiv(hidden, kGemvBlockRows)),
                    static_cast<unsigned>(num_experts));
    MoeDownKernel<kType, kTokens, kVec>
        <<<grid, block, 0, stream>>>(experts, hidden, ffn, in, offsets, out);
  }
}

template <WeightType kType>
void LaunchExpertKernel(bool gate_up, bool single_token, bool vec, const DeviceExpert* experts,
                        int num_experts, int64_t hidden, int64_t ffn, const float* in,
                        const int32_t* offsets, const int32_t* sorted_token, float* out,
                        cudaStream_t stream) {
  if (single_token) {
    if (vec) {
      LaunchGateUpDown<kType, 1, true>(gate_up, experts, num_experts, hidden, ffn, in, offsets,
                                       sorted_token, out, stream);
    } else {
      LaunchGateUpDown<kType, 1, false>(gate_up, experts, num_experts, hidden, ffn, in, offsets,
                                        sorted_token, out, stream);
    }
  } else if (vec) {
    LaunchGateUpDown<kType, 8, true>(gate_up, experts, num_experts, hidden, ffn, in, offsets,
                                     sorted_token, out, stream);
  } else {
    LaunchGateUpDown<kType, 8, false>(gate_up, experts, num_experts, hidden, ffn, in, offsets,
                                      sorted_token, out, stream);
  }
}

cudaError_t LaunchExperts(bool gate_up, const DeviceExpert* experts, WeightType type,
                          int num_experts, int64_t hidden, int64_t ffn, const float* in,
                          const int32_t* offsets, const int32_t* sorted_token, bool vec,
                          bool single_token, float* out, cudaStream_t stream) {
  switch (type) {
    case WeightType::kF32:
      LaunchExpertKernel<WeightType::kF32>(gate_up, single_token, vec, experts, num_experts, hidden,
                                           ffn, in, offsets, sorted_token, out, stream);
      break;
    case WeightType::kBF16:
      LaunchExpertKernel<WeightType::kBF16>(gate_up, single_token, vec, experts, num_experts,
                                            hidden, ffn, in, offsets, sorted_token, out, stream);
      break;
    case WeightType::kF16:
      LaunchExpertKernel<WeightType::kF16>(gate_up, single_token, vec, experts, num_experts, hidden,
                                           ffn, in, offsets, sorted_token, out, stream);
      break;
    case WeightType::kI8:
      LaunchExpertKernel<WeightType::kI8>(gate_up, single_token, vec, experts, num_experts, hidden,
                                          ffn, in, offsets, sorted_token, out, stream);
      break;
  }
  return cudaGetLastError();
}

}  // namespace

cudaError_t LaunchMoeTopK(const float* logits, int64_t n, int num_experts, int top_k,
                          int32_t* expert_ids, float* weights, cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  if (num_experts <= 0 || num_experts > kMoeMaxExperts || top_k <= 0 || top_k > kMoeMaxTopK ||
      top_k > num_experts) {
    return cudaErrorInvalidValue;
  }
  constexpr int kThreads = 128;
  MoeTopKKernel<<<static_cast<unsigned>(CeilDiv(n, kThreads)), kThreads, 0, stream>>>(
      logits, n, num_experts, top_k, expert_ids, weights);
  return cudaGetLastError();
}

cudaError_t LaunchMoeSort(const int32_t* expert_ids, int64_t n, int top_k, int num_experts,
                          int32_t* offsets, int32_t* sorted_token, int32_t* slot_of,
                          cudaStream_t stream) {
  if (num_experts <= 0 || num_experts > kMoeMaxExperts) return cudaErrorInvalidValue;
  MoeSortKernel<<<1, kSortThreads, 0, stream>>>(expert_ids, n * top_k, top_k, num_experts, offsets,
                                                sorted_token, slot_of);
  return cudaGetLastError();
}

cudaError_t LaunchMoeGather(const float* x, int64_t hidden, const int32_t* sorted_token,
                            int64_t count, float* xs, cudaStream_t stream) {
  if (count <= 0) return cudaSuccess;
  MoeGatherKernel<<<static_cast<unsigned>(count), 256, 0, stream>>>(x, hidden, sorted_token, xs);
  return cudaGetLastError();
}

cudaError_t LaunchMoeGateUp(const DeviceExpert* experts, WeightType type, int num_experts,
                            int64_t hidden, int64_t ffn, const float* x, const int32_t* offsets,
                            const int32_t* sorted_token, bool vectorized, bool single_token,
                            float* act, cudaStream_t stream) {
  return LaunchExperts(true, experts, type, num_experts, hidden, ffn, x, offsets, sorted_token,
                       vectorized, single_token, act, stream);
}

cudaError_t LaunchMoeDown(const DeviceExpert* experts, WeightType type, int num_experts,
                          int64_t hidden, int64_t ffn, const float* act, const int32_t* offsets,
                          bool vectorized, bool single_token, float* ys, cudaStream_t stream) {
  return LaunchExperts(false, experts, type, num_experts, hidden, ffn, act, offsets, nullptr,
                       vectorized, single_token, ys, stream);
}

cudaError_t LaunchMoeCombine(const float* ys, int64_t hidden, const int32_t* expert_ids,
                             const float* weights, const int32_t* slot_of, int64_t n, int top_k,
                             float* out, cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  MoeCombineKernel<<<static_cast<unsigned>(n), 256, 0, stream>>>(ys, hidden, expert_ids, weights,
                                                                 slot_of, top_k, out);
  return cudaGetLastError();
}

}  // namespace jamba::kernels::cuda
