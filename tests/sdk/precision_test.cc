// EngineOptions::precision: what auto, exact and fast resolve to on each kind of machine, the
// expert overrides, the errors (unknown names, what CUDA cannot run), what an Engine reports, and
// the contract of each preset against the golden references: exact holds 1e-4, fast stays close.
#include "sdk/precision.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "engine/npy.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "jamba/engine.h"
#include "kernels/cpu/matmul_bf16_dot.h"
#include "tests/util/test_util.h"

namespace jamba::sdk {
namespace {

using kernels::KvDType;
using ::testing::HasSubstr;

Precision Resolve(PrecisionRequest request) {
  auto p = ResolvePrecision(request);
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *p : Precision{};
}

TEST(PrecisionTest, AutoIsFastOnACpuWithAvx512Bf16AndExactElsewhere) {
  const Precision fast = Resolve({.precision = "auto", .cpu_has_bf16 = true});
  EXPECT_EQ(fast.name, "fast");
  EXPECT_TRUE(fast.bf16_activations);
  EXPECT_EQ(fast.kv_dtype, KvDType::kBF16);
  const Precision exact = Resolve({.precision = "auto", .cpu_has_bf16 = false});
  EXPECT_EQ(exact.name, "exact");
  EXPECT_FALSE(exact.bf16_activations);
  EXPECT_EQ(exact.kv_dtype, KvDType::kF32);
  EXPECT_EQ(Resolve({.precision = "auto", .cuda = true, .cpu_has_bf16 = true}).name, "exact");
}

TEST(PrecisionTest, FastWithoutAvx512Bf16KeepsFp32ActivationsAndABf16Cache) {
  const Precision p = Resolve({.precision = "fast", .cpu_has_bf16 = false});
  EXPECT_EQ(p.name, "fast");
  EXPECT_FALSE(p.bf16_activations);
  EXPECT_EQ(p.kv_dtype, KvDType::kBF16);
}

TEST(PrecisionTest, TheKnobsOverrideThePresetAndMakeItCustom) {
  const Precision int8 = Resolve({.precision = "exact", .kv_dtype = "int8", .cpu_has_bf16 = true});
  EXPECT_EQ(int8.name, "custom");
  EXPECT_FALSE(int8.bf16_activations);
  EXPECT_EQ(int8.kv_dtype, KvDType::kI8);
  const Precision fp32_activations =
      Resolve({.precision = "fast", .activations = "fp32", .cpu_has_bf16 = true});
  EXPECT_EQ(fp32_activations.name, "custom");
  EXPECT_EQ(fp32_activations.kv_dtype, KvDType::kBF16);
  // Knobs that spell out a preset are that preset.
  EXPECT_EQ(Resolve({.precision = "fast", .activations = "fp32", .kv_dtype = "fp32"}).name,
            "exact");
}

TEST(PrecisionTest, UnknownNamesAreRefusedNamingTheSetting) {
  const std::vector<std::pair<PrecisionRequest, std::string>> bad = {
      {{.precision = "medium"}, "precision"},
      {{.activations = "fp16"}, "activations"},
      {{.kv_dtype = "fp16"}, "kv_dtype"},
      {{.kv_dtype = "fp8_e4m3"}, "kv_dtype"},  // measured in the kernels, not offered
  };
  for (const auto& [request, field] : bad) {
    const auto p = ResolvePrecision(request);
    ASSERT_FALSE(p.ok()) << field;
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(p.status().message(), HasSubstr(field));
  }
}

// The CUDA backend has no kernels for a reduced-precision cache (none could be tested without a
// GPU): refused with the setting named, before anything loads.
TEST(PrecisionTest, CudaRefusesAReducedPrecisionCacheNamingTheSetting) {
  for (const char* kv : {"bf16", "int8"}) {
    const auto p = ResolvePrecision({.kv_dtype = kv, .cuda = true});
    ASSERT_FALSE(p.ok());
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(p.status().message(), HasSubstr(std::string("kv_dtype=") + kv));
    EXPECT_THAT(p.status().message(), HasSubstr("CUDA"));
  }
  EXPECT_FALSE(ResolvePrecision({.precision = "fast", .cuda = true}).ok());
  EXPECT_TRUE(ResolvePrecision({.precision = "exact", .cuda = true}).ok());
  auto engine = Engine::Open(testing::GoldenDir("hybrid4_dense_f32"),
                             {.device = "cuda", .precision = "fast"});
  ASSERT_FALSE(engine.ok());
  EXPECT_THAT(engine.status().message(), HasSubstr("kv_dtype=bf16"));
}

TEST(PrecisionTest, TheEngineReportsWhatItResolvedTo) {
  const std::string model = testing::GoldenDir("hybrid8_moe_f32_sharded");
  auto automatic = Engine::Open(model, {.threads = 1});
  ASSERT_TRUE(automatic.ok()) << automatic.status();
  const bool bf16 = kernels::cpu::CpuHasAvx512Bf16();
  EXPECT_EQ((*automatic)->model_info().precision, bf16 ? "fast" : "exact");
  EXPECT_EQ((*automatic)->model_info().kv_dtype, bf16 ? "bf16" : "fp32");
  auto int8 = Engine::Open(model, {.threads = 1, .precision = "exact", .kv_dtype = "int8"});
  ASSERT_TRUE(int8.ok()) << int8.status();
  const ModelInfo& info = (*int8)->model_info();
  EXPECT_EQ(info.precision, "custom");
  EXPECT_EQ(info.activations, "fp32");
  EXPECT_EQ(info.kv_dtype, "int8");
  // 4 bytes of scale per KV head and row: a quarter of fp32 plus a little.
  EXPECT_EQ(info.kv_bytes_per_token, int64_t{2} * info.num_attention_layers *
                                         info.num_key_value_heads * (info.head_dim + 4));
}

struct Deviation {
  double max_abs = 0, mean_abs = 0, argmax_agreement = 0;
};

Deviation Compare(const std::vector<float>& ours, const std::vector<float>& reference,
                  int64_t vocab) {
  Deviation d;
  const int64_t rows = static_cast<int64_t>(reference.size()) / vocab;
  int agree = 0;
  for (int64_t t = 0; t < rows; ++t) {
    const float* a = ours.data() + t * vocab;
    const float* b = reference.data() + t * vocab;
    agree += std::max_element(a, a + vocab) - a == std::max_element(b, b + vocab) - b;
    for (int64_t v = 0; v < vocab; ++v) {
      const double diff = std::fabs(static_cast<double>(a[v]) - b[v]);
      d.max_abs = std::max(d.max_abs, diff);
      d.mean_abs += diff;
    }
  }
  d.mean_abs /= static_cast<double>(reference.size());
  d.argmax_agreement = static_cast<double>(agree) / static_cast<double>(rows);
  return d;
}

// Each golden case through the public API: exact holds the golden tolerance (1e-4) the engine's
// own golden tests hold; fast (on this machine) moves the logits a little. The figures are
// printed; bench/results/precision.json records them (jamba_precision_report).
TEST(PrecisionTest, ExactHoldsTheGoldenReferencesAndFastStaysClose) {
  for (const char* name :
       {"hybrid4_dense_f32", "hybrid4_tied_f32", "hybrid8_moe_bf16", "hybrid8_moe_f32_sharded"}) {
    const std::string dir = testing::GoldenDir(name);
    const std::string suffix = std::string(name) == "hybrid8_moe_bf16" ? "_f32compute" : "";
    auto ids = engine::ReadNpy(dir + "/input_ids.npy");
    auto ref = engine::ReadNpy(dir + "/logits_full" + suffix + ".npy");
    ASSERT_TRUE(ids.ok() && ref.ok());
    const std::vector<int64_t> ids64 = *ids->AsInts();
    const std::vector<int32_t> tokens(ids64.begin(), ids64.end());
    const std::vector<float> reference = *ref->AsFloats();
    for (const char* precision : {"exact", "fast"}) {
      auto engine = Engine::Open(dir, {.threads = 2, .precision = precision});
      ASSERT_TRUE(engine.ok()) << engine.status();
      auto logits = (*engine)->ComputeLogits(tokens, 7);
      ASSERT_TRUE(logits.ok()) << logits.status();
      const Deviation d = Compare(*logits, reference, (*engine)->model_info().vocab_size);
      std::printf("[%s] %s: max |dlogit| %.2e, mean %.2e, argmax agreement %.1f%%\n", precision,
                  name, d.max_abs, d.mean_abs, 100 * d.argmax_agreement);
      if (std::string(precision) == "exact") {
        EXPECT_LE(d.max_abs, 1e-4) << name;
        EXPECT_EQ(d.argmax_agreement, 1.0) << name;
      } else {
        EXPECT_LE(d.mean_abs, 2e-2) << name;
        EXPECT_GE(d.argmax_agreement, 0.9) << name;
      }
    }
  }
}

}  // namespace
}  // namespace jamba::sdk
