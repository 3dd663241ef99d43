// Parses and validates JambaConfig (config.json). Unknown and legacy keys (auto_map, n_ctx,
// calc_logits_for_entire_prompt, mamba_inner_layernorms, ...) are ignored, as transformers does.
#include "engine/model_config.h"

#include <algorithm>
#include <cmath>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/file_util.h"
#include "engine/status_macros.h"
#include "nlohmann/json.hpp"

namespace jamba::engine {
namespace {

using Json = nlohmann::json;

// Far above any released Jamba (72 layers); keeps a corrupt config from allocating gigabytes of
// per-layer descriptors before anything else is checked.
constexpr int kMaxLayers = 4096;
constexpr int64_t kMaxDimension = INT32_MAX;
// About 1000 times the largest released Jamba (398B); far below int64 overflow.
constexpr double kMaxParameters = 1e15;

absl::Status FieldError(const std::string& field, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat("config.json: field '", field, "' ", what));
}

// Reads an integer field if present (and not null). Rejects floats with a fraction, strings, ...
absl::Status ReadInt(const Json& j, const std::string& field, int64_t& out) {
  auto it = j.find(field);
  if (it == j.end() || it->is_null()) return absl::OkStatus();
  if (it->is_number_integer()) {
    out = it->get<int64_t>();
    return absl::OkStatus();
  }
  if (it->is_number_float()) {
    const double v = it->get<double>();
    if (std::floor(v) == v && std::fabs(v) < 9e15) {
      out = static_cast<int64_t>(v);
      return absl::OkStatus();
    }
  }
  return FieldError(field, absl::StrCat("must be an integer, got ", it->dump()));
}

absl::Status ReadInt(const Json& j, const std::string& field, int& out) {
  int64_t v = out;
  if (auto s = ReadInt(j, field, v); !s.ok()) return s;
  if (v < INT32_MIN || v > INT32_MAX) return FieldError(field, "is out of range");
  out = static_cast<int>(v);
  return absl::OkStatus();
}

absl::Status ReadDouble(const Json& j, const std::string& field, double& out) {
  auto it = j.find(field);
  if (it == j.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_number())
    return FieldError(field, absl::StrCat("must be a number, got ", it->dump()));
  out = it->get<double>();
  return absl::OkStatus();
}

absl::Status ReadBool(const Json& j, const std::string& field, bool& out) {
  auto it = j.find(field);
  if (it == j.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_boolean())
    return FieldError(field, absl::StrCat("must be true or false, got ", it->dump()));
  out = it->get<bool>();
  return absl::OkStatus();
}

absl::Status ReadString(const Json& j, const std::string& field, std::string& out) {
  auto it = j.find(field);
  if (it == j.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_string())
    return FieldError(field, absl::StrCat("must be a string, got ", it->dump()));
  out = it->get<std::string>();
  return absl::OkStatus();
}

absl::Status RequirePositive(const std::string& field, int64_t value) {
  if (value <= 0) return FieldError(field, absl::StrCat("must be positive, got ", value));
  return absl::OkStatus();
}

// Parameters stored in the checkpoint (spec section 3.1), counted in T: int64_t for
// TotalParameters(), double for FinalizeModelConfig to reject sizes that would overflow int64.
template <typename T>
T CountParameters(const ModelConfig& c) {
  const T h = static_cast<T>(c.hidden_size), f = static_cast<T>(c.intermediate_size);
  const T i = static_cast<T>(c.mamba_expand) * h, n = static_cast<T>(c.mamba_d_state);
  const T r = static_cast<T>(c.mamba_dt_rank), k = static_cast<T>(c.mamba_d_conv);
  const T dh = static_cast<T>(c.head_dim());
  const T q_dim = static_cast<T>(c.num_attention_heads) * dh;
  const T kv_dim = static_cast<T>(c.num_key_value_heads) * dh;
  // embeddings, lm_head (unless tied), final norm
  T total = static_cast<T>(c.vocab_size) * h * (c.tie_word_embeddings ? 1 : 2) + h;
  for (const LayerConfig& layer : c.layers) {
    total += 2 * h;  // input_layernorm, pre_ff_layernorm
    if (layer.mixer == MixerKind::kAttention) {
      total += h * q_dim * 2 + h * kv_dim * 2;  // q/o and k/v projections
    } else {
      total += 2 * i * h + (c.mamba_proj_bias ? 2 * i : 0);  // in_proj
      total += i * k + (c.mamba_conv_bias ? i : 0);          // conv1d
      total += (r + 2 * n) * i;                              // x_proj
      total += i * r + i;                                    // dt_proj
      total += i * n + i;                                    // A_log [I,N] + D [I]
      total += h * i + (c.mamba_proj_bias ? h : 0);          // out_proj
      total += r + 2 * n;                                    // dt/b/c norms
    }
    const T mlp = 3 * h * f;
    const T experts = static_cast<T>(layer.num_experts);
    total += layer.ffn == FfnKind::kMoe ? experts * mlp + experts * h : mlp;  // + router [E, H]
  }
  return total;
}

}  // namespace

int ModelConfig::num_attention_layers() const {
  return static_cast<int>(std::count_if(layers.begin(), layers.end(), [](const LayerConfig& l) {
    return l.mixer == MixerKind::kAttention;
  }));
}

int ModelConfig::num_mamba_layers() const {
  return static_cast<int>(layers.size()) - num_attention_layers();
}

bool ModelConfig::IsEos(int64_t token) const {
  return std::find(eos_token_ids.begin(), eos_token_ids.end(), token) != eos_token_ids.end();
}

absl::Status FinalizeModelConfig(ModelConfig& c) {
  if (c.model_type != "jamba") {
    return FieldError("model_type", absl::StrCat("must be \"jamba\", got \"", c.model_type, "\""));
  }
  JAMBA_RETURN_IF_ERROR(RequirePositive("vocab_size", c.vocab_size));
  JAMBA_RETURN_IF_ERROR(RequirePositive("hidden_size", c.hidden_size));
  JAMBA_RETURN_IF_ERROR(RequirePositive("intermediate_size", c.intermediate_size));
  JAMBA_RETURN_IF_ERROR(RequirePositive("num_hidden_layers", c.num_hidden_layers));
  if (c.num_hidden_layers > kMaxLayers) {
    return FieldError("num_hidden_layers", absl::StrCat("(", c.num_hidden_layers, ") above ",
                                                        kMaxLayers, " is not supported"));
  }
  JAMBA_RETURN_IF_ERROR(RequirePositive("num_attention_heads", c.num_attention_heads));
  JAMBA_RETURN_IF_ERROR(RequirePositive("num_key_value_heads", c.num_key_value_heads));
  JAMBA_RETURN_IF_ERROR(RequirePositive("num_experts", c.num_experts));
  JAMBA_RETURN_IF_ERROR(RequirePositive("num_experts_per_tok", c.num_experts_per_tok));
  JAMBA_RETURN_IF_ERROR(RequirePositive("expert_layer_period", c.expert_layer_period));
  JAMBA_RETURN_IF_ERROR(RequirePositive("attn_layer_period", c.attn_layer_period));
  JAMBA_RETURN_IF_ERROR(RequirePositive("mamba_d_state", c.mamba_d_state));
  JAMBA_RETURN_IF_ERROR(RequirePositive("mamba_d_conv", c.mamba_d_conv));
  JAMBA_RETURN_IF_ERROR(RequirePositive("mamba_expand", c.mamba_expand));
  JAMBA_RETURN_IF_ERROR(RequirePositive("mamba_dt_rank", c.mamba_dt_rank));
  if (c.attn_layer_offset < 0 || c.attn_layer_offset >= c.attn_layer_period) {
    return FieldError("attn_layer_offset",
                      absl::StrCat("must be in [0, attn_layer_period=", c.attn_layer_period,
                                   "), got ", c.attn_layer_offset));
  }
  if (c.expert_layer_offset < 0 || c.expert_layer_offset >= c.expert_layer_period) {
    return FieldError("expert_layer_offset",
                      absl::StrCat("must be in [0, expert_layer_period=", c.expert_layer_period,
                                   "), got ", c.expert_layer_offset));
  }
  if (c.hidden_size % c.num_attention_heads != 0) {
    return FieldError("hidden_size", absl::StrCat("(", c.hidden_size,
                                                  ") must be divisible by num_attention_heads (",
                                                  c.num_attention_heads, ")"));
  }
  if (c.num_attention_heads % c.num_key_value_heads != 0) {
    return FieldError(
        "num_attention_heads",
        absl::StrCat("(", c.num_attention_heads, ") must be divisible by num_key_value_heads (",
                     c.num_key_value_heads, ")"));
  }
  if (c.num_experts > 1 && c.num_experts_per_tok > c.num_experts) {
    return FieldError("num_experts_per_tok",
                      absl::StrCat("(", c.num_experts_per_tok, ") must not exceed num_experts (",
                                   c.num_experts, ")"));
  }
  if (c.hidden_act != "silu" && c.hidden_act != "swish") {
    return FieldError("hidden_act",
                      absl::StrCat("\"", c.hidden_act, "\" is not supported (only \"silu\")"));
  }
  if (c.mamba_d_conv > 16) {
    return FieldError("mamba_d_conv",
                      absl::StrCat("(", c.mamba_d_conv, ") above 16 is not supported"));
  }
  if (c.sliding_window > 0) {
    return FieldError("sliding_window", "is not supported (every released Jamba config uses null)");
  }
  if (c.rms_norm_eps <= 0) return FieldError("rms_norm_eps", "must be positive");
  if (c.eos_token_ids.empty()) return FieldError("eos_token_id", "must not be an empty list");
  for (int64_t id : c.eos_token_ids) {
    if (id < 0 || id >= c.vocab_size) {
      return FieldError("eos_token_id", absl::StrCat("(", id, ") is outside the vocabulary"));
    }
  }
  // Tensor dimensions are int32 in the kernels (token ids, head_dim) and the loader multiplies
  // pairs of them in int64.
  if (c.vocab_size > kMaxDimension) {
    return FieldError("vocab_size", absl::StrCat("(", c.vocab_size, ") exceeds ", kMaxDimension));
  }
  if (c.hidden_size > kMaxDimension) {
    return FieldError("hidden_size", absl::StrCat("(", c.hidden_size, ") exceeds ", kMaxDimension));
  }
  if (c.intermediate_size > kMaxDimension) {
    return FieldError("intermediate_size",
                      absl::StrCat("(", c.intermediate_size, ") exceeds ", kMaxDimension));
  }
  if (c.mamba_expand > kMaxDimension / (2 * c.hidden_size)) {
    return FieldError("mamba_expand", absl::StrCat("(", c.mamba_expand, ") times 2 * hidden_size (",
                                                   c.hidden_size, ") exceeds ", kMaxDimension));
  }
  if (c.mamba_dt_rank > kMaxDimension - 2 * int64_t{c.mamba_d_state}) {
    return FieldError("mamba_dt_rank",
                      absl::StrCat("(", c.mamba_dt_rank, ") plus 2 * mamba_d_state (",
                                   c.mamba_d_state, ") exceeds ", kMaxDimension));
  }
  c.layers.assign(static_cast<size_t>(c.num_hidden_layers), LayerConfig{});
  for (int i = 0; i < c.num_hidden_layers; ++i) {
    LayerConfig& layer = c.layers[i];
    layer.mixer = (i % c.attn_layer_period == c.attn_layer_offset) ? MixerKind::kAttention
                                                                   : MixerKind::kMamba;
    layer.num_experts = (i % c.expert_layer_period == c.expert_layer_offset) ? c.num_experts : 1;
    layer.ffn = layer.num_experts > 1 ? FfnKind::kMoe : FfnKind::kDense;
  }
  // Every size-derived figure (parameters, state bytes) must stay far from int64 overflow.
  if (const double params = CountParameters<double>(c); params > kMaxParameters) {
    c.layers.clear();
    return absl::InvalidArgumentError(absl::StrCat("config.json: the sizes describe a model of ",
                                                   params, " parameters, above the ",
                                                   kMaxParameters, " supported"));
  }
  return absl::OkStatus();
}

absl::StatusOr<ModelConfig> ParseModelConfig(const std::string& json_text) {
  Json j;
  try {
    j = Json::parse(json_text);
  } catch (const Json::exception& e) {  // parse_error, or out_of_range for a number like 1e400
    return absl::InvalidArgumentError(absl::StrCat("config.json: invalid JSON: ", e.what()));
  }
  if (!j.is_object()) return absl::InvalidArgumentError("config.json: top level must be an object");

  ModelConfig c;
  for (const char* field :
       {"model_type", "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads"}) {
    if (!j.contains(field) || j[field].is_null()) return FieldError(field, "is missing (required)");
  }
  JAMBA_RETURN_IF_ERROR(ReadString(j, "model_type", c.model_type));
  JAMBA_RETURN_IF_ERROR(ReadInt(j, "vocab_size", c.vocab_size));
  JAMBA_RETURN_IF_ERROR(ReadBool(j, "tie_word_embeddings", c.tie_word_embeddings));
  JAMBA_RETURN_IF_ERROR(ReadInt(j, "hidden_size", c.hidden_size));
  JAMBA_RETURN_IF_ERROR(ReadInt(j, "intermediate_size", c.intermediate_size));
  JAMBA_RETURN_IF_ERROR(ReadInt(j, "num_hidden_layers", c.num_hidden_layers));
  JAMBA_RETURN_IF_ERROR(ReadInt(j, "num_attention_heads", c.num_attention_heads));
  c.num_key_value_heads = c.num_attention_heads;  // null or absent: no GQA
  if (j.contains("num_key_value_heads") && !j["num_key_value_heads"].is_null()) {
    JAMBA_RETURN_IF_ERROR(ReadInt(j, "num_key_value_heads", c.num_key_value_heads));
  } else if (!j.contains("num_key_value_heads")) {
    c.num_key_value_heads = 8;  // JambaConfig's default when the key is absent
  }
  JAMBA_RETURN_IF_ERROR(ReadString(j, "hidden_act", c.hidden_act));
  JAMBA_RETURN_IF_ERROR(ReadDouble(j, "initializer_range", c.initializer_range));
  JAMBA_RETURN_IF_ERROR(ReadDouble(j, "rms_norm_eps", c.rms_norm_eps));
  JAMBA_RETURN_IF_ERROR(ReadBool(j, "use_cache", c.use_cache));
  JAMBA_RETURN_IF_ERROR(ReadInt(j, "num_logits_to_keep", c.num_logits_to_keep));
  JAMBA_RETURN_IF_ERROR(ReadBool(j, "output_router_logits", c.output_router_logits));
  JAMBA_RETURN_IF_ERROR(ReadDouble(j, "router_aux_loss_coef", c.router_aux_loss_coef));
  JAMBA_RETURN_IF_ERROR(ReadInt(j, "pad_token_id", c.pad_token_id));
  JAMBA_RETURN_IF_ERROR(ReadInt(j, "bos_token_id", c.bos_token_id));
  if (auto it = j.find("eos_token_id"); it != j.end() && !it->is_null()) {
    c.eos_token_ids.clear();
    if (it->is_array()) {
      for (const auto& v : *it) {
        if (!v.is_number_integer()) return FieldError("eos_token_id", "list must hold integers");
        c.eos_token_ids.push_back(v.get<int64_t>());
      }
    } else if (it->is_number_integer()) {
      c.eos_token_ids.push_back(it->get<int64_t>());
    } else {
      return FieldError("eos_token_id",
                        absl::StrCat("must be an integer or a list, got ", it->dump()));
    }
  }
  JAMBA_RETURN_IF_ERROR(ReadInt(j, "sliding_window", c.sliding_window));
  JAMBA_RETURN_IF_ERROR(ReadInt(j, "max_position_embeddings", c.max_position_embeddings));
  JAMBA_RETURN_IF_ERROR(ReadDouble(j, "attention_dropout", c.attention_dropout));
  JAMBA_RETURN_IF_ERROR(ReadInt(j, "num_experts_per_tok", c.num_experts_per_tok));
  JAMBA_RETURN_IF_ERROR(ReadInt(j, "num_local_experts", c.num_experts));  // transformers v5 alias
  JAMBA_RETURN_IF_ERROR(ReadInt(j, "num_experts", c.num_experts));
  JAMBA_RETURN_IF_ERROR(ReadInt(j, "expert_layer_period", c.expert_layer_period));
  JAMBA_RETURN_IF_ERROR(ReadInt(j, "expert_layer_offset", c.expert_layer_offset));
  JAMBA_RETURN_IF_ERROR(ReadInt(j, "attn_layer_period", c.attn_layer_period));
  JAMBA_RETURN_IF_ERROR(ReadInt(j, "attn_layer_offset", c.attn_layer_offset));
  JAMBA_RETURN_IF_ERROR(ReadBool(j, "use_mamba_kernels", c.use_mamba_kernels));
  JAMBA_RETURN_IF_ERROR(ReadInt(j, "mamba_d_state", c.mamba_d_state));
  JAMBA_RETURN_IF_ERROR(ReadInt(j, "mamba_d_conv", c.mamba_d_conv));
  JAMBA_RETURN_IF_ERROR(ReadInt(j, "mamba_expand", c.mamba_expand));
  // "auto" = ceil(hidden_size / 16), written so that no hidden_size can overflow it.
  c.mamba_dt_rank = c.hidden_size / 16 + (c.hidden_size % 16 != 0 ? 1 : 0);
  if (auto it = j.find("mamba_dt_rank"); it != j.end() && !it->is_null()) {
    if (it->is_string()) {
      if (it->get<std::string>() != "auto") {
        return FieldError("mamba_dt_rank",
                          absl::StrCat("must be an integer or \"auto\", got ", it->dump()));
      }
    } else {
      JAMBA_RETURN_IF_ERROR(ReadInt(j, "mamba_dt_rank", c.mamba_dt_rank));
    }
  }
  JAMBA_RETURN_IF_ERROR(ReadBool(j, "mamba_conv_bias", c.mamba_conv_bias));
  JAMBA_RETURN_IF_ERROR(ReadBool(j, "mamba_proj_bias", c.mamba_proj_bias));
  JAMBA_RETURN_IF_ERROR(ReadString(j, "torch_dtype", c.torch_dtype));
  if (c.torch_dtype.empty()) JAMBA_RETURN_IF_ERROR(ReadString(j, "dtype", c.torch_dtype));
  JAMBA_RETURN_IF_ERROR(FinalizeModelConfig(c));
  return c;
}

absl::StatusOr<ModelConfig> LoadModelConfig(const std::string& model_dir) {
  const std::string path = JoinPath(model_dir, "config.json");
  auto text = ReadFileToString(path);
  if (!text.ok()) return text.status();
  auto config = ParseModelConfig(*text);
  if (!config.ok()) {
    return absl::Status(config.status().code(),
                        absl::StrCat(path, ": ", config.status().message()));
  }
  return config;
}

int64_t ModelConfig::TotalParameters() const { return CountParameters<int64_t>(*this); }

int64_t ModelConfig::ActiveParameters() const {
  const int64_t mlp = 3 * hidden_size * intermediate_size;
  int64_t inactive = 0;
  for (const LayerConfig& layer : layers) {
    if (layer.ffn == FfnKind::kMoe) inactive += (layer.num_experts - num_experts_per_tok) * mlp;
  }
  return TotalParameters() - inactive;
}

int64_t ModelConfig::KvBytesPerToken(kernels::KvDType dtype) const {
  return static_cast<int64_t>(num_attention_layers()) * 2 *
         kernels::KvRowBytes(dtype, num_key_value_heads, head_dim());
}

int64_t ModelConfig::MambaStateBytes() const {
  return static_cast<int64_t>(num_mamba_layers()) * mamba_inner() *
         (mamba_d_conv - 1 + mamba_d_state) * static_cast<int64_t>(sizeof(float));
}

std::string ModelConfig::CanonicalString() const {
  return absl::StrCat(
      "jamba;vocab=", vocab_size, ";tie=", tie_word_embeddings, ";hidden=", hidden_size,
      ";inter=", intermediate_size, ";layers=", num_hidden_layers, ";heads=", num_attention_heads,
      ";kv=", num_key_value_heads, ";act=", hidden_act, ";eps=", rms_norm_eps,
      ";experts=", num_experts, ";topk=", num_experts_per_tok, ";exp=", expert_layer_period, "/",
      expert_layer_offset, ";attn=", attn_layer_period, "/", attn_layer_offset,
      ";state=", mamba_d_state, ";conv=", mamba_d_conv, ";expand=", mamba_expand,
      ";dt_rank=", mamba_dt_rank, ";conv_bias=", mamba_conv_bias, ";proj_bias=", mamba_proj_bias,
      ";bos=", bos_token_id, ";eos=", absl::StrJoin(eos_token_ids, ","), ";pad=", pad_token_id);
}

std::string ModelConfigToJson(const ModelConfig& c) {
  Json j;
  j["architectures"] = {"JambaForCausalLM"};
  j["model_type"] = c.model_type;
  j["vocab_size"] = c.vocab_size;
  j["tie_word_embeddings"] = c.tie_word_embeddings;
  j["hidden_size"] = c.hidden_size;
  j["intermediate_size"] = c.intermediate_size;
  j["num_hidden_layers"] = c.num_hidden_layers;
  j["num_attention_heads"] = c.num_attention_heads;
  j["num_key_value_heads"] = c.num_key_value_heads;
  j["hidden_act"] = c.hidden_act;
  j["initializer_range"] = c.initializer_range;
  j["rms_norm_eps"] = c.rms_norm_eps;
  j["use_cache"] = c.use_cache;
  j["num_logits_to_keep"] = c.num_logits_to_keep;
  j["output_router_logits"] = c.output_router_logits;
  j["router_aux_loss_coef"] = c.router_aux_loss_coef;
  j["pad_token_id"] = c.pad_token_id;
  j["bos_token_id"] = c.bos_token_id;
  if (c.eos_token_ids.size() == 1) {
    j["eos_token_id"] = c.eos_token_ids[0];
  } else {
    j["eos_token_id"] = c.eos_token_ids;
  }
  j["sliding_window"] = nullptr;
  j["max_position_embeddings"] = c.max_position_embeddings;
  j["attention_dropout"] = c.attention_dropout;
  j["num_experts_per_tok"] = c.num_experts_per_tok;
  j["num_experts"] = c.num_experts;
  j["expert_layer_period"] = c.expert_layer_period;
  j["expert_layer_offset"] = c.expert_layer_offset;
  j["attn_layer_period"] = c.attn_layer_period;
  j["attn_layer_offset"] = c.attn_layer_offset;
  j["use_mamba_kernels"] = c.use_mamba_kernels;
  j["mamba_d_state"] = c.mamba_d_state;
  j["mamba_d_conv"] = c.mamba_d_conv;
  j["mamba_expand"] = c.mamba_expand;
  j["mamba_dt_rank"] = c.mamba_dt_rank;
  j["mamba_conv_bias"] = c.mamba_conv_bias;
  j["mamba_proj_bias"] = c.mamba_proj_bias;
  if (!c.torch_dtype.empty()) j["torch_dtype"] = c.torch_dtype;
  return j.dump(2) + "\n";
}

}  // namespace jamba::engine
