// Golden tests on the CUDA backend: the engine's forward pass, run with kernels::cuda::CudaBackend,
// against transformers' reference outputs (tests/data/golden). This exercises every op through
// the engine's real call sequence (batched rows, per-sequence conv/scan/attention, KV appends,
// overlapping row compaction) on the device. Skipped without a usable CUDA device.
//
// Tolerances: f32 checkpoints 1e-4 absolute on logits and states, as the CPU golden test (40-token
// prefills use SGEMM and fp32 kernels). The bf16 checkpoint is compared with its *_f32compute
// files at 2e-4: prefill GEMMs with more than 8 rows run on bf16 tensor cores with split (hi+lo)
// activations, at most 2^-16 relative per activation (see kernels/cuda/cuda_backend.h).
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
#include "kernels/cuda/cuda_backend.h"
#include "tests/util/test_util.h"

namespace jamba {
namespace {

using engine::ForwardWorkspace;
using engine::JambaModel;
using kernels::cuda::CudaBackend;

constexpr int kPrefill = 30;

struct GoldenCase {
  std::string name;
  std::string suffix;  // "_f32compute" for the bf16 case
  double tolerance;
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

class CudaGoldenTest : public ::testing::TestWithParam<GoldenCase> {
 protected:
  void SetUp() override {
    if (CudaBackend::DeviceCount() == 0) return;  // each test skips itself
    dir_ = testing::GoldenDir(GetParam().name);
    auto backend = CudaBackend::Create({});
    ASSERT_TRUE(backend.ok()) << backend.status();
    backend_ = *std::move(backend);
    auto model = JambaModel::Load(dir_, *backend_, {});
    ASSERT_TRUE(model.ok()) << model.status();
    model_ = *std::move(model);
    ws_ = std::make_unique<ForwardWorkspace>(*backend_);
    input_ids_ = LoadIds(dir_ + "/input_ids.npy");
    ASSERT_EQ(input_ids_.size(), 40u);
  }

  void TearDown() override {
    // Device memory held by the model and workspace goes back before the backend is destroyed.
    ws_.reset();
    model_.reset();
    backend_.reset();
  }

  std::string Ref(const std::string& stem) const {
    return dir_ + "/" + stem + GetParam().suffix + ".npy";
  }
  double tol() const { return GetParam().tolerance; }

  std::vector<float> FullLogits(int64_t chunk) {
    auto state = model_->NewSequence();
    EXPECT_TRUE(state.ok());
    std::vector<float> logits;
    EXPECT_TRUE(model_->Prefill(*state, input_ids_, *ws_, chunk, &logits).ok());
    return logits;
  }

  std::string dir_;
  std::unique_ptr<CudaBackend> backend_;
  std::unique_ptr<JambaModel> model_;
  std::unique_ptr<ForwardWorkspace> ws_;
  std::vector<int32_t> input_ids_;
};

constexpr const char* kNoDevice = "no CUDA device: the CUDA golden tests need a GPU";

TEST_P(CudaGoldenTest, FullSequenceAndChunkedPrefillLogitsMatchReference) {
  if (CudaBackend::DeviceCount() == 0) GTEST_SKIP() << kNoDevice;
  const std::vector<float> expected = LoadFloats(Ref("logits_full"));
  for (int64_t chunk : {int64_t{1} << 20, int64_t{1}, int64_t{7}, int64_t{30}}) {
    EXPECT_TRUE(testing::AllClose(FullLogits(chunk), expected, tol())) << "chunk " << chunk;
  }
}

TEST_P(CudaGoldenTest, EveryLayerHiddenStateMatchesReference) {
  if (CudaBackend::DeviceCount() == 0) GTEST_SKIP() << kNoDevice;
  auto state = model_->NewSequence();
  ASSERT_TRUE(state.ok());
  engine::HiddenStates hidden;
  const engine::ForwardItem item{&*state, input_ids_, true};
  // The hidden-state path compacts logit rows with an overlapping device Copy.
  ASSERT_TRUE(model_->Forward({&item, 1}, *ws_, nullptr, &hidden).ok());
  const std::vector<float> expected = LoadFloats(Ref("hidden_states_full"));
  const size_t per_entry = input_ids_.size() * model_->config().hidden_size;
  ASSERT_EQ(hidden.size() * per_entry, expected.size());
  for (size_t k = 0; k < hidden.size(); ++k) {
    const std::vector<float> ref(expected.begin() + k * per_entry,
                                 expected.begin() + (k + 1) * per_entry);
    float scale = 1.0f;
    for (float v : ref) scale = std::max(scale, std::fabs(v));
    EXPECT_TRUE(testing::AllClose(hidden[k], ref, tol() * scale)) << "hidden state entry " << k;
  }
}

TEST_P(CudaGoldenTest, IncrementalDecodeAndGreedyContinuationMatchReference) {
  if (CudaBackend::DeviceCount() == 0) GTEST_SKIP() << kNoDevice;
  auto state = model_->NewSequence();
  ASSERT_TRUE(state.ok());
  std::vector<float> logits;
  const std::span<const int32_t> ids(input_ids_);
  ASSERT_TRUE(model_->Prefill(*state, ids.first(kPrefill), *ws_, kPrefill, &logits).ok());
  for (size_t t = kPrefill; t < ids.size(); ++t) {
    ASSERT_TRUE(model_->Prefill(*state, ids.subspan(t, 1), *ws_, 1, &logits).ok());
  }
  EXPECT_TRUE(testing::AllClose(logits, LoadFloats(Ref("logits_incremental")), tol()));

  const std::vector<int32_t> expected = LoadIds(Ref("generate_new_tokens"));
  const std::vector<float> step_logits = LoadFloats(Ref("generate_step_logits"));
  const int64_t vocab = model_->config().vocab_size;
  std::vector<int32_t> generated;
  for (size_t step = 0; step < expected.size(); ++step) {
    const std::vector<float> ref(step_logits.begin() + step * vocab,
                                 step_logits.begin() + (step + 1) * vocab);
    EXPECT_TRUE(testing::AllClose(state->last_logits(), ref, tol())) << "step " << step;
    const int32_t next = Argmax(state->last_logits());
    generated.push_back(next);
    const std::vector<int32_t> one = {next};
    ASSERT_TRUE(model_->Prefill(*state, one, *ws_, 1).ok());
  }
  EXPECT_EQ(generated, expected);
}

TEST_P(CudaGoldenTest, BatchedForwardOfTwoSequencesMatchesSeparateRuns) {
  if (CudaBackend::DeviceCount() == 0) GTEST_SKIP() << kNoDevice;
  // Two sequences at different positions in one Forward: per-slice conv/scan/attention offsets.
  auto a = model_->NewSequence();
  auto b = model_->NewSequence();
  ASSERT_TRUE(a.ok() && b.ok());
  const std::span<const int32_t> ids(input_ids_);
  ASSERT_TRUE(model_->Prefill(*a, ids.first(kPrefill), *ws_, 64).ok());
  const engine::ForwardItem items[] = {{&*a, ids.subspan(kPrefill, 3), true},
                                       {&*b, ids.first(5), true}};
  std::vector<std::vector<float>> logits;
  ASSERT_TRUE(model_->Forward(items, *ws_, &logits).ok());
  const std::vector<float> full = LoadFloats(Ref("logits_full"));
  const int64_t vocab = model_->config().vocab_size;
  const std::vector<float> ref_a(full.begin() + kPrefill * vocab,
                                 full.begin() + (kPrefill + 3) * vocab);
  const std::vector<float> ref_b(full.begin(), full.begin() + 5 * vocab);
  EXPECT_TRUE(testing::AllClose(logits[0], ref_a, tol()));
  EXPECT_TRUE(testing::AllClose(logits[1], ref_b, tol()));
}

TEST_P(CudaGoldenTest, StateAfterPrefillMatchesReferenceCache) {
  if (CudaBackend::DeviceCount() == 0) GTEST_SKIP() << kNoDevice;
  auto state = model_->NewSequence();
  ASSERT_TRUE(state.ok());
  ASSERT_TRUE(
      model_->Prefill(*state, std::span<const int32_t>(input_ids_).first(kPrefill), *ws_, 8).ok());
  auto cache = engine::SafetensorsFile::Open(dir_ + "/cache_after_prefill30" + GetParam().suffix +
                                             ".safetensors");
  ASSERT_TRUE(cache.ok()) << cache.status();
  auto tensor = [&](const std::string& name) {
    const engine::TensorInfo* info = (*cache)->Find(name);
    EXPECT_NE(info, nullptr) << name;
    std::vector<float> values(static_cast<size_t>(info->num_elements()));
    kernels::ConvertToF32((*cache)->Data(*info), info->dtype, values.size(), values.data());
    return values;
  };
  const auto& config = model_->config();
  const int64_t inner = config.mamba_inner(), k = config.mamba_d_conv;
  const int64_t kv_heads = config.num_key_value_heads, dh = config.head_dim();
  for (int layer = 0; layer < config.num_hidden_layers; ++layer) {
    const std::string prefix = "layers." + std::to_string(layer) + ".";
    if (config.layers[layer].mixer == engine::MixerKind::kMamba) {
      std::vector<float> conv(static_cast<size_t>(state->conv_state_floats()));
      std::vector<float> ssm(static_cast<size_t>(state->ssm_state_floats()));
      state->ReadMambaState(layer, conv.data(), ssm.data());
      EXPECT_TRUE(testing::AllClose(ssm, tensor(prefix + "ssm_state"), tol())) << prefix;
      const std::vector<float> ref_conv = tensor(prefix + "conv_state");
      std::vector<float> newest(static_cast<size_t>(inner * (k - 1)));
      for (int64_t c = 0; c < inner; ++c) {
        for (int64_t j = 0; j < k - 1; ++j) newest[c * (k - 1) + j] = ref_conv[c * k + j + 1];
      }
      EXPECT_TRUE(testing::AllClose(conv, newest, tol())) << prefix;
    } else {
      std::vector<float> keys(static_cast<size_t>(kPrefill * state->kv_row_floats()));
      std::vector<float> values(keys.size());
      state->ReadKv(layer, 0, kPrefill, keys.data(), values.data());
      auto to_ours = [&](const std::vector<float>& ref) {
        std::vector<float> out(ref.size());
        for (int64_t h = 0; h < kv_heads; ++h) {
          for (int64_t t = 0; t < kPrefill; ++t) {
            for (int64_t d = 0; d < dh; ++d) {
              out[(t * kv_heads + h) * dh + d] = ref[(h * kPrefill + t) * dh + d];
            }
          }
        }
        return out;
      };
      EXPECT_TRUE(testing::AllClose(keys, to_ours(tensor(prefix + "key")), tol())) << prefix;
      EXPECT_TRUE(testing::AllClose(values, to_ours(tensor(prefix + "value")), tol())) << prefix;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllCases, CudaGoldenTest,
                         ::testing::Values(GoldenCase{"hybrid4_dense_f32", "", 1e-4},
                                           GoldenCase{"hybrid4_tied_f32", "", 1e-4},
                                           GoldenCase{"hybrid8_moe_f32_sharded", "", 1e-4},
                                           GoldenCase{"hybrid8_moe_bf16", "_f32compute", 2e-4}),
                         [](const auto& param_info) { return param_info.param.name; });

}  // namespace
}  // namespace jamba
