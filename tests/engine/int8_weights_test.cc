// Weight-only int8 (expert and dense MLP weights, one scale per output row, chosen at load time):
// reports how far its logits move from the model's own weights on the golden MoE case and on the
// demo model, and checks that the deviation stays small relative to the logits' spread.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "engine/forward_workspace.h"
#include "engine/jamba_model.h"
#include "gtest/gtest.h"
#include "kernels/cpu/cpu_backend.h"
#include "tests/util/test_util.h"

namespace jamba {
namespace {

struct Deviation {
  double max_abs = 0;
  double mean_abs = 0;
  double logit_std = 0;
  double argmax_agreement = 0;
};

Deviation Compare(const std::string& model_dir, int64_t tokens) {
  auto backend = kernels::cpu::CpuBackend::Create({.num_threads = 2});
  EXPECT_TRUE(backend.ok());
  engine::ModelOptions int8_options;
  int8_options.weights.int8_mlp = true;
  auto reference = engine::JambaModel::Load(model_dir, **backend, {});
  auto quantized = engine::JambaModel::Load(model_dir, **backend, int8_options);
  EXPECT_TRUE(reference.ok()) << reference.status();
  EXPECT_TRUE(quantized.ok()) << quantized.status();
  const int64_t vocab = (*reference)->config().vocab_size;
  std::vector<int32_t> ids;
  for (int64_t i = 0; i < tokens; ++i)
    ids.push_back(static_cast<int32_t>(3 + (i * 7919) % (vocab - 3)));
  engine::ForwardWorkspace ws(**backend);
  auto run = [&](const engine::JambaModel& model) {
    auto state = model.NewSequence();
    std::vector<float> logits;
    EXPECT_TRUE(model.Prefill(*state, ids, ws, 64, &logits).ok());
    return logits;
  };
  const std::vector<float> a = run(**reference);
  const std::vector<float> b = run(**quantized);
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
      "[int8] %s: max |dlogit| %.4f, mean |dlogit| %.5f, logit std %.3f, argmax agreement %.1f%%\n",
      model_dir.c_str(), d.max_abs, d.mean_abs, d.logit_std, 100 * d.argmax_agreement);
  ::testing::Test::RecordProperty("max_abs_logit_deviation", std::to_string(d.max_abs));
  ::testing::Test::RecordProperty("mean_abs_logit_deviation", std::to_string(d.mean_abs));
  return d;
}

TEST(Int8WeightsTest, GoldenMoeLogitsStayCloseToBf16) {
  const Deviation d = Compare(testing::GoldenDir("hybrid8_moe_bf16"), 40);
  EXPECT_GT(d.max_abs, 0.0);                  // the weights really are quantized
  EXPECT_LT(d.mean_abs, 0.03 * d.logit_std);  // a small fraction of the logits' spread
  EXPECT_GE(d.argmax_agreement, 0.9);
}

TEST(Int8WeightsTest, DemoModelLogitsStayCloseToBf16) {
  const Deviation d = Compare(testing::BinaryDir() + "/demo-model", 64);
  EXPECT_GT(d.max_abs, 0.0);
  EXPECT_LT(d.mean_abs, 0.03 * d.logit_std);
  EXPECT_GE(d.argmax_agreement, 0.9);
}

}  // namespace
}  // namespace jamba
