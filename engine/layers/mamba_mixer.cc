// Mamba mixer: in_proj -> causal conv1d + SiLU -> x_proj -> dt/B/C RMSNorms -> dt_proj ->
// selective scan (softplus, D skip, SiLU gate) -> out_proj.
#include "engine/layers/mamba_mixer.h"

#include <vector>

namespace jamba::engine {

void RunMambaMixer(const LayerContext& ctx, int layer, const MambaWeights& w, const float* in,
                   float* out) {
  kernels::Backend& be = ctx.backend;
  const ModelConfig& c = ctx.config;
  const int64_t t = ctx.total_tokens;
  const int64_t i_dim = c.mamba_inner(), n = c.mamba_d_state, r = c.mamba_dt_rank;
  const int64_t p_dim = r + 2 * n;
  const float eps = static_cast<float>(c.rms_norm_eps);
  float* xz = ctx.ws.slot(ForwardWorkspace::kMambaXz);
  float* conv = ctx.ws.slot(ForwardWorkspace::kMambaConv);
  float* xproj = ctx.ws.slot(ForwardWorkspace::kMambaXProj);
  float* dt_in = ctx.ws.slot(ForwardWorkspace::kMambaDtIn);
  float* bc = ctx.ws.slot(ForwardWorkspace::kMambaBc);
  float* dt = ctx.ws.slot(ForwardWorkspace::kMambaDt);
  float* y = ctx.ws.slot(ForwardWorkspace::kMambaY);

  be.MatMul(w.in_proj, in, t, xz, w.in_proj_bias);
  // Each sequence convolves and scans with its own state; all of them go to the backend at once.
  std::vector<kernels::CausalConvArgs> convs;
  convs.reserve(ctx.slices.size());
  for (const SequenceSlice& s : ctx.slices) {
    kernels::CausalConvArgs& args = convs.emplace_back();
    args.tokens = s.tokens;
    args.channels = i_dim;
    args.kernel_size = c.mamba_d_conv;
    args.u = xz + s.offset * 2 * i_dim;
    args.u_stride = 2 * i_dim;
    args.weight = w.conv_weight;
    args.bias = w.conv_bias;
    args.state = s.state->conv_state(layer);
    args.out = conv + s.offset * i_dim;
  }
  be.CausalConv1dSilu(convs);
  be.MatMul(w.x_proj, conv, t, xproj, nullptr);
  be.RmsNorm(xproj, p_dim, t, r, w.dt_norm, eps, dt_in, r);
  be.RmsNorm(xproj + r, p_dim, t, n, w.b_norm, eps, bc, 2 * n);
  be.RmsNorm(xproj + r + n, p_dim, t, n, w.c_norm, eps, bc + n, 2 * n);
  be.MatMul(w.dt_proj, dt_in, t, dt, w.dt_bias);
  std::vector<kernels::SelectiveScanArgs> scans;
  scans.reserve(ctx.slices.size());
  for (const SequenceSlice& s : ctx.slices) {
    kernels::SelectiveScanArgs& args = scans.emplace_back();
    args.tokens = s.tokens;
    args.channels = i_dim;
    args.state_size = n;
    args.x = conv + s.offset * i_dim;
    args.dt_raw = dt + s.offset * i_dim;
    args.a = w.a;
    args.b = bc + s.offset * 2 * n;
    args.b_stride = 2 * n;
    args.c = bc + s.offset * 2 * n + n;
    args.c_stride = 2 * n;
    args.d = w.d;
    args.z = xz + s.offset * 2 * i_dim + i_dim;
    args.z_stride = 2 * i_dim;
    args.state = s.state->ssm_state(layer);
    args.y = y + s.offset * i_dim;
  }
  be.SelectiveScan(scans);
  be.MatMul(w.out_proj, y, t, out, w.out_proj_bias);
}

}  // namespace jamba::engine
