// bf16 activations (CpuBackendOptions::bf16_activations): products of BF16 matrices against a
// double-precision reference over the bf16-rounded activations, on awkward shapes (1 row,
// 1 column, widths that are not multiples of the 32-wide dot-product step, token counts across
// every tile width and the 48-token block); a token's result is bitwise the same alone or in any
// batch, a row's alone or in a group of four, and with row-major or interleaved weights; other
// dtypes take the fp32 path unchanged.
// Skipped (and says so) without AVX512_BF16.
#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/matmul_bf16_dot.h"
#include "kernels/dtype.h"

namespace jamba::kernels::cpu {
namespace {

class Bf16DotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!CpuHasAvx512Bf16()) GTEST_SKIP() << "this CPU has no AVX512_BF16";
    auto backend = CpuBackend::Create({.num_threads = 3, .bf16_activations = true});
    ASSERT_TRUE(backend.ok()) << backend.status();
    backend_ = std::move(*backend);
  }

  std::vector<uint16_t> RandomBf16(int64_t count) {
    std::vector<uint16_t> out(static_cast<size_t>(count));
    for (auto& v : out) v = F32ToBF16(dist_(rng_));
    return out;
  }
  std::vector<float> RandomFloats(int64_t count) {
    std::vector<float> out(static_cast<size_t>(count));
    for (auto& v : out) v = dist_(rng_);
    return out;
  }

  std::mt19937 rng_{7};
  std::normal_distribution<float> dist_{0.0f, 1.0f};
  std::unique_ptr<CpuBackend> backend_;
};

TEST_F(Bf16DotTest, MatchesReferenceOnAwkwardShapes) {
  for (int64_t rows : {1, 3, 4, 5, 17, 64}) {
    for (int64_t cols : {1, 2, 31, 32, 33, 100, 2050}) {
      for (int64_t n : {1, 2, 3, 4, 5, 6, 7, 13, 49}) {
        const std::vector<uint16_t> w = RandomBf16(rows * cols);
        const std::vector<float> x = RandomFloats(n * cols);
        const std::vector<float> bias = RandomFloats(rows);
        std::vector<float> y(static_cast<size_t>(n * rows));
        const Matrix m{w.data(), DType::kBF16, rows, cols, nullptr};
        backend_->MatMul(m, x.data(), n, y.data(), bias.data());
        for (int64_t t = 0; t < n; ++t) {
          for (int64_t r = 0; r < rows; ++r) {
            double sum = 0, magnitude = 0;
            for (int64_t k = 0; k < cols; ++k) {
              const double term = static_cast<double>(BF16ToF32(w[r * cols + k])) *
                                  BF16ToF32(F32ToBF16(x[t * cols + k]));
              sum += term;
              magnitude += std::fabs(term);
            }
            // fp32 accumulation of exact bf16 products: a few ulps of the terms' total.
            ASSERT_NEAR(y[t * rows + r], sum + bias[r], 1e-5 * magnitude + 1e-5)
                << rows << "x" << cols << ", n=" << n << ", token " << t << ", row " << r;
          }
        }
      }
    }
  }
}

TEST_F(Bf16DotTest, TokenResultIsBitwiseTheSameAloneOrInAnyBatch) {
  const int64_t rows = 37, cols = 300, n = 61;  // 61 tokens: two token blocks and every tile
  const std::vector<uint16_t> w = RandomBf16(rows * cols);
  const std::vector<float> x = RandomFloats(n * cols);
  const Matrix m{w.data(), DType::kBF16, rows, cols, nullptr};
  std::vector<float> batched(static_cast<size_t>(n * rows));
  backend_->MatMul(m, x.data(), n, batched.data(), nullptr);
  for (int64_t t = 0; t < n; ++t) {
    std::vector<float> alone(static_cast<size_t>(rows));
    backend_->MatMul(m, x.data() + t * cols, 1, alone.data(), nullptr);
    for (int64_t r = 0; r < rows; ++r)
      ASSERT_EQ(alone[r], batched[t * rows + r]) << "token " << t << ", row " << r;
  }
}

// Rows in groups of four share their reduction's shuffles (StoreFourSums); a row left alone
// (the rows % 4 tail) reduces by itself. Both must add in the same order.
TEST_F(Bf16DotTest, RowResultIsBitwiseTheSameInAFourRowGroupOrAlone) {
  const int64_t rows = 8;
  for (int64_t cols : {32, 128, 100, 2048}) {  // 100: a scalar tail after the reduction
    for (int64_t n : {1, 4, 6, 13}) {
      const std::vector<uint16_t> w = RandomBf16(rows * cols);
      const std::vector<float> x = RandomFloats(n * cols);
      const int64_t stride = Bf16ActivationStride(cols);
      std::vector<uint16_t> xb(static_cast<size_t>(n * stride));
      RoundActivationsToBf16(x.data(), cols, n, cols, xb.data(), stride);
      const Matrix m{w.data(), DType::kBF16, rows, cols, nullptr};
      std::vector<float> grouped(static_cast<size_t>(n * rows)), alone(grouped.size());
      Bf16DotRows(m, 0, rows, xb.data(), stride, n, grouped.data(), rows);
      for (int64_t r = 0; r < rows; ++r)
        Bf16DotRows(m, r, r + 1, xb.data(), stride, n, alone.data(), rows);
      ASSERT_EQ(grouped, alone) << rows << "x" << cols << ", n=" << n;
    }
  }
}

TEST_F(Bf16DotTest, InterleavedWeightsGiveBitwiseTheProductsOfRowMajorWeights) {
  for (int64_t rows : {4, 16, 36}) {
    for (int64_t cols : {32, 96, 2048}) {
      const std::vector<uint16_t> w = RandomBf16(rows * cols);
      const Matrix host{w.data(), DType::kBF16, rows, cols, nullptr};
      auto packed = backend_->PrepareMatrix(host, WeightFormat::kAsStored);
      ASSERT_TRUE(packed.ok()) << packed.status();
      ASSERT_EQ(packed->layout, MatrixLayout::kInterleaved);
      for (int64_t n : {1, 3, 6, 16, 49}) {
        const std::vector<float> x = RandomFloats(n * cols);
        std::vector<float> a(static_cast<size_t>(n * rows)), b(a.size());
        backend_->MatMul(host, x.data(), n, a.data(), nullptr);
        backend_->MatMul(*packed, x.data(), n, b.data(), nullptr);
        ASSERT_EQ(a, b) << rows << "x" << cols << ", n=" << n;
      }
    }
  }
}

TEST_F(Bf16DotTest, OtherDtypesKeepFp32Activations) {
  auto fp32 = CpuBackend::Create({.num_threads = 3});
  ASSERT_TRUE(fp32.ok());
  const int64_t rows = 9, cols = 70, n = 5;
  const std::vector<float> w = RandomFloats(rows * cols);
  const std::vector<float> x = RandomFloats(n * cols);
  const Matrix m{w.data(), DType::kF32, rows, cols, nullptr};
  std::vector<float> a(static_cast<size_t>(n * rows)), b(a.size());
  backend_->MatMul(m, x.data(), n, a.data(), nullptr);
  (*fp32)->MatMul(m, x.data(), n, b.data(), nullptr);
  EXPECT_EQ(a, b);
}

TEST_F(Bf16DotTest, BackendNameSaysSo) {
  EXPECT_NE(backend_->Name().find("bf16-activations"), std::string::npos) << backend_->Name();
}

}  // namespace
}  // namespace jamba::kernels::cpu
