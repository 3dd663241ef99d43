// SequenceState: everything that describes one sequence at token position p, the unit that the
// sessions layer persists. Per Mamba layer conv_state [I, K-1] and ssm_state [I, N] (fp32); per
// attention layer K and V for positions 0..p, each [p, NKV*Dh] (no positional encoding) in the
// KV cache's dtype (KvCache); the token ids; and the logits at position p-1. Tensors live in the
// model's backend memory, or, for a resumed session's KV, in its segment files mapped in place.
#ifndef JAMBA_ENGINE_SEQUENCE_STATE_H_
#define JAMBA_ENGINE_SEQUENCE_STATE_H_

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/kv_cache.h"
#include "engine/memory_budget.h"
#include "engine/model_config.h"
#include "kernels/backend.h"

namespace jamba::engine {

class SequenceState {
 public:
  // An empty sequence (position 0, zero Mamba state) for `config` on `backend`, its KV cache in
  // `kv_dtype`. `budget` (may be null) accounts for its KV pages.
  static absl::StatusOr<SequenceState> Create(const ModelConfig& config, kernels::Backend& backend,
                                              kernels::KvDType kv_dtype = kernels::KvDType::kF32,
                                              std::shared_ptr<MemoryBudget> budget = nullptr);

  SequenceState(SequenceState&&) noexcept = default;
  SequenceState& operator=(SequenceState&&) noexcept = default;
  SequenceState(const SequenceState&) = delete;
  SequenceState& operator=(const SequenceState&) = delete;

  // A copy (fork): Mamba states and KV pages are copied (pages trimmed to the position), KV rows
  // used in place are shared.
  absl::StatusOr<SequenceState> Clone() const;

  int64_t position() const { return static_cast<int64_t>(tokens_.size()); }
  const std::vector<int32_t>& tokens() const { return tokens_; }
  // Logits after the last token (empty at position 0).
  const std::vector<float>& last_logits() const { return last_logits_; }
  int num_layers() const { return static_cast<int>(layers_.size()); }
  MixerKind layer_kind(int layer) const { return layers_[layer].kind; }

  // Sizes of one layer's tensors: Mamba states in floats, KV rows in values (NKV * Dh) and in
  // stored bytes (kernels::KvRowBytes).
  int64_t conv_state_floats() const { return conv_floats_; }
  int64_t ssm_state_floats() const { return ssm_floats_; }
  int64_t kv_row_floats() const { return kv_row_floats_; }
  int64_t kv_row_bytes() const { return kv_.row_bytes(); }
  kernels::KvDType kv_dtype() const { return kv_.shape().dtype; }
  // Attention layers in layer order; attention_index(layer) is a layer's place among them.
  const std::vector<int>& attention_layers() const { return attention_layers_; }
  int attention_index(int layer) const { return attention_index_[static_cast<size_t>(layer)]; }
  // Memory this state holds: Mamba states, KV pages, and KV rows used in place (a resumed
  // session's mapped segments: page cache while they are in use).
  int64_t MemoryBytes() const;

  // ---- host copies, for persistence and tests ----
  // Mamba layer: conv [I*(K-1)], ssm [I*N].
  void ReadMambaState(int layer, float* conv, float* ssm) const;
  void WriteMambaState(int layer, const float* conv, const float* ssm);
  // Attention layer: rows [begin, end) of K and V as stored, (end-begin) * kv_row_bytes() each.
  void ReadKv(int layer, int64_t begin, int64_t end, void* keys, void* values) const;

  // Rebuilds a state from host data: `tokens`, the K/V rows of all those tokens (kv().AppendRows
  // or kv().AdoptRows), Mamba states (WriteMambaState) and logits (SetLastLogits). Used by the
  // sessions layer; the caller restores every part before using the state.
  KvCache& kv() { return kv_; }
  const KvCache& kv() const { return kv_; }
  // Appends `count` rows to every attention layer's cache, the same fp32 K and V rows
  // ([count, NKV*Dh] each) converted to the cache's dtype: synthetic contexts for benchmarks.
  absl::Status AppendKvFromF32(int64_t count, const float* keys, const float* values);
  void SetTokensForRestore(std::vector<int32_t> tokens) { tokens_ = std::move(tokens); }
  void SetLastLogits(std::vector<float> logits) { last_logits_ = std::move(logits); }
  // A copy of everything but the KV rows (Mamba states, tokens, logits): cheap to take, and
  // enough to undo a tentative generation, since KV rows are only ever appended.
  struct Snapshot {
    std::vector<std::vector<float>> conv;  // per layer (empty for attention layers)
    std::vector<std::vector<float>> ssm;
    std::vector<int32_t> tokens;
    std::vector<float> last_logits;
  };
  Snapshot TakeSnapshot() const;
  // Returns to `snapshot`, which must have been taken from this state (or a clone of it).
  void RestoreSnapshot(const Snapshot& snapshot);

  // ---- used by the model's forward pass ----
  float* conv_state(int layer) const { return layers_[layer].conv.f32(); }
  float* ssm_state(int layer) const { return layers_[layer].ssm.f32(); }
  // Makes room for `extra` more KV rows in every attention layer. Changes nothing on failure.
  absl::Status ReserveKv(int64_t extra) { return kv_.Reserve(extra); }
  // Records rows appended by the forward pass.
  void CommitForward(std::span<const int32_t> tokens, int64_t kv_rows_added,
                     std::vector<float> logits);

 private:
  struct Layer {
    MixerKind kind = MixerKind::kMamba;
    kernels::DeviceBuffer conv;
    kernels::DeviceBuffer ssm;
  };
  explicit SequenceState(KvCache kv) : kv_(std::move(kv)) {}

  kernels::Backend* backend_ = nullptr;
  int64_t conv_floats_ = 0;
  int64_t ssm_floats_ = 0;
  int64_t kv_row_floats_ = 0;
  std::vector<Layer> layers_;
  std::vector<int> attention_layers_;
  std::vector<int> attention_index_;  // per layer: its place among attention layers, or -1
  KvCache kv_;
  std::vector<int32_t> tokens_;
  std::vector<float> last_logits_;
};

}  // namespace jamba::engine

#endif  // JAMBA_ENGINE_SEQUENCE_STATE_H_
