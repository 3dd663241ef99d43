// SequenceState storage: fixed-size Mamba states and the KV cache (engine/kv_cache.h).
#include "engine/sequence_state.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/status_macros.h"

namespace jamba::engine {

absl::StatusOr<SequenceState> SequenceState::Create(const ModelConfig& config,
                                                    kernels::Backend& backend,
                                                    kernels::KvDType kv_dtype,
                                                    std::shared_ptr<MemoryBudget> budget) {
  if (!backend.SupportsKvDType(kv_dtype)) {
    return absl::FailedPreconditionError(
        absl::StrCat("the ", backend.Name(), " backend cannot keep a KV cache in ",
                     kernels::KvDTypeName(kv_dtype), " (kv_dtype)"));
  }
  KvCache::Shape shape;
  shape.dtype = kv_dtype;
  shape.kv_heads = config.num_key_value_heads;
  shape.head_dim = config.head_dim();
  shape.layers = config.num_attention_layers();
  SequenceState state(KvCache(backend, shape, std::move(budget)));
  state.backend_ = &backend;
  state.conv_floats_ = config.mamba_inner() * (config.mamba_d_conv - 1);
  state.ssm_floats_ = config.mamba_inner() * config.mamba_d_state;
  state.kv_row_floats_ = static_cast<int64_t>(config.num_key_value_heads) * config.head_dim();
  state.layers_.resize(config.layers.size());
  state.attention_index_.assign(config.layers.size(), -1);
  for (size_t i = 0; i < config.layers.size(); ++i) {
    Layer& layer = state.layers_[i];
    layer.kind = config.layers[i].mixer;
    if (layer.kind == MixerKind::kMamba) {
      JAMBA_ASSIGN_OR_RETURN(layer.conv, backend.Allocate(state.conv_floats_ * sizeof(float)));
      JAMBA_ASSIGN_OR_RETURN(layer.ssm, backend.Allocate(state.ssm_floats_ * sizeof(float)));
      backend.Fill(layer.conv.f32(), 0.0f, state.conv_floats_);
      backend.Fill(layer.ssm.f32(), 0.0f, state.ssm_floats_);
    } else {
      state.attention_index_[i] = static_cast<int>(state.attention_layers_.size());
      state.attention_layers_.push_back(static_cast<int>(i));
    }
  }
  return state;
}

absl::StatusOr<SequenceState> SequenceState::Clone() const {
  JAMBA_ASSIGN_OR_RETURN(KvCache kv, kv_.Clone());
  SequenceState copy(std::move(kv));
  copy.backend_ = backend_;
  copy.conv_floats_ = conv_floats_;
  copy.ssm_floats_ = ssm_floats_;
  copy.kv_row_floats_ = kv_row_floats_;
  copy.attention_layers_ = attention_layers_;
  copy.attention_index_ = attention_index_;
  copy.tokens_ = tokens_;
  copy.last_logits_ = last_logits_;
  copy.layers_.resize(layers_.size());
  for (size_t i = 0; i < layers_.size(); ++i) {
    const Layer& from = layers_[i];
    Layer& to = copy.layers_[i];
    to.kind = from.kind;
    if (from.kind == MixerKind::kMamba) {
      JAMBA_ASSIGN_OR_RETURN(to.conv, backend_->Allocate(conv_floats_ * sizeof(float)));
      JAMBA_ASSIGN_OR_RETURN(to.ssm, backend_->Allocate(ssm_floats_ * sizeof(float)));
      backend_->Copy(to.conv.data(), from.conv.data(), conv_floats_ * sizeof(float));
      backend_->Copy(to.ssm.data(), from.ssm.data(), ssm_floats_ * sizeof(float));
    }
  }
  return copy;
}

int64_t SequenceState::MemoryBytes() const {
  int64_t bytes = kv_.OwnedBytes() + kv_.AdoptedBytes();
  for (const Layer& layer : layers_)
    bytes += static_cast<int64_t>(layer.conv.bytes() + layer.ssm.bytes());
  return bytes;
}

void SequenceState::ReadMambaState(int layer, float* conv, float* ssm) const {
  backend_->CopyToHost(conv, layers_[layer].conv.data(), conv_floats_ * sizeof(float));
  backend_->CopyToHost(ssm, layers_[layer].ssm.data(), ssm_floats_ * sizeof(float));
}

void SequenceState::WriteMambaState(int layer, const float* conv, const float* ssm) {
  backend_->CopyFromHost(layers_[layer].conv.data(), conv, conv_floats_ * sizeof(float));
  backend_->CopyFromHost(layers_[layer].ssm.data(), ssm, ssm_floats_ * sizeof(float));
}

void SequenceState::ReadKv(int layer, int64_t begin, int64_t end, void* keys, void* values) const {
  kv_.ReadRows(attention_index(layer), begin, end, keys, values);
}

absl::Status SequenceState::AppendKvFromF32(int64_t count, const float* keys, const float* values) {
  const KvCache::Shape& shape = kv_.shape();
  std::vector<char> k(static_cast<size_t>(count * kv_.row_bytes()));
  std::vector<char> v(k.size());
  kernels::EncodeKvRows(keys, count, shape.dtype, shape.kv_heads, shape.head_dim, k.data());
  kernels::EncodeKvRows(values, count, shape.dtype, shape.kv_heads, shape.head_dim, v.data());
  const std::vector<const void*> key_rows(attention_layers_.size(), k.data());
  const std::vector<const void*> value_rows(attention_layers_.size(), v.data());
  return kv_.AppendRows(count, key_rows, value_rows);
}

SequenceState::Snapshot SequenceState::TakeSnapshot() const {
  Snapshot snapshot;
  snapshot.conv.resize(layers_.size());
  snapshot.ssm.resize(layers_.size());
  for (size_t i = 0; i < layers_.size(); ++i) {
    if (layers_[i].kind != MixerKind::kMamba) continue;
    snapshot.conv[i].resize(static_cast<size_t>(conv_floats_));
    snapshot.ssm[i].resize(static_cast<size_t>(ssm_floats_));
    ReadMambaState(static_cast<int>(i), snapshot.conv[i].data(), snapshot.ssm[i].data());
  }
  snapshot.tokens = tokens_;
  snapshot.last_logits = last_logits_;
  return snapshot;
}

void SequenceState::RestoreSnapshot(const Snapshot& snapshot) {
  const int64_t position = static_cast<int64_t>(snapshot.tokens.size());
  for (size_t i = 0; i < layers_.size(); ++i) {
    if (layers_[i].kind == MixerKind::kMamba)
      WriteMambaState(static_cast<int>(i), snapshot.conv[i].data(), snapshot.ssm[i].data());
  }
  kv_.Truncate(std::min(kv_.rows(), position));
  tokens_ = snapshot.tokens;
  last_logits_ = snapshot.last_logits;
}

void SequenceState::CommitForward(std::span<const int32_t> tokens, int64_t kv_rows_added,
                                  std::vector<float> logits) {
  tokens_.insert(tokens_.end(), tokens.begin(), tokens.end());
  kv_.Grow(kv_rows_added);
  last_logits_ = std::move(logits);
}

}  // namespace jamba::engine
