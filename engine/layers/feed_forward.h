// The feed-forward of one layer over a batch: a dense SwiGLU MLP or a sparse MoE (spec 2.8, 2.9).
#ifndef JAMBA_ENGINE_LAYERS_FEED_FORWARD_H_
#define JAMBA_ENGINE_LAYERS_FEED_FORWARD_H_

#include "engine/layers/layer_context.h"
#include "engine/model_weights.h"

namespace jamba::engine {

void RunFeedForward(const LayerContext& ctx, const LayerConfig& layer, const FfnWeights& w,
                    const float* in, float* out);

}  // namespace jamba::engine

#endif  // JAMBA_ENGINE_LAYERS_FEED_FORWARD_H_
