// `jamba info --model DIR [--json]`: what a checkpoint is and what it costs to run, without
// loading the weights: its shapes, what `precision = auto` picks on this machine, and per KV
// dtype the bytes a token takes and the longest context this machine's free memory holds.
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "engine/checkpoint.h"
#include "engine/memory_budget.h"
#include "engine/model_config.h"
#include "engine/text/chat_template.h"
#include "engine/text/tokenizer.h"
#include "kernels/cpu/matmul_bf16_dot.h"
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
  absl::StatusOr<std::unique_ptr<engine::ChatTemplate>> chat = absl::NotFoundError("no tokenizer");
  if (tokenizer.ok()) chat = engine::ChatTemplate::Load(*dir, **tokenizer);
  if (!chat.ok() && !absl::IsNotFound(chat.status())) return Fail("info", chat.status());
  const char* tool_calls = "none";
  if (chat.ok() && (*chat)->tool_call_format() == engine::ToolCallFormat::kJamba)
    tool_calls = "jamba";
  if (chat.ok() && (*chat)->tool_call_format() == engine::ToolCallFormat::kHermes) {
    tool_calls = "hermes";
  }

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
  // What `precision = auto` resolves to on this CPU (the CUDA backend always runs exact).
  const bool has_bf16 = kernels::cpu::CpuHasAvx512Bf16();
  const std::string auto_precision = has_bf16 ? "fast" : "exact";
  // The longest context one sequence can hold here: the memory available now, less the weights
  // (an engine holds them once) and the engine's reserve, over the bytes a token takes.
  const int64_t available = engine::ProbeAvailableMemory();
  const int64_t room =
      std::max<int64_t>(0, available - static_cast<int64_t>(weight_bytes) - c.MambaStateBytes() -
                               engine::MemoryBudget::kProbeReserveBytes);
  struct KvRow {
    kernels::KvDType dtype;
    int64_t bytes_per_token;
    int64_t max_tokens;
  };
  std::vector<KvRow> kv_rows;
  for (kernels::KvDType dtype :
       {kernels::KvDType::kF32, kernels::KvDType::kBF16, kernels::KvDType::kI8}) {
    const int64_t per_token = c.KvBytesPerToken(dtype);
    kv_rows.push_back({dtype, per_token, per_token > 0 && available >= 0 ? room / per_token : -1});
  }
  if (flags->GetBool("json")) {
    nlohmann::json kv = nlohmann::json::array();
    for (const KvRow& row : kv_rows) {
      kv.push_back({{"kv_dtype", kernels::KvDTypeName(row.dtype)},
                    {"kv_bytes_per_token", row.bytes_per_token},
                    {"max_context_tokens_in_memory", row.max_tokens}});
    }
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
        {"max_position_embeddings", c.max_position_embeddings},
        {"precision_auto", auto_precision},
        {"cpu_avx512_bf16", has_bf16},
        {"available_memory_bytes", available},
        {"kv_cache", kv},
        {"tokenizer", tokenizer.ok()},
        {"tokenizer_kind", tokenizer.ok() ? (*tokenizer)->kind() : ""},
        {"eos_token_ids", tokenizer.ok() ? nlohmann::json((*tokenizer)->eos_ids())
                                         : nlohmann::json(c.eos_token_ids)},
        {"chat_template", chat.ok()},
        {"chat_template_origin", chat.ok() ? (*chat)->origin() : ""},
        {"chat_template_family", chat.ok() ? (*chat)->family() : ""},
        {"tool_call_format", tool_calls},
        {"reasoning", chat.ok() && (*chat)->has_reasoning()},
        {"weights_dtype", c.torch_dtype},
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
            << "mamba state  " << HumanBytes(static_cast<double>(c.MambaStateBytes()))
            << " per sequence (fp32)\n"
            << "precision    auto = " << auto_precision << " on this CPU ("
            << (has_bf16 ? "AVX512_BF16: bf16 activations and a bf16 KV cache"
                         : "no AVX512_BF16: fp32 activations and an fp32 KV cache")
            << "; CUDA: exact)\n"
            << "kv cache     per token, and the longest context "
            << (available >= 0 ? HumanBytes(static_cast<double>(available)) : std::string("?"))
            << " of available memory holds\n"
            << "             (less the weights and a 512 MiB reserve; the model was trained to "
            << c.max_position_embeddings << ")\n";
  for (const KvRow& row : kv_rows) {
    std::cout << absl::StrFormat(
        "  %-10s %12s  %s\n", kernels::KvDTypeName(row.dtype),
        HumanBytes(static_cast<double>(row.bytes_per_token)),
        row.max_tokens >= 0 ? absl::StrFormat("%d tokens", row.max_tokens) : std::string("?"));
  }
  std::cout << "tokenizer    "
            << (tokenizer.ok()
                    ? absl::StrCat((*tokenizer)->kind(), ", ", (*tokenizer)->num_pieces(),
                                   " pieces, eos ", absl::StrJoin((*tokenizer)->eos_ids(), ","))
                    : std::string("none (token ids only)"))
            << "\n"
            << "chat         "
            << (chat.ok() ? absl::StrCat((*chat)->family(), " template from ", (*chat)->origin(),
                                         "; tool calls ", tool_calls,
                                         (*chat)->has_reasoning() ? "; <think> reasoning" : "")
                          : std::string("no chat template"))
            << "\n";
  return 0;
}

}  // namespace jamba::cli
