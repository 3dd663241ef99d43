// bf16 activations (CpuBackendOptions::bf16_activations): products of BF16 matrices against a
// double-precision reference over the bf16-rounded activations, on awkward shapes (1 row,
// 1 column, widths that are not multiples of the 32-wide dot-product step, token counts across
// every tile width and the 48-token block), in each layout the backend packs them in (pair
// blocks for rows % 16 == 0 and even columns, else interleaved or row-major); a token's result is
// bitwise the same alone or in any batch, a row's alone or in a group of rows, and with row-major
// or interleaved weights; other dtypes take the fp32 path unchanged.
// Skipped (and says so) without AVX512_BF16.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/matmul.h"
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

  // y (n x rows, from a product with activations x) against a double-precision sum of the exact
  // products of w and the bf16-rounded x: fp32 accumulation of exact bf16 products is within a
  // few ulps of the terms' total.
  static void ExpectMatchesReference(const std::vector<uint16_t>& w, const std::vector<float>& x,
                                     const float* bias, int64_t rows, int64_t cols, int64_t n,
                                     const std::vector<float>& y) {
    for (int64_t t = 0; t < n; ++t) {
      for (int64_t r = 0; r < rows; ++r) {
        double sum = 0, magnitude = 0;
        for (int64_t k = 0; k < cols; ++k) {
          const double term = static_cast<double>(BF16ToF32(w[r * cols + k])) *
                              BF16ToF32(F32ToBF16(x[t * cols + k]));
          sum += term;
          magnitude += std::fabs(term);
        }
        const double expected = sum + (bias != nullptr ? bias[r] : 0.0f);
        ASSERT_NEAR(y[t * rows + r], expected, 1e-5 * magnitude + 1e-5)
            << rows << "x" << cols << ", n=" << n << ", token " << t << ", row " << r;
      }
    }
  }

  // x (n tokens of `cols`) rounded to bf16 and laid out for `layout`, in `storage`.
  static Bf16Activations Rounded(MatrixLayout layout, const std::vector<float>& x, int64_t n,
                                 int64_t cols, std::vector<uint16_t>& storage) {
    storage.assign(static_cast<size_t>(Bf16ActivationElements(layout, n, cols)), 0);
    const Bf16Activations xb = Bf16ActivationsFor(layout, n, cols, storage.data());
    RoundActivationsToBf16(x.data(), cols, n, cols, xb, 0);
    return xb;
  }

  // `host` prepared by the backend, expecting `layout`.
  Matrix Prepare(const Matrix& host, MatrixLayout layout) {
    auto packed = backend_->PrepareMatrix(host, WeightFormat::kAsStored);
    EXPECT_TRUE(packed.ok()) << packed.status();
    EXPECT_EQ(packed->layout, layout) << host.rows << "x" << host.cols;
    return *packed;
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
        ExpectMatchesReference(w, x, bias.data(), rows, cols, n, y);
      }
    }
  }
}

// Pair blocks: one and several blocks (four-block tiles up to six tokens, then two-block tiles of
// up to twelve, and the blocks left over), columns from a single pair up, token counts across
// every tile width, with and without bias.
TEST_F(Bf16DotTest, PairBlockWeightsMatchReferenceOnAwkwardShapes) {
  for (int64_t rows : {16, 48, 80, 96}) {
    for (int64_t cols : {2, 30, 34, 100, 2050}) {
      const std::vector<uint16_t> w = RandomBf16(rows * cols);
      const Matrix packed =
          Prepare({w.data(), DType::kBF16, rows, cols, nullptr}, MatrixLayout::kPairBlocks);
      for (int64_t n : {1, 2, 3, 5, 6, 7, 12, 13, 16, 25, 49}) {
        const std::vector<float> x = RandomFloats(n * cols);
        const std::vector<float> bias = RandomFloats(rows);
        std::vector<float> y(static_cast<size_t>(n * rows));
        backend_->MatMul(packed, x.data(), n, y.data(), n % 2 == 0 ? bias.data() : nullptr);
        ExpectMatchesReference(w, x, n % 2 == 0 ? bias.data() : nullptr, rows, cols, n, y);
      }
    }
  }
}

TEST_F(Bf16DotTest, PacksPairBlocksOnlyForWholeBlocksOfEvenWidth) {
  auto layout_of = [&](int64_t rows, int64_t cols) {
    const std::vector<uint16_t> w = RandomBf16(rows * cols);
    auto packed = backend_->PrepareMatrix({w.data(), DType::kBF16, rows, cols, nullptr},
                                          WeightFormat::kAsStored);
    EXPECT_TRUE(packed.ok()) << packed.status();
    return packed->layout;
  };
  EXPECT_EQ(layout_of(16, 2), MatrixLayout::kPairBlocks);
  EXPECT_EQ(layout_of(32, 64), MatrixLayout::kPairBlocks);
  EXPECT_EQ(layout_of(20, 64), MatrixLayout::kInterleaved);  // not whole blocks
  EXPECT_EQ(layout_of(16, 33), MatrixLayout::kRowMajor);     // odd width
  // fp32 activations keep the interleaved layout their kernels read.
  auto fp32 = CpuBackend::Create({.num_threads = 2});
  ASSERT_TRUE(fp32.ok());
  const std::vector<uint16_t> w = RandomBf16(32 * 64);
  auto packed =
      (*fp32)->PrepareMatrix({w.data(), DType::kBF16, 32, 64, nullptr}, WeightFormat::kAsStored);
  ASSERT_TRUE(packed.ok());
  EXPECT_EQ(packed->layout, MatrixLayout::kInterleaved);
}

TEST_F(Bf16DotTest, TokenResultIsBitwiseTheSameAloneOrInAnyBatch) {
  const int64_t n = 61;  // 61 tokens: two token blocks and every tile
  // 37 x 300: row-major; 48 x 300: pair blocks.
  for (int64_t rows : {37, 48}) {
    const int64_t cols = 300;
    const std::vector<uint16_t> w = RandomBf16(rows * cols);
    const std::vector<float> x = RandomFloats(n * cols);
    auto m = backend_->PrepareMatrix({w.data(), DType::kBF16, rows, cols, nullptr},
                                     WeightFormat::kAsStored);
    ASSERT_TRUE(m.ok());
    std::vector<float> batched(static_cast<size_t>(n * rows));
    backend_->MatMul(*m, x.data(), n, batched.data(), nullptr);
    for (int64_t t = 0; t < n; ++t) {
      std::vector<float> alone(static_cast<size_t>(rows));
      backend_->MatMul(*m, x.data() + t * cols, 1, alone.data(), nullptr);
      for (int64_t r = 0; r < rows; ++r)
        ASSERT_EQ(alone[r], batched[t * rows + r]) << rows << " rows, token " << t << ", row " << r;
    }
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
      std::vector<uint16_t> storage;
      const Bf16Activations xb = Rounded(MatrixLayout::kRowMajor, x, n, cols, storage);
      const Matrix m{w.data(), DType::kBF16, rows, cols, nullptr};
      std::vector<float> grouped(static_cast<size_t>(n * rows)), alone(grouped.size());
      Bf16DotRows(m, 0, rows, xb, n, grouped.data(), rows);
      for (int64_t r = 0; r < rows; ++r) Bf16DotRows(m, r, r + 1, xb, n, alone.data(), rows);
      ASSERT_EQ(grouped, alone) << rows << "x" << cols << ", n=" << n;
    }
  }
}

// A pair block's rows come out the same whether the block is computed in a tile of four blocks,
// of two, or alone (the blocks left over), and whatever token tile a token falls in.
TEST_F(Bf16DotTest, PairBlockResultIsBitwiseTheSameInAnyTileOrAlone) {
  const int64_t rows = 5 * kPairBlockRows;  // a four-block tile and one left over
  for (int64_t cols : {2, 100, 2048}) {
    const std::vector<uint16_t> w = RandomBf16(rows * cols);
    const Matrix m =
        Prepare({w.data(), DType::kBF16, rows, cols, nullptr}, MatrixLayout::kPairBlocks);
    for (int64_t n : {1, 4, 6, 7, 13, 16}) {
      const std::vector<float> x = RandomFloats(n * cols);
      std::vector<uint16_t> storage;
      const Bf16Activations xb = Rounded(MatrixLayout::kPairBlocks, x, n, cols, storage);
      std::vector<float> together(static_cast<size_t>(n * rows)), apart(together.size());
      Bf16DotRows(m, 0, rows, xb, n, together.data(), rows);
      for (int64_t r = 0; r < rows; r += kPairBlockRows) {
        for (int64_t t = 0; t < n; ++t)
          Bf16DotRows(m, r, r + kPairBlockRows, xb.FromToken(t), 1, apart.data() + t * rows, rows);
      }
      ASSERT_EQ(together, apart) << rows << "x" << cols << ", n=" << n;
    }
  }
}

// Activations written a range of columns at a time (as the MoE writes the down projection's
// inputs, one piece of rows after another) are the activations written at once, and every
// element is the bf16 rounding of its input: token rows, and pairs side by side for 16 tokens at
// a time (a full group, a partial one after it, a lone partial one), 32 columns a step and a tail.
TEST_F(Bf16DotTest, ActivationsRoundedInColumnPiecesEqualRoundedAtOnce) {
  const int64_t cols = 70;
  for (int64_t n : {3, 16, 21}) {
    const std::vector<float> x = RandomFloats(n * cols);
    for (MatrixLayout layout : {MatrixLayout::kRowMajor, MatrixLayout::kPairBlocks}) {
      std::vector<uint16_t> whole;
      const Bf16Activations a = Rounded(layout, x, n, cols, whole);
      std::vector<uint16_t> pieces(whole.size());
      const Bf16Activations p = Bf16ActivationsFor(layout, n, cols, pieces.data());
      for (const auto& [c0, width] : {std::pair<int64_t, int64_t>{0, 18}, {18, 32}, {50, 20}})
        RoundActivationsToBf16(x.data() + c0, cols, n, width, p, c0);
      for (int64_t t = 0; t < n; ++t) {
        for (int64_t k = 0; k < cols; ++k) {
          ASSERT_EQ(whole[a.Offset(t, k)], F32ToBF16(x[t * cols + k]))
              << "n=" << n << ", token " << t << ", col " << k;
          ASSERT_EQ(pieces[a.Offset(t, k)], whole[a.Offset(t, k)])
              << "n=" << n << ", token " << t << ", col " << k;
        }
      }
    }
  }
}

TEST_F(Bf16DotTest, InterleavedWeightsGiveBitwiseTheProductsOfRowMajorWeights) {
  for (int64_t rows : {4, 20, 36}) {  // not whole pair blocks
    for (int64_t cols : {32, 96, 2048}) {
      const std::vector<uint16_t> w = RandomBf16(rows * cols);
      const Matrix host{w.data(), DType::kBF16, rows, cols, nullptr};
      const Matrix packed = Prepare(host, MatrixLayout::kInterleaved);
      for (int64_t n : {1, 3, 6, 16, 49}) {
        const std::vector<float> x = RandomFloats(n * cols);
        std::vector<float> a(static_cast<size_t>(n * rows)), b(a.size());
        backend_->MatMul(host, x.data(), n, a.data(), nullptr);
        backend_->MatMul(packed, x.data(), n, b.data(), nullptr);
        ASSERT_EQ(a, b) << rows << "x" << cols << ", n=" << n;
      }
    }
  }
}

// Rows of a pair-block matrix read one at a time: embedding lookups, and the fp32 kernels for a
// caller that hands them one.
TEST_F(Bf16DotTest, PairBlockRowsReadBackExactly) {
  const int64_t rows = 48, cols = 38;
  const std::vector<uint16_t> w = RandomBf16(rows * cols);
  const Matrix m =
      Prepare({w.data(), DType::kBF16, rows, cols, nullptr}, MatrixLayout::kPairBlocks);
  const std::vector<int32_t> tokens = {0, 17, 47, 17, 31};
  std::vector<float> rows_out(tokens.size() * cols);
  backend_->EmbeddingLookup(m, tokens, rows_out.data());
  for (size_t i = 0; i < tokens.size(); ++i) {
    for (int64_t k = 0; k < cols; ++k)
      ASSERT_EQ(rows_out[i * cols + k], BF16ToF32(w[tokens[i] * cols + k])) << i << ", " << k;
  }
  const MatMulKernels& fp32 = GetMatMulKernels(BestSimdTarget());
  const int64_t n = 3;
  const std::vector<float> x = RandomFloats(n * cols);
  std::vector<float> y(static_cast<size_t>(n * rows));
  fp32.rows(m, 0, rows, x.data(), cols, n, y.data(), rows, nullptr);
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t r = 0; r < rows; ++r) {
      double sum = 0, magnitude = 0;
      for (int64_t k = 0; k < cols; ++k) {
        const double term = static_cast<double>(BF16ToF32(w[r * cols + k])) * x[t * cols + k];
        sum += term;
        magnitude += std::fabs(term);
      }
      ASSERT_NEAR(y[t * rows + r], sum, 1e-5 * magnitude) << "token " << t << ", row " << r;
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
