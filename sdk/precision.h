// The engine's numerical precision: the `precision` preset (auto, exact, fast) and the expert
// knobs that override it (activations, kv_dtype), resolved once when an Engine opens.
#ifndef JAMBA_SDK_PRECISION_H_
#define JAMBA_SDK_PRECISION_H_

#include <string>

#include "absl/status/statusor.h"
#include "kernels/kv_dtype.h"

namespace jamba::sdk {

struct PrecisionRequest {
  std::string precision = "auto";  // "auto", "exact" or "fast"
  std::string activations;         // "", "fp32" or "bf16" ("": the preset's)
  std::string kv_dtype;            // "", "fp32", "bf16" or "int8" ("": the preset's)
  bool cuda = false;               // the engine runs on the CUDA backend
  bool cpu_has_bf16 = false;       // the CPU has AVX512_BF16 dot products
};

struct Precision {
  // "exact" (fp32 activations, fp32 KV), "fast" (the fast preset on this machine), or "custom"
  // (the knobs chose something else).
  std::string name;
  bool bf16_activations = false;
  kernels::KvDType kv_dtype = kernels::KvDType::kF32;
  std::string activations_name() const { return bf16_activations ? "bf16" : "fp32"; }
};

// auto: fast on a CPU with AVX512_BF16, else exact (CUDA: exact). fast: bf16 activations where
// the CPU has AVX512_BF16 (fp32 elsewhere) and a bf16 KV cache. INVALID_ARGUMENT for unknown
// names and for what the CUDA backend cannot run (bf16 activations, a KV cache other than fp32).
absl::StatusOr<Precision> ResolvePrecision(const PrecisionRequest& request);

}  // namespace jamba::sdk

#endif  // JAMBA_SDK_PRECISION_H_
