// Attention mixer: q/k/v projections over all rows, per-sequence cache append and causal
// attention, o_proj over all rows.
#include "engine/layers/attention_mixer.h"

#include <vector>

namespace jamba::engine {

void RunAttentionMixer(const LayerContext& ctx, int layer, const AttentionWeights& w,
                       const float* in, float* out) {
  kernels::Backend& be = ctx.backend;
  const ModelConfig& c = ctx.config;
  const int64_t t = ctx.total_tokens;
  const int64_t q_dim = c.num_attention_heads * c.head_dim();
  const int64_t kv_dim = c.num_key_value_heads * c.head_dim();
  float* q = ctx.ws.slot(ForwardWorkspace::kAttnQ);
  float* k = ctx.ws.slot(ForwardWorkspace::kAttnK);
  float* v = ctx.ws.slot(ForwardWorkspace::kAttnV);
  float* attn = ctx.ws.slot(ForwardWorkspace::kAttnOut);

  be.MatMul(w.q_proj, in, t, q, nullptr);
  be.MatMul(w.k_proj, in, t, k, nullptr);
  be.MatMul(w.v_proj, in, t, v, nullptr);
  std::vector<kernels::AttentionArgs> sequences;
  sequences.reserve(ctx.slices.size());
  for (const SequenceSlice& s : ctx.slices) {
    float* keys = s.state->keys(layer);
    float* values = s.state->values(layer);
    const size_t bytes = static_cast<size_t>(s.tokens * kv_dim) * sizeof(float);
    be.Copy(keys + s.past * kv_dim, k + s.offset * kv_dim, bytes);
    be.Copy(values + s.past * kv_dim, v + s.offset * kv_dim, bytes);
    kernels::AttentionArgs& args = sequences.emplace_back();
    args.tokens = s.tokens;
    args.past = s.past;
    args.num_heads = c.num_attention_heads;
    args.num_kv_heads = c.num_key_value_heads;
    args.head_dim = static_cast<int>(c.head_dim());
    args.q = q + s.offset * q_dim;
    args.keys = keys;
    args.values = values;
    args.out = attn + s.offset * q_dim;
  }
  be.Attention(sequences);
  be.MatMul(w.o_proj, attn, t, out, nullptr);
}

}  // namespace jamba::engine
