// A token's result must not depend on what it is batched with: MatMul and the whole model give
// bitwise-identical outputs for a token computed alone, in a small decode batch, or inside a large
// prefill chunk (which takes the packed-weights path). This is what makes concurrent requests
// produce exactly the tokens they produce alone, and resumed sessions exactly what uninterrupted
// ones do.
#include <cstring>
#include <random>
#include <vector>

#include "engine/forward_workspace.h"
#include "engine/jamba_model.h"
#include "gtest/gtest.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/matmul_bf16_dot.h"
#include "tests/util/test_util.h"

namespace jamba {
namespace {

using kernels::DType;
using kernels::cpu::CpuBackend;
using kernels::cpu::SimdTarget;

std::vector<SimdTarget> Targets() { return kernels::cpu::SupportedSimdTargets(); }

std::vector<uint16_t> RandomBf16(size_t n, std::mt19937& rng) {
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<uint16_t> out(n);
  for (auto& v : out) v = kernels::F32ToBF16(dist(rng));
  return out;
}

// Every SIMD target with fp32 activations, then bf16 activations where the CPU has them.
std::vector<kernels::cpu::CpuBackendOptions> BackendOptions() {
  std::vector<kernels::cpu::CpuBackendOptions> all;
  for (SimdTarget target : Targets()) all.push_back({.num_threads = 3, .simd_target = target});
  if (kernels::cpu::CpuHasAvx512Bf16()) all.push_back({.num_threads = 3, .bf16_activations = true});
  return all;
}

TEST(BatchInvarianceTest, MatMulRowsAreBitwiseEqualForEveryBatchSize) {
  std::mt19937 rng(7);
  for (const kernels::cpu::CpuBackendOptions& options : BackendOptions()) {
    const SimdTarget target = options.simd_target.value_or(kernels::cpu::BestSimdTarget());
    for (DType dtype : {DType::kBF16, DType::kF32, DType::kI8}) {
      // 72 x 256 is interleaved when prepared (MatrixLayout), and 64 x 256 too, or pair blocks
      // for bf16 activations; the others stay row-major.
      for (const auto& [rows, cols] :
           {std::pair<int64_t, int64_t>{70, 37}, {70, 256}, {70, 1000}, {72, 256}, {64, 256}}) {
        auto backend = CpuBackend::Create(options);
        ASSERT_TRUE(backend.ok());
        const std::vector<uint16_t> bf16 = RandomBf16(static_cast<size_t>(rows * cols), rng);
        std::vector<float> f32(bf16.size());
        kernels::ConvertToF32(bf16.data(), DType::kBF16, f32.size(), f32.data());
        kernels::Matrix host{
            dtype == DType::kF32 ? static_cast<const void*>(f32.data()) : bf16.data(),
            dtype == DType::kF32 ? DType::kF32 : DType::kBF16, rows, cols, nullptr};
        auto w =
            (*backend)->PrepareMatrix(host, dtype == DType::kI8 ? kernels::WeightFormat::kInt8
                                                                : kernels::WeightFormat::kAsStored);
        ASSERT_TRUE(w.ok());
        const int64_t n = 101;
        std::normal_distribution<float> dist(0.0f, 1.0f);
        std::vector<float> x(static_cast<size_t>(n * cols));
        for (float& v : x) v = dist(rng);
        std::vector<float> all(static_cast<size_t>(n * rows));
        (*backend)->MatMul(*w, x.data(), n, all.data(), nullptr);
        for (int64_t batch : {1, 2, 3, 5, 7, 13}) {
          for (int64_t t0 = 0; t0 + batch <= n; t0 += 17) {
            std::vector<float> part(static_cast<size_t>(batch * rows));
            (*backend)->MatMul(*w, x.data() + t0 * cols, batch, part.data(), nullptr);
            ASSERT_EQ(0,
                      std::memcmp(part.data(), all.data() + t0 * rows, part.size() * sizeof(float)))
                << "target " << kernels::cpu::SimdTargetName(target)
                << (options.bf16_activations ? " bf16 activations" : "") << " dtype "
                << kernels::DTypeName(dtype) << " cols " << cols << " batch " << batch << " at "
                << t0;
          }
        }
      }
    }
  }
}

void ExpectLogitsBitwiseEqualForEveryChunkingAndBatch(
    const kernels::cpu::CpuBackendOptions& options) {
  auto backend = CpuBackend::Create(options);
  ASSERT_TRUE(backend.ok());
  auto model = engine::JambaModel::Load(testing::GoldenDir("hybrid8_moe_bf16"), **backend, {});
  ASSERT_TRUE(model.ok()) << model.status();
  engine::ForwardWorkspace ws(**backend);
  std::vector<int32_t> ids;
  for (int i = 0; i < 64; ++i) ids.push_back(3 + (i * 37) % 500);
  std::vector<std::vector<float>> by_chunk;
  for (int64_t chunk : {1, 5, 64}) {
    auto state = (*model)->NewSequence();
    ASSERT_TRUE(state.ok());
    std::vector<float> logits;
    ASSERT_TRUE((*model)->Prefill(*state, ids, ws, chunk, &logits).ok());
    by_chunk.push_back(std::move(logits));
  }
  EXPECT_EQ(by_chunk[0], by_chunk[1]);
  EXPECT_EQ(by_chunk[0], by_chunk[2]);
  // The same sequence batched with two others in one forward pass.
  auto a = (*model)->NewSequence();
  auto b = (*model)->NewSequence();
  auto c = (*model)->NewSequence();
  const std::vector<int32_t> other1(ids.rbegin(), ids.rend());
  const std::vector<int32_t> other2(40, 9);
  std::vector<engine::ForwardItem> batch = {
      {&*b, other1, false}, {&*a, ids, true}, {&*c, other2, false}};
  std::vector<std::vector<float>> logits;
  ASSERT_TRUE((*model)->Forward(batch, ws, &logits).ok());
  EXPECT_EQ(logits[1], by_chunk[0]);
}

TEST(BatchInvarianceTest, ModelLogitsAreBitwiseEqualForEveryChunkingAndBatch) {
  ExpectLogitsBitwiseEqualForEveryChunkingAndBatch({.num_threads = 2});
}

// The same with bf16 activations: pair-block weights and the MoE's few-token products.
TEST(BatchInvarianceTest, ModelLogitsAreBitwiseEqualForEveryChunkingAndBatchWithBf16Activations) {
  if (!kernels::cpu::CpuHasAvx512Bf16()) GTEST_SKIP() << "this CPU has no AVX512_BF16";
  ExpectLogitsBitwiseEqualForEveryChunkingAndBatch({.num_threads = 2, .bf16_activations = true});
}

// Packed weights (interleaved row groups in the backend's memory) and weights used in place from
// the mapped checkpoint give bitwise the same logits, prefill and decode. (With bf16 activations
// packed weights are pair blocks, whose sums round differently from row-major ones.)
TEST(BatchInvarianceTest, ModelLogitsAreBitwiseEqualWithPackedAndInPlaceWeights) {
  std::vector<std::vector<float>> results;
  for (bool pack : {true, false}) {
    auto backend = CpuBackend::Create({.num_threads = 2, .pack_weights = pack});
    ASSERT_TRUE(backend.ok());
    EXPECT_EQ((*backend)->KeepsHostWeights(), !pack);
    auto model = engine::JambaModel::Load(testing::GoldenDir("hybrid8_moe_bf16"), **backend, {});
    ASSERT_TRUE(model.ok()) << model.status();
    engine::ForwardWorkspace ws(**backend);
    std::vector<int32_t> ids;
    for (int i = 0; i < 40; ++i) ids.push_back(3 + (i * 53) % 500);
    auto state = (*model)->NewSequence();
    ASSERT_TRUE(state.ok());
    std::vector<float> logits;
    ASSERT_TRUE((*model)->Prefill(*state, ids, ws, 40, &logits).ok());
    results.push_back(logits);
    ASSERT_TRUE((*model)->Prefill(*state, std::vector<int32_t>{17}, ws, 1, &logits).ok());
    results.push_back(logits);
  }
  EXPECT_EQ(results[0], results[2]);
  EXPECT_EQ(results[1], results[3]);
}

}  // namespace
}  // namespace jamba
