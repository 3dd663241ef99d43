// Mamba kernels: the causal depthwise conv1d + SiLU (parallel over channels and tokens, then a
// per-channel state update) and the selective scan. The scan is sequential in tokens and
// parallel over channels x state: L lanes (a power of two <= 32) share one channel, each holding
// kPerLane state entries in registers. Decode (a few tokens) runs a single-step kernel straight
// from global memory; prefill stages chunks of tokens in shared memory, computing softplus(dt)
// and SiLU(z) in parallel before the recurrence, whose only serial dependency is one FMA per
// token; the per-token sums over the state are reduced in parallel after each chunk.
#include <algorithm>

#include "kernels/cuda/cuda_common.cuh"

namespace jamba::kernels::cuda {
namespace {

constexpr int kConvThreads = 128;
constexpr int kScanThreads = 128;

__global__ void CausalConvKernel(ConvParams p) {
  // u: [tokens, u_stride] conv input (first `channels` used); weight: [channels, K], column K-1
  // multiplies the current token; bias: [channels] or null; state: [channels, K-1] the previous
  // K-1 inputs, oldest first (read only here); out: [tokens, channels] = SiLU(conv).
  // grid: (channel tiles, token stride)
  const int64_t c = blockIdx.x * int64_t{kConvThreads} + threadIdx.x;
  if (c >= p.channels) return;
  const int k = p.kernel_size;
  const float* w = p.weight + c * k;
  const float* state = p.state + c * (k - 1);
  const float bias = p.bias != nullptr ? p.bias[c] : 0.0f;
  for (int64_t t = blockIdx.y; t < p.tokens; t += gridDim.y) {
    float sum = bias;
    for (int j = 0; j < k; ++j) {
      const int64_t pos = t - (k - 1) + j;
      const float v = pos >= 0 ? p.u[pos * p.u_stride + c] : state[(k - 1) + pos];
      sum = fmaf(w[j], v, sum);
    }
    p.out[t * p.channels + c] = Silu(sum);
  }
}

__global__ void ConvStateUpdateKernel(ConvParams p) {
  // u: [tokens, u_stride]; state: [channels, K-1] in/out: becomes the last K-1 inputs (older
  // entries come from the old state when tokens < K-1). Runs after CausalConvKernel.
  const int64_t c = blockIdx.x * int64_t{kConvThreads} + threadIdx.x;
  if (c >= p.channels) return;
  const int k = p.kernel_size;
  float* state = p.state + c * (k - 1);
  // Ascending j reads old entry tokens + j > j, which is not yet overwritten.
  for (int j = 0; j < k - 1; ++j) {
    const int64_t pos = p.tokens - (k - 1) + j;
    state[j] = pos >= 0 ? p.u[pos * p.u_stride + c] : state[(k - 1) + pos];
  }
}

// Lanes per channel: the smallest power of two >= N, at most 32.
int LanesPerChannel(int64_t n) {
  int lanes = 1;
  while (lanes < n && lanes < 32) lanes *= 2;
  return lanes;
}

template <int kPerLane>
__global__ void __launch_bounds__(kScanThreads) ScanStepKernel(ScanParams p, int lanes) {
  // x, dt_raw: [tokens, channels]; a: [channels, N]; b: [tokens, b_stride]; c: [tokens, c_stride];
  // d: [channels]; z: [tokens, z_stride]; state: [channels, N] in/out; y: [tokens, channels] out.
  // `lanes` threads per channel, each owning state entries lane, lane + lanes, ...
  const int group = threadIdx.x / lanes;
  const int lane = threadIdx.x % lanes;
  const int64_t ch = int64_t{blockIdx.x} * (kScanThreads / lanes) + group;
  const bool valid = ch < p.channels;
  const int64_t cc = valid ? ch : p.channels - 1;  // keep every lane in the shuffles
  const int64_t n_state = p.state_size;
  float h[kPerLane];
  float a[kPerLane];
#pragma unroll
  for (int i = 0; i < kPerLane; ++i) {
    const int64_t n = lane + int64_t{i} * lanes;
    h[i] = n < n_state ? p.state[cc * n_state + n] : 0.0f;
    a[i] = n < n_state ? p.a[cc * n_state + n] : 0.0f;
  }
  const float d = p.d[cc];
  for (int64_t t = 0; t < p.tokens; ++t) {
    const float dt = Softplus(p.dt_raw[t * p.channels + cc]);
    const float xv = p.x[t * p.channels + cc];
    const float dtx = dt * xv;
    const float* b = p.b + t * p.b_stride;
    const float* c = p.c + t * p.c_stride;
    float part = 0.0f;
#pragma unroll
    for (int i = 0; i < kPerLane; ++i) {
      const int64_t n = lane + int64_t{i} * lanes;
      if (n < n_state) {
        h[i] = fmaf(expf(a[i] * dt), h[i], dtx * b[n]);
        part = fmaf(h[i], c[n], part);
      }
    }
    for (int offset = lanes / 2; offset > 0; offset >>= 1) {
      part += __shfl_xor_sync(kFullMask, part, offset);
    }
    if (valid && lane == 0) {
      p.y[t * p.channels + ch] = (part + d * xv) * Silu(p.z[t * p.z_stride + ch]);
    }
  }
  if (valid) {
#pragma unroll
    for (int i = 0; i < kPerLane; ++i) {
      const int64_t n = lane + int64_t{i} * lanes;
      if (n < n_state) p.state[ch * n_state + n] = h[i];
    }
  }
}

struct ChunkLayout {
  int lanes;
  int channels_per_block;
  int chunk;  // tokens staged at a time
  size_t smem_bytes;
};

ChunkLayout MakeChunkLayout(int64_t n_state) {
  ChunkLayout l;
  l.lanes = LanesPerChannel(n_state);
  l.channels_per_block = kScanThreads / l.lanes;
  l.chunk = n_state <= 64 ? 32 : 16;
  const size_t floats =
      size_t{3} * l.chunk * l.channels_per_block                              // x, dt, SiLU(z)
      + size_t{2} * l.chunk * n_state                                         // B, C
      + static_cast<size_t>(l.channels_per_block) * l.chunk * (l.lanes + 1);  // partials
  l.smem_bytes = floats * sizeof(float);
  return l;
}

template <int kPerLane>
__global__ void __launch_bounds__(kScanThreads)
    ScanChunkKernel(ScanParams p, int lanes, int chunk) {
  // x: [tokens, channels] conv output; dt_raw: [tokens, channels] pre-softplus step;
  // a: [channels, N] = -exp(A_log); b: [tokens, b_stride] (first N used); c: [tokens, c_stride]
  // (first N used); d: [channels] skip; z: [tokens, z_stride] gate (first `channels` used);
  // state: [channels, N] in/out; y: [tokens, channels] out. grid: channel groups of CB = 128 /
  // lanes. Shared memory per chunk of `chunk` tokens: xs, dts (after softplus), gz (SiLU(z))
  // [chunk][CB]; bs, cs [chunk][N]; part [CB][chunk][lanes + 1] the per-lane partial sums of
  // h * C (padded against bank conflicts in the reduction).
  extern __shared__ float smem[];
  const int cb = kScanThreads / lanes;
  const int64_t n_state = p.state_size;
  float* xs = smem;
  float* dts = xs + chunk * cb;
  float* gz = dts + chunk * cb;
  float* bs = gz + chunk * cb;
  float* cs = bs + chunk * n_state;
  float* part = cs + chunk * n_state;
  const int part_stride = lanes + 1;
  const int tid = threadIdx.x;
  const int group = tid / lanes;
  const int lane = tid % lanes;
  const int64_t c0 = int64_t{blockIdx.x} * cb;
  const int64_t ch = c0 + group;
  const bool valid = ch < p.channels;
  const int64_t cc = valid ? ch : p.channels - 1;
  float h[kPerLane];
  float a[kPerLane];
#pragma unroll
  for (int i = 0; i < kPerLane; ++i) {
    const int64_t n = lane + int64_t{i} * lanes;
    h[i] = n < n_state ? p.state[cc * n_state + n] : 0.0f;
    a[i] = n < n_state ? p.a[cc * n_state + n] : 0.0f;
  }
  for (int64_t t0 = 0; t0 < p.tokens; t0 += chunk) {
    const int tc = static_cast<int>(Min<int64_t>(chunk, p.tokens - t0));
    for (int i = tid; i < tc * cb; i += kScanThreads) {
      const int tt = i / cb;
      const int64_t c = c0 + i % cb;
      float xv = 0.0f, dt = 0.0f, g = 0.0f;
      if (c < p.channels) {
        const int64_t t = t0 + tt;
        xv = p.x[t * p.channels + c];
        dt = Softplus(p.dt_raw[t * p.channels + c]);
        g = Silu(p.z[t * p.z_stride + c]);
      }
      xs[i] = xv;
      dts[i] = dt;
      gz[i] = g;
    }
    for (int64_t i = tid; i < tc * n_state; i += kScanThreads) {
      const int64_t tt = i / n_state;
      const int64_t n = i - tt * n_state;
      bs[i] = p.b[(t0 + tt) * p.b_stride + n];
      cs[i] = p.c[(t0 + tt) * p.c_stride + n];
    }
    __syncthreads();
    float* my_part = part + group * chunk * part_stride + lane;
    for (int tt = 0; tt < tc; ++tt) {
      const float dt = dts[tt * cb + group];
      const float dtx = dt * xs[tt * cb + group];
      const float* b = bs + tt * n_state;
      const float* c = cs + tt * n_state;
      float acc = 0.0f;
#pragma unroll
      for (int i = 0; i < kPerLane; ++i) {
        const int64_t n = lane + int64_t{i} * lanes;
        if (n < n_state) {
          h[i] = fmaf(expf(a[i] * dt), h[i], dtx * b[n]);
          acc = fmaf(h[i], c[n], acc);
        }
      }
      my_part[tt * part_stride] = acc;
    }
    __syncthreads();
    // Items (group g, token tt) with tt fastest: consecutive threads read rows part_stride apart.
    for (int i = tid; i < tc * cb; i += kScanThreads) {
      const int g = i / tc;
      const int tt = i % tc;
      const int64_t c = c0 + g;
      if (c >= p.channels) continue;
      const float* row = part + (g * chunk + tt) * part_stride;
      float sum = 0.0f;
      for (int l = 0; l < lanes; ++l) sum += row[l];
      const int64_t t = t0 + tt;
      p.y[t * p.channels + c] = (sum + p.d[c] * xs[tt * cb + g]) * gz[tt * cb + g];
    }
    __syncthreads();
  }
  if (valid) {
#pragma unroll
    for (int i = 0; i < kPerLane; ++i) {
      const int64_t n = lane + int64_t{i} * lanes;
      if (n < n_state) p.state[ch * n_state + n] = h[i];
    }
  }
}

template <int kPerLane>
cudaError_t LaunchScanTyped(const ScanParams& p, cudaStream_t stream) {
  if (p.tokens <= kScanStepMaxTokens) {
    const int lanes = LanesPerChannel(p.state_size);
    const dim3 grid(static_cast<unsigned>(CeilDiv(p.channels, kScanThreads / lanes)));
    ScanStepKernel<kPerLane><<<grid, kScanThreads, 0, stream>>>(p, lanes);
    return cudaGetLastError();
  }
  const ChunkLayout l = MakeChunkLayout(p.state_size);
  const dim3 grid(static_cast<unsigned>(CeilDiv(p.channels, l.channels_per_block)));
  ScanChunkKernel<kPerLane><<<grid, kScanThreads, l.smem_bytes, stream>>>(p, l.lanes, l.chunk);
  return cudaGetLastError();
}

}  // namespace

cudaError_t LaunchCausalConv1dSilu(const ConvParams& p, cudaStream_t stream) {
  if (p.tokens <= 0 || p.channels <= 0) return cudaSuccess;
  if (p.kernel_size <= 0 || p.kernel_size > kConvMaxKernel) return cudaErrorInvalidValue;
  const unsigned channel_blocks = static_cast<unsigned>(CeilDiv(p.channels, kConvThreads));
  const dim3 grid(channel_blocks, static_cast<unsigned>(Min<int64_t>(p.tokens, 65535)));
  CausalConvKernel<<<grid, kConvThreads, 0, stream>>>(p);
  if (p.kernel_size > 1) ConvStateUpdateKernel<<<channel_blocks, kConvThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

cudaError_t LaunchSelectiveScan(const ScanParams& p, cudaStream_t stream) {
  if (p.tokens <= 0 || p.channels <= 0) return cudaSuccess;
  if (p.state_size <= 0 || p.state_size > kScanMaxState) return cudaErrorInvalidValue;
  const int64_t per_lane = CeilDiv(p.state_size, LanesPerChannel(p.state_size));
  if (per_lane <= 1) return LaunchScanTyped<1>(p, stream);
  if (per_lane <= 2) return LaunchScanTyped<2>(p, stream);
  if (per_lane <= 4) return LaunchScanTyped<4>(p, stream);
  return LaunchScanTyped<8>(p, stream);
}

}  // namespace jamba::kernels::cuda
