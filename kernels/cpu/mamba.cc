// Mamba conv1d and selective scan for every SIMD target (Highway foreach_target). The scan keeps
// one channel's state [N] in registers across all tokens and vectorises over the state dimension;
// the conv vectorises over channels.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/mamba.cc"
// clang-format off: foreach_target.h must come first, then highway.h (Highway's re-inclusion idiom).
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// clang-format on
#include <algorithm>
#include <cmath>

#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"
#include "kernels/cpu/four_lane_sums.h"
#include "kernels/cpu/mamba.h"

HWY_BEFORE_NAMESPACE();
namespace jamba::kernels::cpu::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;

// PyTorch's softplus with beta 1 and threshold 20.
HWY_INLINE float Softplus(float x) { return x > 20.0f ? x : std::log1p(std::exp(x)); }
HWY_INLINE float Silu(float x) { return x / (1.0f + std::exp(-x)); }

HWY_INLINE VF SoftplusV(DF df, VF x) {
  const VF threshold = hn::Set(df, 20.0f);
  const VF soft = hn::Log1p(df, hn::Exp(df, hn::Min(x, threshold)));
  return hn::IfThenElse(hn::Gt(x, threshold), x, soft);
}

HWY_INLINE VF SiluV(DF df, VF x) {
  return hn::Div(x, hn::Add(hn::Set(df, 1.0f), hn::Exp(df, hn::Neg(x))));
}

// dt = softplus(dt_raw) and gate = SiLU(z) for channels [c0, c1) of every token, vectorised over
// channels, into [tokens, c1 - c0] scratch rows: the scan then does no transcendental work but
// its state decay.
void ScanInputs(const SelectiveScanArgs& a, int64_t c0, int64_t c1, float* dt, float* gate) {
  const DF df;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  const int64_t width = c1 - c0;
  for (int64_t t = 0; t < a.tokens; ++t) {
    const float* raw = a.dt_raw + t * a.channels + c0;
    const float* z = a.z + t * a.z_stride + c0;
    float* dt_row = dt + t * width;
    float* gate_row = gate + t * width;
    int64_t i = 0;
    for (; i + lanes <= width; i += lanes) {
      hn::StoreU(SoftplusV(df, hn::LoadU(df, raw + i)), df, dt_row + i);
      hn::StoreU(SiluV(df, hn::LoadU(df, z + i)), df, gate_row + i);
    }
    for (; i < width; ++i) {
      dt_row[i] = Softplus(raw[i]);
      gate_row[i] = Silu(z[i]);
    }
  }
}

// Kernel size 4 (every Mamba checkpoint) with channels side by side in vectors and each
// channel's window in registers: a decode step of many sequences spent more time in the scalar
// per-channel loop than streaming its state. The sum runs tap by tap in the scalar loop's order,
// both as explicit fused multiply-adds (left to the compiler, fusing depends on the optimisation
// level), so a channel's result does not depend on which path computed it (a kernel test checks
// this bit for bit). Returns the first channel it left to the scalar loop.
int64_t CausalConv4Vectors(const CausalConvArgs& a, int64_t channel_begin, int64_t channel_end) {
  const DF df;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  int64_t c = channel_begin;
  for (; c + lanes <= channel_end; c += lanes) {
    VF s0, s1, s2, w0, w1, w2, w3;
    hn::LoadInterleaved3(df, a.state + c * 3, s0, s1, s2);
    hn::LoadInterleaved4(df, a.weight + c * 4, w0, w1, w2, w3);
    const VF bias = a.bias != nullptr ? hn::LoadU(df, a.bias + c) : hn::Zero(df);
    for (int64_t t = 0; t < a.tokens; ++t) {
      const VF u = hn::LoadU(df, a.u + t * a.u_stride + c);
      VF sum = hn::MulAdd(w0, s0, bias);
      sum = hn::MulAdd(w1, s1, sum);
      sum = hn::MulAdd(w2, s2, sum);
      sum = hn::MulAdd(w3, u, sum);
      hn::StoreU(sum, df, a.out + t * a.channels + c);
      s0 = s1;
      s1 = s2;
      s2 = u;
    }
    hn::StoreInterleaved3(s0, s1, s2, df, a.state + c * 3);
  }
  return c;
}

void CausalConv1dSilu(const CausalConvArgs& a, int64_t channel_begin, int64_t channel_end) {
  const int k = a.kernel_size;
  constexpr int kMaxKernel = 16;
  float window[kMaxKernel];  // window[j]: input at t-(K-1)+j
  const int64_t scalar_begin =
      k == 4 ? CausalConv4Vectors(a, channel_begin, channel_end) : channel_begin;
  for (int64_t c = scalar_begin; c < channel_end; ++c) {
    const float* w = a.weight + c * k;
    float* state = a.state + c * (k - 1);
    for (int j = 0; j < k - 1; ++j) window[j] = state[j];
    const float bias = a.bias != nullptr ? a.bias[c] : 0.0f;
    for (int64_t t = 0; t < a.tokens; ++t) {
      window[k - 1] = a.u[t * a.u_stride + c];
      float sum = bias;
      for (int j = 0; j < k; ++j) sum = std::fma(w[j], window[j], sum);
      a.out[t * a.channels + c] = sum;
      for (int j = 0; j < k - 1; ++j) window[j] = window[j + 1];
    }
    for (int j = 0; j < k - 1; ++j) state[j] = window[j];
  }
  // SiLU in a second pass, vectorised over channels: a scalar exp per channel and token cost
  // more than the whole convolution. The tail goes through the same vector exp in a padded
  // buffer, so a channel's value does not depend on how the channels were split.
  const DF df;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  const int64_t width = channel_end - channel_begin;
  for (int64_t t = 0; t < a.tokens; ++t) {
    float* row = a.out + t * a.channels + channel_begin;
    int64_t i = 0;
    for (; i + lanes <= width; i += lanes)
      hn::StoreU(SiluV(df, hn::LoadU(df, row + i)), df, row + i);
    if (i < width) {
      HWY_ALIGN float tail[HWY_MAX_BYTES / sizeof(float)] = {};
      std::copy_n(row + i, width - i, tail);
      hn::Store(SiluV(df, hn::Load(df, tail)), df, tail);
      std::copy_n(tail, width - i, row + i);
    }
  }
}

// State sizes up to kMaxVectors * Lanes stay in registers; Mamba uses N = 16.
constexpr int kMaxVectors = 8;

#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
// ScanChannels<1> four channels at a time (N = 16: one AVX-512 vector of state per channel):
// the same arithmetic per channel, but the four output sums share one reduction and the
// per-channel scalar tail (D * x, the gate) runs on four lanes, with the single-channel path's
// explicit fused multiply-add. Results are bit-identical to one channel at a time (a kernel test
// splits a range so that channels leave their group). A batch-16 decode step's scans, in one
// process alternating: 7.0 -> 6.6 ms (11.8-11.9 -> 10.7-10.9 in a busier moment). Returns the
// first channel left to the caller.
HWY_INLINE int64_t ScanFourChannels(const SelectiveScanArgs& a, int64_t c0, int64_t c1,
                                    const float* dts, const float* gates) {
  const DF df;
  const int64_t n_state = static_cast<int64_t>(hn::Lanes(df));  // one vector per channel
  const int64_t width = c1 - c0;
  int64_t c = c0;
  for (; c + 4 <= c1; c += 4) {
    VF h[4], a_vec[4];
    for (int g = 0; g < 4; ++g) {
      h[g] = hn::LoadU(df, a.state + (c + g) * n_state);
      a_vec[g] = hn::LoadU(df, a.a + (c + g) * n_state);
    }
    const __m128 d4 = _mm_loadu_ps(a.d + c);
    for (int64_t t = 0; t < a.tokens; ++t) {
      const float* dt = dts + t * width + (c - c0);
      const float* xv = a.x + t * a.channels + c;
      const VF b = hn::LoadU(df, a.b + t * a.b_stride);
      const VF cc = hn::LoadU(df, a.c + t * a.c_stride);
      VF acc[4];
      for (int g = 0; g < 4; ++g) {
        const VF decay = hn::Exp(df, hn::Mul(a_vec[g], hn::Set(df, dt[g])));
        h[g] = hn::MulAdd(decay, h[g], hn::Mul(hn::Set(df, dt[g] * xv[g]), b));
        acc[g] = hn::MulAdd(h[g], cc, hn::Zero(df));
      }
      const __m128 y = _mm_fmadd_ps(d4, _mm_loadu_ps(xv),
                                    FourLaneSums(acc[0].raw, acc[1].raw, acc[2].raw, acc[3].raw));
      _mm_storeu_ps(a.y + t * a.channels + c,
                    _mm_mul_ps(y, _mm_loadu_ps(gates + t * width + (c - c0))));
    }
    for (int g = 0; g < 4; ++g) hn::StoreU(h[g], df, a.state + (c + g) * n_state);
  }
  return c;
}
#endif

// The scan's vector path over channels [c0, c1): each channel's state in `vectors` registers
// across all tokens. kVectors > 0 fixes the count at compile time (N = 16 is one AVX-512 or two
// AVX2 vectors), so the state stays in registers instead of a stack array; 0 takes `vectors`.
template <int kVectors>
HWY_INLINE void ScanChannels(const SelectiveScanArgs& a, int64_t c0, int64_t c1,
                             int64_t runtime_vectors, const float* dts, const float* gates) {
  const DF df;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  const int64_t vectors = kVectors > 0 ? kVectors : runtime_vectors;
  const int64_t n_state = vectors * lanes;
  const int64_t width = c1 - c0;
  VF h[kVectors > 0 ? kVectors : kMaxVectors];
  VF a_vec[kVectors > 0 ? kVectors : kMaxVectors];
  int64_t first = c0;
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
  if constexpr (kVectors == 1) first = ScanFourChannels(a, c0, c1, dts, gates);
#endif
  for (int64_t c = first; c < c1; ++c) {
    float* state = a.state + c * n_state;
#pragma GCC unroll 8
    for (int64_t v = 0; v < vectors; ++v) {
      h[v] = hn::LoadU(df, state + v * lanes);
      a_vec[v] = hn::LoadU(df, a.a + c * n_state + v * lanes);
    }
    const float d = a.d[c];
    for (int64_t t = 0; t < a.tokens; ++t) {
      const float dt = dts[t * width + (c - c0)];
      const float xv = a.x[t * a.channels + c];
      const float* b = a.b + t * a.b_stride;
      const float* cc = a.c + t * a.c_stride;
      const VF vdt = hn::Set(df, dt);
      const VF vdtx = hn::Set(df, dt * xv);
      VF acc = hn::Zero(df);
#pragma GCC unroll 8
      for (int64_t v = 0; v < vectors; ++v) {
        const VF decay = hn::Exp(df, hn::Mul(a_vec[v], vdt));
        h[v] = hn::MulAdd(decay, h[v], hn::Mul(vdtx, hn::LoadU(df, b + v * lanes)));
        acc = hn::MulAdd(h[v], hn::LoadU(df, cc + v * lanes), acc);
      }
      // An explicit fused multiply-add, as ScanFourChannels does on four lanes: left to the
      // compiler, whether it fuses depends on the optimisation level.
      const float y = std::fma(d, xv, hn::GetLane(hn::SumOfLanes(df, acc)));
      a.y[t * a.channels + c] = y * gates[t * width + (c - c0)];
    }
#pragma GCC unroll 8
    for (int64_t v = 0; v < vectors; ++v) hn::StoreU(h[v], df, state + v * lanes);
  }
}

void SelectiveScan(const SelectiveScanArgs& a, int64_t channel_begin, int64_t channel_end,
                   float* scratch) {
  const DF df;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  const int64_t n_state = a.state_size;
  const int64_t width = channel_end - channel_begin;
  float* dts = scratch;
  float* gates = scratch + a.tokens * width;
  ScanInputs(a, channel_begin, channel_end, dts, gates);
  const int64_t vectors = n_state / lanes;
  if (vectors > kMaxVectors || vectors * lanes != n_state) {
    // Portable path for state sizes that are not a multiple of the vector width.
    for (int64_t c = channel_begin; c < channel_end; ++c) {
      float* h = a.state + c * n_state;
      const float* a_row = a.a + c * n_state;
      for (int64_t t = 0; t < a.tokens; ++t) {
        const float dt = dts[t * width + (c - channel_begin)];
        const float xv = a.x[t * a.channels + c];
        const float* b = a.b + t * a.b_stride;
        const float* cc = a.c + t * a.c_stride;
        float y = 0.0f;
        for (int64_t n = 0; n < n_state; ++n) {
          h[n] = std::exp(a_row[n] * dt) * h[n] + dt * b[n] * xv;
          y += h[n] * cc[n];
        }
        y += a.d[c] * xv;
        a.y[t * a.channels + c] = y * gates[t * width + (c - channel_begin)];
      }
    }
    return;
  }
  switch (vectors) {
    case 1:
      return ScanChannels<1>(a, channel_begin, channel_end, vectors, dts, gates);
    case 2:
      return ScanChannels<2>(a, channel_begin, channel_end, vectors, dts, gates);
    default:
      return ScanChannels<0>(a, channel_begin, channel_end, vectors, dts, gates);
  }
}

extern const MambaKernels kMambaKernels;
const MambaKernels kMambaKernels = {&CausalConv1dSilu, &SelectiveScan};

}  // namespace jamba::kernels::cpu::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "kernels/cpu/simd_target.h"

namespace jamba::kernels::cpu {

const MambaKernels& GetMambaKernels(SimdTarget target) {
  static const MambaKernels* const kTables[] = {JAMBA_PER_TARGET(kMambaKernels)};
  return SelectForTarget(target, kTables);
}

}  // namespace jamba::kernels::cpu
#endif  // HWY_ONCE
