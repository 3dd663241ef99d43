// Generation: the per-request decoding state machine. Each Step takes the logits after the last
// token fed to the model, samples the next token, applies the stop conditions (EOS, stop token
// ids, stop strings, max tokens) and returns the text that is safe to stream. It does not run the
// model: a driver (the CLI loop or the continuous-batching scheduler) feeds the sampled token back.
#ifndef JAMBA_ENGINE_GENERATION_H_
#define JAMBA_ENGINE_GENERATION_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/model_config.h"
#include "engine/sampler.h"
#include "engine/text/stream_decoder.h"
#include "engine/text/tokenizer.h"
#include "engine/text/tool_call_constraint.h"

namespace jamba::engine {

enum class FinishReason : uint8_t {
  kNone,           // still running
  kEos,            // the model produced an end-of-sequence token
  kLength,         // max_tokens reached
  kStopString,     // a stop string appeared in the text
  kStopToken,      // a requested stop token id was produced
  kContextLength,  // the sequence reached the context limit
  kCancelled,      // the caller stopped it
};

const char* FinishReasonName(FinishReason reason);

struct StopConditions {
  int64_t max_tokens = 256;
  int64_t max_context_tokens = int64_t{1} << 40;  // prompt + completion
  std::vector<std::string> stop_strings;
  std::vector<int32_t> stop_token_ids;
  bool ignore_eos = false;
};

struct StopLimits {
  int64_t max_tokens = 1 << 20;
  size_t max_stop_strings = 16;
  size_t max_stop_string_bytes = 256;
  size_t max_stop_token_ids = 64;
};

// Checks ranges against `limits` and the vocabulary; errors name the field. Stop strings need a
// tokenizer (`has_tokenizer`).
absl::Status ValidateStopConditions(const StopConditions& stop, const StopLimits& limits,
                                    int64_t vocab_size, bool has_tokenizer);

struct GenerationStep {
  int32_t token = 0;
  SampledToken sample;     // token and logprobs
  std::string text_delta;  // text that became final with this step (may be empty)
  bool finished = false;
  // Whether `token` belongs to the output: false for the EOS/stop token that ended generation.
  bool token_is_output = true;
  // False for the last step of a cancelled generation, which only flushes held-back text.
  bool has_token = true;
};

class Generation {
 public:
  // `tokenizer` may be null (token ids only: no text, no stop strings).
  Generation(const ModelConfig& config, const Tokenizer* tokenizer, const SamplingParams& sampling,
             const StopConditions& stop, int top_logprobs = 0);

  // Restricts what may be sampled: `constraint` (forced tokens and allowed ones, e.g. a required
  // tool call; the generation ends when it is finished) and `banned` tokens, never sampled.
  void SetConstraint(std::unique_ptr<TokenConstraint> constraint) {
    constraint_ = std::move(constraint);
  }
  void SetBannedTokens(std::vector<int32_t> banned) { banned_ = std::move(banned); }

  // `position` is the number of tokens the sequence holds (the logits follow its last one).
  GenerationStep Step(std::span<const float> logits, int64_t position);
  // Ends the generation early (e.g. on cancellation) and returns the text still held back.
  std::string Cancel();

  bool finished() const { return finish_ != FinishReason::kNone; }
  const StopConditions& stop() const { return stop_; }
  FinishReason finish_reason() const { return finish_; }
  // Every sampled token, including a final EOS or stop token.
  const std::vector<int32_t>& sampled_tokens() const { return sampled_; }
  // The output tokens (sampled tokens without a final EOS/stop token).
  std::span<const int32_t> output_tokens() const;
  const std::string& text() const { return text_; }
  // The stop string that ended the generation (kStopString), else empty.
  const std::string& matched_stop_string() const { return matched_stop_string_; }

 private:
  std::string TakeEmittable(bool final);
  // `logits` with what the constraint and the banned tokens rule out set to -infinity.
  std::span<const float> Restrict(std::span<const float> logits);
  void Finish(FinishReason reason) { finish_ = reason; }

  const ModelConfig& config_;
  const Tokenizer* tokenizer_;
  Sampler sampler_;
  StopConditions stop_;
  int top_logprobs_;
  std::optional<StreamDecoder> decoder_;
  std::unique_ptr<TokenConstraint> constraint_;
  std::vector<int32_t> banned_;
  std::vector<float> restricted_;  // scratch for Restrict
  std::vector<int32_t> sampled_;
  bool last_is_terminator_ = false;
  std::string pending_;  // decoded text not yet emitted (may hold a stop-string prefix)
  std::string text_;     // everything emitted
  std::string matched_stop_string_;
  FinishReason finish_ = FinishReason::kNone;
};

}  // namespace jamba::engine

#endif  // JAMBA_ENGINE_GENERATION_H_
