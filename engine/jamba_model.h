// JambaModel: a loaded, immutable Jamba checkpoint and its batched forward pass. The model holds no
// per-request state: callers own SequenceStates and a ForwardWorkspace per thread, and one Forward
// call advances many sequences by their new tokens at once (continuous batching), reading every
// weight once per call.
//
//   auto backend = kernels::cpu::CpuBackend::Create({});
//   auto model = JambaModel::Load("/models/jamba", **backend, {});
//   auto state = (*model)->NewSequence();
//   ForwardWorkspace ws(**backend);
//   (*model)->Prefill(*state, prompt_ids, ws, /*chunk=*/512);
//   // state->last_logits() now holds the next-token logits.
#ifndef JAMBA_ENGINE_JAMBA_MODEL_H_
#define JAMBA_ENGINE_JAMBA_MODEL_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/checkpoint.h"
#include "engine/forward_workspace.h"
#include "engine/memory_budget.h"
#include "engine/model_config.h"
#include "engine/model_weights.h"
#include "engine/sequence_state.h"
#include "kernels/backend.h"

namespace jamba::engine {

struct ModelOptions {
  WeightOptions weights;
  // The dtype of every new sequence's KV cache (the backend must support it).
  kernels::KvDType kv_dtype = kernels::KvDType::kF32;
  // The most the KV caches of all sequences may hold together; 0: as much as the machine has
  // available (see MemoryBudget). Contexts that cannot fit are refused (CheckContextFits).
  int64_t kv_memory_bytes = 0;
};

// One sequence's part of a batched forward pass.
struct ForwardItem {
  SequenceState* state = nullptr;
  std::span<const int32_t> tokens;  // new tokens, at least one
  bool all_logits = false;          // return logits for every new token, not only the last
};

// Hidden states of a forward pass, for tests and debugging: entry 0 is the embeddings, entry
// k the output of layer k-1, the last entry the final-normed output ([L+1][tokens * H], host).
using HiddenStates = std::vector<std::vector<float>>;

class JambaModel {
 public:
  // The backend must outlive the model.
  static absl::StatusOr<std::unique_ptr<JambaModel>> Load(const std::string& model_dir,
                                                          kernels::Backend& backend,
                                                          const ModelOptions& options);

  const ModelConfig& config() const { return config_; }
  kernels::Backend& backend() const { return backend_; }
  const Checkpoint& checkpoint() const { return *checkpoint_; }
  const std::string& model_dir() const { return model_dir_; }

  // An empty sequence with this model's KV dtype.
  absl::StatusOr<SequenceState> NewSequence() const;
  kernels::KvDType kv_dtype() const { return kv_dtype_; }
  const MemoryBudget& memory_budget() const { return *budget_; }

  // RESOURCE_EXHAUSTED (ExhaustedResource::kMemory) when `state` cannot grow by `new_tokens` KV
  // rows within the memory budget, naming the limit and the context that would fit; checked when
  // work is admitted, so a long prefill is refused at once instead of failing part-way.
  absl::Status CheckContextFits(const SequenceState& state, int64_t new_tokens) const;

  // Advances every item's state by its tokens. `logits`, if given, receives one entry per item:
  // [tokens, vocab] floats when all_logits, else [vocab] for the last token. Each state's
  // last_logits() is updated either way. Invalid input (token out of range, empty item, a state
  // listed twice) is rejected before anything changes; so is running out of memory.
  absl::Status Forward(std::span<const ForwardItem> batch, ForwardWorkspace& ws,
                       std::vector<std::vector<float>>* logits = nullptr,
                       HiddenStates* hidden_states = nullptr) const;

  // Feeds `tokens` to one sequence in chunks of at most `chunk` tokens. With `all_logits`, appends
  // the logits of every token ([tokens, vocab]).
  absl::Status Prefill(SequenceState& state, std::span<const int32_t> tokens, ForwardWorkspace& ws,
                       int64_t chunk, std::vector<float>* all_logits = nullptr) const;

 private:
  JambaModel(std::string model_dir, ModelConfig config, std::unique_ptr<Checkpoint> checkpoint,
             ModelWeights weights, kernels::Backend& backend, const ModelOptions& options);
  absl::Status Validate(std::span<const ForwardItem> batch) const;

  const std::string model_dir_;
  const ModelConfig config_;
  const std::unique_ptr<Checkpoint> checkpoint_;  // owns the mapped weights
  const ModelWeights weights_;
  kernels::Backend& backend_;
  const kernels::KvDType kv_dtype_;
  const std::shared_ptr<MemoryBudget> budget_;
};

}  // namespace jamba::engine

#endif  // JAMBA_ENGINE_JAMBA_MODEL_H_
