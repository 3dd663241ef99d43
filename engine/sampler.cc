// Sampling pipeline: penalties -> temperature -> top-k -> top-p -> min-p -> draw.
#include "engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <unordered_map>

#include "absl/strings/str_cat.h"

namespace jamba::engine {
namespace {

uint64_t SplitMix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

absl::Status FieldError(const char* field, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(field, " ", what));
}

}  // namespace

absl::Status ValidateSamplingParams(const SamplingParams& p, int64_t vocab_size) {
  if (!(p.temperature >= 0 && p.temperature <= 2)) {
    return FieldError("temperature", absl::StrCat("must be in [0, 2], got ", p.temperature));
  }
  if (!(p.top_p > 0 && p.top_p <= 1)) {
    return FieldError("top_p", absl::StrCat("must be in (0, 1], got ", p.top_p));
  }
  if (p.top_k < 0 || p.top_k > vocab_size) {
    return FieldError("top_k", absl::StrCat("must be in [0, ", vocab_size, "], got ", p.top_k));
  }
  if (!(p.min_p >= 0 && p.min_p < 1)) {
    return FieldError("min_p", absl::StrCat("must be in [0, 1), got ", p.min_p));
  }
  if (!(p.repetition_penalty > 0 && p.repetition_penalty <= 2)) {
    return FieldError("repetition_penalty",
                      absl::StrCat("must be in (0, 2], got ", p.repetition_penalty));
  }
  if (!std::isfinite(p.presence_penalty) || std::fabs(p.presence_penalty) > 2) {
    return FieldError("presence_penalty",
                      absl::StrCat("must be in [-2, 2], got ", p.presence_penalty));
  }
  if (!std::isfinite(p.frequency_penalty) || std::fabs(p.frequency_penalty) > 2) {
    return FieldError("frequency_penalty",
                      absl::StrCat("must be in [-2, 2], got ", p.frequency_penalty));
  }
  return absl::OkStatus();
}

Sampler::Sampler(const SamplingParams& params) : params_(params) {
  uint64_t seed = params.seed;
  for (uint64_t& s : rng_state_) s = SplitMix64(seed);
}

double Sampler::NextUniform() {
  // xoshiro256** step; its output does not depend on the standard library's distributions, so
  // the same seed gives the same tokens on every platform.
  uint64_t* s = rng_state_;
  const uint64_t result = Rotl(s[1] * 5, 7) * 9;
  const uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = Rotl(s[3], 45);
  return static_cast<double>(result >> 11) * 0x1.0p-53;
}

SampledToken Sampler::Sample(std::span<const float> logits, std::span<const int32_t> generated,
                             int top_logprobs) {
  const int32_t vocab = static_cast<int32_t>(logits.size());
  SampledToken out;

  // Raw log-softmax for the reported logprobs.
  float max_logit = -INFINITY;
  for (float v : logits) max_logit = std::max(max_logit, v);
  double sum = 0;
  for (float v : logits) sum += std::exp(static_cast<double>(v - max_logit));
  const float log_norm = max_logit + static_cast<float>(std::log(sum));

  std::vector<float>& x = scratch_;
  x.assign(logits.begin(), logits.end());
  if (params_.repetition_penalty != 1.0f) {
    for (int32_t token : generated) {
      if (token < 0 || token >= vocab) continue;
      // Once per distinct token (from the original logit), as transformers' gather/scatter does.
      const float original = logits[token];
      x[token] = original > 0 ? original / params_.repetition_penalty
                              : original * params_.repetition_penalty;
    }
  }
  if (params_.presence_penalty != 0.0f || params_.frequency_penalty != 0.0f) {
    std::unordered_map<int32_t, int> counts;
    for (int32_t token : generated) {
      if (token >= 0 && token < vocab) ++counts[token];
    }
    for (const auto& [token, count] : counts) {
      x[token] -= params_.presence_penalty + params_.frequency_penalty * static_cast<float>(count);
    }
  }

  if (params_.temperature == 0.0f) {
    out.token = static_cast<int32_t>(std::max_element(x.begin(), x.end()) - x.begin());
  } else {
    std::vector<int32_t>& order = order_;
    order.resize(static_cast<size_t>(vocab));
    std::iota(order.begin(), order.end(), 0);
    auto by_logit = [&x](int32_t a, int32_t b) { return x[a] > x[b] || (x[a] == x[b] && a < b); };
    int32_t keep = vocab;
    if (params_.top_k > 0 && params_.top_k < vocab) {
      keep = params_.top_k;
      std::partial_sort(order.begin(), order.begin() + keep, order.end(), by_logit);
    } else {
      std::sort(order.begin(), order.end(), by_logit);
    }
    // Probabilities of the kept candidates at this temperature, best first.
    const float inv_t = 1.0f / params_.temperature;
    std::vector<double> probs(static_cast<size_t>(keep));
    double total = 0;
    for (int32_t i = 0; i < keep; ++i) {
      probs[i] = std::exp(static_cast<double>((x[order[i]] - x[order[0]]) * inv_t));
      total += probs[i];
    }
    for (double& p : probs) p /= total;
    if (params_.top_p < 1.0f) {
      double mass = 0;
      int32_t cut = keep;
      for (int32_t i = 0; i < keep; ++i) {
        mass += probs[i];
        if (mass >= params_.top_p) {
          cut = i + 1;
          break;
        }
      }
      keep = cut;
    }
    if (params_.min_p > 0.0f) {
      const double floor = params_.min_p * probs[0];
      int32_t cut = 1;
      while (cut < keep && probs[cut] >= floor) ++cut;
      keep = cut;
    }
    double kept_mass = 0;
    for (int32_t i = 0; i < keep; ++i) kept_mass += probs[i];
    const double r = NextUniform() * kept_mass;
    double acc = 0;
    out.token = order[keep - 1];
    for (int32_t i = 0; i < keep; ++i) {
      acc += probs[i];
      if (r < acc) {
        out.token = order[i];
        break;
      }
    }
  }

  out.logprob = logits[out.token] - log_norm;
  if (top_logprobs > 0) {
    const int32_t n = std::min(top_logprobs, vocab);
    std::vector<int32_t> best(static_cast<size_t>(vocab));
    std::iota(best.begin(), best.end(), 0);
    std::partial_sort(best.begin(), best.begin() + n, best.end(), [&](int32_t a, int32_t b) {
      return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
    });
    for (int32_t i = 0; i < n; ++i)
      out.top_logprobs.push_back({best[i], logits[best[i]] - log_norm});
  }
  return out;
}

}  // namespace jamba::engine
