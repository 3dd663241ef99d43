// Which SIMD kernel targets this CPU can run. Kernels are compiled for each target with Highway
// and chosen at run time; tests force each supported one in turn.
#ifndef JAMBA_KERNELS_CPU_CPU_FEATURES_H_
#define JAMBA_KERNELS_CPU_CPU_FEATURES_H_

#include <optional>
#include <string_view>
#include <vector>

namespace jamba::kernels::cpu {

// Kernel targets, most portable first.
enum class SimdTarget {
  kScalar,  // portable code (Highway SCALAR), any CPU
  kAvx2,    // AVX2 + FMA + F16C
  kAvx512,  // AVX-512 F/BW/DQ/VL
};

std::string_view SimdTargetName(SimdTarget target);
std::optional<SimdTarget> ParseSimdTarget(std::string_view name);

// Targets this CPU can run and this build compiled, best first (always ends with kScalar).
std::vector<SimdTarget> SupportedSimdTargets();
SimdTarget BestSimdTarget();

}  // namespace jamba::kernels::cpu

#endif  // JAMBA_KERNELS_CPU_CPU_FEATURES_H_
