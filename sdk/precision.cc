// Resolving the precision preset and its overrides (see precision.h).
#include "sdk/precision.h"

#include <optional>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace jamba::sdk {

absl::StatusOr<Precision> ResolvePrecision(const PrecisionRequest& r) {
  if (r.precision != "auto" && r.precision != "exact" && r.precision != "fast") {
    return absl::InvalidArgumentError(absl::StrCat(
        "precision must be \"auto\", \"exact\" or \"fast\", got \"", r.precision, "\""));
  }
  if (!r.activations.empty() && r.activations != "fp32" && r.activations != "bf16") {
    return absl::InvalidArgumentError(
        absl::StrCat("activations must be \"fp32\" or \"bf16\" (or empty: the preset's), got \"",
                     r.activations, "\""));
  }
  std::optional<kernels::KvDType> kv_override;
  if (!r.kv_dtype.empty()) {
    kv_override = kernels::ParseKvDType(r.kv_dtype);
    if (!kv_override.has_value() || *kv_override == kernels::KvDType::kF8E4M3) {
      return absl::InvalidArgumentError(absl::StrCat(
          "kv_dtype must be \"fp32\", \"bf16\" or \"int8\" (or empty: the preset's), got \"",
          r.kv_dtype, "\""));
    }
  }
  // What "fast" means on this machine, and what "auto" picks.
  const bool fast_activations = !r.cuda && r.cpu_has_bf16;
  std::string preset = r.precision;
  if (preset == "auto") preset = fast_activations ? "fast" : "exact";
  Precision p;
  p.bf16_activations = preset == "fast" && fast_activations;
  p.kv_dtype = preset == "fast" ? kernels::KvDType::kBF16 : kernels::KvDType::kF32;
  if (!r.activations.empty()) p.bf16_activations = r.activations == "bf16";
  if (kv_override.has_value()) p.kv_dtype = *kv_override;
  if (r.cuda && p.bf16_activations) {
    return absl::InvalidArgumentError(
        "activations=bf16 is an option of the CPU backend (the CUDA backend computes in fp32)");
  }
  if (r.cuda && p.kv_dtype != kernels::KvDType::kF32) {
    return absl::InvalidArgumentError(
        absl::StrCat("kv_dtype=", kernels::KvDTypeName(p.kv_dtype),
                     " is not supported by the CUDA backend, which keeps the KV cache in fp32 (use "
                     "precision=exact or kv_dtype=fp32)"));
  }
  if (!p.bf16_activations && p.kv_dtype == kernels::KvDType::kF32) {
    p.name = "exact";
  } else if (p.bf16_activations == fast_activations && p.kv_dtype == kernels::KvDType::kBF16) {
    p.name = "fast";
  } else {
    p.name = "custom";
  }
  return p;
}

}  // namespace jamba::sdk
