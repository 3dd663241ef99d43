// Sampler: turns a sequence's next-token logits into a token. Penalties, temperature, top-k,
// top-p and min-p are applied in that order (as in transformers and vLLM); temperature 0 is greedy.
// A seeded generator makes sampling reproducible: same seed, same logits, same tokens. Penalties
// look only at the tokens this request generated, never at the prompt, so an answer may quote a
// long document freely (the jamba.v1 API's contract).
#ifndef JAMBA_ENGINE_SAMPLER_H_
#define JAMBA_ENGINE_SAMPLER_H_

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace jamba::engine {

struct SamplingParams {
  float temperature = 1.0f;         // [0, 2]; 0: greedy (argmax; ties go to the lowest id)
  float top_p = 1.0f;               // (0, 1]: keep the smallest set with this much mass
  int32_t top_k = 0;                // [0, vocab]; 0: off
  float min_p = 0.0f;               // [0, 1): drop tokens below min_p * p(most likely)
  float repetition_penalty = 1.0f;  // (0, 2]; generated tokens: logit/p if > 0 else logit*p
  float presence_penalty = 0.0f;    // [-2, 2]; subtracted once from every generated token
  float frequency_penalty = 0.0f;   // [-2, 2]; subtracted per occurrence in the generated tokens
  uint64_t seed = 0;
};

// Checks ranges; the error names the offending field.
absl::Status ValidateSamplingParams(const SamplingParams& params, int64_t vocab_size);

struct TokenLogprob {
  int32_t token = 0;
  float logprob = 0.0f;
};

struct SampledToken {
  int32_t token = 0;
  // log-softmax of the model's raw logits (before penalties and temperature).
  float logprob = 0.0f;
  std::vector<TokenLogprob> top_logprobs;  // the `top_logprobs` most likely, best first
};

class Sampler {
 public:
  explicit Sampler(const SamplingParams& params);

  // `generated`: the tokens this request generated so far (what the penalties look at).
  SampledToken Sample(std::span<const float> logits, std::span<const int32_t> generated,
                      int top_logprobs = 0);

  const SamplingParams& params() const { return params_; }

 private:
  double NextUniform();  // in [0, 1), from a 64-bit xoshiro-style generator

  SamplingParams params_;
  uint64_t rng_state_[4];
  std::vector<float> scratch_;
  std::vector<int32_t> order_;
};

}  // namespace jamba::engine

#endif  // JAMBA_ENGINE_SAMPLER_H_
