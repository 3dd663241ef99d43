// Resolves every tensor the config needs (transformers names, legacy fallbacks), checks its shape,
// and hands it to the backend.
#include "engine/model_weights.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "engine/status_macros.h"

namespace jamba::engine {
namespace {

class WeightBinder {
 public:
  WeightBinder(const Checkpoint& checkpoint, kernels::Backend& backend)
      : checkpoint_(checkpoint), backend_(backend) {}

  absl::StatusOr<kernels::Matrix> Matrix(
      const std::string& name, int64_t rows, int64_t cols,
      kernels::WeightFormat format = kernels::WeightFormat::kAsStored) {
    JAMBA_ASSIGN_OR_RETURN(TensorView view, checkpoint_.Get(name, {rows, cols}));
    kernels::Matrix host{view.data, view.dtype, rows, cols, nullptr};
    if (backend_.KeepsHostWeights()) return backend_.PrepareMatrix(host, format);
    // The backend copies: read this tensor in bulk, and give its pages back once copied, so
    // loading never holds the checkpoint twice.
    checkpoint_.PrefaultTensor(view);
    auto prepared = backend_.PrepareMatrix(host, format);
    checkpoint_.ReleaseTensorPages(view);
    return prepared;
  }

  absl::StatusOr<const float*> Vector(const std::string& name, const std::vector<int64_t>& shape) {
    JAMBA_ASSIGN_OR_RETURN(TensorView view, checkpoint_.Get(name, shape));
    return backend_.PrepareVector(view.data, view.dtype, static_cast<size_t>(view.num_elements()));
  }

  // A = -exp(A_log), computed once in fp32.
  absl::StatusOr<const float*> NegExp(const std::string& name, int64_t rows, int64_t cols) {
    JAMBA_ASSIGN_OR_RETURN(TensorView view, checkpoint_.Get(name, {rows, cols}));
    std::vector<float> values(static_cast<size_t>(rows * cols));
    kernels::ConvertToF32(view.data, view.dtype, values.size(), values.data());
    for (float& v : values) v = -std::exp(v);
    return backend_.PrepareVector(values.data(), kernels::DType::kF32, values.size());
  }

 private:
  const Checkpoint& checkpoint_;
  kernels::Backend& backend_;
};

absl::StatusOr<kernels::MlpWeights> BindMlp(WeightBinder& bind, const std::string& prefix,
                                            int64_t h, int64_t f, kernels::WeightFormat format) {
  kernels::MlpWeights mlp;
  JAMBA_ASSIGN_OR_RETURN(mlp.gate, bind.Matrix(prefix + "gate_proj.weight", f, h, format));
  JAMBA_ASSIGN_OR_RETURN(mlp.up, bind.Matrix(prefix + "up_proj.weight", f, h, format));
  JAMBA_ASSIGN_OR_RETURN(mlp.down, bind.Matrix(prefix + "down_proj.weight", h, f, format));
  return mlp;
}

}  // namespace

absl::StatusOr<ModelWeights> LoadModelWeights(const ModelConfig& c, const Checkpoint& checkpoint,
                                              kernels::Backend& backend,
                                              const WeightOptions& options) {
  WeightBinder bind(checkpoint, backend);
  const int64_t h = c.hidden_size, f = c.intermediate_size, i_dim = c.mamba_inner();
  const int64_t n = c.mamba_d_state, r = c.mamba_dt_rank, k = c.mamba_d_conv;
  const int64_t q_dim = c.num_attention_heads * c.head_dim();
  const int64_t kv_dim = c.num_key_value_heads * c.head_dim();
  const auto mlp_format =
      options.int8_mlp ? kernels::WeightFormat::kInt8 : kernels::WeightFormat::kAsStored;

  ModelWeights w;
  JAMBA_ASSIGN_OR_RETURN(w.embed, bind.Matrix("model.embed_tokens.weight", c.vocab_size, h));
  if (c.tie_word_embeddings) {
    w.lm_head = w.embed;
  } else {
    JAMBA_ASSIGN_OR_RETURN(w.lm_head, bind.Matrix("lm_head.weight", c.vocab_size, h));
  }
  JAMBA_ASSIGN_OR_RETURN(w.final_norm, bind.Vector("model.final_layernorm.weight", {h}));
  w.layers.resize(c.layers.size());
  for (size_t li = 0; li < c.layers.size(); ++li) {
    const LayerConfig& lc = c.layers[li];
    LayerWeights& lw = w.layers[li];
    const std::string p = absl::StrCat("model.layers.", li, ".");
    JAMBA_ASSIGN_OR_RETURN(lw.input_norm, bind.Vector(p + "input_layernorm.weight", {h}));
    JAMBA_ASSIGN_OR_RETURN(lw.pre_ff_norm, bind.Vector(p + "pre_ff_layernorm.weight", {h}));
    if (lc.mixer == MixerKind::kAttention) {
      AttentionWeights& a = lw.attention;
      JAMBA_ASSIGN_OR_RETURN(a.q_proj, bind.Matrix(p + "self_attn.q_proj.weight", q_dim, h));
      JAMBA_ASSIGN_OR_RETURN(a.k_proj, bind.Matrix(p + "self_attn.k_proj.weight", kv_dim, h));
      JAMBA_ASSIGN_OR_RETURN(a.v_proj, bind.Matrix(p + "self_attn.v_proj.weight", kv_dim, h));
      JAMBA_ASSIGN_OR_RETURN(a.o_proj, bind.Matrix(p + "self_attn.o_proj.weight", h, q_dim));
    } else {
      MambaWeights& m = lw.mamba;
      const std::string mp = p + "mamba.";
      JAMBA_ASSIGN_OR_RETURN(m.in_proj, bind.Matrix(mp + "in_proj.weight", 2 * i_dim, h));
      if (c.mamba_proj_bias) {
        JAMBA_ASSIGN_OR_RETURN(m.in_proj_bias, bind.Vector(mp + "in_proj.bias", {2 * i_dim}));
        JAMBA_ASSIGN_OR_RETURN(m.out_proj_bias, bind.Vector(mp + "out_proj.bias", {h}));
      }
      JAMBA_ASSIGN_OR_RETURN(m.conv_weight, bind.Vector(mp + "conv1d.weight", {i_dim, 1, k}));
      if (c.mamba_conv_bias) {
        JAMBA_ASSIGN_OR_RETURN(m.conv_bias, bind.Vector(mp + "conv1d.bias", {i_dim}));
      }
      JAMBA_ASSIGN_OR_RETURN(m.x_proj, bind.Matrix(mp + "x_proj.weight", r + 2 * n, i_dim));
      JAMBA_ASSIGN_OR_RETURN(m.dt_norm, bind.Vector(mp + "dt_layernorm.weight", {r}));
      JAMBA_ASSIGN_OR_RETURN(m.b_norm, bind.Vector(mp + "b_layernorm.weight", {n}));
      JAMBA_ASSIGN_OR_RETURN(m.c_norm, bind.Vector(mp + "c_layernorm.weight", {n}));
      JAMBA_ASSIGN_OR_RETURN(m.dt_proj, bind.Matrix(mp + "dt_proj.weight", i_dim, r));
      JAMBA_ASSIGN_OR_RETURN(m.dt_bias, bind.Vector(mp + "dt_proj.bias", {i_dim}));
      JAMBA_ASSIGN_OR_RETURN(m.a, bind.NegExp(mp + "A_log", i_dim, n));
      JAMBA_ASSIGN_OR_RETURN(m.d, bind.Vector(mp + "D", {i_dim}));
      JAMBA_ASSIGN_OR_RETURN(m.out_proj, bind.Matrix(mp + "out_proj.weight", h, i_dim));
    }
    const std::string fp = p + "feed_forward.";
    if (lc.ffn == FfnKind::kMoe) {
      JAMBA_ASSIGN_OR_RETURN(lw.ffn.router, bind.Matrix(fp + "router.weight", lc.num_experts, h));
      for (int e = 0; e < lc.num_experts; ++e) {
        JAMBA_ASSIGN_OR_RETURN(
            auto expert, BindMlp(bind, absl::StrCat(fp, "experts.", e, "."), h, f, mlp_format));
        lw.ffn.experts.push_back(expert);
      }
    } else {
      JAMBA_ASSIGN_OR_RETURN(lw.ffn.dense, BindMlp(bind, fp, h, f, mlp_format));
    }
  }
  return w;
}

}  // namespace jamba::engine
