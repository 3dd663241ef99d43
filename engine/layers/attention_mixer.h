// The attention mixer of one layer over a batch (spec section 2.4): GQA, no positional encoding.
// New K/V rows are appended to each sequence's cache before attending.
#ifndef JAMBA_ENGINE_LAYERS_ATTENTION_MIXER_H_
#define JAMBA_ENGINE_LAYERS_ATTENTION_MIXER_H_

#include "engine/layers/layer_context.h"
#include "engine/model_weights.h"

namespace jamba::engine {

// out[T, H] = Attention(in[T, H]). KV capacity must have been reserved; the rows are written at
// positions past..past+tokens of each sequence (the caller commits the row count).
void RunAttentionMixer(const LayerContext& ctx, int layer, const AttentionWeights& w,
                       const float* in, float* out);

}  // namespace jamba::engine

#endif  // JAMBA_ENGINE_LAYERS_ATTENTION_MIXER_H_
