// The Mamba mixer of one layer over a batch (spec section 2.5/2.6): projections run over all rows
// at once; the conv and the selective scan run per sequence, continuing from its saved state.
#ifndef JAMBA_ENGINE_LAYERS_MAMBA_MIXER_H_
#define JAMBA_ENGINE_LAYERS_MAMBA_MIXER_H_

#include "engine/layers/layer_context.h"
#include "engine/model_weights.h"

namespace jamba::engine {

// out[T, H] = MambaMixer(in[T, H]); advances each sequence's conv and ssm state of `layer`.
void RunMambaMixer(const LayerContext& ctx, int layer, const MambaWeights& w, const float* in,
                   float* out);

}  // namespace jamba::engine

#endif  // JAMBA_ENGINE_LAYERS_MAMBA_MIXER_H_
