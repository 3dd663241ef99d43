// Turns CUDA runtime and cuBLAS results into absl::Status values or fatal errors with file:line.
#include "kernels/cuda/cuda_check.h"

#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"

namespace jamba::kernels::cuda {

const char* CublasStatusName(cublasStatus_t status) {
  switch (status) {
    case CUBLAS_STATUS_SUCCESS:
      return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED:
      return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED:
      return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE:
      return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH:
      return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR:
      return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED:
      return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR:
      return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED:
      return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_LICENSE_ERROR:
      return "CUBLAS_STATUS_LICENSE_ERROR";
  }
  return "CUBLAS_STATUS_UNKNOWN";
}

absl::Status ToStatus(cudaError_t error, const char* expr, const char* file, int line) {
  if (error == cudaSuccess) return absl::OkStatus();
  (void)cudaGetLastError();  // clear the (non-sticky) error so later calls do not report it again
  std::string message =
      absl::StrCat(file, ":", line, ": ", expr, " failed: ", cudaGetErrorName(error), " (",
                   cudaGetErrorString(error), ")");
  if (error == cudaErrorMemoryAllocation) return absl::ResourceExhaustedError(message);
  if (error == cudaErrorNoDevice || error == cudaErrorInsufficientDriver) {
    return absl::UnavailableError(message);
  }
  return absl::InternalError(message);
}

absl::Status ToStatus(cublasStatus_t status, const char* expr, const char* file, int line) {
  if (status == CUBLAS_STATUS_SUCCESS) return absl::OkStatus();
  std::string message =
      absl::StrCat(file, ":", line, ": ", expr, " failed: ", CublasStatusName(status));
  if (status == CUBLAS_STATUS_ALLOC_FAILED) return absl::ResourceExhaustedError(message);
  if (status == CUBLAS_STATUS_NOT_INITIALIZED) return absl::UnavailableError(message);
  return absl::InternalError(message);
}

void CheckFatal(cudaError_t error, const char* expr, const char* file, int line) {
  if (error == cudaSuccess) return;
  std::fprintf(stderr, "jamba cuda: fatal: %s:%d: %s failed: %s (%s)\n", file, line, expr,
               cudaGetErrorName(error), cudaGetErrorString(error));
  std::abort();
}

void CheckFatal(cublasStatus_t status, const char* expr, const char* file, int line) {
  if (status == CUBLAS_STATUS_SUCCESS) return;
  std::fprintf(stderr, "jamba cuda: fatal: %s:%d: %s failed: %s\n", file, line, expr,
               CublasStatusName(status));
  std::abort();
}

void CheckFatal(bool condition, const char* message, const char* file, int line) {
  if (condition) return;
  std::fprintf(stderr, "jamba cuda: fatal: %s:%d: %s\n", file, line, message);
  std::abort();
}

}  // namespace jamba::kernels::cuda
