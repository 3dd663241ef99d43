// Runtime CPU feature detection, through Highway's target detection.
#include "kernels/cpu/cpu_features.h"

#include "hwy/highway.h"
#include "hwy/targets.h"
#include "kernels/cpu/simd_target.h"

namespace jamba::kernels::cpu {

std::string_view SimdTargetName(SimdTarget target) {
  switch (target) {
    case SimdTarget::kScalar:
      return "scalar";
    case SimdTarget::kAvx2:
      return "avx2";
    case SimdTarget::kAvx512:
      return "avx512";
  }
  return "?";
}

std::optional<SimdTarget> ParseSimdTarget(std::string_view name) {
  for (SimdTarget t : {SimdTarget::kScalar, SimdTarget::kAvx2, SimdTarget::kAvx512}) {
    if (SimdTargetName(t) == name) return t;
  }
  return std::nullopt;
}

int64_t HighwayTargetFor(SimdTarget target) {
  switch (target) {
    case SimdTarget::kAvx512:
      return HWY_AVX3;
    case SimdTarget::kAvx2:
      return HWY_AVX2;
    case SimdTarget::kScalar:
      break;
  }
  return HWY_SCALAR;
}

std::vector<SimdTarget> SupportedSimdTargets() {
  const int64_t available = hwy::SupportedTargets() & HWY_TARGETS;
  std::vector<SimdTarget> targets;
  for (SimdTarget t : {SimdTarget::kAvx512, SimdTarget::kAvx2}) {
    if (available & HighwayTargetFor(t)) targets.push_back(t);
  }
  targets.push_back(SimdTarget::kScalar);
  return targets;
}

SimdTarget BestSimdTarget() { return SupportedSimdTargets().front(); }

}  // namespace jamba::kernels::cpu
