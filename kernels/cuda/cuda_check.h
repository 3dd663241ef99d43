// Checking helpers for the CUDA runtime and cuBLAS: every call's result becomes an absl::Status
// (where the caller can report failure) or a fatal error (inside the void ops of Backend), and
// both carry the failing expression and file:line. The macros only capture __FILE__/__LINE__ and
// the expression text; they never return or branch on the caller's behalf.
#ifndef JAMBA_KERNELS_CUDA_CUDA_CHECK_H_
#define JAMBA_KERNELS_CUDA_CUDA_CHECK_H_

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "absl/status/status.h"

namespace jamba::kernels::cuda {

// OK for cudaSuccess / CUBLAS_STATUS_SUCCESS; otherwise kResourceExhausted for out-of-memory and
// kInternal for anything else, with the error name, `expr`, and file:line in the message. A
// failed CUDA call's error is also cleared from the runtime's last-error slot.
absl::Status ToStatus(cudaError_t error, const char* expr, const char* file, int line);
absl::Status ToStatus(cublasStatus_t status, const char* expr, const char* file, int line);

// Prints the same message to stderr and aborts unless the call succeeded. For errors inside ops,
// whose Backend signatures cannot report a Status (a failed kernel leaves the stream unusable).
void CheckFatal(cudaError_t error, const char* expr, const char* file, int line);
void CheckFatal(cublasStatus_t status, const char* expr, const char* file, int line);
// Aborts with `message` and file:line when `condition` is false (argument contract violations).
void CheckFatal(bool condition, const char* message, const char* file, int line);

const char* CublasStatusName(cublasStatus_t status);

}  // namespace jamba::kernels::cuda

// absl::Status of a CUDA runtime or cuBLAS call, e.g.
//   if (absl::Status s = JAMBA_CUDA_STATUS(cudaMalloc(&p, n)); !s.ok()) return s;
#define JAMBA_CUDA_STATUS(expr) ::jamba::kernels::cuda::ToStatus((expr), #expr, __FILE__, __LINE__)
// Aborts with file:line unless the CUDA runtime or cuBLAS call succeeded.
#define JAMBA_CUDA_CHECK(expr) ::jamba::kernels::cuda::CheckFatal((expr), #expr, __FILE__, __LINE__)
// Aborts with `message` and file:line unless `condition` holds (caller contract violations).
#define JAMBA_CUDA_REQUIRE(condition, message) \
  ::jamba::kernels::cuda::CheckFatal(static_cast<bool>(condition), message, __FILE__, __LINE__)

#endif  // JAMBA_KERNELS_CUDA_CUDA_CHECK_H_
