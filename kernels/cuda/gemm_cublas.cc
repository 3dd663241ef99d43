// MatMul dispatch of CudaBackend: the GEMV kernel for decode-sized batches, cuBLAS for larger
// ones (bf16 tensor cores on split activations for bf16/int8 weights, SGEMM for f32/f16). The
// numerics are described in cuda_backend.h.
#include <algorithm>
#include <climits>

#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/scratch.h"

namespace jamba::kernels::cuda {
namespace {

// Above this the hi and lo products go straight into y as two GEMMs instead of one stacked GEMM
// into scratch (large batches are compute-bound, so reading W twice costs little there).
constexpr size_t kStackedScratchLimit = size_t{256} << 20;
// Row chunk of f16 / int8 weights converted for cuBLAS at a time.
constexpr size_t kConvertChunkBytes = size_t{64} << 20;

bool FitsInt(int64_t v) { return v >= 0 && v <= INT_MAX; }

}  // namespace

void CudaBackend::SgemmLocked(const float* w, int64_t rows, int64_t cols, const float* x, int64_t n,
                              float* y, int64_t ldy) {
  // Column-major view: C[rows, n] (ld ldy) = W^T[rows, cols] * X[cols, n].
  const float one = 1.0f;
  const float zero = 0.0f;
  JAMBA_CUDA_CHECK(cublasSgemm(cublas_.get(), CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(rows),
                               static_cast<int>(n), static_cast<int>(cols), &one, w,
                               static_cast<int>(cols), x, static_cast<int>(cols), &zero, y,
                               static_cast<int>(ldy)));
}

void CudaBackend::SplitBf16GemmLocked(const uint16_t* w, int64_t rows, int64_t cols,
                                      const uint16_t* x_hi, const uint16_t* x_lo, int64_t n,
                                      float* y, int64_t ldy, const float* scale,
                                      const float* bias) {
  cudaStream_t stream = stream_.get();
  auto gemm = [&](const uint16_t* x, int64_t columns, float* c, int64_t ldc, float beta) {
    const float alpha = 1.0f;
    JAMBA_CUDA_CHECK(cublasGemmEx(cublas_.get(), CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(rows),
                                  static_cast<int>(columns), static_cast<int>(cols), &alpha, w,
                                  CUDA_R_16BF, static_cast<int>(cols), x, CUDA_R_16BF,
                                  static_cast<int>(cols), &beta, c, CUDA_R_32F,
                                  static_cast<int>(ldc), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  };
  const bool epilogue = scale != nullptr || bias != nullptr;
  if (x_lo == nullptr) {
    gemm(x_hi, n, y, ldy, 0.0f);
    if (epilogue) {
      JAMBA_CUDA_CHECK(LaunchMatMulEpilogue(y, ldy, 0, 1, n, rows, scale, bias, y, ldy, stream));
    }
    return;
  }
  const size_t stacked_bytes = static_cast<size_t>(2 * n * rows) * sizeof(float);
  if (x_lo == x_hi + n * cols && stacked_bytes <= kStackedScratchLimit && FitsInt(2 * n)) {
    // One GEMM over [hi; lo] (2n columns) reads W once; the epilogue adds the halves.
    Scratch c(*this, stacked_bytes);
    gemm(x_hi, 2 * n, c.as<float>(), rows, 0.0f);
    JAMBA_CUDA_CHECK(LaunchMatMulEpilogue(c.as<float>(), rows, n * rows, 2, n, rows, scale, bias, y,
                                          ldy, stream));
    return;
  }
  gemm(x_hi, n, y, ldy, 0.0f);
  gemm(x_lo, n, y, ldy, 1.0f);
  if (epilogue) {
    JAMBA_CUDA_CHECK(LaunchMatMulEpilogue(y, ldy, 0, 1, n, rows, scale, bias, y, ldy, stream));
  }
}

void CudaBackend::MatMulLocked(const Matrix& w, const float* x, int64_t n, float* y, int64_t ldy,
                               const float* bias) {
  if (n <= 0 || w.rows <= 0) return;
  cudaStream_t stream = stream_.get();
  JAMBA_CUDA_REQUIRE(w.cols > 0, "MatMul: the weight has no columns");
  if (n <= kGemvMaxTokens) {
    DeviceMatrix dm{w.data, static_cast<WeightType>(w.dtype), w.rows, w.cols, w.row_scales};
    JAMBA_CUDA_CHECK(LaunchGemv(dm, x, n, y, ldy, bias, stream));
    return;
  }
  JAMBA_CUDA_REQUIRE(FitsInt(w.rows) && FitsInt(w.cols) && FitsInt(n) && FitsInt(ldy),
                     "MatMul: dimensions exceed cuBLAS' int range");
  const DeviceMatrix dm{w.data, static_cast<WeightType>(w.dtype), w.rows, w.cols, w.row_scales};
  switch (w.dtype) {
    case DType::kF32:
      SgemmLocked(static_cast<const float*>(w.data), w.rows, w.cols, x, n, y, ldy);
      if (bias != nullptr) {
        JAMBA_CUDA_CHECK(
            LaunchMatMulEpilogue(y, ldy, 0, 1, n, w.rows, nullptr, bias, y, ldy, stream));
      }
      return;
    case DType::kF16: {
      const int64_t chunk_rows = std::clamp<int64_t>(
          static_cast<int64_t>(kConvertChunkBytes / (w.cols * sizeof(float))), 1, w.rows);
      Scratch converted(*this, static_cast<size_t>(chunk_rows * w.cols) * sizeof(float));
      for (int64_t r0 = 0; r0 < w.rows; r0 += chunk_rows) {
        const int64_t r1 = std::min(w.rows, r0 + chunk_rows);
        JAMBA_CUDA_CHECK(
            LaunchConvertRows(dm, r0, r1, /*to_bf16=*/false, converted.as<void>(), stream));
        SgemmLocked(converted.as<float>(), r1 - r0, w.cols, x, n, y + r0, ldy);
      }
      if (bias != nullptr) {
        JAMBA_CUDA_CHECK(
            LaunchMatMulEpilogue(y, ldy, 0, 1, n, w.rows, nullptr, bias, y, ldy, stream));
      }
      return;
    }
    case DType::kBF16:
    case DType::kI8: {
      const bool split = options_.matmul_precision == MatMulPrecision::kSplitBf16;
      const int64_t x_count = n * w.cols;
      Scratch xs(*this, static_cast<size_t>(x_count * (split ? 2 : 1)) * sizeof(uint16_t));
      uint16_t* hi = xs.as<uint16_t>();
      uint16_t* lo = split ? hi + x_count : nullptr;
      JAMBA_CUDA_CHECK(LaunchSplitBf16(x, x_count, hi, lo, stream));
      if (w.dtype == DType::kBF16) {
        SplitBf16GemmLocked(static_cast<const uint16_t*>(w.data), w.rows, w.cols, hi, lo, n, y, ldy,
                            nullptr, bias);
        return;
      }
      // int8 values are exact in bf16; the row scales are applied to the products' rows.
      const int64_t chunk_rows = std::clamp<int64_t>(
          static_cast<int64_t>(kConvertChunkBytes / (w.cols * sizeof(uint16_t))), 1, w.rows);
      Scratch converted(*this, static_cast<size_t>(chunk_rows * w.cols) * sizeof(uint16_t));
      for (int64_t r0 = 0; r0 < w.rows; r0 += chunk_rows) {
        const int64_t r1 = std::min(w.rows, r0 + chunk_rows);
        JAMBA_CUDA_CHECK(
            LaunchConvertRows(dm, r0, r1, /*to_bf16=*/true, converted.as<void>(), stream));
        SplitBf16GemmLocked(converted.as<uint16_t>(), r1 - r0, w.cols, hi, lo, n, y + r0, ldy,
                            w.row_scales + r0, bias != nullptr ? bias + r0 : nullptr);
      }
      return;
    }
  }
}

}  // namespace jamba::kernels::cuda
