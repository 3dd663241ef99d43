// The reduced-precision modes against exact computation (weights as stored, fp32 activations,
// fp32 KV cache), on the golden cases and on the demo model: weight-only int8 (expert and dense
// MLP weights, one scale per output row, chosen at load time), bf16 activations (AVX-512 BF16 dot
// products), and the KV cache in bf16, int8 (per token and head scales) and fp8 E4M3 (the 8-bit
// format int8 was chosen over; measured here, not offered). Each test reports how far the logits
// move and how often the greedy token stays the same, and checks that the deviation stays small
// relative to the logits' spread.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "engine/forward_workspace.h"
#include "engine/jamba_model.h"
#include "gtest/gtest.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/matmul_bf16_dot.h"
#include "tests/util/test_util.h"

namespace jamba {
namespace {

struct Deviation {
  double max_abs = 0;
  double mean_abs = 0;
  double logit_std = 0;
  double argmax_agreement = 0;
};

// One reduced-precision mode: how the model is loaded and on which backend.
struct Mode {
  const char* name;
  bool int8_mlp = false;
  bool bf16_activations = false;
  kernels::KvDType kv_dtype = kernels::KvDType::kF32;
};

Deviation Compare(const std::string& model_dir, int64_t tokens, const Mode& mode) {
  auto backend = kernels::cpu::CpuBackend::Create({.num_threads = 2});
  auto reduced_backend = kernels::cpu::CpuBackend::Create(
      {.num_threads = 2, .bf16_activations = mode.bf16_activations});
  EXPECT_TRUE(backend.ok());
  EXPECT_TRUE(reduced_backend.ok()) << reduced_backend.status();
  engine::ModelOptions reduced_options;
  reduced_options.weights.int8_mlp = mode.int8_mlp;
  reduced_options.kv_dtype = mode.kv_dtype;
  auto reference = engine::JambaModel::Load(model_dir, **backend, {});
  auto reduced = engine::JambaModel::Load(model_dir, **reduced_backend, reduced_options);
  EXPECT_TRUE(reference.ok()) << reference.status();
  EXPECT_TRUE(reduced.ok()) << reduced.status();
  const int64_t vocab = (*reference)->config().vocab_size;
  std::vector<int32_t> ids;
  for (int64_t i = 0; i < tokens; ++i)
    ids.push_back(static_cast<int32_t>(3 + (i * 7919) % (vocab - 3)));
  auto run = [&](const engine::JambaModel& model, kernels::Backend& on) {
    engine::ForwardWorkspace ws(on);
    auto state = model.NewSequence();
    std::vector<float> logits;
    EXPECT_TRUE(model.Prefill(*state, ids, ws, 64, &logits).ok());
    return logits;
  };
  const std::vector<float> a = run(**reference, **backend);
  const std::vector<float> b = run(**reduced, **reduced_backend);
  Deviation d;
  double sum = 0, sum_sq = 0;
  int agree = 0;
  for (int64_t t = 0; t < tokens; ++t) {
    const float* ra = a.data() + t * vocab;
    const float* rb = b.data() + t * vocab;
    agree += std::max_element(ra, ra + vocab) - ra == std::max_element(rb, rb + vocab) - rb;
    for (int64_t v = 0; v < vocab; ++v) {
      const double diff = std::fabs(static_cast<double>(ra[v]) - rb[v]);
      d.max_abs = std::max(d.max_abs, diff);
      d.mean_abs += diff;
      sum += ra[v];
      sum_sq += static_cast<double>(ra[v]) * ra[v];
    }
  }
  const double n = static_cast<double>(a.size());
  d.mean_abs /= n;
  d.logit_std = std::sqrt(sum_sq / n - (sum / n) * (sum / n));
  d.argmax_agreement = static_cast<double>(agree) / static_cast<double>(tokens);
  std::printf(
      "[%s] %s, %lld tokens: max |dlogit| %.4f, mean |dlogit| %.5f, logit std %.3f, argmax "
      "agreement %.1f%%\n",
      mode.name, model_dir.c_str(), static_cast<long long>(tokens), d.max_abs, d.mean_abs,
      d.logit_std, 100 * d.argmax_agreement);
  ::testing::Test::RecordProperty("max_abs_logit_deviation", std::to_string(d.max_abs));
  ::testing::Test::RecordProperty("mean_abs_logit_deviation", std::to_string(d.mean_abs));
  return d;
}

constexpr Mode kInt8{.name = "int8", .int8_mlp = true};
constexpr Mode kBf16Activations{.name = "bf16-activations", .bf16_activations = true};

TEST(Int8WeightsTest, GoldenMoeLogitsStayCloseToBf16) {
  const Deviation d = Compare(testing::GoldenDir("hybrid8_moe_bf16"), 40, kInt8);
  EXPECT_GT(d.max_abs, 0.0);                  // the weights really are quantized
  EXPECT_LT(d.mean_abs, 0.03 * d.logit_std);  // a small fraction of the logits' spread
  EXPECT_GE(d.argmax_agreement, 0.9);
}

TEST(Int8WeightsTest, DemoModelLogitsStayCloseToBf16) {
  const Deviation d = Compare(testing::BinaryDir() + "/demo-model", 64, kInt8);
  EXPECT_GT(d.max_abs, 0.0);
  EXPECT_LT(d.mean_abs, 0.03 * d.logit_std);
  EXPECT_GE(d.argmax_agreement, 0.9);
}

// bf16 activations keep 8 significant bits per activation, like a bf16 PyTorch run: the logits
// move less than with int8 weights.
TEST(Bf16ActivationsTest, GoldenMoeLogitsStayCloseToFp32Activations) {
  if (!kernels::cpu::CpuHasAvx512Bf16()) GTEST_SKIP() << "this CPU has no AVX512_BF16";
  const Deviation d = Compare(testing::GoldenDir("hybrid8_moe_bf16"), 40, kBf16Activations);
  EXPECT_GT(d.max_abs, 0.0);  // the activations really are rounded
  EXPECT_LT(d.mean_abs, 0.015 * d.logit_std);
  EXPECT_GE(d.argmax_agreement, 0.95);
}

TEST(Bf16ActivationsTest, DemoModelLogitsStayCloseToFp32Activations) {
  if (!kernels::cpu::CpuHasAvx512Bf16()) GTEST_SKIP() << "this CPU has no AVX512_BF16";
  const Deviation d = Compare(testing::BinaryDir() + "/demo-model", 64, kBf16Activations);
  EXPECT_GT(d.max_abs, 0.0);
  EXPECT_LT(d.mean_abs, 0.015 * d.logit_std);
  EXPECT_GE(d.argmax_agreement, 0.95);
}

constexpr Mode kBf16Kv{.name = "bf16-kv", .kv_dtype = kernels::KvDType::kBF16};
constexpr Mode kInt8Kv{.name = "int8-kv", .kv_dtype = kernels::KvDType::kI8};
constexpr Mode kFp8Kv{.name = "fp8-e4m3-kv", .kv_dtype = kernels::KvDType::kF8E4M3};

// A reduced-precision KV cache (fp32 activations): bf16 rounds each K and V value to 8
// significant bits, int8 to 1/254 of its head's largest magnitude, fp8 E4M3 to 4 significant
// bits. The golden cases are short (40 tokens), the demo model runs 1024 tokens of context.
// bf16 and int8 (the offered dtypes) within a small fraction of the logits' spread; fp8 E4M3,
// measured for the choice of the 8-bit format, moves them further than int8 on every case.
void ExpectCloseToAnFp32Cache(const std::string& model_dir, int64_t tokens) {
  const Deviation bf16 = Compare(model_dir, tokens, kBf16Kv);
  const Deviation int8 = Compare(model_dir, tokens, kInt8Kv);
  const Deviation fp8 = Compare(model_dir, tokens, kFp8Kv);
  for (const Deviation& d : {bf16, int8, fp8}) EXPECT_GT(d.max_abs, 0.0);  // really rounded
  EXPECT_LT(bf16.mean_abs, 0.005 * bf16.logit_std);
  EXPECT_LT(int8.mean_abs, 0.01 * int8.logit_std);
  EXPECT_GE(bf16.argmax_agreement, 0.95);
  EXPECT_GE(int8.argmax_agreement, 0.9);
  EXPECT_LT(int8.mean_abs, fp8.mean_abs);
}

TEST(KvDTypeTest, GoldenCasesStayCloseToAnFp32Cache) {
  for (const char* name :
       {"hybrid4_dense_f32", "hybrid4_tied_f32", "hybrid8_moe_bf16", "hybrid8_moe_f32_sharded"}) {
    SCOPED_TRACE(name);
    ExpectCloseToAnFp32Cache(testing::GoldenDir(name), 40);
  }
}

TEST(KvDTypeTest, DemoModelStaysCloseToAnFp32CacheOverALongerContext) {
  ExpectCloseToAnFp32Cache(testing::BinaryDir() + "/demo-model", 1024);
}

}  // namespace
}  // namespace jamba
