// Random-weight checkpoint generator. Tensors are generated and written one at a time (streamed),
// so the 4.7 GB benchmark model needs little memory. Each tensor's values depend only on the seed
// and the tensor's name.
#include "tools/demo_model.h"

#include <sys/stat.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/file_util.h"
#include "engine/model_config.h"
#include "engine/status_macros.h"
#include "engine/text/chat_template.h"
#include "engine/text/tokenizer.h"
#include "engine/text/tokenizer_trainer.h"
#include "kernels/dtype.h"
#include "nlohmann/json.hpp"
#include "tools/demo_corpus.h"

namespace jamba::tools {
namespace {

using Json = nlohmann::json;
using engine::ModelConfig;

// How a tensor's values are drawn.
struct Init {
  enum Kind { kUniform, kConstant, kALog, kDtBias } kind = kUniform;
  float scale = 0.0f;  // standard deviation (uniform) or the constant
};

struct TensorSpec {
  std::string name;
  std::vector<int64_t> shape;
  Init init;

  int64_t elements() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
};

uint64_t Fnv1a(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ULL;
  return h;
}

// xorshift64*: cheap, deterministic, good enough for random test weights.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed == 0 ? 0x9e3779b97f4a7c15ULL : seed) {}
  uint64_t Next() {
    state_ ^= state_ >> 12;
    state_ ^= state_ << 25;
    state_ ^= state_ >> 27;
    return state_ * 0x2545f4914f6cdd1dULL;
  }
  float Uniform() { return static_cast<float>(Next() >> 40) * 0x1.0p-24f; }  // [0, 1)

 private:
  uint64_t state_;
};

std::vector<TensorSpec> TensorSpecs(const ModelConfig& c) {
  const int64_t h = c.hidden_size, f = c.intermediate_size, i = c.mamba_inner();
  const int64_t n = c.mamba_d_state, r = c.mamba_dt_rank, k = c.mamba_d_conv;
  const int64_t q = c.num_attention_heads * c.head_dim();
  const int64_t kv = c.num_key_value_heads * c.head_dim();
  auto linear = [](int64_t in) {
    return Init{Init::kUniform, 1.0f / std::sqrt(static_cast<float>(in))};
  };
  const Init ones{Init::kConstant, 1.0f};
  std::vector<TensorSpec> specs;
  specs.push_back({"model.embed_tokens.weight", {c.vocab_size, h}, {Init::kUniform, 1.0f}});
  for (int li = 0; li < c.num_hidden_layers; ++li) {
    const std::string p = absl::StrCat("model.layers.", li, ".");
    specs.push_back({p + "input_layernorm.weight", {h}, ones});
    if (c.layers[li].mixer == engine::MixerKind::kAttention) {
      specs.push_back({p + "self_attn.q_proj.weight", {q, h}, linear(h)});
      specs.push_back({p + "self_attn.k_proj.weight", {kv, h}, linear(h)});
      specs.push_back({p + "self_attn.v_proj.weight", {kv, h}, linear(h)});
      specs.push_back({p + "self_attn.o_proj.weight", {h, q}, linear(q)});
    } else {
      const std::string m = p + "mamba.";
      specs.push_back({m + "A_log", {i, n}, {Init::kALog, 0.0f}});
      specs.push_back({m + "D", {i}, ones});
      specs.push_back({m + "conv1d.weight", {i, 1, k}, linear(k)});
      specs.push_back({m + "conv1d.bias", {i}, {Init::kUniform, 0.1f}});
      specs.push_back({m + "in_proj.weight", {2 * i, h}, linear(h)});
      specs.push_back({m + "x_proj.weight", {r + 2 * n, i}, linear(i)});
      specs.push_back({m + "dt_proj.weight", {i, r}, linear(r)});
      specs.push_back({m + "dt_proj.bias", {i}, {Init::kDtBias, 0.0f}});
      specs.push_back({m + "out_proj.weight", {h, i}, linear(i)});
      specs.push_back({m + "dt_layernorm.weight", {r}, ones});
      specs.push_back({m + "b_layernorm.weight", {n}, ones});
      specs.push_back({m + "c_layernorm.weight", {n}, ones});
    }
    specs.push_back({p + "pre_ff_layernorm.weight", {h}, ones});
    auto mlp = [&](const std::string& prefix) {
      specs.push_back({prefix + "gate_proj.weight", {f, h}, linear(h)});
      specs.push_back({prefix + "up_proj.weight", {f, h}, linear(h)});
      specs.push_back({prefix + "down_proj.weight", {h, f}, linear(f)});
    };
    const std::string fp = p + "feed_forward.";
    if (c.layers[li].ffn == engine::FfnKind::kMoe) {
      specs.push_back({fp + "router.weight", {c.layers[li].num_experts, h}, linear(h)});
      for (int e = 0; e < c.layers[li].num_experts; ++e) mlp(absl::StrCat(fp, "experts.", e, "."));
    } else {
      mlp(fp);
    }
  }
  specs.push_back({"model.final_layernorm.weight", {h}, ones});
  if (!c.tie_word_embeddings) specs.push_back({"lm_head.weight", {c.vocab_size, h}, linear(h)});
  return specs;
}

// Fills `out` with the bf16 values of elements [begin, begin + count) of `spec`.
void GenerateBf16(const TensorSpec& spec, uint64_t seed, int64_t begin, int64_t count, Rng& rng,
                  uint16_t* out) {
  const int64_t last_dim = spec.shape.back();
  for (int64_t j = 0; j < count; ++j) {
    const int64_t index = begin + j;
    float v = 0.0f;
    switch (spec.init.kind) {
      case Init::kUniform:
        // Uniform with the requested standard deviation.
        v = (rng.Uniform() * 2.0f - 1.0f) * spec.init.scale * 1.7320508f;
        break;
      case Init::kConstant:
        v = spec.init.scale;
        break;
      case Init::kALog:  // Mamba's S4D-real init: A = -(1..N)
        v = std::log(static_cast<float>(index % last_dim + 1));
        break;
      case Init::kDtBias: {  // inverse softplus of dt, log-uniform in [1e-3, 1e-1]
        const float dt =
            std::exp(std::log(1e-3f) + rng.Uniform() * (std::log(1e-1f) - std::log(1e-3f)));
        v = dt + std::log(-std::expm1(-dt));
        break;
      }
    }
    out[j] = kernels::F32ToBF16(v);
  }
  (void)seed;
}

absl::Status MakeDirectory(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return absl::PermissionDeniedError(
        absl::StrCat(dir, ": cannot create directory: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) return absl::PermissionDeniedError(absl::StrCat(path, ": cannot write"));
  return absl::OkStatus();
}

// Writes `specs` as one safetensors file, streaming each tensor's values.
absl::Status WriteShard(const std::string& path, const std::vector<const TensorSpec*>& specs,
                        uint64_t seed) {
  Json header = Json::object();
  header["__metadata__"] = {{"format", "pt"}};
  uint64_t offset = 0;
  for (const TensorSpec* spec : specs) {
    const uint64_t bytes = static_cast<uint64_t>(spec->elements()) * 2;
    header[spec->name] = {
        {"dtype", "BF16"}, {"shape", spec->shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return absl::PermissionDeniedError(absl::StrCat(path, ": cannot create"));
  const uint64_t len = text.size();
  char len_bytes[8];
  for (int b = 0; b < 8; ++b) len_bytes[b] = static_cast<char>((len >> (8 * b)) & 0xff);
  out.write(len_bytes, 8);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  constexpr int64_t kBlock = 1 << 20;
  std::vector<uint16_t> block(kBlock);
  for (const TensorSpec* spec : specs) {
    Rng rng(seed ^ Fnv1a(spec->name));
    for (int64_t begin = 0; begin < spec->elements(); begin += kBlock) {
      const int64_t count = std::min(kBlock, spec->elements() - begin);
      GenerateBf16(*spec, seed, begin, count, rng, block.data());
      out.write(reinterpret_cast<const char*>(block.data()),
                static_cast<std::streamsize>(count * 2));
    }
  }
  out.close();
  if (!out) return absl::DataLossError(absl::StrCat(path, ": write failed (disk full?)"));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ModelConfig> DemoModelConfig(const DemoModelOptions& options) {
  ModelConfig c;
  c.torch_dtype = "bfloat16";
  c.use_mamba_kernels = false;
  c.attn_layer_period = 8;
  c.attn_layer_offset = 4;
  c.expert_layer_period = 2;
  c.expert_layer_offset = 1;
  c.mamba_d_state = 16;
  c.mamba_d_conv = 4;
  c.mamba_expand = 2;
  c.num_experts_per_tok = 2;
  c.max_position_embeddings = 262144;
  if (options.preset == "demo") {
    c.hidden_size = 256;
    c.intermediate_size = 512;
    c.num_hidden_layers = 8;
    c.num_attention_heads = 8;
    c.num_key_value_heads = 2;
    c.num_experts = 16;
    c.mamba_dt_rank = 16;
    c.vocab_size = 2048;  // replaced by the trained tokenizer's size
  } else if (options.preset == "bench") {
    c.hidden_size = 2048;
    c.intermediate_size = 4096;
    c.num_hidden_layers = 16;
    c.num_attention_heads = 16;
    c.num_key_value_heads = 4;
    c.num_experts = 8;
    c.mamba_dt_rank = 128;
    c.vocab_size = 32000;
  } else if (options.preset == "reasoning-3b") {
    // AI21-Jamba-Reasoning-3B / Jamba2-3B scaled down: 28 layers with attention at 7 and 21,
    // every feed-forward dense, 20 query heads sharing ONE KV head (a group of 20), tied
    // embeddings, and a dt rank of hidden / 16.
    c.hidden_size = 320;
    c.intermediate_size = 640;
    c.num_hidden_layers = 28;
    c.num_attention_heads = 20;
    c.num_key_value_heads = 1;
    c.attn_layer_period = 14;
    c.attn_layer_offset = 7;
    c.num_experts = 1;
    c.num_experts_per_tok = 1;
    c.mamba_dt_rank = 20;
    c.tie_word_embeddings = true;
    c.vocab_size = 2048;  // replaced by the trained tokenizer's size
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "--preset must be \"demo\", \"bench\" or \"reasoning-3b\", got \"", options.preset, "\""));
  }
  if (options.attn_layer_period) c.attn_layer_period = *options.attn_layer_period;
  if (options.attn_layer_offset) c.attn_layer_offset = *options.attn_layer_offset;
  JAMBA_RETURN_IF_ERROR(engine::FinalizeModelConfig(c));
  return c;
}

absl::Status WriteDemoModel(const std::string& out_dir, const DemoModelOptions& options) {
  JAMBA_ASSIGN_OR_RETURN(ModelConfig config, DemoModelConfig(options));
  JAMBA_RETURN_IF_ERROR(MakeDirectory(out_dir));

  // The tokenizer comes first: the demo model's vocabulary is exactly its pieces. The
  // reasoning-3b preset ships tokenizer.json alone, with ChatML, tool and <think> tokens and its
  // ChatML-with-tools-and-think template in tokenizer_config.json, as AI21's 3B models do.
  engine::DemoTokenizerOptions tokenizer_options;
  if (options.preset == "reasoning-3b") {
    tokenizer_options.chat_pieces = {"<|im_start|>",    "<|im_end|>",      "<think>",
                                     "</think>",        "<tool_call>",     "</tool_call>",
                                     "<tool_response>", "</tool_response>"};
    tokenizer_options.write_sentencepiece = false;
    tokenizer_options.chat_template = std::string(engine::ChatTemplate::BuiltinChatmlSource());
  }
  JAMBA_RETURN_IF_ERROR(
      engine::TrainDemoTokenizer(std::string(DemoCorpus()), 2048, out_dir, tokenizer_options));
  JAMBA_ASSIGN_OR_RETURN(auto tokenizer, engine::Tokenizer::Load(out_dir, config));
  if (options.preset != "bench") config.vocab_size = tokenizer->num_pieces();
  config.bos_token_id = tokenizer->bos_id();
  config.pad_token_id = tokenizer->pad_id();
  // Like Jamba 1.5+ (eos [2, 518]) and the 3B models (eos [2, 519]), the end of a chat turn ends
  // generation too.
  config.eos_token_ids = {tokenizer->eos_ids().front()};
  for (const char* end_of_turn : {"<|eom|>", "<|im_end|>"}) {
    if (auto id = tokenizer->PieceToId(end_of_turn)) config.eos_token_ids.push_back(*id);
  }
  JAMBA_RETURN_IF_ERROR(engine::FinalizeModelConfig(config));

  JAMBA_RETURN_IF_ERROR(
      WriteText(engine::JoinPath(out_dir, "config.json"), engine::ModelConfigToJson(config)));
  Json generation = {{"bos_token_id", config.bos_token_id},
                     {"eos_token_id", config.eos_token_ids},
                     {"pad_token_id", config.pad_token_id},
                     {"_from_model_config", true}};
  JAMBA_RETURN_IF_ERROR(
      WriteText(engine::JoinPath(out_dir, "generation_config.json"), generation.dump(2) + "\n"));

  const std::vector<TensorSpec> specs = TensorSpecs(config);
  uint64_t total_bytes = 0;
  for (const TensorSpec& s : specs) total_bytes += static_cast<uint64_t>(s.elements()) * 2;
  // Shards of about equal size, at least two (like save_pretrained's max_shard_size split).
  int shards = options.num_shards > 0
                   ? options.num_shards
                   : std::max<int>(2, static_cast<int>(total_bytes / (2ULL << 30)) + 1);
  const uint64_t per_shard = (total_bytes + shards - 1) / shards;
  std::vector<std::vector<const TensorSpec*>> groups(1);
  uint64_t in_group = 0;
  for (const TensorSpec& s : specs) {
    const uint64_t bytes = static_cast<uint64_t>(s.elements()) * 2;
    if (in_group > 0 && in_group + bytes > per_shard && static_cast<int>(groups.size()) < shards) {
      groups.emplace_back();
      in_group = 0;
    }
    groups.back().push_back(&s);
    in_group += bytes;
  }
  shards = static_cast<int>(groups.size());
  Json weight_map = Json::object();
  for (int g = 0; g < shards; ++g) {
    const std::string file = absl::StrFormat("model-%05d-of-%05d.safetensors", g + 1, shards);
    JAMBA_RETURN_IF_ERROR(WriteShard(engine::JoinPath(out_dir, file), groups[g], options.seed));
    for (const TensorSpec* s : groups[g]) weight_map[s->name] = file;
  }
  Json index = {{"metadata", {{"total_size", total_bytes}}}, {"weight_map", weight_map}};
  return WriteText(engine::JoinPath(out_dir, "model.safetensors.index.json"), index.dump(2) + "\n");
}

}  // namespace jamba::tools
