// Device selection: the CPU backend always exists; the CUDA backend when this build compiled it
// (JAMBA_HAVE_CUDA) and the machine has a device.
#include "sdk/backend_factory.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "kernels/cpu/cpu_backend.h"
#if defined(JAMBA_HAVE_CUDA)
#include "kernels/cuda/cuda_backend.h"
#endif

namespace jamba::sdk {

bool CudaDeviceAvailable() {
#if defined(JAMBA_HAVE_CUDA)
  return kernels::cuda::CudaBackend::DeviceCount() > 0;
#else
  return false;
#endif
}

absl::StatusOr<std::unique_ptr<kernels::Backend>> CreateBackend(const BackendRequest& request) {
  std::string device = request.device;
  if (device == "auto") device = CudaDeviceAvailable() ? "cuda" : "cpu";
  if (device == "cpu") {
    kernels::cpu::CpuBackendOptions options;
    options.num_threads = request.threads;
    options.bf16_activations = request.bf16_activations;
    options.pack_weights = request.pack_weights;
    if (!request.simd.empty()) {
      auto target = kernels::cpu::ParseSimdTarget(request.simd);
      if (!target.has_value()) {
        return absl::InvalidArgumentError(
            absl::StrCat("simd must be avx512, avx2 or scalar, got \"", request.simd, "\""));
      }
      options.simd_target = *target;
    }
    auto backend = kernels::cpu::CpuBackend::Create(options);
    if (!backend.ok()) return backend.status();
    return std::unique_ptr<kernels::Backend>(std::move(*backend));
  }
  if (device == "cuda") {
    if (request.bf16_activations)
      return absl::InvalidArgumentError("activations=bf16 is an option of the CPU backend");
#if defined(JAMBA_HAVE_CUDA)
    auto backend = kernels::cuda::CudaBackend::Create({});
    if (!backend.ok()) return backend.status();
    return std::unique_ptr<kernels::Backend>(std::move(*backend));
#else
    return absl::UnavailableError(
        "this build of libjamba has no CUDA backend (nvcc was not found)");
#endif
  }
  return absl::InvalidArgumentError(
      absl::StrCat("device must be cpu, cuda or auto, got \"", request.device, "\""));
}

}  // namespace jamba::sdk
