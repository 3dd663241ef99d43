// What every layer of a batched forward pass sees: the backend, the shapes, the scratch buffers,
// and where each sequence's new tokens sit among the batch's rows.
#ifndef JAMBA_ENGINE_LAYERS_LAYER_CONTEXT_H_
#define JAMBA_ENGINE_LAYERS_LAYER_CONTEXT_H_

#include <cstdint>
#include <span>

#include "engine/forward_workspace.h"
#include "engine/model_config.h"
#include "engine/sequence_state.h"
#include "kernels/backend.h"

namespace jamba::engine {

// One sequence's rows in a batched forward pass.
struct SequenceSlice {
  SequenceState* state = nullptr;
  int64_t offset = 0;  // first row in the batch
  int64_t tokens = 0;  // rows (new tokens)
  int64_t past = 0;    // tokens the sequence held before this pass
};

struct LayerContext {
  kernels::Backend& backend;
  const ModelConfig& config;
  ForwardWorkspace& ws;
  std::span<const SequenceSlice> slices;
  int64_t total_tokens = 0;
};

}  // namespace jamba::engine

#endif  // JAMBA_ENGINE_LAYERS_LAYER_CONTEXT_H_
