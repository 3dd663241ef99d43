// Creates the compute backend an Engine runs on, from the device name in EngineOptions.
#ifndef JAMBA_SDK_BACKEND_FACTORY_H_
#define JAMBA_SDK_BACKEND_FACTORY_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "kernels/backend.h"

namespace jamba::sdk {

struct BackendRequest {
  std::string device = "cpu";  // "cpu", "cuda" or "auto" (CUDA when a device is present)
  int threads = 0;
  std::string simd;               // CPU only: "", "avx512", "avx2", "scalar"
  bool bf16_activations = false;  // CPU only: see kernels::cpu::CpuBackendOptions
  bool pack_weights = true;       // CPU only: see kernels::cpu::CpuBackendOptions
};

absl::StatusOr<std::unique_ptr<kernels::Backend>> CreateBackend(const BackendRequest& request);

// Whether this build has the CUDA backend and a usable device.
bool CudaDeviceAvailable();

}  // namespace jamba::sdk

#endif  // JAMBA_SDK_BACKEND_FACTORY_H_
