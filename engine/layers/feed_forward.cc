// Dense MLP or MoE, both over all rows of the batch, so every weight is read once per step.
#include "engine/layers/feed_forward.h"

namespace jamba::engine {

void RunFeedForward(const LayerContext& ctx, const LayerConfig& layer, const FfnWeights& w,
                    const float* in, float* out) {
  if (layer.ffn == FfnKind::kDense) {
    ctx.backend.SwiGluMlp(w.dense, in, ctx.total_tokens, out);
    return;
  }
  kernels::MoeArgs args;
  args.tokens = ctx.total_tokens;
  args.x = in;
  args.router = &w.router;
  args.experts = w.experts;
  args.top_k = ctx.config.num_experts_per_tok;
  args.out = out;
  ctx.backend.Moe(args);
}

}  // namespace jamba::engine
