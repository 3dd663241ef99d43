// `jamba info --model DIR [--json]`: what a checkpoint is and what it costs to run, without
// loading the weights.
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/checkpoint.h"
#include "engine/model_config.h"
#include "engine/text/tokenizer.h"
#include "nlohmann/json.hpp"
#include "tools/cli/commands.h"
#include "tools/cli/common.h"

namespace jamba::cli {
namespace {

std::string HumanBytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024 && u < 4) {
    bytes /= 1024;
    ++u;
  }
  return absl::StrFormat("%.2f %s", bytes, units[u]);
}

}  // namespace

int RunInfo(const Args& args) {
  FlagSpec spec;
  spec.values = {"model"};
  spec.booleans = {"json"};
  auto flags = Flags::Parse(args, spec);
  if (!flags.ok()) return Fail("info", flags.status());
  auto dir = flags->Require("model");
  if (!dir.ok()) return Fail("info", dir.status());
  auto config = engine::LoadModelConfig(*dir);
  if (!config.ok()) return Fail("info", config.status());
  auto checkpoint = engine::Checkpoint::Open(*dir);
  if (!checkpoint.ok()) return Fail("info", checkpoint.status());
  auto tokenizer = engine::Tokenizer::Load(*dir, *config);
  if (!tokenizer.ok() && !absl::IsNotFound(tokenizer.status()))
    return Fail("info", tokenizer.status());

  const engine::ModelConfig& c = *config;
  std::string kinds;
  nlohmann::json layers = nlohmann::json::array();
  for (const engine::LayerConfig& layer : c.layers) {
    const bool attention = layer.mixer == engine::MixerKind::kAttention;
    const bool moe = layer.ffn == engine::FfnKind::kMoe;
    kinds += attention ? (moe ? "A*" : "A") : (moe ? "M*" : "M");
    kinds += " ";
    layers.push_back(
        {{"mixer", attention ? "attention" : "mamba"}, {"ffn", moe ? "moe" : "dense"}});
  }
  const uint64_t weight_bytes = (*checkpoint)->total_bytes();
  if (flags->GetBool("json")) {
    nlohmann::json j = {
        {"model_dir", *dir},
        {"vocab_size", c.vocab_size},
        {"hidden_size", c.hidden_size},
        {"intermediate_size", c.intermediate_size},
        {"num_layers", c.num_hidden_layers},
        {"num_attention_layers", c.num_attention_layers()},
        {"num_mamba_layers", c.num_mamba_layers()},
        {"num_attention_heads", c.num_attention_heads},
        {"num_key_value_heads", c.num_key_value_heads},
        {"num_experts", c.num_experts},
        {"experts_per_token", c.num_experts_per_tok},
        {"mamba_d_state", c.mamba_d_state},
        {"mamba_d_conv", c.mamba_d_conv},
        {"mamba_expand", c.mamba_expand},
        {"mamba_dt_rank", c.mamba_dt_rank},
        {"total_parameters", c.TotalParameters()},
        {"active_parameters", c.ActiveParameters()},
        {"weight_bytes", weight_bytes},
        {"weight_files", (*checkpoint)->files().size()},
        {"kv_bytes_per_token", c.KvBytesPerToken()},
        {"mamba_state_bytes_per_sequence", c.MambaStateBytes()},
        {"tokenizer", tokenizer.ok()},
        // "tokenizer.json" or "sentencepiece"; null without a tokenizer.
        {"tokenizer_kind",
         tokenizer.ok() ? nlohmann::json((*tokenizer)->kind()) : nlohmann::json()},
        {"layers", layers},
    };
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::cout << "model        " << *dir << "\n"
            << "layers       " << c.num_hidden_layers << " (" << c.num_mamba_layers() << " Mamba, "
            << c.num_attention_layers() << " attention; * = MoE)\n"
            << "             " << kinds << "\n"
            << "hidden       " << c.hidden_size << ", intermediate " << c.intermediate_size
            << ", vocab " << c.vocab_size << "\n"
            << "attention    " << c.num_attention_heads << " heads, " << c.num_key_value_heads
            << " KV heads, head dim " << c.head_dim() << ", no positional encoding\n"
            << "mamba        d_state " << c.mamba_d_state << ", d_conv " << c.mamba_d_conv
            << ", expand " << c.mamba_expand << ", dt_rank " << c.mamba_dt_rank << "\n"
            << "experts      " << c.num_experts << " per MoE layer, top-" << c.num_experts_per_tok
            << "\n"
            << "parameters   "
            << absl::StrFormat("%.3fB total, %.3fB active per token", c.TotalParameters() / 1e9,
                               c.ActiveParameters() / 1e9)
            << "\n"
            << "weights      " << HumanBytes(static_cast<double>(weight_bytes)) << " in "
            << (*checkpoint)->files().size() << " file(s)\n"
            << "kv cache     " << HumanBytes(static_cast<double>(c.KvBytesPerToken()))
            << " per token (fp32)\n"
            << "mamba state  " << HumanBytes(static_cast<double>(c.MambaStateBytes()))
            << " per sequence (fp32)\n"
            << "tokenizer    "
            << (tokenizer.ok() ? absl::StrCat((*tokenizer)->num_pieces(), " pieces (",
                                              (*tokenizer)->kind(), ")")
                               : std::string("none (token ids only)"))
            << "\n";
  return 0;
}

}  // namespace jamba::cli
