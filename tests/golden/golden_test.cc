// Golden tests: the engine against transformers' JambaForCausalLM on the reference checkpoints of
// tests/data/golden (see its README). Every case runs on every SIMD target this CPU supports.
//
// Tolerances: 1e-4 absolute on logits, states and K/V (the reference's own cached and uncached
// paths differ by up to 1.2e-5); hidden states 1e-4 relative to their magnitude. The bf16 case is
// compared with its *_f32compute files: we keep bf16 weights and compute in fp32, like that run.
#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "engine/forward_workspace.h"
#include "engine/jamba_model.h"
#include "engine/npy.h"
#include "engine/safetensors.h"
#include "gtest/gtest.h"
#include "kernels/cpu/cpu_backend.h"
#include "tests/util/test_util.h"

namespace jamba {
namespace {

using engine::ForwardWorkspace;
using engine::JambaModel;
using engine::SequenceState;
using kernels::cpu::SimdTarget;

constexpr double kLogitTolerance = 1e-4;
constexpr int kPrefill = 30;

struct GoldenCase {
  std::string name;
  std::string suffix;  // "_f32compute" for the bf16 case
};

// Test logs name the case instead of dumping its bytes.
void PrintTo(const GoldenCase& golden, std::ostream* out) { *out << golden.name; }

std::vector<float> LoadFloats(const std::string& path) {
  auto array = engine::ReadNpy(path);
  EXPECT_TRUE(array.ok()) << array.status();
  auto values = array->AsFloats();
  EXPECT_TRUE(values.ok()) << values.status();
  return *values;
}

std::vector<int32_t> LoadIds(const std::string& path) {
  auto array = engine::ReadNpy(path);
  EXPECT_TRUE(array.ok()) << array.status();
  auto values = array->AsInts();
  EXPECT_TRUE(values.ok()) << values.status();
  return std::vector<int32_t>(values->begin(), values->end());
}

int32_t Argmax(const std::vector<float>& v) {
  return static_cast<int32_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

class GoldenTest : public ::testing::TestWithParam<std::tuple<GoldenCase, SimdTarget>> {
 protected:
  void SetUp() override {
    const auto& [golden, target] = GetParam();
    const auto supported = kernels::cpu::SupportedSimdTargets();
    if (std::find(supported.begin(), supported.end(), target) == supported.end()) {
      GTEST_SKIP() << "SIMD target " << kernels::cpu::SimdTargetName(target)
                   << " is not supported by this CPU";
    }
    dir_ = testing::GoldenDir(golden.name);
    suffix_ = golden.suffix;
    auto backend = kernels::cpu::CpuBackend::Create({.num_threads = 2, .simd_target = target});
    ASSERT_TRUE(backend.ok()) << backend.status();
    backend_ = *std::move(backend);
    auto model = JambaModel::Load(dir_, *backend_, {});
    ASSERT_TRUE(model.ok()) << model.status();
    model_ = *std::move(model);
    ws_ = std::make_unique<ForwardWorkspace>(*backend_);
    input_ids_ = LoadIds(dir_ + "/input_ids.npy");
    ASSERT_EQ(input_ids_.size(), 40u);
  }

  std::string Ref(const std::string& stem) const { return dir_ + "/" + stem + suffix_ + ".npy"; }

  std::vector<float> FullLogits(int64_t chunk) {
    auto state = model_->NewSequence();
    EXPECT_TRUE(state.ok());
    std::vector<float> logits;
    EXPECT_TRUE(model_->Prefill(*state, input_ids_, *ws_, chunk, &logits).ok());
    return logits;
  }

  std::string dir_;
  std::string suffix_;
  std::unique_ptr<kernels::cpu::CpuBackend> backend_;
  std::unique_ptr<JambaModel> model_;
  std::unique_ptr<ForwardWorkspace> ws_;
  std::vector<int32_t> input_ids_;
};

TEST_P(GoldenTest, FullSequenceLogitsMatchReference) {
  EXPECT_TRUE(testing::AllClose(FullLogits(/*chunk=*/1 << 20), LoadFloats(Ref("logits_full")),
                                kLogitTolerance));
}

TEST_P(GoldenTest, EveryLayerHiddenStateMatchesReference) {
  auto state = model_->NewSequence();
  ASSERT_TRUE(state.ok());
  engine::HiddenStates hidden;
  const engine::ForwardItem item{&*state, input_ids_, true};
  ASSERT_TRUE(model_->Forward({&item, 1}, *ws_, nullptr, &hidden).ok());
  const std::vector<float> expected = LoadFloats(Ref("hidden_states_full"));
  const size_t per_entry = input_ids_.size() * model_->config().hidden_size;
  ASSERT_EQ(hidden.size() * per_entry, expected.size());
  for (size_t k = 0; k < hidden.size(); ++k) {
    const std::vector<float> ref(expected.begin() + k * per_entry,
                                 expected.begin() + (k + 1) * per_entry);
    float scale = 1.0f;
    for (float v : ref) scale = std::max(scale, std::fabs(v));
    EXPECT_TRUE(testing::AllClose(hidden[k], ref, 1e-4 * scale)) << "hidden state entry " << k;
  }
}

TEST_P(GoldenTest, ChunkedPrefillGivesTheSameLogits) {
  const std::vector<float> expected = LoadFloats(Ref("logits_full"));
  for (int64_t chunk : {1, 7, 30}) {
    EXPECT_TRUE(testing::AllClose(FullLogits(chunk), expected, kLogitTolerance))
        << "chunk " << chunk;
  }
}

TEST_P(GoldenTest, IncrementalDecodeMatchesReference) {
  auto state = model_->NewSequence();
  ASSERT_TRUE(state.ok());
  std::vector<float> logits;
  const std::span<const int32_t> ids(input_ids_);
  ASSERT_TRUE(model_->Prefill(*state, ids.first(kPrefill), *ws_, kPrefill, &logits).ok());
  for (size_t t = kPrefill; t < ids.size(); ++t) {
    ASSERT_TRUE(model_->Prefill(*state, ids.subspan(t, 1), *ws_, 1, &logits).ok());
  }
  EXPECT_TRUE(testing::AllClose(logits, LoadFloats(Ref("logits_incremental")), kLogitTolerance));
}

TEST_P(GoldenTest, GreedyContinuationIsIdentical) {
  auto state = model_->NewSequence();
  ASSERT_TRUE(state.ok());
  ASSERT_TRUE(model_->Prefill(*state, input_ids_, *ws_, 64).ok());
  const std::vector<int32_t> expected = LoadIds(Ref("generate_new_tokens"));
  const std::vector<float> step_logits = LoadFloats(Ref("generate_step_logits"));
  const int64_t vocab = model_->config().vocab_size;
  std::vector<int32_t> generated;
  for (size_t step = 0; step < expected.size(); ++step) {
    const std::vector<float> ref(step_logits.begin() + step * vocab,
                                 step_logits.begin() + (step + 1) * vocab);
    EXPECT_TRUE(testing::AllClose(state->last_logits(), ref, kLogitTolerance)) << "step " << step;
    const int32_t next = Argmax(state->last_logits());
    generated.push_back(next);
    const std::vector<int32_t> one = {next};
    ASSERT_TRUE(model_->Prefill(*state, one, *ws_, 1).ok());
  }
  EXPECT_EQ(generated, expected);
}

TEST_P(GoldenTest, StateAfterPrefillMatchesReferenceCache) {
  auto state = model_->NewSequence();
  ASSERT_TRUE(state.ok());
  ASSERT_TRUE(
      model_->Prefill(*state, std::span<const int32_t>(input_ids_).first(kPrefill), *ws_, 8).ok());
  auto cache =
      engine::SafetensorsFile::Open(dir_ + "/cache_after_prefill30" + suffix_ + ".safetensors");
  ASSERT_TRUE(cache.ok()) << cache.status();
  auto tensor = [&](const std::string& name) {
    const engine::TensorInfo* info = (*cache)->Find(name);
    EXPECT_NE(info, nullptr) << name;
    std::vector<float> values(static_cast<size_t>(info->num_elements()));
    kernels::ConvertToF32((*cache)->Data(*info), info->dtype, values.size(), values.data());
    return values;
  };
  const auto& config = model_->config();
  const int64_t inner = config.mamba_inner(), k = config.mamba_d_conv,
                kv_heads = config.num_key_value_heads;
  const int64_t dh = config.head_dim();
  for (int layer = 0; layer < config.num_hidden_layers; ++layer) {
    const std::string prefix = "layers." + std::to_string(layer) + ".";
    if (config.layers[layer].mixer == engine::MixerKind::kMamba) {
      std::vector<float> conv(static_cast<size_t>(state->conv_state_floats()));
      std::vector<float> ssm(static_cast<size_t>(state->ssm_state_floats()));
      state->ReadMambaState(layer, conv.data(), ssm.data());
      EXPECT_TRUE(testing::AllClose(ssm, tensor(prefix + "ssm_state"), kLogitTolerance)) << prefix;
      // Reference conv_state is [I, K] oldest first; only the newest K-1 columns are state.
      const std::vector<float> ref_conv = tensor(prefix + "conv_state");
      std::vector<float> newest(static_cast<size_t>(inner * (k - 1)));
      for (int64_t c = 0; c < inner; ++c) {
        for (int64_t j = 0; j < k - 1; ++j) newest[c * (k - 1) + j] = ref_conv[c * k + j + 1];
      }
      EXPECT_TRUE(testing::AllClose(conv, newest, kLogitTolerance)) << prefix;
    } else {
      std::vector<float> keys(static_cast<size_t>(kPrefill * state->kv_row_floats()));
      std::vector<float> values(keys.size());
      state->ReadKv(layer, 0, kPrefill, keys.data(), values.data());
      // Reference K/V are [1, NKV, T, Dh]; ours are [T, NKV * Dh].
      auto to_ours = [&](const std::vector<float>& ref) {
        std::vector<float> out(ref.size());
        for (int64_t h = 0; h < kv_heads; ++h) {
          for (int64_t t = 0; t < kPrefill; ++t) {
            for (int64_t d = 0; d < dh; ++d)
              out[(t * kv_heads + h) * dh + d] = ref[(h * kPrefill + t) * dh + d];
          }
        }
        return out;
      };
      EXPECT_TRUE(testing::AllClose(keys, to_ours(tensor(prefix + "key")), kLogitTolerance))
          << prefix;
      EXPECT_TRUE(testing::AllClose(values, to_ours(tensor(prefix + "value")), kLogitTolerance))
          << prefix;
    }
  }
}

const GoldenCase kCases[] = {
    {"hybrid4_dense_f32", ""},
    {"hybrid4_tied_f32", ""},
    {"hybrid8_moe_f32_sharded", ""},
    {"hybrid8_moe_bf16", "_f32compute"},
};

INSTANTIATE_TEST_SUITE_P(AllCasesAllTargets, GoldenTest,
                         ::testing::Combine(::testing::ValuesIn(kCases),
                                            ::testing::Values(SimdTarget::kScalar,
                                                              SimdTarget::kAvx2,
                                                              SimdTarget::kAvx512)),
                         [](const auto& param_info) {
                           return std::get<0>(param_info.param).name + "_" +
                                  std::string(
                                      kernels::cpu::SimdTargetName(std::get<1>(param_info.param)));
                         });

}  // namespace
}  // namespace jamba
