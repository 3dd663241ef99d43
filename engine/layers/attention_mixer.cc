// Attention mixer: q/k/v projections over all rows, each sequence's new K/V rows stored in its
// KV cache (in the cache's dtype), causal attention over the cache as stored, o_proj over all
// rows.
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
  std::vector<kernels::KvStoreArgs> stores;
  std::vector<kernels::AttentionArgs> sequences;
  sequences.reserve(ctx.slices.size());
  for (const SequenceSlice& s : ctx.slices) {
    const KvCache& cache = s.state->kv();
    const int a = s.state->attention_index(layer);
    // The new rows land after the cached ones, possibly across two pages.
    cache.ForEachRun(a, s.past, s.past + s.tokens,
                     [&](void* keys, void* values, int64_t first, int64_t count) {
                       kernels::KvStoreArgs& store = stores.emplace_back();
                       store.rows = count;
                       store.num_kv_heads = c.num_key_value_heads;
                       store.head_dim = static_cast<int>(c.head_dim());
                       store.dtype = cache.shape().dtype;
                       store.keys = k + (s.offset + first - s.past) * kv_dim;
                       store.values = v + (s.offset + first - s.past) * kv_dim;
                       store.dst_keys = keys;
                       store.dst_values = values;
                     });
    kernels::AttentionArgs& args = sequences.emplace_back();
    args.tokens = s.tokens;
    args.past = s.past;
    args.num_heads = c.num_attention_heads;
    args.num_kv_heads = c.num_key_value_heads;
    args.head_dim = static_cast<int>(c.head_dim());
    args.q = q + s.offset * q_dim;
    args.kv_dtype = cache.shape().dtype;
    args.kv = cache.chunks(a);
    args.out = attn + s.offset * q_dim;
  }
  be.StoreKv(stores);
  be.Attention(sequences);
  be.MatMul(w.o_proj, attn, t, out, nullptr);
}

}  // namespace jamba::engine
