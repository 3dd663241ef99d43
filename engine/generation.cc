// Stop-condition handling for streamed generation. Text that could still become part of a stop
// string is held back, so a stop string is never streamed, not even in part.
#include "engine/generation.h"

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"

namespace jamba::engine {

const char* FinishReasonName(FinishReason reason) {
  switch (reason) {
    case FinishReason::kNone:
      return "none";
    case FinishReason::kEos:
      return "eos";
    case FinishReason::kLength:
      return "length";
    case FinishReason::kStopString:
      return "stop_string";
    case FinishReason::kStopToken:
      return "stop_token";
    case FinishReason::kContextLength:
      return "context_length";
    case FinishReason::kCancelled:
      return "cancelled";
  }
  return "?";
}

absl::Status ValidateStopConditions(const StopConditions& stop, const StopLimits& limits,
                                    int64_t vocab_size, bool has_tokenizer) {
  if (stop.max_tokens < 1 || stop.max_tokens > limits.max_tokens) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_tokens must be in [1, ", limits.max_tokens, "], got ", stop.max_tokens));
  }
  if (stop.stop_strings.size() > limits.max_stop_strings) {
    return absl::InvalidArgumentError(absl::StrCat("stop_strings: at most ",
                                                   limits.max_stop_strings, " allowed, got ",
                                                   stop.stop_strings.size()));
  }
  for (size_t i = 0; i < stop.stop_strings.size(); ++i) {
    const std::string& s = stop.stop_strings[i];
    if (s.empty())
      return absl::InvalidArgumentError(absl::StrCat("stop_strings[", i, "] is empty"));
    if (s.size() > limits.max_stop_string_bytes) {
      return absl::InvalidArgumentError(absl::StrCat("stop_strings[", i, "] is longer than ",
                                                     limits.max_stop_string_bytes, " bytes"));
    }
  }
  if (!stop.stop_strings.empty() && !has_tokenizer) {
    return absl::InvalidArgumentError("stop_strings need a tokenizer; this model has none");
  }
  if (stop.stop_token_ids.size() > limits.max_stop_token_ids) {
    return absl::InvalidArgumentError(absl::StrCat("stop_token_ids: at most ",
                                                   limits.max_stop_token_ids, " allowed, got ",
                                                   stop.stop_token_ids.size()));
  }
  for (size_t i = 0; i < stop.stop_token_ids.size(); ++i) {
    const int32_t id = stop.stop_token_ids[i];
    if (id < 0 || id >= vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat(
          "stop_token_ids[", i, "] = ", id, " is outside the vocabulary [0, ", vocab_size, ")"));
    }
  }
  return absl::OkStatus();
}

Generation::Generation(const ModelConfig& config, const Tokenizer* tokenizer,
                       const SamplingParams& sampling, const StopConditions& stop, int top_logprobs)
    : config_(config),
      tokenizer_(tokenizer),
      sampler_(sampling),
      stop_(stop),
      top_logprobs_(top_logprobs) {
  // A completion keeps its markup tags (<think>, <tool_call>) so chat replies can be read.
  if (tokenizer_ != nullptr) {
    decoder_.emplace(*tokenizer_, /*skip_special_tokens=*/true, /*keep_markup=*/true);
  }
}

std::span<const int32_t> Generation::output_tokens() const {
  std::span<const int32_t> all(sampled_);
  return last_is_terminator_ ? all.first(all.size() - 1) : all;
}

std::string Generation::TakeEmittable(bool final) {
  size_t emit = pending_.size();
  if (!final) {
    // Hold back the longest suffix of pending_ that is a proper prefix of some stop string.
    size_t hold = 0;
    for (const std::string& s : stop_.stop_strings) {
      for (size_t k = std::min(s.size() - 1, pending_.size()); k > hold; --k) {
        if (pending_.compare(pending_.size() - k, k, s, 0, k) == 0) {
          hold = k;
          break;
        }
      }
    }
    emit = pending_.size() - hold;
  }
  std::string out = pending_.substr(0, emit);
  pending_.erase(0, emit);
  text_ += out;
  return out;
}

std::span<const float> Generation::Restrict(std::span<const float> logits) {
  if (constraint_ == nullptr && banned_.empty()) return logits;
  constexpr float kNever = -std::numeric_limits<float>::infinity();
  restricted_.assign(logits.begin(), logits.end());
  if (constraint_ != nullptr) {
    if (const std::optional<int32_t> forced = constraint_->ForcedToken(); forced.has_value()) {
      std::fill(restricted_.begin(), restricted_.end(), kNever);
      if (*forced >= 0 && *forced < static_cast<int32_t>(logits.size())) {
        restricted_[*forced] = 0.0f;
      }
      return restricted_;
    }
    for (size_t id = 0; id < restricted_.size(); ++id) {
      if (restricted_[id] != kNever && !constraint_->Allows(static_cast<int32_t>(id))) {
        restricted_[id] = kNever;
      }
    }
  }
  for (int32_t id : banned_) {
    if (id >= 0 && id < static_cast<int32_t>(restricted_.size())) restricted_[id] = kNever;
  }
  return restricted_;
}

GenerationStep Generation::Step(std::span<const float> logits, int64_t position) {
  GenerationStep step;
  if (finished()) {
    step.finished = true;
    return step;
  }
  step.sample = sampler_.Sample(Restrict(logits), sampled_, top_logprobs_);
  step.token = step.sample.token;
  sampled_.push_back(step.token);
  bool constraint_done = false;
  if (constraint_ != nullptr) {
    constraint_->Accept(step.token);
    constraint_done = constraint_->Finished();
  }

  // A finished constraint ends the turn even with ignore_eos: its last token is the end of turn.
  const bool is_eos =
      (!stop_.ignore_eos || constraint_done) &&
      (tokenizer_ != nullptr ? tokenizer_->IsEos(step.token) : config_.IsEos(step.token));
  const bool is_stop_token = std::find(stop_.stop_token_ids.begin(), stop_.stop_token_ids.end(),
                                       step.token) != stop_.stop_token_ids.end();
  if (is_eos || is_stop_token) {
    last_is_terminator_ = true;
    step.token_is_output = false;
    Finish(is_eos ? FinishReason::kEos : FinishReason::kStopToken);
    if (decoder_) pending_ += decoder_->Finish();
    step.text_delta = TakeEmittable(/*final=*/true);
    step.finished = true;
    return step;
  }

  if (decoder_) {
    pending_ += decoder_->Push(step.token);
    // The earliest stop string in the pending text ends the generation before it.
    size_t first = std::string::npos;
    for (const std::string& s : stop_.stop_strings) {
      const size_t at = pending_.find(s);
      if (at < first) {
        first = at;
        matched_stop_string_ = s;
      }
    }
    if (first != std::string::npos) {
      pending_.resize(first);
      Finish(FinishReason::kStopString);
      step.text_delta = TakeEmittable(/*final=*/true);
      step.finished = true;
      return step;
    }
  }
  if (constraint_done) {  // the constrained text ended without an end-of-turn token
    Finish(FinishReason::kEos);
    if (decoder_) pending_ += decoder_->Finish();
    step.text_delta = TakeEmittable(/*final=*/true);
    step.finished = true;
    return step;
  }
  const bool context_full = position + 1 >= stop_.max_context_tokens;
  if (static_cast<int64_t>(sampled_.size()) >= stop_.max_tokens || context_full) {
    Finish(context_full && static_cast<int64_t>(sampled_.size()) < stop_.max_tokens
               ? FinishReason::kContextLength
               : FinishReason::kLength);
    if (decoder_) pending_ += decoder_->Finish();
    step.text_delta = TakeEmittable(/*final=*/true);
    step.finished = true;
    return step;
  }
  step.text_delta = TakeEmittable(/*final=*/false);
  return step;
}

std::string Generation::Cancel() {
  if (finished()) return "";
  Finish(FinishReason::kCancelled);
  if (decoder_) pending_ += decoder_->Finish();
  return TakeEmittable(/*final=*/true);
}

}  // namespace jamba::engine
