// Generates complete Hugging Face-format Jamba checkpoints with random weights: the embedded demo
// model (tens of MB, the real Jamba layer layout) and the benchmark model (Jamba-v0.1 proportions
// at about 2.3B parameters). Weights are random; the outputs are meaningless text.
#ifndef JAMBA_TOOLS_DEMO_MODEL_H_
#define JAMBA_TOOLS_DEMO_MODEL_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/model_config.h"

namespace jamba::tools {

struct DemoModelOptions {
  std::string preset = "demo";  // "demo" or "bench"
  uint64_t seed = 0;
  // Overrides for benchmark variants (e.g. every layer attention: attn_layer_period 1).
  std::optional<int> attn_layer_period;
  std::optional<int> attn_layer_offset;
  int num_shards = 0;  // 0: the preset's default (at least 2)
};

// The config of a preset, before tokenizer-dependent fields (vocab size) are final.
absl::StatusOr<engine::ModelConfig> DemoModelConfig(const DemoModelOptions& options);

// Writes config.json, generation_config.json, the tokenizer files and bf16 safetensors shards
// with model.safetensors.index.json into `out_dir` (created if needed).
absl::Status WriteDemoModel(const std::string& out_dir, const DemoModelOptions& options);

}  // namespace jamba::tools

#endif  // JAMBA_TOOLS_DEMO_MODEL_H_
