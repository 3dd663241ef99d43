// The Backend contract: every op of the CPU backend, on every SIMD target this CPU supports and
// with 1 and 3 threads, against a plain scalar reference written here (double accumulation), on
// random inputs of awkward sizes (never a multiple of the vector width). Tolerances are stated in
// each assertion; inputs come from fixed seeds.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "kernels/backend.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/mamba.h"
#include "kernels/dtype.h"

namespace jamba::kernels {
namespace {

using cpu::SimdTarget;

}  // namespace

namespace cpu {
// Test names and failure messages show the target by name.
void PrintTo(SimdTarget target, std::ostream* os) { *os << SimdTargetName(target); }
}  // namespace cpu

namespace {

constexpr int64_t kSizes[] = {1, 3, 17, 33, 127, 130};
constexpr int64_t kTokenCounts[] = {1, 2, 5, 37};
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

class Rng {
 public:
  explicit Rng(uint32_t seed) : gen_(seed) {}
  float Uniform(float lo, float hi) { return std::uniform_real_distribution<float>(lo, hi)(gen_); }
  std::vector<float> Vector(size_t n, float lo = -1.0f, float hi = 1.0f) {
    std::vector<float> v(n);
    for (float& x : v) x = Uniform(lo, hi);
    return v;
  }

 private:
  std::mt19937 gen_;
};

// A weight matrix in its stored dtype, with the exact fp32 value of every stored element.
struct StoredMatrix {
  DType dtype = DType::kF32;
  int64_t rows = 0;
  int64_t cols = 0;
  std::string bytes;
  std::vector<float> values;  // [rows, cols]

  Matrix matrix() const { return Matrix{bytes.data(), dtype, rows, cols, nullptr}; }
};

StoredMatrix Store(DType dtype, int64_t rows, int64_t cols, const std::vector<float>& source) {
  StoredMatrix m{dtype, rows, cols, std::string(source.size() * DTypeSize(dtype), '\0'), source};
  for (size_t i = 0; i < source.size(); ++i) {
    if (dtype == DType::kF32) {
      std::memcpy(m.bytes.data() + 4 * i, &source[i], 4);
      continue;
    }
    const uint16_t bits = dtype == DType::kBF16 ? F32ToBF16(source[i]) : F32ToF16(source[i]);
    std::memcpy(m.bytes.data() + 2 * i, &bits, 2);
    m.values[i] = dtype == DType::kBF16 ? BF16ToF32(bits) : F16ToF32(bits);
  }
  return m;
}

StoredMatrix RandomMatrix(Rng& rng, DType dtype, int64_t rows, int64_t cols, float scale = 1.0f) {
  return Store(dtype, rows, cols, rng.Vector(static_cast<size_t>(rows * cols), -scale, scale));
}

// The exact fp32 values of a backend-prepared matrix (any dtype, including int8 with scales).
std::vector<float> Dequantize(const Matrix& m) {
  EXPECT_EQ(m.layout, MatrixLayout::kRowMajor) << "Dequantize reads row-major matrices";
  std::vector<float> out(static_cast<size_t>(m.rows * m.cols));
  for (int64_t r = 0; r < m.rows; ++r) {
    const size_t row_bytes = static_cast<size_t>(m.cols) * DTypeSize(m.dtype);
    ConvertToF32(static_cast<const char*>(m.data) + r * row_bytes, m.dtype,
                 static_cast<size_t>(m.cols), out.data() + r * m.cols);
    if (m.dtype == DType::kI8) {
      for (int64_t c = 0; c < m.cols; ++c) out[r * m.cols + c] *= m.row_scales[r];
    }
  }
  return out;
}

// y[t, r] = sum_k w[r, k] x[t, k] (+ bias[r]) in double; `magnitude` gets sum_k |w x| (+ |bias|),
// the scale of the fp32 rounding error of any summation order.
std::vector<double> RefMatMul(const std::vector<float>& w, int64_t rows, int64_t cols,
                              const std::vector<float>& x, int64_t n, const float* bias,
                              std::vector<double>* magnitude = nullptr) {
  std::vector<double> y(static_cast<size_t>(n * rows));
  if (magnitude != nullptr) magnitude->assign(y.size(), 0.0);
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t r = 0; r < rows; ++r) {
      double sum = bias != nullptr ? bias[r] : 0.0;
      double mag = bias != nullptr ? std::fabs(bias[r]) : 0.0;
      for (int64_t k = 0; k < cols; ++k) {
        const double p = static_cast<double>(w[r * cols + k]) * x[t * cols + k];
        sum += p;
        mag += std::fabs(p);
      }
      y[t * rows + r] = sum;
      if (magnitude != nullptr) (*magnitude)[t * rows + r] = mag;
    }
  }
  return y;
}

double Silu(double v) { return v / (1.0 + std::exp(-v)); }
double Softplus(double v) { return v > 20.0 ? v : std::log1p(std::exp(v)); }

// SwiGLU MLP in double: down( SiLU(gate x) * (up x) ).
std::vector<double> RefMlp(const std::vector<float>& gate, const std::vector<float>& up,
                           const std::vector<float>& down, int64_t h, int64_t f,
                           const std::vector<float>& x, int64_t n) {
  std::vector<double> out(static_cast<size_t>(n * h), 0.0);
  std::vector<double> act(static_cast<size_t>(f));
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t j = 0; j < f; ++j) {
      double g = 0, u = 0;
      for (int64_t k = 0; k < h; ++k) {
        g += static_cast<double>(gate[j * h + k]) * x[t * h + k];
        u += static_cast<double>(up[j * h + k]) * x[t * h + k];
      }
      act[j] = Silu(g) * u;
    }
    for (int64_t i = 0; i < h; ++i) {
      double sum = 0;
      for (int64_t j = 0; j < f; ++j) sum += static_cast<double>(down[i * f + j]) * act[j];
      out[t * h + i] = sum;
    }
  }
  return out;
}

// |actual[i] - expected[i]| <= bound[i] for every i (NaN never passes); reports the worst.
::testing::AssertionResult WithinBounds(const std::vector<float>& actual,
                                        const std::vector<double>& expected,
                                        const std::vector<double>& bound) {
  if (actual.size() != expected.size()) {
    return ::testing::AssertionFailure() << "size " << actual.size() << " != " << expected.size();
  }
  for (size_t i = 0; i < actual.size(); ++i) {
    const double diff = std::fabs(static_cast<double>(actual[i]) - expected[i]);
    if (!(diff <= bound[i])) {
      return ::testing::AssertionFailure()
             << "element " << i << ": " << actual[i] << " vs " << expected[i] << " (diff " << diff
             << " > bound " << bound[i] << ")";
    }
  }
  return ::testing::AssertionSuccess();
}

// |actual - expected| <= atol + rtol * |expected| elementwise.
::testing::AssertionResult Near(const std::vector<float>& actual,
                                const std::vector<double>& expected, double atol, double rtol) {
  std::vector<double> bound(expected.size());
  for (size_t i = 0; i < expected.size(); ++i) bound[i] = atol + rtol * std::fabs(expected[i]);
  return WithinBounds(actual, expected, bound);
}

// fp32 dot products of length k: |error| <= k * 2^-23 * sum|terms| is the classic bound; we allow
// 2e-5 relative to sum|terms| (k <= 130 gives 1.6e-5) plus 1e-6 absolute.
std::vector<double> DotBound(const std::vector<double>& magnitude) {
  std::vector<double> bound(magnitude.size());
  for (size_t i = 0; i < magnitude.size(); ++i) bound[i] = 2e-5 * magnitude[i] + 1e-6;
  return bound;
}

std::string Case(std::initializer_list<std::pair<const char*, int64_t>> fields) {
  std::ostringstream out;
  for (const auto& [name, value] : fields) out << name << "=" << value << " ";
  return out.str();
}

class KernelParityTest : public ::testing::TestWithParam<std::tuple<SimdTarget, int>> {
 protected:
  void SetUp() override {
    const auto [target, threads] = GetParam();
    const auto supported = cpu::SupportedSimdTargets();
    if (std::find(supported.begin(), supported.end(), target) == supported.end()) {
      GTEST_SKIP() << "SIMD target " << cpu::SimdTargetName(target) << " is not supported here";
    }
    auto backend = cpu::CpuBackend::Create({.num_threads = threads, .simd_target = target});
    ASSERT_TRUE(backend.ok()) << backend.status();
    backend_ = *std::move(backend);
    ASSERT_EQ(backend_->simd_target(), target);
    ASSERT_EQ(backend_->num_threads(), threads);
    ASSERT_TRUE(backend_->UsesHostMemory());  // host vectors can be passed to the ops directly
  }

  // A backend like backend_ that uses stored weights in place instead of packing them.
  std::unique_ptr<cpu::CpuBackend> InPlaceBackend() const {
    auto backend = cpu::CpuBackend::Create({.num_threads = backend_->num_threads(),
                                            .simd_target = backend_->simd_target(),
                                            .pack_weights = false});
    EXPECT_TRUE(backend.ok()) << backend.status();
    return backend.ok() ? *std::move(backend) : nullptr;
  }

  std::unique_ptr<cpu::CpuBackend> backend_;
};

// ---------------------------------------------------------------------------------------------
// MatMul

TEST_P(KernelParityTest, MatMulMatchesReferenceForF32Bf16F16WeightsWithAndWithoutBias) {
  Rng rng(1001);
  for (DType dtype : {DType::kF32, DType::kBF16, DType::kF16}) {
    for (int64_t rows : kSizes) {
      for (int64_t cols : kSizes) {
        const StoredMatrix w = RandomMatrix(rng, dtype, rows, cols);
        const std::vector<float> bias = rng.Vector(static_cast<size_t>(rows));
        for (int64_t n : kTokenCounts) {
          const std::vector<float> x = rng.Vector(static_cast<size_t>(n * cols));
          for (bool with_bias : {false, true}) {
            std::vector<float> y(static_cast<size_t>(n * rows), kNaN);
            backend_->MatMul(w.matrix(), x.data(), n, y.data(), with_bias ? bias.data() : nullptr);
            std::vector<double> magnitude;
            const auto expected = RefMatMul(w.values, rows, cols, x, n,
                                            with_bias ? bias.data() : nullptr, &magnitude);
            ASSERT_TRUE(WithinBounds(y, expected, DotBound(magnitude)))
                << DTypeName(dtype) << " "
                << Case({{"rows", rows}, {"cols", cols}, {"n", n}, {"bias", with_bias}});
          }
        }
      }
    }
  }
}

TEST_P(KernelParityTest, MatMulOfOneRowAndOneColumnMatrices) {
  Rng rng(1002);
  for (const auto& [rows, cols] : {std::pair<int64_t, int64_t>{1, 130}, {130, 1}, {1, 1}}) {
    const StoredMatrix w = RandomMatrix(rng, DType::kF32, rows, cols);
    const std::vector<float> x = rng.Vector(static_cast<size_t>(37 * cols));
    std::vector<float> y(static_cast<size_t>(37 * rows), kNaN);
    backend_->MatMul(w.matrix(), x.data(), 37, y.data(), nullptr);
    std::vector<double> magnitude;
    const auto expected = RefMatMul(w.values, rows, cols, x, 37, nullptr, &magnitude);
    EXPECT_TRUE(WithinBounds(y, expected, DotBound(magnitude)))
        << Case({{"rows", rows}, {"cols", cols}});
  }
}

TEST_P(KernelParityTest, Int8MatMulMatchesDequantizedWeightsAndQuantizationIsBounded) {
  Rng rng(1003);
  for (DType host_dtype : {DType::kF32, DType::kBF16}) {
    for (int64_t rows : {int64_t{1}, int64_t{17}, int64_t{130}}) {
      for (int64_t cols : kSizes) {
        StoredMatrix host = RandomMatrix(rng, host_dtype, rows, cols, 0.5f);
        if (rows > 1) {  // an all-zero row must not divide by zero
          host = Store(host_dtype, rows, cols, [&] {
            std::vector<float> v = host.values;
            std::fill_n(v.begin() + cols, cols, 0.0f);
            return v;
          }());
        }
        auto prepared = backend_->PrepareMatrix(host.matrix(), WeightFormat::kInt8);
        ASSERT_TRUE(prepared.ok()) << prepared.status();
        ASSERT_EQ(prepared->dtype, DType::kI8);
        ASSERT_NE(prepared->row_scales, nullptr);
        ASSERT_EQ(prepared->rows, rows);
        ASSERT_EQ(prepared->cols, cols);
        const auto* q = static_cast<const int8_t*>(prepared->data);
        const std::vector<float> dequantized = Dequantize(*prepared);
        for (int64_t r = 0; r < rows; ++r) {
          float max_abs = 0;
          for (int64_t c = 0; c < cols; ++c)
            max_abs = std::max(max_abs, std::fabs(host.values[r * cols + c]));
          const float scale = prepared->row_scales[r];
          if (max_abs == 0) {
            EXPECT_TRUE(std::isfinite(scale) && scale > 0) << "row " << r;
          } else {
            // Symmetric: the largest |w| maps to 127 (scale = max|w| / 127, to fp32 rounding).
            EXPECT_NEAR(scale, max_abs / 127.0f, 1e-6 * max_abs) << "row " << r;
          }
          int max_q = 0;
          for (int64_t c = 0; c < cols; ++c) {
            const int qv = q[r * cols + c];
            EXPECT_GE(qv, -127);
            EXPECT_LE(qv, 127);
            max_q = std::max(max_q, std::abs(qv));
            // Round to nearest: |w - q * scale| <= scale / 2 (plus fp32 rounding of w / scale).
            EXPECT_LE(std::fabs(host.values[r * cols + c] - dequantized[r * cols + c]),
                      0.5 * scale * (1 + 1e-5))
                << Case({{"row", r}, {"col", c}});
          }
          EXPECT_EQ(max_q, max_abs == 0 ? 0 : 127) << "row " << r;
        }
        for (int64_t n : kTokenCounts) {
          const std::vector<float> x = rng.Vector(static_cast<size_t>(n * cols));
          std::vector<float> y(static_cast<size_t>(n * rows), kNaN);
          backend_->MatMul(*prepared, x.data(), n, y.data(), nullptr);
          std::vector<double> magnitude;
          const auto expected = RefMatMul(dequantized, rows, cols, x, n, nullptr, &magnitude);
          ASSERT_TRUE(WithinBounds(y, expected, DotBound(magnitude)))
              << DTypeName(host_dtype) << " " << Case({{"rows", rows}, {"cols", cols}, {"n", n}});
        }
      }
    }
  }
}

TEST_P(KernelParityTest, WithoutPackingPrepareMatrixAsStoredKeepsAViewOfTheHostWeights) {
  auto in_place = InPlaceBackend();
  EXPECT_TRUE(in_place->KeepsHostWeights());
  Rng rng(1004);
  const StoredMatrix w = RandomMatrix(rng, DType::kBF16, 8, 64);
  auto prepared = in_place->PrepareMatrix(w.matrix(), WeightFormat::kAsStored);
  ASSERT_TRUE(prepared.ok()) << prepared.status();
  EXPECT_EQ(prepared->data, w.matrix().data);
  EXPECT_EQ(prepared->dtype, DType::kBF16);
  EXPECT_EQ(prepared->layout, MatrixLayout::kRowMajor);
}

TEST_P(KernelParityTest, PackedWeightsAreACopyThatOutlivesTheHostWeights) {
  EXPECT_FALSE(backend_->KeepsHostWeights());
  Rng rng(1005);
  StoredMatrix w = RandomMatrix(rng, DType::kBF16, 8, 64);
  auto prepared = backend_->PrepareMatrix(w.matrix(), WeightFormat::kAsStored);
  ASSERT_TRUE(prepared.ok()) << prepared.status();
  EXPECT_NE(prepared->data, w.matrix().data);
  EXPECT_EQ(prepared->layout, MatrixLayout::kInterleaved);
  const std::vector<float> x = rng.Vector(64);
  std::vector<float> before(8), after(8);
  backend_->MatMul(*prepared, x.data(), 1, before.data(), nullptr);
  std::fill(w.bytes.begin(), w.bytes.end(), '\0');
  backend_->MatMul(*prepared, x.data(), 1, after.data(), nullptr);
  EXPECT_EQ(before, after);
  std::vector<double> magnitude;
  const auto expected = RefMatMul(w.values, 8, 64, x, 1, nullptr, &magnitude);
  EXPECT_TRUE(WithinBounds(before, expected, DotBound(magnitude)));
}

TEST_P(KernelParityTest, PrepareMatrixRefusesAnAlreadyInterleavedHostMatrix) {
  Rng rng(1006);
  const StoredMatrix w = RandomMatrix(rng, DType::kBF16, 8, 64);
  Matrix host = w.matrix();
  host.layout = MatrixLayout::kInterleaved;
  EXPECT_EQ(backend_->PrepareMatrix(host, WeightFormat::kAsStored).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// Packing (interleaving row groups, see MatrixLayout) changes where weights lie, never how a
// product is summed: every output is bitwise the one computed from the weights in place, for
// decode-sized and prefill-sized token counts, and rows widen to the same values.
TEST_P(KernelParityTest, PackedWeightsGiveBitwiseTheProductsOfWeightsUsedInPlace) {
  auto in_place = InPlaceBackend();
  Rng rng(1007);
  struct Shape {
    int64_t rows, cols;
    bool interleaved;
  };
  for (const Shape& shape :
       {Shape{4, 32, true}, Shape{8, 64, true}, Shape{20, 96, true}, Shape{132, 160, true},
        Shape{4, 33, false}, Shape{6, 64, false}, Shape{1, 32, false}}) {
    for (DType dtype : {DType::kF32, DType::kBF16, DType::kF16, DType::kI8}) {
      const StoredMatrix host =
          RandomMatrix(rng, dtype == DType::kI8 ? DType::kBF16 : dtype, shape.rows, shape.cols);
      const WeightFormat format =
          dtype == DType::kI8 ? WeightFormat::kInt8 : WeightFormat::kAsStored;
      auto packed = backend_->PrepareMatrix(host.matrix(), format);
      auto plain = in_place->PrepareMatrix(host.matrix(), format);
      ASSERT_TRUE(packed.ok() && plain.ok());
      const std::string what =
          std::string(DTypeName(dtype)) + " " + Case({{"rows", shape.rows}, {"cols", shape.cols}});
      EXPECT_EQ(packed->layout,
                shape.interleaved ? MatrixLayout::kInterleaved : MatrixLayout::kRowMajor)
          << what;
      const std::vector<float> values = Dequantize(*plain);
      for (int64_t n : {1, 2, 5, 7, 24, 37, 50}) {
        const std::vector<float> x = rng.Vector(static_cast<size_t>(n * shape.cols));
        std::vector<float> y_packed(static_cast<size_t>(n * shape.rows), kNaN);
        std::vector<float> y_plain(y_packed.size(), kNaN);
        backend_->MatMul(*packed, x.data(), n, y_packed.data(), nullptr);
        in_place->MatMul(*plain, x.data(), n, y_plain.data(), nullptr);
        ASSERT_EQ(0, std::memcmp(y_packed.data(), y_plain.data(), y_plain.size() * sizeof(float)))
            << what << " n=" << n;
        std::vector<double> magnitude;
        const auto expected = RefMatMul(values, shape.rows, shape.cols, x, n, nullptr, &magnitude);
        ASSERT_TRUE(WithinBounds(y_packed, expected, DotBound(magnitude))) << what << " n=" << n;
      }
      std::vector<int32_t> every_row(static_cast<size_t>(shape.rows));
      std::iota(every_row.begin(), every_row.end(), 0);
      std::vector<float> rows_packed(values.size(), kNaN);
      backend_->EmbeddingLookup(*packed, every_row, rows_packed.data());
      EXPECT_EQ(rows_packed, values) << what;
    }
  }
}

TEST_P(KernelParityTest, PrepareVectorConvertsToF32) {
  const std::vector<float> source = {1.0f, -0.5f, 3.0f, 1e-3f, 65504.0f};
  for (DType dtype : {DType::kF32, DType::kBF16, DType::kF16}) {
    const StoredMatrix stored = Store(dtype, 1, 5, source);
    auto prepared = backend_->PrepareVector(stored.bytes.data(), dtype, 5);
    ASSERT_TRUE(prepared.ok()) << prepared.status();
    EXPECT_EQ(std::vector<float>(*prepared, *prepared + 5), stored.values) << DTypeName(dtype);
  }
}

// ---------------------------------------------------------------------------------------------
// EmbeddingLookup, RmsNorm, Add

TEST_P(KernelParityTest, EmbeddingLookupCopiesRowsExactlyForEveryDtype) {
  Rng rng(2001);
  constexpr int64_t kVocab = 37;
  const std::vector<int32_t> tokens = {0, 36, 5, 5, 17, 1, 36, 0, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12};
  for (int64_t d : kSizes) {
    for (DType dtype : {DType::kF32, DType::kBF16, DType::kF16, DType::kI8}) {
      const StoredMatrix host =
          RandomMatrix(rng, dtype == DType::kI8 ? DType::kF32 : dtype, kVocab, d);
      Matrix table = host.matrix();
      if (dtype == DType::kI8) {
        auto prepared = backend_->PrepareMatrix(table, WeightFormat::kInt8);
        ASSERT_TRUE(prepared.ok());
        table = *prepared;
      }
      const std::vector<float> rows = Dequantize(table);
      for (size_t count : {size_t{1}, size_t{2}, tokens.size()}) {
        std::vector<float> out(count * d, kNaN);
        backend_->EmbeddingLookup(table, std::span(tokens).first(count), out.data());
        for (size_t t = 0; t < count; ++t) {
          // Exact: widening bf16/f16 is exact, and int8 * scale is the same fp32 product.
          ASSERT_EQ(
              std::vector<float>(out.begin() + t * d, out.begin() + (t + 1) * d),
              std::vector<float>(rows.begin() + tokens[t] * d, rows.begin() + (tokens[t] + 1) * d))
              << DTypeName(dtype) << " " << Case({{"d", d}, {"t", static_cast<int64_t>(t)}});
        }
      }
    }
  }
}

TEST_P(KernelParityTest, RmsNormWithStridesMatchesReferenceAndLeavesPaddingAlone) {
  Rng rng(2002);
  constexpr float kEps = 1e-6f;
  for (int64_t d : kSizes) {
    for (int64_t n : kTokenCounts) {
      const int64_t x_stride = d + 3, y_stride = d + 5;
      std::vector<float> x = rng.Vector(static_cast<size_t>(n * x_stride), -3.0f, 3.0f);
      if (n > 2) std::fill_n(x.begin() + x_stride, d, 0.0f);  // an all-zero row stays finite
      const std::vector<float> weight = rng.Vector(static_cast<size_t>(d), 0.5f, 1.5f);
      std::vector<float> y(static_cast<size_t>(n * y_stride), 1234.5f);
      backend_->RmsNorm(x.data(), x_stride, n, d, weight.data(), kEps, y.data(), y_stride);
      std::vector<float> got;
      std::vector<double> expected;
      for (int64_t t = 0; t < n; ++t) {
        double sum_sq = 0;
        for (int64_t i = 0; i < d; ++i)
          sum_sq += static_cast<double>(x[t * x_stride + i]) * x[t * x_stride + i];
        const double inv = 1.0 / std::sqrt(sum_sq / d + kEps);
        for (int64_t i = 0; i < d; ++i) {
          expected.push_back(x[t * x_stride + i] * inv * weight[i]);
          got.push_back(y[t * y_stride + i]);
        }
        for (int64_t i = d; i < y_stride; ++i) {
          ASSERT_EQ(y[t * y_stride + i], 1234.5f)
              << "padding written, " << Case({{"d", d}, {"t", t}});
        }
      }
      // Sum of squares in fp32 then 1/sqrt: relative error well under 1e-5 for d <= 130.
      ASSERT_TRUE(Near(got, expected, 1e-6, 1e-5)) << Case({{"d", d}, {"n", n}});
    }
  }
}

TEST_P(KernelParityTest, RmsNormInPlace) {
  Rng rng(2003);
  std::vector<float> x = rng.Vector(33 * 5);
  const std::vector<float> weight = rng.Vector(33, 0.5f, 1.5f);
  std::vector<float> separate(x.size());
  backend_->RmsNorm(x.data(), 33, 5, 33, weight.data(), 1e-6f, separate.data(), 33);
  backend_->RmsNorm(x.data(), 33, 5, 33, weight.data(), 1e-6f, x.data(), 33);
  EXPECT_EQ(x, separate);
}

TEST_P(KernelParityTest, AddIsExactForEveryLength) {
  Rng rng(2004);
  for (size_t count : {size_t{0}, size_t{1}, size_t{3}, size_t{17}, size_t{33}, size_t{127},
                       size_t{130}, size_t{40001}}) {
    std::vector<float> y = rng.Vector(count);
    const std::vector<float> x = rng.Vector(count);
    std::vector<float> expected(count);
    for (size_t i = 0; i < count; ++i) expected[i] = y[i] + x[i];
    backend_->Add(y.data(), x.data(), count);
    ASSERT_EQ(y, expected) << "count " << count;
  }
}

// ---------------------------------------------------------------------------------------------
// SwiGluMlp and Moe

struct Mlp {
  StoredMatrix gate, up, down;
  MlpWeights weights() const { return {gate.matrix(), up.matrix(), down.matrix()}; }
};

Mlp RandomMlp(Rng& rng, DType dtype, int64_t h, int64_t f) {
  // Scaled like nn.Linear's init so activations stay O(1).
  return {RandomMatrix(rng, dtype, f, h, 1.0f / std::sqrt(static_cast<float>(h))),
          RandomMatrix(rng, dtype, f, h, 1.0f / std::sqrt(static_cast<float>(h))),
          RandomMatrix(rng, dtype, h, f, 1.0f / std::sqrt(static_cast<float>(f)))};
}

TEST_P(KernelParityTest, SwiGluMlpMatchesReference) {
  Rng rng(3001);
  for (DType dtype : {DType::kF32, DType::kBF16}) {
    for (int64_t h : {int64_t{3}, int64_t{17}, int64_t{33}}) {
      for (int64_t f : {int64_t{1}, int64_t{17}, int64_t{130}}) {
        const Mlp mlp = RandomMlp(rng, dtype, h, f);
        for (int64_t n : kTokenCounts) {
          const std::vector<float> x = rng.Vector(static_cast<size_t>(n * h), -2.0f, 2.0f);
          std::vector<float> out(static_cast<size_t>(n * h), kNaN);
          backend_->SwiGluMlp(mlp.weights(), x.data(), n, out.data());
          const auto expected = RefMlp(mlp.gate.values, mlp.up.values, mlp.down.values, h, f, x, n);
          // O(1) outputs; fp32 products, Highway's exp (a few ulp) and sums of <= 130 terms.
          ASSERT_TRUE(Near(out, expected, 2e-5, 1e-4))
              << DTypeName(dtype) << " " << Case({{"h", h}, {"f", f}, {"n", n}});
        }
      }
    }
  }
}

// A token's output must not depend on which other tokens share the call: the engine cuts a
// prefill into different chunks when it resumes a session, and the logits must not change.
TEST_P(KernelParityTest, SwiGluMlpOfATokenIsBitIdenticalWhateverElseIsInTheCall) {
  Rng rng(3003);
  for (DType dtype : {DType::kF32, DType::kBF16}) {
    for (int64_t f : {int64_t{17}, int64_t{130}, int64_t{1000}}) {
      const int64_t h = 33;
      const Mlp mlp = RandomMlp(rng, dtype, h, f);
      for (int64_t n : {int64_t{2}, int64_t{37}, int64_t{300}}) {
        const std::vector<float> x = rng.Vector(static_cast<size_t>(n * h), -2.0f, 2.0f);
        std::vector<float> together(static_cast<size_t>(n * h), kNaN);
        backend_->SwiGluMlp(mlp.weights(), x.data(), n, together.data());
        for (int64_t t = 0; t < n; ++t) {
          std::vector<float> alone(static_cast<size_t>(h), kNaN);
          backend_->SwiGluMlp(mlp.weights(), x.data() + t * h, 1, alone.data());
          ASSERT_EQ(std::memcmp(alone.data(), together.data() + t * h, h * sizeof(float)), 0)
              << DTypeName(dtype) << " " << Case({{"f", f}, {"n", n}, {"token", t}});
        }
      }
    }
  }
}

// Reference MoE: softmax over all experts, top-k by probability (ties to the lower index), no
// renormalisation. Returns the outputs; `chosen` gets each token's experts, `margin` the smallest
// gap between the k-th and (k+1)-th probability over all tokens.
std::vector<double> RefMoe(const std::vector<float>& router, const std::vector<Mlp>& experts,
                           int64_t h, int64_t f, const std::vector<float>& x, int64_t n, int top_k,
                           std::vector<std::vector<int>>* chosen, double* margin) {
  const int num_experts = static_cast<int>(experts.size());
  std::vector<double> out(static_cast<size_t>(n * h), 0.0);
  *margin = INFINITY;
  chosen->assign(static_cast<size_t>(n), {});
  for (int64_t t = 0; t < n; ++t) {
    std::vector<double> p(num_experts);
    for (int e = 0; e < num_experts; ++e) {
      double logit = 0;
      for (int64_t k = 0; k < h; ++k)
        logit += static_cast<double>(router[e * h + k]) * x[t * h + k];
      p[e] = logit;
    }
    const double max_logit = *std::max_element(p.begin(), p.end());
    double sum = 0;
    for (double& v : p) sum += (v = std::exp(v - max_logit));
    for (double& v : p) v /= sum;
    std::vector<int> order(num_experts);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return p[a] > p[b]; });
    if (top_k < num_experts) *margin = std::min(*margin, p[order[top_k - 1]] - p[order[top_k]]);
    const std::vector<float> xt(x.begin() + t * h, x.begin() + (t + 1) * h);
    for (int j = 0; j < top_k; ++j) {
      const int e = order[j];
      (*chosen)[t].push_back(e);
      const auto y =
          RefMlp(experts[e].gate.values, experts[e].up.values, experts[e].down.values, h, f, xt, 1);
      for (int64_t i = 0; i < h; ++i) out[t * h + i] += p[e] * y[i];
    }
  }
  return out;
}

TEST_P(KernelParityTest, MoeMatchesReference) {
  Rng rng(3002);
  constexpr int64_t kH = 17, kF = 33;
  for (DType dtype : {DType::kF32, DType::kBF16}) {
    for (int num_experts : {4, 5}) {
      std::vector<Mlp> experts;
      std::vector<MlpWeights> weights;
      for (int e = 0; e < num_experts; ++e) {
        experts.push_back(RandomMlp(rng, dtype, kH, kF));
        weights.push_back(experts.back().weights());
      }
      // A wide router spreads the probabilities so the top-k is never a near tie.
      const StoredMatrix router = RandomMatrix(rng, DType::kF32, num_experts, kH, 2.0f);
      const Matrix router_matrix = router.matrix();
      for (int top_k : {1, 2, 3}) {
        for (int64_t n : kTokenCounts) {
          // Tokens whose k-th and (k+1)-th probabilities nearly tie would make the choice depend
          // on fp32 rounding; resample those (ties are tested exactly below).
          std::vector<float> x;
          for (int64_t t = 0; t < n; ++t) {
            std::vector<float> xt;
            std::vector<std::vector<int>> chosen;
            double margin = 0;
            do {
              xt = rng.Vector(kH);
              RefMoe(router.values, experts, kH, kF, xt, 1, top_k, &chosen, &margin);
            } while (margin < 1e-3);
            x.insert(x.end(), xt.begin(), xt.end());
          }
          std::vector<float> out(static_cast<size_t>(n * kH), kNaN);
          backend_->Moe({.tokens = n,
                         .x = x.data(),
                         .router = &router_matrix,
                         .experts = weights,
                         .top_k = top_k,
                         .out = out.data()});
          std::vector<std::vector<int>> chosen;
          double margin = 0;
          const auto expected =
              RefMoe(router.values, experts, kH, kF, x, n, top_k, &chosen, &margin);
          ASSERT_GE(margin, 1e-3);
          ASSERT_TRUE(Near(out, expected, 2e-5, 1e-4))
              << DTypeName(dtype) << " "
              << Case({{"experts", num_experts}, {"top_k", top_k}, {"n", n}});
        }
      }
    }
  }
}

// Experts that each write only their own output coordinate, so the output shows exactly which
// experts were chosen and with which weight. x = [4 positive "gate" inputs, 4 router logits].
TEST_P(KernelParityTest, MoeSelectsTopKByProbabilityWithTiesToLowerIndexAndNoRenormalisation) {
  constexpr int kE = 4, kH = 8, kF = 3;
  std::vector<float> router_values(kE * kH, 0.0f);
  for (int e = 0; e < kE; ++e) router_values[e * kH + 4 + e] = 1.0f;  // logit_e = x[4 + e]
  const StoredMatrix router = Store(DType::kF32, kE, kH, router_values);
  const Matrix router_matrix = router.matrix();
  std::vector<float> in_values(kF * kH, 0.0f);
  for (int j = 0; j < kF; ++j) {
    for (int k = 0; k < 4; ++k) in_values[j * kH + k] = 1.0f;  // gate = up = sum of x[0..3]
  }
  std::vector<Mlp> experts;
  std::vector<MlpWeights> weights;
  for (int e = 0; e < kE; ++e) {
    std::vector<float> down(kH * kF, 0.0f);
    for (int j = 0; j < kF; ++j) down[e * kF + j] = 1.0f;  // output coordinate e only
    experts.push_back({Store(DType::kF32, kF, kH, in_values), Store(DType::kF32, kF, kH, in_values),
                       Store(DType::kF32, kH, kF, down)});
    weights.push_back(experts.back().weights());
  }
  struct Routing {
    std::vector<float> logits;
    int top_k;
    std::vector<int> expected;  // chosen experts
  };
  const std::vector<Routing> cases = {
      {{0.1f, 0.9f, 0.5f, 0.3f}, 2, {1, 2}},
      {{0.5f, 0.5f, 0.5f, 0.5f}, 2, {0, 1}},  // all tied: lowest indices
      {{0.2f, 0.7f, 0.7f, 0.7f}, 2, {1, 2}},  // tie at the boundary
      {{0.9f, 0.1f, 0.9f, 0.1f}, 3, {0, 2, 1}},
      {{-1.0f, 3.0f, 0.0f, 2.0f}, 1, {1}},
      {{0.3f, 0.3f, 0.3f, 0.3f}, 4, {0, 1, 2, 3}},
  };
  for (const Routing& c : cases) {
    const std::vector<float> x = {0.25f,       0.5f,        0.125f,      0.125f,
                                  c.logits[0], c.logits[1], c.logits[2], c.logits[3]};
    std::vector<float> out(kH, kNaN);
    backend_->Moe({.tokens = 1,
                   .x = x.data(),
                   .router = &router_matrix,
                   .experts = weights,
                   .top_k = c.top_k,
                   .out = out.data()});
    double sum = 0;
    for (float l : c.logits) sum += std::exp(static_cast<double>(l));
    const double g = 1.0;  // gate = up = 0.25 + 0.5 + 0.125 + 0.125
    const double expert_out = kF * Silu(g) * g;
    for (int e = 0; e < kE; ++e) {
      const bool selected = std::find(c.expected.begin(), c.expected.end(), e) != c.expected.end();
      // Softmax over all experts, not renormalised over the chosen ones.
      const double want =
          selected ? std::exp(static_cast<double>(c.logits[e])) / sum * expert_out : 0.0;
      EXPECT_NEAR(out[e], want, 1e-5)
          << "expert " << e << " top_k " << c.top_k << " logits " << c.logits[0] << ","
          << c.logits[1] << "," << c.logits[2] << "," << c.logits[3];
    }
    for (int i = kE; i < kH; ++i) EXPECT_EQ(out[i], 0.0f);
  }
}

// ---------------------------------------------------------------------------------------------
// CausalConv1dSilu

struct ConvCase {
  int64_t channels;
  int k;
  int64_t tokens;
  bool bias;
};

// Conv arguments over token rows packed back to back (u_stride == channels).
CausalConvArgs PackedConvArgs(int64_t tokens, int64_t channels, int k, const float* u,
                              const float* weight, const float* bias, float* state, float* out) {
  return {.tokens = tokens,
          .channels = channels,
          .kernel_size = k,
          .u = u,
          .u_stride = channels,
          .weight = weight,
          .bias = bias,
          .state = state,
          .out = out};
}

// Reference conv + SiLU; updates `state` ([C, K-1], oldest first) like the op.
std::vector<double> RefConv(const ConvCase& c, const std::vector<float>& u, int64_t u_stride,
                            const std::vector<float>& weight, const std::vector<float>& bias,
                            std::vector<float>& state) {
  std::vector<double> out(static_cast<size_t>(c.tokens * c.channels));
  for (int64_t ch = 0; ch < c.channels; ++ch) {
    std::vector<float> seq(state.begin() + ch * (c.k - 1), state.begin() + (ch + 1) * (c.k - 1));
    for (int64_t t = 0; t < c.tokens; ++t) seq.push_back(u[t * u_stride + ch]);
    for (int64_t t = 0; t < c.tokens; ++t) {
      double sum = c.bias ? bias[ch] : 0.0;
      for (int j = 0; j < c.k; ++j) sum += static_cast<double>(weight[ch * c.k + j]) * seq[t + j];
      out[t * c.channels + ch] = Silu(sum);
    }
    std::copy(seq.end() - (c.k - 1), seq.end(), state.begin() + ch * (c.k - 1));
  }
  return out;
}

TEST_P(KernelParityTest, CausalConv1dSiluMatchesReference) {
  Rng rng(4001);
  for (int64_t channels : {int64_t{1}, int64_t{3}, int64_t{17}, int64_t{130}}) {
    for (int k : {2, 3, 4}) {
      for (int64_t tokens : kTokenCounts) {
        for (bool with_bias : {false, true}) {
          const ConvCase c{channels, k, tokens, with_bias};
          const int64_t u_stride = 2 * channels + 1;  // u is the first half of in_proj's output
          const std::vector<float> u = rng.Vector(static_cast<size_t>(tokens * u_stride), -2, 2);
          const std::vector<float> weight = rng.Vector(static_cast<size_t>(channels * k));
          const std::vector<float> bias = rng.Vector(static_cast<size_t>(channels));
          std::vector<float> state = rng.Vector(static_cast<size_t>(channels * (k - 1)), -2, 2);
          std::vector<float> ref_state = state;
          std::vector<float> out(static_cast<size_t>(tokens * channels), kNaN);
          backend_->CausalConv1dSilu({.tokens = tokens,
                                      .channels = channels,
                                      .kernel_size = k,
                                      .u = u.data(),
                                      .u_stride = u_stride,
                                      .weight = weight.data(),
                                      .bias = with_bias ? bias.data() : nullptr,
                                      .state = state.data(),
                                      .out = out.data()});
          const auto expected = RefConv(c, u, u_stride, weight, bias, ref_state);
          const std::string where =
              Case({{"channels", channels}, {"k", k}, {"tokens", tokens}, {"bias", with_bias}});
          // At most 5 fp32 terms of magnitude <= 4 and SiLU: 1e-5 absolute is generous.
          ASSERT_TRUE(Near(out, expected, 1e-5, 1e-5)) << where;
          ASSERT_EQ(state, ref_state) << "state (copied inputs, exact) " << where;
        }
      }
    }
  }
}

// The kernel computes whole vectors of channels on one path and the remainder on a scalar loop;
// a channel computed alone (always the remainder, wider than one lane) must come out bit-identical
// to the same channel inside a full-width call, or outputs would depend on the thread split.
TEST_P(KernelParityTest, CausalConv1dChannelAloneEqualsChannelInAWideCall) {
  const cpu::MambaKernels& kernels = cpu::GetMambaKernels(std::get<0>(GetParam()));
  Rng rng(4003);
  constexpr int64_t kChannels = 37;
  for (int k : {3, 4}) {
    for (int64_t tokens : {int64_t{1}, int64_t{5}}) {
      const std::vector<float> u = rng.Vector(static_cast<size_t>(tokens * kChannels), -2, 2);
      const std::vector<float> weight = rng.Vector(kChannels * k);
      const std::vector<float> bias = rng.Vector(kChannels);
      const std::vector<float> initial = rng.Vector(kChannels * (k - 1), -2, 2);
      auto run = [&](int64_t split_width) {
        std::pair<std::vector<float>, std::vector<float>> result{
            std::vector<float>(static_cast<size_t>(tokens * kChannels), kNaN), initial};
        const CausalConvArgs args =
            PackedConvArgs(tokens, kChannels, k, u.data(), weight.data(), bias.data(),
                           result.second.data(), result.first.data());
        for (int64_t c = 0; c < kChannels; c += split_width)
          kernels.causal_conv1d_silu(args, c, std::min(kChannels, c + split_width));
        return result;
      };
      const auto wide = run(kChannels);
      const auto alone = run(1);
      EXPECT_EQ(alone.first, wide.first) << Case({{"k", k}, {"tokens", tokens}});
      EXPECT_EQ(alone.second, wide.second) << Case({{"k", k}, {"tokens", tokens}});
    }
  }
}

TEST_P(KernelParityTest, CausalConv1dStateCarriedAcrossTwoCallsEqualsOneCall) {
  Rng rng(4002);
  constexpr int64_t kChannels = 33, kTokens = 37;
  for (int k : {2, 3, 4}) {
    const std::vector<float> u = rng.Vector(kTokens * kChannels, -2, 2);
    const std::vector<float> weight = rng.Vector(kChannels * k);
    const std::vector<float> bias = rng.Vector(kChannels);
    const std::vector<float> initial = rng.Vector(kChannels * (k - 1));
    std::vector<float> one_state = initial;
    std::vector<float> one_out(kTokens * kChannels);
    backend_->CausalConv1dSilu(PackedConvArgs(kTokens, kChannels, k, u.data(), weight.data(),
                                              bias.data(), one_state.data(), one_out.data()));
    for (int64_t split : {int64_t{1}, int64_t{2}, int64_t{20}, int64_t{36}}) {
      std::vector<float> state = initial;
      std::vector<float> out(kTokens * kChannels, kNaN);
      for (const auto& [begin, end] : {std::pair<int64_t, int64_t>{0, split}, {split, kTokens}}) {
        backend_->CausalConv1dSilu(
            PackedConvArgs(end - begin, kChannels, k, u.data() + begin * kChannels, weight.data(),
                           bias.data(), state.data(), out.data() + begin * kChannels));
      }
      // The same operations per token in the same order: bit-identical.
      EXPECT_EQ(out, one_out) << Case({{"k", k}, {"split", split}});
      EXPECT_EQ(state, one_state) << Case({{"k", k}, {"split", split}});
    }
  }
}

// ---------------------------------------------------------------------------------------------
// SelectiveScan

struct ScanData {
  int64_t tokens, channels, n, b_stride, c_stride, z_stride;
  std::vector<float> x, dt_raw, a, b, c, d, z, state;

  SelectiveScanArgs Args(float* state_ptr, float* y, int64_t begin = 0, int64_t end = -1) const {
    if (end < 0) end = tokens;
    return {.tokens = end - begin,
            .channels = channels,
            .state_size = n,
            .x = x.data() + begin * channels,
            .dt_raw = dt_raw.data() + begin * channels,
            .a = a.data(),
            .b = b.data() + begin * b_stride,
            .b_stride = b_stride,
            .c = c.data() + begin * c_stride,
            .c_stride = c_stride,
            .d = d.data(),
            .z = z.data() + begin * z_stride,
            .z_stride = z_stride,
            .state = state_ptr,
            .y = y + begin * channels};
  }
};

ScanData RandomScan(Rng& rng, int64_t tokens, int64_t channels, int64_t n) {
  ScanData s{tokens, channels, n, n + 3, n + 7, channels + 2};
  s.x = rng.Vector(static_cast<size_t>(tokens * channels), -2, 2);
  s.dt_raw = rng.Vector(static_cast<size_t>(tokens * channels), -4, 2);
  s.a = rng.Vector(static_cast<size_t>(channels * n), -8, -0.1f);  // -exp(A_log) < 0
  s.b = rng.Vector(static_cast<size_t>(tokens * s.b_stride));
  s.c = rng.Vector(static_cast<size_t>(tokens * s.c_stride));
  s.d = rng.Vector(static_cast<size_t>(channels), 0.5f, 1.5f);
  s.z = rng.Vector(static_cast<size_t>(tokens * s.z_stride), -3, 3);
  s.state = rng.Vector(static_cast<size_t>(channels * n));
  return s;
}

// Reference scan in double; updates `state`.
std::vector<double> RefScan(const ScanData& s, std::vector<double>& state) {
  std::vector<double> y(static_cast<size_t>(s.tokens * s.channels));
  for (int64_t ch = 0; ch < s.channels; ++ch) {
    for (int64_t t = 0; t < s.tokens; ++t) {
      const double dt = Softplus(s.dt_raw[t * s.channels + ch]);
      const double xv = s.x[t * s.channels + ch];
      double acc = 0;
      for (int64_t i = 0; i < s.n; ++i) {
        double& h = state[ch * s.n + i];
        h = std::exp(s.a[ch * s.n + i] * dt) * h + dt * s.b[t * s.b_stride + i] * xv;
        acc += h * s.c[t * s.c_stride + i];
      }
      y[t * s.channels + ch] = (acc + s.d[ch] * xv) * Silu(s.z[t * s.z_stride + ch]);
    }
  }
  return y;
}

TEST_P(KernelParityTest, SelectiveScanMatchesReferenceForAwkwardStateSizes) {
  Rng rng(5001);
  for (int64_t n : {int64_t{16}, int64_t{5}, int64_t{24}, int64_t{1}, int64_t{32}, int64_t{130}}) {
    for (int64_t channels : {int64_t{1}, int64_t{3}, int64_t{17}, int64_t{33}}) {
      for (int64_t tokens : kTokenCounts) {
        const ScanData s = RandomScan(rng, tokens, channels, n);
        std::vector<float> state = s.state;
        std::vector<double> ref_state(s.state.begin(), s.state.end());
        std::vector<float> y(static_cast<size_t>(tokens * channels), kNaN);
        backend_->SelectiveScan(s.Args(state.data(), y.data()));
        const auto expected = RefScan(s, ref_state);
        const std::string where = Case({{"n", n}, {"channels", channels}, {"tokens", tokens}});
        // A contracting recurrence (decay < 1) of O(1) terms: 1e-5 absolute + 1e-4 relative.
        ASSERT_TRUE(Near(y, expected, 1e-5, 1e-4)) << "y " << where;
        ASSERT_TRUE(Near(state, ref_state, 1e-5, 1e-4)) << "state " << where;
      }
    }
  }
}

TEST_P(KernelParityTest, SelectiveScanSplitInTwoCallsEqualsOneCall) {
  Rng rng(5002);
  for (int64_t n : {int64_t{16}, int64_t{5}, int64_t{24}}) {
    const ScanData s = RandomScan(rng, 37, 33, n);
    std::vector<float> one_state = s.state;
    std::vector<float> one_y(37 * 33);
    backend_->SelectiveScan(s.Args(one_state.data(), one_y.data()));
    for (int64_t split : {int64_t{1}, int64_t{13}, int64_t{36}}) {
      std::vector<float> state = s.state;
      std::vector<float> y(37 * 33, kNaN);
      backend_->SelectiveScan(s.Args(state.data(), y.data(), 0, split));
      backend_->SelectiveScan(s.Args(state.data(), y.data(), split, 37));
      EXPECT_EQ(y, one_y) << Case({{"n", n}, {"split", split}});
      EXPECT_EQ(state, one_state) << Case({{"n", n}, {"split", split}});
    }
  }
}

// With N = 16 the AVX-512 kernel computes channels four at a time (their output sums share one
// reduction) and a range's last width % 4 channels one by one. Splitting 37 channels at 34 moves
// channels 32-35 from a group of four to single channels while every channel's input transform
// (vector lanes from the range start, then a scalar tail) stays the same: their results must not
// change by a bit.
TEST_P(KernelParityTest, SelectiveScanChannelsInAGroupOfFourEqualChannelsAlone) {
  const cpu::MambaKernels& kernels = cpu::GetMambaKernels(std::get<0>(GetParam()));
  Rng rng(5004);
  constexpr int64_t kChannels = 37, kSplit = 34;
  for (int64_t tokens : {int64_t{1}, int64_t{3}}) {
    const ScanData s = RandomScan(rng, tokens, kChannels, 16);
    std::vector<float> scratch(static_cast<size_t>(2 * tokens * kChannels));
    std::vector<float> wide_state = s.state, wide_y(static_cast<size_t>(tokens * kChannels), kNaN);
    kernels.selective_scan(s.Args(wide_state.data(), wide_y.data()), 0, kChannels, scratch.data());
    std::vector<float> split_state = s.state, split_y(wide_y.size(), kNaN);
    const SelectiveScanArgs args = s.Args(split_state.data(), split_y.data());
    kernels.selective_scan(args, 0, kSplit, scratch.data());
    kernels.selective_scan(args, kSplit, kChannels, scratch.data());
    EXPECT_EQ(split_y, wide_y) << Case({{"tokens", tokens}});
    EXPECT_EQ(split_state, wide_state) << Case({{"tokens", tokens}});
  }
}

TEST_P(KernelParityTest, SelectiveScanSoftplusIsLinearAboveTwenty) {
  // exp(dt_raw) overflows fp32 beyond ~88: without the threshold these would be inf/NaN.
  Rng rng(5003);
  const std::vector<float> raw = {20.0f,   20.5f,  25.0f,   88.0f, 100.0f,
                                  1000.0f, -30.0f, -100.0f, 0.0f};
  for (int64_t n : {int64_t{16}, int64_t{5}}) {
    ScanData s = RandomScan(rng, static_cast<int64_t>(raw.size()), 3, n);
    for (size_t t = 0; t < raw.size(); ++t) {
      for (int64_t ch = 0; ch < 3; ++ch) s.dt_raw[t * 3 + ch] = raw[t];
    }
    std::vector<float> state = s.state;
    std::vector<double> ref_state(s.state.begin(), s.state.end());
    std::vector<float> y(raw.size() * 3, kNaN);
    backend_->SelectiveScan(s.Args(state.data(), y.data()));
    for (float v : y) ASSERT_TRUE(std::isfinite(v)) << "n " << n;
    for (float v : state) ASSERT_TRUE(std::isfinite(v)) << "n " << n;
    const auto expected = RefScan(s, ref_state);
    // dt up to 1000 makes h ~ 1e3: 1e-4 relative.
    EXPECT_TRUE(Near(y, expected, 1e-4, 1e-4)) << "n " << n;
    EXPECT_TRUE(Near(state, ref_state, 1e-4, 1e-4)) << "n " << n;
  }
}

// ---------------------------------------------------------------------------------------------
// Attention

TEST_P(KernelParityTest, AttentionMatchesReferenceForGqaGroupsHeadDimsAndPast) {
  Rng rng(6001);
  struct Heads {
    int heads, kv_heads;
  };
  for (const Heads hd : {Heads{4, 4}, Heads{4, 2}, Heads{4, 1}, Heads{8, 2}}) {
    for (int dh : {16, 20, 64}) {
      for (int64_t past : {int64_t{0}, int64_t{3}, int64_t{17}}) {
        for (int64_t tokens : kTokenCounts) {
          const int64_t q_stride = int64_t{hd.heads} * dh, kv_stride = int64_t{hd.kv_heads} * dh;
          const int64_t total = past + tokens;
          const std::vector<float> q = rng.Vector(static_cast<size_t>(tokens * q_stride), -2, 2);
          const std::vector<float> keys = rng.Vector(static_cast<size_t>(total * kv_stride), -2, 2);
          const std::vector<float> values = rng.Vector(static_cast<size_t>(total * kv_stride));
          std::vector<float> out(static_cast<size_t>(tokens * q_stride), kNaN);
          const KvChunk kv{keys.data(), values.data(), total};
          backend_->Attention({.tokens = tokens,
                               .past = past,
                               .num_heads = hd.heads,
                               .num_kv_heads = hd.kv_heads,
                               .head_dim = dh,
                               .q = q.data(),
                               .kv = {&kv, 1},
                               .out = out.data()});
          std::vector<double> expected(out.size());
          const int group = hd.heads / hd.kv_heads;
          for (int64_t t = 0; t < tokens; ++t) {
            for (int h = 0; h < hd.heads; ++h) {
              const int kvh = h / group;
              const int64_t visible = past + t + 1;  // causal: keys 0..past+t
              std::vector<double> s(static_cast<size_t>(visible));
              for (int64_t p = 0; p < visible; ++p) {
                double dot = 0;
                for (int i = 0; i < dh; ++i) {
                  dot += static_cast<double>(q[t * q_stride + h * dh + i]) *
                         keys[p * kv_stride + kvh * dh + i];
                }
                s[p] = dot / std::sqrt(static_cast<double>(dh));
              }
              const double max_s = *std::max_element(s.begin(), s.end());
              double sum = 0;
              for (double& v : s) sum += (v = std::exp(v - max_s));
              for (int i = 0; i < dh; ++i) {
                double acc = 0;
                for (int64_t p = 0; p < visible; ++p)
                  acc += s[p] / sum * values[p * kv_stride + kvh * dh + i];
                expected[t * q_stride + h * dh + i] = acc;
              }
            }
          }
          // Convex combinations of values in [-1, 1]; scores up to ~16 before softmax.
          ASSERT_TRUE(Near(out, expected, 1e-5, 1e-5)) << Case({{"heads", hd.heads},
                                                                {"kv_heads", hd.kv_heads},
                                                                {"dh", dh},
                                                                {"past", past},
                                                                {"tokens", tokens}});
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Many sequences in one call (a batched decode step): each sequence's outputs and state are
// bitwise those of a call with that sequence alone.

// Token counts of the sequences of one call: decode (1), short and longer prefill pieces.
const std::vector<int64_t> kSequenceTokens = {1, 1, 3, 1, 7, 1};

TEST_P(KernelParityTest, CausalConv1dOverManySequencesEqualsOneCallEach) {
  Rng rng(7001);
  constexpr int64_t kChannels = 37;
  constexpr int kK = 4;
  const std::vector<float> weight = rng.Vector(kChannels * kK);
  const std::vector<float> bias = rng.Vector(kChannels);
  std::vector<std::vector<float>> u, batched_state, batched_out, alone_state, alone_out;
  std::vector<CausalConvArgs> calls;
  for (int64_t tokens : kSequenceTokens) {
    u.push_back(rng.Vector(static_cast<size_t>(tokens * kChannels), -2, 2));
    batched_state.push_back(rng.Vector(kChannels * (kK - 1), -2, 2));
    alone_state.push_back(batched_state.back());
    batched_out.emplace_back(static_cast<size_t>(tokens * kChannels), kNaN);
    alone_out.push_back(batched_out.back());
  }
  for (size_t i = 0; i < kSequenceTokens.size(); ++i) {
    CausalConvArgs args =
        PackedConvArgs(kSequenceTokens[i], kChannels, kK, u[i].data(), weight.data(), bias.data(),
                       alone_state[i].data(), alone_out[i].data());
    backend_->CausalConv1dSilu(args);
    args.state = batched_state[i].data();
    args.out = batched_out[i].data();
    calls.push_back(args);
  }
  backend_->CausalConv1dSilu(calls);
  EXPECT_EQ(batched_out, alone_out);
  EXPECT_EQ(batched_state, alone_state);
}

TEST_P(KernelParityTest, SelectiveScanOverManySequencesEqualsOneCallEach) {
  Rng rng(7002);
  std::vector<ScanData> data;
  std::vector<std::vector<float>> batched_state, batched_y, alone_state, alone_y;
  for (int64_t tokens : kSequenceTokens) {
    data.push_back(RandomScan(rng, tokens, 37, 16));
    batched_state.push_back(data.back().state);
    alone_state.push_back(data.back().state);
    batched_y.emplace_back(static_cast<size_t>(tokens * 37), kNaN);
    alone_y.push_back(batched_y.back());
  }
  std::vector<SelectiveScanArgs> calls;
  for (size_t i = 0; i < data.size(); ++i) {
    backend_->SelectiveScan(data[i].Args(alone_state[i].data(), alone_y[i].data()));
    calls.push_back(data[i].Args(batched_state[i].data(), batched_y[i].data()));
  }
  backend_->SelectiveScan(calls);
  EXPECT_EQ(batched_y, alone_y);
  EXPECT_EQ(batched_state, alone_state);
}

TEST_P(KernelParityTest, AttentionOverManySequencesEqualsOneCallEach) {
  Rng rng(7003);
  const int heads = 8, kv_heads = 2, dh = 32;
  const int64_t q_stride = heads * dh, kv_stride = kv_heads * dh;
  std::vector<std::vector<float>> q, keys, values, batched, alone;
  std::vector<KvChunk> chunks;
  std::vector<AttentionArgs> calls;
  for (size_t i = 0; i < kSequenceTokens.size(); ++i) {
    const int64_t tokens = kSequenceTokens[i];
    const int64_t past = 50 * static_cast<int64_t>(i);
    q.push_back(rng.Vector(static_cast<size_t>(tokens * q_stride), -2, 2));
    keys.push_back(rng.Vector(static_cast<size_t>((past + tokens) * kv_stride), -2, 2));
    values.push_back(rng.Vector(static_cast<size_t>((past + tokens) * kv_stride)));
    batched.emplace_back(static_cast<size_t>(tokens * q_stride), kNaN);
    alone.push_back(batched.back());
  }
  for (size_t i = 0; i < kSequenceTokens.size(); ++i)
    chunks.push_back(
        {keys[i].data(), values[i].data(), 50 * static_cast<int64_t>(i) + kSequenceTokens[i]});
  for (size_t i = 0; i < kSequenceTokens.size(); ++i) {
    AttentionArgs args{.tokens = kSequenceTokens[i],
                       .past = 50 * static_cast<int64_t>(i),
                       .num_heads = heads,
                       .num_kv_heads = kv_heads,
                       .head_dim = dh,
                       .q = q[i].data(),
                       .kv = {&chunks[i], 1},
                       .out = alone[i].data()};
    backend_->Attention(args);
    args.out = batched[i].data();
    calls.push_back(args);
  }
  backend_->Attention(calls);
  EXPECT_EQ(batched, alone);
}

// ---------------------------------------------------------------------------------------------
// Degenerate calls

// How many KV heads one work item walks together depends on the thread count and the number of
// query tiles (AttentionHeadsPerItem); every output must be bitwise the same whatever it is.
TEST_P(KernelParityTest, AttentionIsBitwiseTheSameForEveryGroupingOfKvHeads) {
  auto one_thread =
      cpu::CpuBackend::Create({.num_threads = 1, .simd_target = std::get<0>(GetParam())});
  ASSERT_TRUE(one_thread.ok());
  Rng rng(6002);
  const int heads = 16, kv_heads = 4, dh = 32;
  for (int64_t past : {int64_t{0}, int64_t{300}}) {
    for (int64_t tokens : {int64_t{1}, int64_t{2}, int64_t{9}}) {
      const int64_t q_stride = heads * dh, kv_stride = kv_heads * dh, total = past + tokens;
      const std::vector<float> q = rng.Vector(static_cast<size_t>(tokens * q_stride), -2, 2);
      const std::vector<float> keys = rng.Vector(static_cast<size_t>(total * kv_stride), -2, 2);
      const std::vector<float> values = rng.Vector(static_cast<size_t>(total * kv_stride));
      std::vector<float> grouped(static_cast<size_t>(tokens * q_stride), kNaN);
      std::vector<float> all_heads(grouped.size(), kNaN);
      const KvChunk kv{keys.data(), values.data(), total};
      AttentionArgs args{.tokens = tokens,
                         .past = past,
                         .num_heads = heads,
                         .num_kv_heads = kv_heads,
                         .head_dim = dh,
                         .q = q.data(),
                         .kv = {&kv, 1},
                         .out = grouped.data()};
      backend_->Attention(args);
      args.out = all_heads.data();
      (*one_thread)->Attention(args);
      EXPECT_EQ(cpu::AttentionHeadsPerItem(args, 1), kv_heads);
      ASSERT_EQ(grouped, all_heads) << Case({{"past", past}, {"tokens", tokens}});
    }
  }
  // Decode on several threads splits the KV heads; prefill tiles keep them together.
  AttentionArgs decode{.tokens = 1, .num_heads = heads, .num_kv_heads = kv_heads};
  EXPECT_EQ(cpu::AttentionHeadsPerItem(decode, 2), 2);
  EXPECT_EQ(cpu::AttentionHeadsPerItem(decode, 3), 1);
  AttentionArgs prefill{.tokens = 64, .num_heads = heads, .num_kv_heads = kv_heads};
  EXPECT_EQ(cpu::AttentionHeadsPerItem(prefill, 2), kv_heads);
}

TEST_P(KernelParityTest, ZeroTokensIsANoOpForEveryOp) {
  Rng rng(7001);
  const StoredMatrix w = RandomMatrix(rng, DType::kF32, 17, 33);
  const std::vector<float> x(33, 1.0f);
  std::vector<float> y(17, 5.0f);
  backend_->MatMul(w.matrix(), x.data(), 0, y.data(), nullptr);
  EXPECT_EQ(y, std::vector<float>(17, 5.0f));

  const Mlp mlp = RandomMlp(rng, DType::kF32, 17, 33);
  std::vector<float> out(17, 5.0f);
  backend_->SwiGluMlp(mlp.weights(), x.data(), 0, out.data());
  EXPECT_EQ(out, std::vector<float>(17, 5.0f));

  const StoredMatrix router = RandomMatrix(rng, DType::kF32, 2, 17);
  const Matrix router_matrix = router.matrix();
  const std::vector<MlpWeights> experts = {mlp.weights(), mlp.weights()};
  backend_->Moe({.tokens = 0,
                 .x = x.data(),
                 .router = &router_matrix,
                 .experts = experts,
                 .top_k = 1,
                 .out = out.data()});
  EXPECT_EQ(out, std::vector<float>(17, 5.0f));

  const std::vector<float> kv_rows(64, 1.0f);
  const KvChunk kv{kv_rows.data(), kv_rows.data(), 4};
  std::vector<float> attn_out(16, 5.0f);
  backend_->Attention({.tokens = 0,
                       .past = 4,
                       .num_heads = 1,
                       .num_kv_heads = 1,
                       .head_dim = 16,
                       .q = x.data(),
                       .kv = {&kv, 1},
                       .out = attn_out.data()});
  EXPECT_EQ(attn_out, std::vector<float>(16, 5.0f));

  const ScanData s = RandomScan(rng, 0, 3, 16);
  std::vector<float> state = s.state;
  backend_->SelectiveScan(s.Args(state.data(), y.data()));
  EXPECT_EQ(state, s.state);

  std::vector<float> conv_state = {1, 2, 3};
  const std::vector<float> conv_weight(4, 1.0f);
  backend_->CausalConv1dSilu({.tokens = 0,
                              .channels = 1,
                              .kernel_size = 4,
                              .u = x.data(),
                              .u_stride = 1,
                              .weight = conv_weight.data(),
                              .bias = nullptr,
                              .state = conv_state.data(),
                              .out = y.data()});
  EXPECT_EQ(conv_state, (std::vector<float>{1, 2, 3}));
}

INSTANTIATE_TEST_SUITE_P(EveryTargetAndThreadCount, KernelParityTest,
                         ::testing::Combine(::testing::Values(SimdTarget::kScalar,
                                                              SimdTarget::kAvx2,
                                                              SimdTarget::kAvx512),
                                            ::testing::Values(1, 3)),
                         [](const auto& param_info) {
                           return std::string(cpu::SimdTargetName(std::get<0>(param_info.param))) +
                                  "_" + std::to_string(std::get<1>(param_info.param)) + "threads";
                         });

TEST(CpuBackendTest, RejectsForcedTargetThisCpuLacksAndNamesItself) {
  const auto supported = cpu::SupportedSimdTargets();
  ASSERT_FALSE(supported.empty());
  EXPECT_EQ(supported.back(), SimdTarget::kScalar);
  EXPECT_EQ(cpu::BestSimdTarget(), supported.front());
  for (SimdTarget target : {SimdTarget::kScalar, SimdTarget::kAvx2, SimdTarget::kAvx512}) {
    auto backend = cpu::CpuBackend::Create({.num_threads = 2, .simd_target = target});
    const bool is_supported =
        std::find(supported.begin(), supported.end(), target) != supported.end();
    ASSERT_EQ(backend.ok(), is_supported) << cpu::SimdTargetName(target);
    if (backend.ok()) {
      EXPECT_EQ((*backend)->Name(), "cpu/" + std::string(cpu::SimdTargetName(target)) + " x2");
    } else {
      EXPECT_EQ(backend.status().code(), absl::StatusCode::kFailedPrecondition);
    }
    EXPECT_EQ(cpu::ParseSimdTarget(cpu::SimdTargetName(target)), target);
  }
  EXPECT_FALSE(cpu::ParseSimdTarget("sse9").has_value());
}

}  // namespace
}  // namespace jamba::kernels
