// ModelConfig: the one source of truth for a Jamba model's shapes, read from a Hugging Face
// config.json (JambaConfig). Layer kinds follow the period/offset rules of the spec (section 1.2).
#ifndef JAMBA_ENGINE_MODEL_CONFIG_H_
#define JAMBA_ENGINE_MODEL_CONFIG_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/kv_dtype.h"

namespace jamba::engine {

enum class MixerKind : uint8_t { kMamba, kAttention };
enum class FfnKind : uint8_t { kDense, kMoe };

struct LayerConfig {
  MixerKind mixer = MixerKind::kMamba;
  FfnKind ffn = FfnKind::kDense;
  int num_experts = 1;  // experts of this layer's FFN (1 for dense)
};

struct ModelConfig {
  // ---- JambaConfig fields (defaults of transformers' JambaConfig) ----
  std::string model_type = "jamba";
  int64_t vocab_size = 65536;
  bool tie_word_embeddings = false;
  int64_t hidden_size = 4096;
  int64_t intermediate_size = 14336;
  int num_hidden_layers = 32;
  int num_attention_heads = 32;
  int num_key_value_heads = 8;
  std::string hidden_act = "silu";
  double initializer_range = 0.02;
  double rms_norm_eps = 1e-6;
  bool use_cache = true;
  int num_logits_to_keep = 1;
  bool output_router_logits = false;
  double router_aux_loss_coef = 0.001;
  int64_t pad_token_id = 0;
  int64_t bos_token_id = 1;
  std::vector<int64_t> eos_token_ids = {2};
  int64_t sliding_window = 0;  // 0: none (all released configs)
  int64_t max_position_embeddings = 262144;
  double attention_dropout = 0.0;
  int num_experts_per_tok = 2;
  int num_experts = 16;
  int expert_layer_period = 2;
  int expert_layer_offset = 1;
  int attn_layer_period = 8;
  int attn_layer_offset = 4;
  bool use_mamba_kernels = true;  // selects a HF code path; no effect here
  int mamba_d_state = 16;
  int mamba_d_conv = 4;
  int mamba_expand = 2;
  int64_t mamba_dt_rank = 256;  // "auto" resolves to ceil(hidden_size / 16)
  bool mamba_conv_bias = true;
  bool mamba_proj_bias = false;
  std::string torch_dtype;  // informational: the dtype the weights were saved in

  // ---- derived ----
  std::vector<LayerConfig> layers;

  int64_t head_dim() const { return hidden_size / num_attention_heads; }
  int64_t mamba_inner() const { return static_cast<int64_t>(mamba_expand) * hidden_size; }
  int num_attention_layers() const;
  int num_mamba_layers() const;
  bool IsEos(int64_t token) const;

  // Parameters stored in the checkpoint, and those used for one token (top-k experts only).
  int64_t TotalParameters() const;
  int64_t ActiveParameters() const;
  // fp32 attention K+V bytes per token (all attention layers) and Mamba state bytes per sequence.
  // KV cache bytes one token takes over all attention layers (K and V) in `dtype`.
  int64_t KvBytesPerToken(kernels::KvDType dtype = kernels::KvDType::kF32) const;
  int64_t MambaStateBytes() const;

  // Canonical text of every field that affects the forward pass; equal iff the math is equal.
  std::string CanonicalString() const;
};

// Parses config.json text. Errors name the offending field.
absl::StatusOr<ModelConfig> ParseModelConfig(const std::string& json_text);
// Reads <dir>/config.json.
absl::StatusOr<ModelConfig> LoadModelConfig(const std::string& model_dir);
// Checks the invariants the engine relies on and fills `layers`. ParseModelConfig calls it; call it
// again after editing a config by hand.
absl::Status FinalizeModelConfig(ModelConfig& config);
// Writes a config.json equivalent to `config` (as save_pretrained would).
std::string ModelConfigToJson(const ModelConfig& config);

}  // namespace jamba::engine

#endif  // JAMBA_ENGINE_MODEL_CONFIG_H_
