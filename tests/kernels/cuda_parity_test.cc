// Parity suite of the CUDA backend: every op of kernels::cuda::CudaBackend against the CPU
// backend (the reference semantics) on random inputs of awkward sizes, plus the CUDA-only pieces
// (overlapping copies, int8 quantization, graphs, synthetic weights). Every test skips itself
// when no CUDA device is usable, so the suite builds and passes on machines without a GPU.
//
// Tolerances (stated in each assertion):
//   * exact (0): copies, fills, Add, embedding rows, int8 quantization, MoE routing choices.
//   * fp32 ops (RmsNorm, conv, scan, attention, MatMul on the GEMV path and SGEMM): 1e-5
//     relative -- to the output's magnitude, or for matmuls to sum_k |w_rk x_k| (the scale of
//     the rounding errors of a dot product).
//   * MatMul/FFN on bf16 or int8 weights with more than 8 rows: the split-bf16 tensor-core path
//     leaves at most 2^-16 |x| per activation, so 3e-5 relative to sum_k |w_rk x_k|; composite
//     ops (SwiGLU, MoE) 1e-4 of the output's magnitude.
//   * MatMulPrecision::kBf16Activations: activations rounded to bf16 (2^-8), 4e-3 relative.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/backend.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/synthetic_weights.h"
#include "kernels/dtype.h"

namespace jamba::kernels {
namespace {

using cuda::CudaBackend;
using cuda::CudaBackendOptions;

constexpr const char* kNoDevice =
    "no CUDA device: cudaGetDeviceCount found no usable GPU (or no driver); CUDA parity tests "
    "need one";

std::vector<float> RandomFloats(size_t count, float lo, float hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(count);
  for (float& x : v) x = dist(rng);
  return v;
}

double MaxAbs(const std::vector<float>& v) {
  double m = 0;
  for (float x : v) m = std::max(m, static_cast<double>(std::fabs(x)));
  return m;
}

// |a - b| <= tol * max(1, max|b|) elementwise, with the worst element reported.
::testing::AssertionResult CloseRelMax(const std::vector<float>& actual,
                                       const std::vector<float>& expected, double tol) {
  if (actual.size() != expected.size()) {
    return ::testing::AssertionFailure() << "size " << actual.size() << " vs " << expected.size();
  }
  const double limit = tol * std::max(1.0, MaxAbs(expected));
  for (size_t i = 0; i < actual.size(); ++i) {
    const double d = std::fabs(static_cast<double>(actual[i]) - expected[i]);
    if (!(d <= limit)) {
      return ::testing::AssertionFailure()
             << "element " << i << ": " << actual[i] << " vs " << expected[i] << " (|diff| " << d
             << " > " << limit << ")";
    }
  }
  return ::testing::AssertionSuccess();
}

// |a - b| <= tol * scale[i] + 1e-30 elementwise.
::testing::AssertionResult CloseScaled(const std::vector<float>& actual,
                                       const std::vector<float>& expected,
                                       const std::vector<double>& scale, double tol) {
  if (actual.size() != expected.size() || scale.size() != expected.size()) {
    return ::testing::AssertionFailure() << "size mismatch";
  }
  for (size_t i = 0; i < actual.size(); ++i) {
    const double d = std::fabs(static_cast<double>(actual[i]) - expected[i]);
    const double limit = tol * scale[i] + 1e-30;
    if (!(d <= limit)) {
      return ::testing::AssertionFailure()
             << "element " << i << ": " << actual[i] << " vs " << expected[i] << " (|diff| " << d
             << " > " << limit << " = " << tol << " * " << scale[i] << ")";
    }
  }
  return ::testing::AssertionSuccess();
}

// A host weight in one storage dtype, built from fp32 values (rounded to the dtype).
struct HostWeight {
  std::vector<uint8_t> storage;
  Matrix matrix;

  HostWeight(const std::vector<float>& values, int64_t rows, int64_t cols, DType dtype) {
    matrix.dtype = dtype;
    matrix.rows = rows;
    matrix.cols = cols;
    storage.resize(values.size() * DTypeSize(dtype));
    for (size_t i = 0; i < values.size(); ++i) {
      switch (dtype) {
        case DType::kF32:
          std::memcpy(storage.data() + 4 * i, &values[i], 4);
          break;
        case DType::kBF16: {
          const uint16_t b = F32ToBF16(values[i]);
          std::memcpy(storage.data() + 2 * i, &b, 2);
          break;
        }
        case DType::kF16: {
          const uint16_t h = F32ToF16(values[i]);
          std::memcpy(storage.data() + 2 * i, &h, 2);
          break;
        }
        case DType::kI8:
          break;  // int8 comes from PrepareMatrix(kInt8)
      }
    }
    matrix.data = storage.data();
  }
};

// Row r of a CPU-side matrix (host memory) as fp32, scale applied.
std::vector<float> RowAsFloats(const Matrix& m, int64_t r) {
  std::vector<float> row(static_cast<size_t>(m.cols));
  const size_t row_bytes = static_cast<size_t>(m.cols) * DTypeSize(m.dtype);
  ConvertToF32(static_cast<const char*>(m.data) + r * row_bytes, m.dtype, row.size(), row.data());
  if (m.dtype == DType::kI8) {
    for (float& v : row) v *= m.row_scales[r];
  }
  return row;
}

// sum_k |w[r,k] x[t,k]| for every (t, r): the scale of a dot product's rounding error.
std::vector<double> DotScales(const Matrix& cpu_w, const std::vector<float>& x, int64_t n) {
  std::vector<double> s(static_cast<size_t>(n * cpu_w.rows));
  for (int64_t r = 0; r < cpu_w.rows; ++r) {
    const std::vector<float> row = RowAsFloats(cpu_w, r);
    for (int64_t t = 0; t < n; ++t) {
      double acc = 0;
      for (int64_t k = 0; k < cpu_w.cols; ++k) {
        acc += std::fabs(static_cast<double>(row[k]) * x[t * cpu_w.cols + k]);
      }
      s[t * cpu_w.rows + r] = acc;
    }
  }
  return s;
}

class CudaParityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (CudaBackend::DeviceCount() == 0) return;  // each test skips itself
    auto cpu = cpu::CpuBackend::Create({.num_threads = 2});
    ASSERT_TRUE(cpu.ok()) << cpu.status();
    cpu_ = *std::move(cpu);
    auto gpu = CudaBackend::Create({});
    ASSERT_TRUE(gpu.ok()) << gpu.status();
    gpu_ = *std::move(gpu);
  }

  void TearDown() override {
    cpu_buffers_.clear();
    gpu_buffers_.clear();
  }

  // Copies of host data in each backend's memory, alive for the test.
  float* Cpu(const std::vector<float>& host) { return Put(*cpu_, cpu_buffers_, host); }
  float* Gpu(const std::vector<float>& host) { return Put(*gpu_, gpu_buffers_, host); }
  std::vector<float> FromGpu(const float* p, size_t count) {
    std::vector<float> out(count);
    gpu_->CopyToHost(out.data(), p, count * sizeof(float));
    return out;
  }
  static std::vector<float> FromCpu(const float* p, size_t count) {
    return std::vector<float>(p, p + count);
  }

  std::unique_ptr<cpu::CpuBackend> cpu_;
  std::unique_ptr<CudaBackend> gpu_;

 private:
  static float* Put(Backend& backend, std::vector<DeviceBuffer>& keep,
                    const std::vector<float>& host) {
    auto buffer = backend.Allocate(std::max<size_t>(host.size(), 1) * sizeof(float));
    EXPECT_TRUE(buffer.ok()) << buffer.status();
    backend.CopyFromHost(buffer->data(), host.data(), host.size() * sizeof(float));
    float* p = buffer->f32();
    keep.push_back(*std::move(buffer));
    return p;
  }

  std::vector<DeviceBuffer> cpu_buffers_;
  std::vector<DeviceBuffer> gpu_buffers_;
};

TEST_F(CudaParityTest, CopiesFillsAndOverlappingCopiesBehaveLikeMemmove) {
  if (CudaBackend::DeviceCount() == 0) GTEST_SKIP() << kNoDevice;
  const std::vector<float> data = RandomFloats(1000, -1, 1, 1);
  float* d = Gpu(data);
  EXPECT_EQ(FromGpu(d, data.size()), data) << "round trip must be exact";
  // dst < src, overlapping (the engine compacts logit rows this way).
  std::vector<float> expected = data;
  std::memmove(expected.data() + 10, expected.data() + 17, 900 * sizeof(float));
  gpu_->Copy(d + 10, d + 17, 900 * sizeof(float));
  EXPECT_EQ(FromGpu(d, data.size()), expected) << "overlapping copy dst < src: exact";
  // dst > src, overlapping.
  std::memmove(expected.data() + 300, expected.data() + 1, 600 * sizeof(float));
  gpu_->Copy(d + 300, d + 1, 600 * sizeof(float));
  EXPECT_EQ(FromGpu(d, data.size()), expected) << "overlapping copy dst > src: exact";
  // Disjoint.
  std::memmove(expected.data(), expected.data() + 500, 400 * sizeof(float));
  gpu_->Copy(d, d + 500, 400 * sizeof(float));
  EXPECT_EQ(FromGpu(d, data.size()), expected) << "disjoint copy: exact";
  gpu_->Fill(d + 3, 2.5f, 131);
  std::fill_n(expected.begin() + 3, 131, 2.5f);
  EXPECT_EQ(FromGpu(d, data.size()), expected) << "fill: exact";
  gpu_->Synchronize();
}

TEST_F(CudaParityTest, AllocationsAreReusedFromThePool) {
  if (CudaBackend::DeviceCount() == 0) GTEST_SKIP() << kNoDevice;
  void* first = nullptr;
  {
    auto a = gpu_->Allocate(3000);
    ASSERT_TRUE(a.ok()) << a.status();
    first = a->data();
  }
  auto b = gpu_->Allocate(4000);  // same 4 KiB bucket
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->data(), first);
  EXPECT_GE(gpu_->pool_stats().reuses, 1u);
}

TEST_F(CudaParityTest, AddMatchesExactlyIncludingUnalignedTails) {
  if (CudaBackend::DeviceCount() == 0) GTEST_SKIP() << kNoDevice;
  for (size_t count : {1, 3, 17, 1027}) {
    for (size_t offset : {0, 1}) {  // offset 1 breaks 16-byte alignment
      const auto y = RandomFloats(count + offset, -3, 3, 2);
      const auto x = RandomFloats(count + offset, -3, 3, 3);
      float* cy = Cpu(y);
      float* gy = Gpu(y);
      cpu_->Add(cy + offset, Cpu(x) + offset, count);
      gpu_->Add(gy + offset, Gpu(x) + offset, count);
      EXPECT_EQ(FromGpu(gy, y.size()), FromCpu(cy, y.size()))
          << "Add is one fp32 addition per element: exact; count " << count << " offset " << offset;
    }
  }
}

TEST_F(CudaParityTest, EmbeddingLookupMatchesExactlyForEveryDtype) {
  if (CudaBackend::DeviceCount() == 0) GTEST_SKIP() << kNoDevice;
  const int64_t vocab = 37;
  for (int64_t cols : {1, 17, 130}) {
    const auto values = RandomFloats(static_cast<size_t>(vocab * cols), -2, 2, 4);
    for (DType dtype : {DType::kF32, DType::kBF16, DType::kF16, DType::kI8}) {
      HostWeight host(values, vocab, cols, dtype == DType::kI8 ? DType::kF32 : dtype);
      const WeightFormat format =
          dtype == DType::kI8 ? WeightFormat::kInt8 : WeightFormat::kAsStored;
      auto cw = cpu_->PrepareMatrix(host.matrix, format);
      auto gw = gpu_->PrepareMatrix(host.matrix, format);
      ASSERT_TRUE(cw.ok() && gw.ok());
      for (size_t n : {1, 5, 37}) {
        std::vector<int32_t> tokens(n);
        for (size_t i = 0; i < n; ++i) tokens[i] = static_cast<int32_t>((i * 7 + 3) % vocab);
        std::vector<float> cpu_out(n * cols);
        cpu_->EmbeddingLookup(*cw, tokens, cpu_out.data());
        float* gout = Gpu(std::vector<float>(n * cols));
        gpu_->EmbeddingLookup(*gw, tokens, gout);
        EXPECT_EQ(FromGpu(gout, n * cols), cpu_out)
            << "embedding rows are converted, not computed: exact; dtype " << DTypeName(dtype)
            << " cols " << cols << " n " << n;
      }
    }
  }
}

TEST_F(CudaParityTest, Int8QuantizationIsBitIdenticalToTheCpuBackend) {
  if (CudaBackend::DeviceCount() == 0) GTEST_SKIP() << kNoDevice;
  const int64_t rows = 19, cols = 131;
  auto values = RandomFloats(static_cast<size_t>(rows * cols), -1.5f, 1.5f, 5);
  std::fill_n(values.begin() + cols, cols, 0.0f);  // an all-zero row gets scale 1
  for (DType dtype : {DType::kF32, DType::kBF16, DType::kF16}) {
    HostWeight host(values, rows, cols, dtype);
    auto cw = cpu_->PrepareMatrix(host.matrix, WeightFormat::kInt8);
    auto gw = gpu_->PrepareMatrix(host.matrix, WeightFormat::kInt8);
    ASSERT_TRUE(cw.ok() && gw.ok());
    ASSERT_EQ(gw->dtype, DType::kI8);
    std::vector<int8_t> gq(static_cast<size_t>(rows * cols));
    std::vector<float> gs(static_cast<size_t>(rows));
    gpu_->CopyToHost(gq.data(), gw->data, gq.size());
    gpu_->CopyToHost(gs.data(), gw->row_scales, gs.size() * sizeof(float));
    const auto* cq = static_cast<const int8_t*>(cw->data);
    EXPECT_TRUE(std::equal(gq.begin(), gq.end(), cq)) << "int8 values: exact, " << DTypeName(dtype);
    EXPECT_TRUE(std::equal(gs.begin(), gs.end(), cw->row_scales))
        << "row scales: exact, " << DTypeName(dtype);
  }
}

// One MatMul case on both backends; `tol` is relative to sum_k |w_rk x_tk|.
// x_offset shifts the activations by that many floats inside their buffer (misalignment).
void CheckMatMul(CudaParityTest& t, cpu::CpuBackend& cpu, CudaBackend& gpu, int64_t rows,
                 int64_t cols, int64_t n, DType dtype, bool with_bias, double tol,
                 const std::string& what, int64_t x_offset = 0);

TEST_F(CudaParityTest, MatMulMatchesForEveryDtypeAndBatchSize) {
  if (CudaBackend::DeviceCount() == 0) GTEST_SKIP() << kNoDevice;
  for (DType dtype : {DType::kF32, DType::kBF16, DType::kF16, DType::kI8}) {
    for (int64_t rows : {1, 3, 17, 130}) {
      for (int64_t cols : {1, 8, 17, 130, 512}) {
        for (int64_t n : {1, 5, 8, 9, 37, 300}) {
          // GEMV (n <= 8) and SGEMM (f32, f16) keep fp32 products: 1e-5. bf16/int8 weights with
          // n > 8 go through split-bf16 tensor cores: 3e-5 (2^-16 per activation + accumulation).
          const bool split = n > 8 && (dtype == DType::kBF16 || dtype == DType::kI8);
          const double tol = split ? 3e-5 : 1e-5;
          CheckMatMul(*this, *cpu_, *gpu_, rows, cols, n, dtype, /*with_bias=*/(rows + n) % 2 == 0,
                      tol,
                      std::string(DTypeName(dtype)) + " rows " + std::to_string(rows) + " cols " +
                          std::to_string(cols) + " n " + std::to_string(n));
        }
      }
    }
  }
}

TEST_F(CudaParityTest, MatMulLargeShapesUseTheStackedAndTwoGemmPaths) {
  if (CudaBackend::DeviceCount() == 0) GTEST_SKIP() << kNoDevice;
  // 2 * n * rows * 4 bytes > 256 MiB takes the two-GEMM path (n = 2100, rows = 16384).
  CheckMatMul(*this, *cpu_, *gpu_, 16384, 64, 2100, DType::kBF16, true, 3e-5,
              "bf16 two-GEMM split path (split-bf16: 3e-5 of sum|w x|)");
  CheckMatMul(*this, *cpu_, *gpu_, 4096, 4096, 24, DType::kBF16, false, 3e-5,
              "bf16 stacked split path at model width (split-bf16: 3e-5 of sum|w x|)");
  CheckMatMul(*this, *cpu_, *gpu_, 1000, 4096, 4, DType::kBF16, true, 1e-5,
              "bf16 GEMV at model width (fp32 products: 1e-5 of sum|w x|)");
}

TEST_F(CudaParityTest, MatMulWithMisalignedActivations) {
  if (CudaBackend::DeviceCount() == 0) GTEST_SKIP() << kNoDevice;
  for (DType dtype : {DType::kF32, DType::kBF16, DType::kI8}) {
    for (int64_t n : {3, 37}) {
      const bool split = n > 8 && dtype != DType::kF32;
      CheckMatMul(*this, *cpu_, *gpu_, 130, 512, n, dtype, true, split ? 3e-5 : 1e-5,
                  std::string(DTypeName(dtype)) + " x offset by one float (" +
                      (split ? "split-bf16: 3e-5" : "fp32 products: 1e-5") + " of sum|w x|), n " +
                      std::to_string(n),
                  /*x_offset=*/1);
    }
  }
}

TEST_F(CudaParityTest, MatMulBf16ActivationModeIsWithinBf16Rounding) {
  if (CudaBackend::DeviceCount() == 0) GTEST_SKIP() << kNoDevice;
  auto fast = CudaBackend::Create({.matmul_precision = cuda::MatMulPrecision::kBf16Activations});
  ASSERT_TRUE(fast.ok()) << fast.status();
  CheckMatMul(*this, *cpu_, **fast, 130, 512, 37, DType::kBF16, true, 4e-3,
              "kBf16Activations rounds activations to bf16 (2^-8): 4e-3 of sum|w x|");
}

void CheckMatMul(CudaParityTest& /*t*/, cpu::CpuBackend& cpu, CudaBackend& gpu, int64_t rows,
                 int64_t cols, int64_t n, DType dtype, bool with_bias, double tol,
                 const std::string& what, int64_t x_offset) {
  const auto values = RandomFloats(static_cast<size_t>(rows * cols), -1, 1, 11);
  HostWeight host(values, rows, cols, dtype == DType::kI8 ? DType::kBF16 : dtype);
  const WeightFormat format = dtype == DType::kI8 ? WeightFormat::kInt8 : WeightFormat::kAsStored;
  auto cw = cpu.PrepareMatrix(host.matrix, format);
  auto gw = gpu.PrepareMatrix(host.matrix, format);
  ASSERT_TRUE(cw.ok() && gw.ok()) << what;
  const auto x = RandomFloats(static_cast<size_t>(n * cols), -2, 2, 12);
  const auto bias = RandomFloats(static_cast<size_t>(rows), -1, 1, 13);
  std::vector<float> cpu_y(static_cast<size_t>(n * rows));
  cpu.MatMul(*cw, x.data(), n, cpu_y.data(), with_bias ? bias.data() : nullptr);

  auto gx = gpu.Allocate((x.size() + static_cast<size_t>(x_offset)) * sizeof(float));
  auto gb = gpu.Allocate(bias.size() * sizeof(float));
  auto gy = gpu.Allocate(cpu_y.size() * sizeof(float));
  ASSERT_TRUE(gx.ok() && gb.ok() && gy.ok()) << what;
  float* gx_data = gx->f32() + x_offset;
  gpu.CopyFromHost(gx_data, x.data(), x.size() * sizeof(float));
  gpu.CopyFromHost(gb->data(), bias.data(), bias.size() * sizeof(float));
  gpu.MatMul(*gw, gx_data, n, gy->f32(), with_bias ? gb->f32() : nullptr);
  std::vector<float> gpu_y(cpu_y.size());
  gpu.CopyToHost(gpu_y.data(), gy->data(), gpu_y.size() * sizeof(float));

  std::vector<double> scale = DotScales(*cw, x, n);
  if (with_bias) {
    for (int64_t t = 0; t < n; ++t) {
      for (int64_t r = 0; r < rows; ++r) scale[t * rows + r] += std::fabs(bias[r]);
    }
  }
  EXPECT_TRUE(CloseScaled(gpu_y, cpu_y, scale, tol)) << what;
}

TEST_F(CudaParityTest, RmsNormMatchesWithStrides) {
  if (CudaBackend::DeviceCount() == 0) GTEST_SKIP() << kNoDevice;
  for (int64_t d : {1, 16, 17, 130, 4096}) {
    for (int64_t n : {1, 5, 37}) {
      const int64_t xs = d + 3, ys = d + 5;
      const auto x = RandomFloats(static_cast<size_t>(n * xs), -4, 4, 20);
      const auto w = RandomFloats(static_cast<size_t>(d), 0.5f, 1.5f, 21);
      const auto y0 = RandomFloats(static_cast<size_t>(n * ys), -1, 1, 22);
      float* cy = Cpu(y0);
      float* gy = Gpu(y0);
      cpu_->RmsNorm(Cpu(x), xs, n, d, Cpu(w), 1e-6f, cy, ys);
      gpu_->RmsNorm(Gpu(x), xs, n, d, Gpu(w), 1e-6f, gy, ys);
      EXPECT_TRUE(CloseRelMax(FromGpu(gy, y0.size()), FromCpu(cy, y0.size()), 1e-5))
          << "fp32 RmsNorm: 1e-5 of max|y| (padding columns must be untouched); d " << d << " n "
          << n;
    }
  }
}

TEST_F(CudaParityTest, SwiGluMlpMatches) {
  if (CudaBackend::DeviceCount() == 0) GTEST_SKIP() << kNoDevice;
  for (DType dtype : {DType::kF32, DType::kBF16}) {
    for (auto [h, f] : {std::pair<int64_t, int64_t>{17, 3}, {64, 130}, {130, 96}}) {
      std::vector<HostWeight> hosts;
      hosts.emplace_back(RandomFloats(static_cast<size_t>(f * h), -0.5f, 0.5f, 30), f, h, dtype);
      hosts.emplace_back(RandomFloats(static_cast<size_t>(f * h), -0.5f, 0.5f, 31), f, h, dtype);
      hosts.emplace_back(RandomFloats(static_cast<size_t>(h * f), -0.5f, 0.5f, 32), h, f, dtype);
      MlpWeights cm, gm;
      Matrix* cslots[] = {&cm.gate, &cm.up, &cm.down};
      Matrix* gslots[] = {&gm.gate, &gm.up, &gm.down};
      for (int i = 0; i < 3; ++i) {
        auto c = cpu_->PrepareMatrix(hosts[i].matrix, WeightFormat::kAsStored);
        auto g = gpu_->PrepareMatrix(hosts[i].matrix, WeightFormat::kAsStored);
        ASSERT_TRUE(c.ok() && g.ok());
        *cslots[i] = *c;
        *gslots[i] = *g;
      }
      for (int64_t n : {1, 5, 37}) {
        const auto x = RandomFloats(static_cast<size_t>(n * h), -2, 2, 33);
        std::vector<float> cpu_out(static_cast<size_t>(n * h));
        cpu_->SwiGluMlp(cm, x.data(), n, cpu_out.data());
        float* gout = Gpu(std::vector<float>(cpu_out.size()));
        gpu_->SwiGluMlp(gm, Gpu(x), n, gout);
        const double tol = dtype == DType::kBF16 && n > 8 ? 1e-4 : 2e-5;
        EXPECT_TRUE(CloseRelMax(FromGpu(gout, cpu_out.size()), cpu_out, tol))
            << "SwiGLU (three matmuls): " << tol << " of max|out| (1e-4 with split-bf16); "
            << DTypeName(dtype) << " H " << h << " F " << f << " n " << n;
      }
    }
  }
}

// A MoE layer's weights on both backends.
struct MoeFixture {
  std::vector<HostWeight> hosts;
  Matrix cpu_router, gpu_router;
  std::vector<MlpWeights> cpu_experts, gpu_experts;
};

void BuildMoe(cpu::CpuBackend& cpu, CudaBackend& gpu, int64_t e, int64_t h, int64_t f, DType dtype,
              bool duplicate_router_rows, MoeFixture& m) {
  m.hosts.reserve(static_cast<size_t>(1 + 3 * e));
  auto router_values = RandomFloats(static_cast<size_t>(e * h), -1, 1, 40);
  if (duplicate_router_rows) {
    // Rows 1 and 2 all ones: for positive inputs experts 1 and 2 tie with the top logit (bit
    // for bit on both backends), and the tie must go to expert 1.
    std::fill_n(router_values.begin() + h, 2 * h, 1.0f);
  }
  // An fp32 router: with >8 tokens a bf16 router's logits go through split-bf16 (~1e-5), which
  // could flip a near-tie between experts; MatMul's own test covers that path.
  m.hosts.emplace_back(router_values, e, h, DType::kF32);
  auto cr = cpu.PrepareMatrix(m.hosts.back().matrix, WeightFormat::kAsStored);
  auto gr = gpu.PrepareMatrix(m.hosts.back().matrix, WeightFormat::kAsStored);
  ASSERT_TRUE(cr.ok() && gr.ok());
  m.cpu_router = *cr;
  m.gpu_router = *gr;
  for (int64_t x = 0; x < e; ++x) {
    MlpWeights cm, gm;
    Matrix* cslots[] = {&cm.gate, &cm.up, &cm.down};
    Matrix* gslots[] = {&gm.gate, &gm.up, &gm.down};
    for (int i = 0; i < 3; ++i) {
      const int64_t rows = i < 2 ? f : h, cols = i < 2 ? h : f;
      m.hosts.emplace_back(RandomFloats(static_cast<size_t>(rows * cols), -0.5f, 0.5f,
                                        static_cast<uint32_t>(100 + 3 * x + i)),
                           rows, cols, dtype);
      auto c = cpu.PrepareMatrix(m.hosts.back().matrix, WeightFormat::kAsStored);
      auto g = gpu.PrepareMatrix(m.hosts.back().matrix, WeightFormat::kAsStored);
      ASSERT_TRUE(c.ok() && g.ok());
      *cslots[i] = *c;
      *gslots[i] = *g;
    }
    m.cpu_experts.push_back(cm);
    m.gpu_experts.push_back(gm);
  }
}

TEST_F(CudaParityTest, MoeMatchesOnTheDeviceAndTheLargeBatchPaths) {
  if (CudaBackend::DeviceCount() == 0) GTEST_SKIP() << kNoDevice;
  struct Case {
    int64_t experts, h, f;
    int top_k;
    DType dtype;
  };
  for (const Case& c : {Case{4, 17, 24, 2, DType::kF32}, Case{16, 64, 130, 2, DType::kBF16},
                        Case{5, 130, 40, 3, DType::kF32}, Case{3, 64, 64, 1, DType::kBF16}}) {
    MoeFixture m;
    BuildMoe(*cpu_, *gpu_, c.experts, c.h, c.f, c.dtype, false, m);
    if (HasFatalFailure()) return;
    // 1 and 5 tokens: device-only path; 100: host-counted cuBLAS path (> 64 tokens).
    for (int64_t n : {1, 5, 37, 100}) {
      const auto x = RandomFloats(static_cast<size_t>(n * c.h), -2, 2, 41);
      std::vector<float> cpu_out(static_cast<size_t>(n * c.h));
      MoeArgs ca{n, x.data(), &m.cpu_router, m.cpu_experts, c.top_k, cpu_out.data()};
      cpu_->Moe(ca);
      float* gout = Gpu(std::vector<float>(cpu_out.size(), 7.0f));  // must be overwritten
      MoeArgs ga{n, Gpu(x), &m.gpu_router, m.gpu_experts, c.top_k, gout};
      gpu_->Moe(ga);
      const double tol = c.dtype == DType::kBF16 && n > 8 ? 1e-4 : 2e-5;
      EXPECT_TRUE(CloseRelMax(FromGpu(gout, cpu_out.size()), cpu_out, tol))
          << "MoE: " << tol << " of max|out| (routing must agree exactly); E " << c.experts << " H "
          << c.h << " F " << c.f << " k " << c.top_k << " " << DTypeName(c.dtype) << " n " << n;
    }
  }
}

TEST_F(CudaParityTest, MoeTiesGoToTheLowerExpertIndex) {
  if (CudaBackend::DeviceCount() == 0) GTEST_SKIP() << kNoDevice;
  MoeFixture m;
  BuildMoe(*cpu_, *gpu_, 4, 32, 16, DType::kF32, /*duplicate_router_rows=*/true, m);
  if (HasFatalFailure()) return;
  const int64_t n = 5;  // GEMV router: identical rows give bit-identical logits
  const auto x = RandomFloats(static_cast<size_t>(n * 32), 0.5f, 2.0f, 42);
  std::vector<float> cpu_out(static_cast<size_t>(n * 32));
  MoeArgs ca{n, x.data(), &m.cpu_router, m.cpu_experts, 1, cpu_out.data()};
  cpu_->Moe(ca);
  float* gout = Gpu(std::vector<float>(cpu_out.size()));
  MoeArgs ga{n, Gpu(x), &m.gpu_router, m.gpu_experts, 1, gout};
  gpu_->Moe(ga);
  EXPECT_TRUE(CloseRelMax(FromGpu(gout, cpu_out.size()), cpu_out, 2e-5))
      << "ties between experts 1 and 2 must pick expert 1 on both backends (2e-5 of max|out|)";
}

TEST_F(CudaParityTest, CausalConvMatchesAndCarriesStateAcrossCalls) {
  if (CudaBackend::DeviceCount() == 0) GTEST_SKIP() << kNoDevice;
  for (int64_t channels : {1, 3, 130}) {
    for (int k : {1, 2, 4}) {
      for (bool bias : {false, true}) {
        const int64_t stride = 2 * channels + 1;
        const auto w = RandomFloats(static_cast<size_t>(channels * k), -1, 1, 50);
        const auto b = RandomFloats(static_cast<size_t>(channels), -1, 1, 51);
        const auto state0 = RandomFloats(static_cast<size_t>(channels * (k - 1)), -1, 1, 52);
        float* cs = Cpu(state0);
        float* gs = Gpu(state0);
        for (int64_t tokens : {3, 1, 37, 2}) {  // sequential calls continue the state
          const auto u = RandomFloats(static_cast<size_t>(tokens * stride), -2, 2,
                                      static_cast<uint32_t>(53 + tokens));
          CausalConvArgs a;
          a.tokens = tokens;
          a.channels = channels;
          a.kernel_size = k;
          a.u_stride = stride;
          CausalConvArgs ca = a, ga = a;
          std::vector<float> cpu_out(static_cast<size_t>(tokens * channels));
          ca.u = Cpu(u);
          ca.weight = Cpu(w);
          ca.bias = bias ? Cpu(b) : nullptr;
          ca.state = cs;
          ca.out = cpu_out.data();
          ga.u = Gpu(u);
          ga.weight = Gpu(w);
          ga.bias = bias ? Gpu(b) : nullptr;
          ga.state = gs;
          ga.out = Gpu(std::vector<float>(cpu_out.size()));
          cpu_->CausalConv1dSilu(ca);
          gpu_->CausalConv1dSilu(ga);
          EXPECT_TRUE(CloseRelMax(FromGpu(ga.out, cpu_out.size()), cpu_out, 1e-5))
              << "conv output, fp32: 1e-5 of max|out|; C " << channels << " K " << k << " T "
              << tokens;
          EXPECT_EQ(FromGpu(gs, state0.size()), FromCpu(cs, state0.size()))
              << "conv state holds copied inputs: exact; C " << channels << " K " << k << " T "
              << tokens;
        }
      }
    }
  }
}

TEST_F(CudaParityTest, SelectiveScanMatchesForStepAndChunkedKernels) {
  if (CudaBackend::DeviceCount() == 0) GTEST_SKIP() << kNoDevice;
  for (int64_t n_state : {1, 3, 16, 17, 33, 64}) {
    for (int64_t channels : {1, 17, 130}) {
      const auto a = RandomFloats(static_cast<size_t>(channels * n_state), -3, -0.05f, 60);
      const auto d = RandomFloats(static_cast<size_t>(channels), 0.5f, 1.5f, 61);
      const auto state0 = RandomFloats(static_cast<size_t>(channels * n_state), -1, 1, 62);
      float* cstate = Cpu(state0);
      float* gstate = Gpu(state0);
      // 1 and 3 tokens: single-step kernel; 5, 37, 70: chunked (70 spans several chunks).
      for (int64_t tokens : {1, 3, 5, 37, 70}) {
        const int64_t bc_stride = 2 * n_state + 1, z_stride = channels + 2;
        const uint32_t seed = static_cast<uint32_t>(63 + tokens);
        const auto x = RandomFloats(static_cast<size_t>(tokens * channels), -2, 2, seed);
        // dt_raw spans the softplus threshold (20) on both sides.
        const auto dt = RandomFloats(static_cast<size_t>(tokens * channels), -6, 24, seed + 1);
        const auto bc = RandomFloats(static_cast<size_t>(tokens * bc_stride), -1, 1, seed + 2);
        const auto z = RandomFloats(static_cast<size_t>(tokens * z_stride), -3, 3, seed + 3);
        SelectiveScanArgs s;
        s.tokens = tokens;
        s.channels = channels;
        s.state_size = n_state;
        s.b_stride = bc_stride;
        s.c_stride = bc_stride;
        s.z_stride = z_stride;
        SelectiveScanArgs cs = s, gs = s;
        std::vector<float> cpu_y(static_cast<size_t>(tokens * channels));
        cs.x = Cpu(x), cs.dt_raw = Cpu(dt), cs.a = Cpu(a), cs.d = Cpu(d), cs.z = Cpu(z);
        cs.b = Cpu(bc), cs.c = cs.b + n_state, cs.state = cstate, cs.y = cpu_y.data();
        gs.x = Gpu(x), gs.dt_raw = Gpu(dt), gs.a = Gpu(a), gs.d = Gpu(d), gs.z = Gpu(z);
        gs.b = Gpu(bc), gs.c = gs.b + n_state, gs.state = gstate;
        gs.y = Gpu(std::vector<float>(cpu_y.size()));
        cpu_->SelectiveScan(cs);
        gpu_->SelectiveScan(gs);
        EXPECT_TRUE(CloseRelMax(FromGpu(gs.y, cpu_y.size()), cpu_y, 1e-5))
            << "scan output, fp32 recurrence: 1e-5 of max|y|; N " << n_state << " C " << channels
            << " T " << tokens;
        EXPECT_TRUE(
            CloseRelMax(FromGpu(gstate, state0.size()), FromCpu(cstate, state0.size()), 1e-5))
            << "scan state, fp32: 1e-5 of max|h|; N " << n_state << " C " << channels << " T "
            << tokens;
      }
    }
  }
}

TEST_F(CudaParityTest, AttentionMatchesWithGqaPastAndSplitKv) {
  if (CudaBackend::DeviceCount() == 0) GTEST_SKIP() << kNoDevice;
  struct Case {
    int heads, kv_heads, head_dim;
  };
  for (const Case& c : {Case{1, 1, 16}, Case{4, 2, 17}, Case{8, 2, 64}, Case{6, 3, 128},
                        Case{4, 1, 256}, Case{32, 8, 128}}) {
    // past 1000 and 5000 with one token: split-KV; 130 with 37 tokens: many key tiles.
    for (auto [tokens, past] :
         {std::pair<int64_t, int64_t>{1, 0}, {5, 0}, {5, 3}, {37, 130}, {1, 1000}, {3, 5000}}) {
      const int64_t q_dim = int64_t{c.heads} * c.head_dim;
      const int64_t kv_dim = int64_t{c.kv_heads} * c.head_dim;
      const int64_t kv_rows = past + tokens;
      const uint32_t seed = static_cast<uint32_t>(70 + tokens + past + c.head_dim);
      const auto q = RandomFloats(static_cast<size_t>(tokens * q_dim), -1, 1, seed);
      const auto keys = RandomFloats(static_cast<size_t>(kv_rows * kv_dim), -1, 1, seed + 1);
      const auto values = RandomFloats(static_cast<size_t>(kv_rows * kv_dim), -1, 1, seed + 2);
      AttentionArgs a;
      a.tokens = tokens;
      a.past = past;
      a.num_heads = c.heads;
      a.num_kv_heads = c.kv_heads;
      a.head_dim = c.head_dim;
      AttentionArgs ca = a, ga = a;
      std::vector<float> cpu_out(static_cast<size_t>(tokens * q_dim));
      const KvChunk cpu_kv{keys.data(), values.data(), kv_rows};
      const KvChunk gpu_kv{Gpu(keys), Gpu(values), kv_rows};
      ca.q = q.data(), ca.kv = {&cpu_kv, 1}, ca.out = cpu_out.data();
      ga.q = Gpu(q), ga.kv = {&gpu_kv, 1};
      ga.out = Gpu(std::vector<float>(cpu_out.size()));
      cpu_->Attention(ca);
      gpu_->Attention(ga);
      EXPECT_TRUE(CloseRelMax(FromGpu(ga.out, cpu_out.size()), cpu_out, 1e-5))
          << "fp32 attention (online softmax vs two-pass): 1e-5 of max(1, max|out|); heads "
          << c.heads << "/" << c.kv_heads << " dh " << c.head_dim << " T " << tokens << " past "
          << past;
    }
  }
}

TEST_F(CudaParityTest, GraphsReplayCapturedOpsWithNewInputValues) {
  if (CudaBackend::DeviceCount() == 0) GTEST_SKIP() << kNoDevice;
  const int64_t n = 3, h = 64, f = 48;
  HostWeight host(RandomFloats(static_cast<size_t>(f * h), -1, 1, 80), f, h, DType::kBF16);
  auto gw = gpu_->PrepareMatrix(host.matrix, WeightFormat::kAsStored);
  ASSERT_TRUE(gw.ok());
  const auto norm = RandomFloats(static_cast<size_t>(h), 0.5f, 1.5f, 81);
  float* gnorm = Gpu(norm);
  float* x = Gpu(RandomFloats(static_cast<size_t>(n * h), -1, 1, 82));
  float* normed = Gpu(std::vector<float>(static_cast<size_t>(n * h)));
  float* y = Gpu(std::vector<float>(static_cast<size_t>(n * f)));
  auto step = [&] {
    gpu_->RmsNorm(x, h, n, h, gnorm, 1e-6f, normed, h);
    gpu_->MatMul(*gw, normed, n, y, nullptr);
    gpu_->Add(y, y, static_cast<size_t>(n * f));
  };
  ASSERT_TRUE(gpu_->BeginCapture().ok());
  step();
  ASSERT_TRUE(gpu_->EndCapture("step").ok());
  ASSERT_TRUE(gpu_->HasGraph("step"));
  for (uint32_t round = 0; round < 2; ++round) {
    const auto input = RandomFloats(static_cast<size_t>(n * h), -1, 1, 83 + round);
    gpu_->CopyFromHost(x, input.data(), input.size() * sizeof(float));
    step();
    const std::vector<float> eager = FromGpu(y, static_cast<size_t>(n * f));
    gpu_->Fill(y, 0.0f, static_cast<size_t>(n * f));
    ASSERT_TRUE(gpu_->Replay("step").ok());
    EXPECT_EQ(FromGpu(y, static_cast<size_t>(n * f)), eager)
        << "a replay runs the same kernels on the same data: exact";
  }
  // Host-memory ops cannot be captured.
  ASSERT_TRUE(gpu_->BeginCapture().ok());
  std::vector<float> sink(4);
  gpu_->CopyToHost(sink.data(), y, sizeof(float) * 4);
  EXPECT_EQ(gpu_->EndCapture("bad").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(gpu_->HasGraph("bad"));
  EXPECT_EQ(gpu_->Replay("missing").code(), absl::StatusCode::kNotFound);
  gpu_->ClearGraphs();
  EXPECT_FALSE(gpu_->HasGraph("step"));
}

TEST_F(CudaParityTest, SyntheticWeightsAreReproducibleAndInRange) {
  if (CudaBackend::DeviceCount() == 0) GTEST_SKIP() << kNoDevice;
  std::vector<float> first;
  for (int pass = 0; pass < 2; ++pass) {
    cuda::SyntheticWeights synth(*gpu_, /*seed=*/9);
    auto m = synth.MakeMatrix(33, 130, DType::kBF16, 0.25f);
    ASSERT_TRUE(m.ok()) << m.status();
    std::vector<uint16_t> bits(33 * 130);
    gpu_->CopyToHost(bits.data(), m->data, bits.size() * 2);
    std::vector<float> v(bits.size());
    for (size_t i = 0; i < bits.size(); ++i) v[i] = BF16ToF32(bits[i]);
    EXPECT_LE(MaxAbs(v), 0.25) << "values within [-scale, scale]";
    EXPECT_GT(MaxAbs(v), 0.2) << "values spread over the range";
    if (pass == 0) {
      first = v;
    } else {
      EXPECT_EQ(v, first) << "same seed, same values: exact";
    }
    auto q = synth.MakeMatrix(4, 16, DType::kI8, 1.0f);
    ASSERT_TRUE(q.ok()) << q.status();
    EXPECT_NE(q->row_scales, nullptr);
    EXPECT_EQ(synth.bytes(), 33u * 130 * 2 + 4u * 16 + 4u * 4);
  }
}

}  // namespace
}  // namespace jamba::kernels
