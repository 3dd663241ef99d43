// SequenceState storage: fixed-size Mamba states and growable (doubling) KV buffers.
#include "engine/sequence_state.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/status_macros.h"

namespace jamba::engine {
namespace {

constexpr int64_t kMinKvCapacity = 64;

}  // namespace

absl::StatusOr<SequenceState> SequenceState::Create(const ModelConfig& config,
                                                    kernels::Backend& backend) {
  SequenceState state;
  state.backend_ = &backend;
  state.conv_floats_ = config.mamba_inner() * (config.mamba_d_conv - 1);
  state.ssm_floats_ = config.mamba_inner() * config.mamba_d_state;
  state.kv_row_floats_ = static_cast<int64_t>(config.num_key_value_heads) * config.head_dim();
  state.layers_.resize(config.layers.size());
  for (size_t i = 0; i < config.layers.size(); ++i) {
    Layer& layer = state.layers_[i];
    layer.kind = config.layers[i].mixer;
    if (layer.kind == MixerKind::kMamba) {
      JAMBA_ASSIGN_OR_RETURN(layer.conv, backend.Allocate(state.conv_floats_ * sizeof(float)));
      JAMBA_ASSIGN_OR_RETURN(layer.ssm, backend.Allocate(state.ssm_floats_ * sizeof(float)));
      backend.Fill(layer.conv.f32(), 0.0f, state.conv_floats_);
      backend.Fill(layer.ssm.f32(), 0.0f, state.ssm_floats_);
    }
  }
  return state;
}

absl::StatusOr<SequenceState> SequenceState::Clone() const {
  SequenceState copy;
  copy.backend_ = backend_;
  copy.conv_floats_ = conv_floats_;
  copy.ssm_floats_ = ssm_floats_;
  copy.kv_row_floats_ = kv_row_floats_;
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
    } else if (from.kv_rows > 0) {
      const size_t bytes = static_cast<size_t>(from.kv_rows * kv_row_floats_) * sizeof(float);
      JAMBA_ASSIGN_OR_RETURN(to.keys, backend_->Allocate(bytes));
      JAMBA_ASSIGN_OR_RETURN(to.values, backend_->Allocate(bytes));
      backend_->Copy(to.keys.data(), from.keys.data(), bytes);
      backend_->Copy(to.values.data(), from.values.data(), bytes);
      to.kv_rows = from.kv_rows;
      to.kv_capacity = from.kv_rows;
    }
  }
  return copy;
}

int64_t SequenceState::MemoryBytes() const {
  int64_t bytes = 0;
  for (const Layer& layer : layers_) {
    bytes += static_cast<int64_t>(layer.conv.bytes() + layer.ssm.bytes() + layer.keys.bytes() +
                                  layer.values.bytes());
  }
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

void SequenceState::ReadKv(int layer, int64_t begin, int64_t end, float* k, float* v) const {
  const size_t offset = static_cast<size_t>(begin * kv_row_floats_);
  const size_t bytes = static_cast<size_t>((end - begin) * kv_row_floats_) * sizeof(float);
  backend_->CopyToHost(k, layers_[layer].keys.f32() + offset, bytes);
  backend_->CopyToHost(v, layers_[layer].values.f32() + offset, bytes);
}

absl::Status SequenceState::ReserveKv(int64_t extra) {
  // Allocate every layer's new buffers first, so a failure leaves the state untouched.
  struct Grown {
    size_t layer;
    kernels::DeviceBuffer keys, values;
    int64_t capacity;
  };
  std::vector<Grown> grown;
  for (size_t i = 0; i < layers_.size(); ++i) {
    const Layer& layer = layers_[i];
    if (layer.kind != MixerKind::kAttention) continue;
    const int64_t need = layer.kv_rows + extra;
    if (need <= layer.kv_capacity) continue;
    const int64_t capacity = std::max({need, layer.kv_capacity * 2, kMinKvCapacity});
    const size_t bytes = static_cast<size_t>(capacity * kv_row_floats_) * sizeof(float);
    Grown g{i, {}, {}, capacity};
    JAMBA_ASSIGN_OR_RETURN(g.keys, backend_->Allocate(bytes));
    JAMBA_ASSIGN_OR_RETURN(g.values, backend_->Allocate(bytes));
    grown.push_back(std::move(g));
  }
  for (Grown& g : grown) {
    Layer& layer = layers_[g.layer];
    const size_t used = static_cast<size_t>(layer.kv_rows * kv_row_floats_) * sizeof(float);
    backend_->Copy(g.keys.data(), layer.keys.data(), used);
    backend_->Copy(g.values.data(), layer.values.data(), used);
    layer.keys = std::move(g.keys);
    layer.values = std::move(g.values);
    layer.kv_capacity = g.capacity;
  }
  return absl::OkStatus();
}

absl::Status SequenceState::AppendKvRows(int layer_index, int64_t count, const float* keys,
                                         const float* values) {
  Layer& layer = layers_[layer_index];
  if (layer.kind != MixerKind::kAttention) {
    return absl::InvalidArgumentError(absl::StrCat("layer ", layer_index, " has no KV cache"));
  }
  if (layer.kv_rows + count > layer.kv_capacity) {
    // Geometric growth: appending a long history piece by piece copies each row O(1) times.
    const int64_t capacity =
        std::max({layer.kv_rows + count, layer.kv_capacity * 2, kMinKvCapacity});
    const size_t bytes = static_cast<size_t>(capacity * kv_row_floats_) * sizeof(float);
    JAMBA_ASSIGN_OR_RETURN(auto new_keys, backend_->Allocate(bytes));
    JAMBA_ASSIGN_OR_RETURN(auto new_values, backend_->Allocate(bytes));
    const size_t used = static_cast<size_t>(layer.kv_rows * kv_row_floats_) * sizeof(float);
    backend_->Copy(new_keys.data(), layer.keys.data(), used);
    backend_->Copy(new_values.data(), layer.values.data(), used);
    layer.keys = std::move(new_keys);
    layer.values = std::move(new_values);
    layer.kv_capacity = capacity;
  }
  const size_t offset = static_cast<size_t>(layer.kv_rows * kv_row_floats_);
  const size_t bytes = static_cast<size_t>(count * kv_row_floats_) * sizeof(float);
  backend_->CopyFromHost(layer.keys.f32() + offset, keys, bytes);
  backend_->CopyFromHost(layer.values.f32() + offset, values, bytes);
  layer.kv_rows += count;
  return absl::OkStatus();
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
    Layer& layer = layers_[i];
    if (layer.kind == MixerKind::kMamba) {
      WriteMambaState(static_cast<int>(i), snapshot.conv[i].data(), snapshot.ssm[i].data());
    } else {
      layer.kv_rows = std::min(layer.kv_rows, position);
    }
  }
  tokens_ = snapshot.tokens;
  last_logits_ = snapshot.last_logits;
}

void SequenceState::CommitForward(std::span<const int32_t> tokens, int64_t kv_rows_added,
                                  std::vector<float> logits) {
  tokens_.insert(tokens_.end(), tokens.begin(), tokens.end());
  for (Layer& layer : layers_) {
    if (layer.kind == MixerKind::kAttention) layer.kv_rows += kv_rows_added;
  }
  last_logits_ = std::move(logits);
}

}  // namespace jamba::engine
