// The layer loop of the batched forward pass. It reads only LayerConfig; each mixer and FFN kind
// lives in engine/layers/.
#include "engine/jamba_model.h"

#include <algorithm>
#include <set>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/exhausted_resource.h"
#include "engine/layers/attention_mixer.h"
#include "engine/layers/feed_forward.h"
#include "engine/layers/layer_context.h"
#include "engine/layers/mamba_mixer.h"
#include "engine/status_macros.h"

namespace jamba::engine {

JambaModel::JambaModel(std::string model_dir, ModelConfig config,
                       std::unique_ptr<Checkpoint> checkpoint, ModelWeights weights,
                       kernels::Backend& backend, const ModelOptions& options)
    : model_dir_(std::move(model_dir)),
      config_(std::move(config)),
      checkpoint_(std::move(checkpoint)),
      weights_(std::move(weights)),
      backend_(backend),
      kv_dtype_(options.kv_dtype),
      budget_(std::make_shared<MemoryBudget>(options.kv_memory_bytes)) {}

absl::StatusOr<std::unique_ptr<JambaModel>> JambaModel::Load(const std::string& model_dir,
                                                             kernels::Backend& backend,
                                                             const ModelOptions& options) {
  if (!backend.SupportsKvDType(options.kv_dtype)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "kv_dtype=", kernels::KvDTypeName(options.kv_dtype), " is not supported by the ",
        backend.Name(), " backend (it keeps the KV cache in fp32 only: use kv_dtype=fp32)"));
  }
  if (options.kv_memory_bytes < 0)
    return absl::InvalidArgumentError("kv_memory_bytes must not be negative");
  JAMBA_ASSIGN_OR_RETURN(ModelConfig config, LoadModelConfig(model_dir));
  JAMBA_ASSIGN_OR_RETURN(std::unique_ptr<Checkpoint> checkpoint, Checkpoint::Open(model_dir));
  JAMBA_ASSIGN_OR_RETURN(ModelWeights weights,
                         LoadModelWeights(config, *checkpoint, backend, options.weights));
  for (const auto& file : checkpoint->files()) {
    if (backend.KeepsHostWeights()) {
      // The backend computes from the map in place: map it fully now rather than fault it in
      // 4 KiB at a time during the first requests.
      file->Prefault();
    } else {
      // The backend has its own copies (made tensor by tensor, see LoadModelWeights): give back
      // what is still mapped, so the weights count once here and the file stays as page cache.
      file->ReleasePages();
    }
  }
  return std::unique_ptr<JambaModel>(new JambaModel(
      model_dir, std::move(config), std::move(checkpoint), std::move(weights), backend, options));
}

absl::StatusOr<SequenceState> JambaModel::NewSequence() const {
  return SequenceState::Create(config_, backend_, kv_dtype_, budget_);
}

absl::Status JambaModel::CheckContextFits(const SequenceState& state, int64_t new_tokens) const {
  // A device backend's memory is not the machine's: only a configured limit applies there.
  if (!backend_.UsesHostMemory() && budget_->limit() == 0) return absl::OkStatus();
  const int64_t needed = state.kv().BytesToReserve(new_tokens);
  if (needed == 0) return absl::OkStatus();
  const int64_t available = budget_->Available();
  if (needed <= available) return absl::OkStatus();
  const kernels::KvDType dtype = state.kv_dtype();
  const int64_t per_token = config_.KvBytesPerToken(dtype);
  const int64_t context = state.position() + new_tokens;
  const int64_t fits = state.kv().capacity() + (per_token > 0 ? available / per_token : 0);
  return ResourceExhausted(
      ExhaustedResource::kMemory,
      absl::StrCat("a context of ", context, " tokens does not fit in memory: its KV cache needs ",
                   needed, " more bytes (", per_token, " bytes per token with kv_dtype ",
                   kernels::KvDTypeName(dtype), ") and ", budget_->LimitName(), " leaves ",
                   available, ": at most about ", fits, " tokens fit in this sequence now",
                   dtype == kernels::KvDType::kF32 ? " (a smaller kv_dtype fits more)" : ""));
}

absl::Status JambaModel::Validate(std::span<const ForwardItem> batch) const {
  if (batch.empty()) return absl::InvalidArgumentError("forward: empty batch");
  std::set<const SequenceState*> seen;
  for (size_t b = 0; b < batch.size(); ++b) {
    const ForwardItem& item = batch[b];
    if (item.state == nullptr)
      return absl::InvalidArgumentError(absl::StrCat("forward: item ", b, " has no state"));
    if (item.tokens.empty())
      return absl::InvalidArgumentError(absl::StrCat("forward: item ", b, " has no tokens"));
    if (item.state->num_layers() != config_.num_hidden_layers) {
      return absl::InvalidArgumentError(
          absl::StrCat("forward: item ", b, "'s state belongs to another model"));
    }
    if (!seen.insert(item.state).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("forward: item ", b, " repeats a state of the batch"));
    }
    if (!backend_.SupportsKvDType(item.state->kv_dtype())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "forward: item ", b, "'s KV cache is ", kernels::KvDTypeName(item.state->kv_dtype()),
          ", which the ", backend_.Name(), " backend does not support"));
    }
    // KV rows used in place (a resumed session's segments) are checked before their first use.
    JAMBA_RETURN_IF_ERROR(item.state->kv().Verify());
    for (int32_t token : item.tokens) {
      if (token < 0 || token >= config_.vocab_size) {
        return absl::InvalidArgumentError(absl::StrCat(
            "token id ", token, " is outside the vocabulary [0, ", config_.vocab_size, ")"));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status JambaModel::Forward(std::span<const ForwardItem> batch, ForwardWorkspace& ws,
                                 std::vector<std::vector<float>>* logits,
                                 HiddenStates* hidden_states) const {
  JAMBA_RETURN_IF_ERROR(Validate(batch));
  const int64_t h = config_.hidden_size;
  const int64_t vocab = config_.vocab_size;

  std::vector<SequenceSlice> slices;
  std::vector<int32_t> all_tokens;
  std::vector<int64_t> logit_row_of_item;  // first logits row of each item
  int64_t logit_rows = 0;
  for (const ForwardItem& item : batch) {
    SequenceSlice slice;
    slice.state = item.state;
    slice.offset = static_cast<int64_t>(all_tokens.size());
    slice.tokens = static_cast<int64_t>(item.tokens.size());
    slice.past = item.state->position();
    slices.push_back(slice);
    all_tokens.insert(all_tokens.end(), item.tokens.begin(), item.tokens.end());
    logit_row_of_item.push_back(logit_rows);
    logit_rows += item.all_logits ? slice.tokens : 1;
  }
  const int64_t total = static_cast<int64_t>(all_tokens.size());

  // Everything that can fail happens before any state changes.
  JAMBA_RETURN_IF_ERROR(ws.Reserve(config_, total, hidden_states != nullptr ? total : logit_rows));
  for (const SequenceSlice& s : slices) JAMBA_RETURN_IF_ERROR(s.state->ReserveKv(s.tokens));

  float* hidden = ws.slot(ForwardWorkspace::kHidden);
  float* normed = ws.slot(ForwardWorkspace::kNormed);
  float* branch = ws.slot(ForwardWorkspace::kBranchOut);
  const float eps = static_cast<float>(config_.rms_norm_eps);
  auto tap = [&](const float* rows) {
    if (hidden_states == nullptr) return;
    std::vector<float>& out = hidden_states->emplace_back(static_cast<size_t>(total * h));
    backend_.CopyToHost(out.data(), rows, out.size() * sizeof(float));
  };

  backend_.EmbeddingLookup(weights_.embed, all_tokens, hidden);
  tap(hidden);
  const LayerContext ctx{backend_, config_, ws, slices, total};
  for (int li = 0; li < config_.num_hidden_layers; ++li) {
    const LayerConfig& layer = config_.layers[li];
    const LayerWeights& lw = weights_.layers[li];
    backend_.RmsNorm(hidden, h, total, h, lw.input_norm, eps, normed, h);
    if (layer.mixer == MixerKind::kMamba) {
      RunMambaMixer(ctx, li, lw.mamba, normed, branch);
    } else {
      RunAttentionMixer(ctx, li, lw.attention, normed, branch);
    }
    backend_.Add(hidden, branch, static_cast<size_t>(total * h));
    backend_.RmsNorm(hidden, h, total, h, lw.pre_ff_norm, eps, normed, h);
    RunFeedForward(ctx, layer, lw.ffn, normed, branch);
    backend_.Add(hidden, branch, static_cast<size_t>(total * h));
    if (li + 1 < config_.num_hidden_layers) tap(hidden);
  }

  // Final norm and lm_head only for the rows whose logits are wanted (all rows when tapping).
  float* rows = ws.slot(ForwardWorkspace::kLogitRows);
  float* logits_dev = ws.slot(ForwardWorkspace::kLogits);
  if (hidden_states != nullptr) {
    backend_.RmsNorm(hidden, h, total, h, weights_.final_norm, eps, rows, h);
    tap(rows);
    // Keep only the wanted rows, in item order.
    int64_t dst = 0;
    for (size_t b = 0; b < batch.size(); ++b) {
      const SequenceSlice& s = slices[b];
      const int64_t first = batch[b].all_logits ? s.offset : s.offset + s.tokens - 1;
      const int64_t count = batch[b].all_logits ? s.tokens : 1;
      backend_.Copy(rows + dst * h, rows + first * h,
                    static_cast<size_t>(count * h) * sizeof(float));
      dst += count;
    }
  } else {
    for (size_t b = 0; b < batch.size(); ++b) {
      const SequenceSlice& s = slices[b];
      const int64_t first = batch[b].all_logits ? s.offset : s.offset + s.tokens - 1;
      const int64_t count = batch[b].all_logits ? s.tokens : 1;
      backend_.RmsNorm(hidden + first * h, h, count, h, weights_.final_norm, eps,
                       rows + logit_row_of_item[b] * h, h);
    }
  }
  backend_.MatMul(weights_.lm_head, rows, logit_rows, logits_dev, nullptr);

  std::vector<float> host_logits(static_cast<size_t>(logit_rows * vocab));
  backend_.CopyToHost(host_logits.data(), logits_dev, host_logits.size() * sizeof(float));
  if (logits != nullptr) logits->clear();
  for (size_t b = 0; b < batch.size(); ++b) {
    const SequenceSlice& s = slices[b];
    const int64_t count = batch[b].all_logits ? s.tokens : 1;
    const float* first = host_logits.data() + logit_row_of_item[b] * vocab;
    std::vector<float> last(first + (count - 1) * vocab, first + count * vocab);
    if (logits != nullptr) logits->emplace_back(first, first + count * vocab);
    s.state->CommitForward(batch[b].tokens, s.tokens, std::move(last));
  }
  return absl::OkStatus();
}

absl::Status JambaModel::Prefill(SequenceState& state, std::span<const int32_t> tokens,
                                 ForwardWorkspace& ws, int64_t chunk,
                                 std::vector<float>* all_logits) const {
  if (chunk <= 0) return absl::InvalidArgumentError("prefill chunk size must be positive");
  // Validate the whole input first so a bad id late in a long document changes nothing.
  for (int32_t token : tokens) {
    if (token < 0 || token >= config_.vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat(
          "token id ", token, " is outside the vocabulary [0, ", config_.vocab_size, ")"));
    }
  }
  std::vector<std::vector<float>> logits;
  for (size_t begin = 0; begin < tokens.size(); begin += static_cast<size_t>(chunk)) {
    const size_t count = std::min(tokens.size() - begin, static_cast<size_t>(chunk));
    const ForwardItem item{&state, tokens.subspan(begin, count), all_logits != nullptr};
    JAMBA_RETURN_IF_ERROR(Forward(std::span<const ForwardItem>(&item, 1), ws,
                                  all_logits != nullptr ? &logits : nullptr));
    if (all_logits != nullptr)
      all_logits->insert(all_logits->end(), logits[0].begin(), logits[0].end());
  }
  return absl::OkStatus();
}

}  // namespace jamba::engine
