// The weights of a Jamba model, bound to a backend: matrices keep their stored dtype (or int8 when
// asked), small parameters are converted to fp32, A_log becomes A = -exp(A_log).
#ifndef JAMBA_ENGINE_MODEL_WEIGHTS_H_
#define JAMBA_ENGINE_MODEL_WEIGHTS_H_

#include <vector>

#include "absl/status/statusor.h"
#include "engine/checkpoint.h"
#include "engine/model_config.h"
#include "kernels/backend.h"

namespace jamba::engine {

struct MambaWeights {
  kernels::Matrix in_proj;               // [2I, H]: rows 0..I-1 -> u, rows I..2I-1 -> gate z
  const float* in_proj_bias = nullptr;   // [2I] or null
  const float* conv_weight = nullptr;    // [I, K]
  const float* conv_bias = nullptr;      // [I] or null
  kernels::Matrix x_proj;                // [R + 2N, I]
  const float* dt_norm = nullptr;        // [R]
  const float* b_norm = nullptr;         // [N]
  const float* c_norm = nullptr;         // [N]
  kernels::Matrix dt_proj;               // [I, R]
  const float* dt_bias = nullptr;        // [I]
  const float* a = nullptr;              // [I, N] = -exp(A_log)
  const float* d = nullptr;              // [I]
  kernels::Matrix out_proj;              // [H, I]
  const float* out_proj_bias = nullptr;  // [H] or null
};

struct AttentionWeights {
  kernels::Matrix q_proj;  // [NH*Dh, H]
  kernels::Matrix k_proj;  // [NKV*Dh, H]
  kernels::Matrix v_proj;  // [NKV*Dh, H]
  kernels::Matrix o_proj;  // [H, NH*Dh]
};

struct FfnWeights {
  kernels::MlpWeights dense;                 // dense layers
  kernels::Matrix router;                    // MoE layers: [E, H]
  std::vector<kernels::MlpWeights> experts;  // MoE layers
};

struct LayerWeights {
  const float* input_norm = nullptr;   // [H]
  const float* pre_ff_norm = nullptr;  // [H]
  MambaWeights mamba;
  AttentionWeights attention;
  FfnWeights ffn;
};

struct ModelWeights {
  kernels::Matrix embed;    // [V, H]
  kernels::Matrix lm_head;  // [V, H] (the embedding when tied)
  const float* final_norm = nullptr;
  std::vector<LayerWeights> layers;
};

struct WeightOptions {
  // Hold expert and dense MLP weights as int8 with per-row scales.
  bool int8_mlp = false;
};

absl::StatusOr<ModelWeights> LoadModelWeights(const ModelConfig& config,
                                              const Checkpoint& checkpoint,
                                              kernels::Backend& backend,
                                              const WeightOptions& options);

}  // namespace jamba::engine

#endif  // JAMBA_ENGINE_MODEL_WEIGHTS_H_
