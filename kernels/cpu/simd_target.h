// Maps our SimdTarget to the Highway targets compiled into the kernels, and selects among them.
// Each kernel family (matmul.cc, mamba_ops.cc, ...) is compiled once per Highway target with
// hwy/foreach_target.h and exposes a table of function pointers per target.
#ifndef JAMBA_KERNELS_CPU_SIMD_TARGET_H_
#define JAMBA_KERNELS_CPU_SIMD_TARGET_H_

#include <cstdint>

#include "hwy/highway.h"
#include "kernels/cpu/cpu_features.h"

static_assert(HWY_TARGETS == (HWY_AVX3 | HWY_AVX2 | HWY_SCALAR),
              "kernels are built for AVX3, AVX2 and SCALAR only (see kernels/CMakeLists.txt)");

namespace jamba::kernels::cpu {

// The Highway target bit (HWY_AVX3, HWY_AVX2, HWY_SCALAR ...) that implements `target`.
int64_t HighwayTargetFor(SimdTarget target);

// The build compiles exactly these Highway targets (HWY_DISABLED_TARGETS drops the SSE ones), in
// this order. JAMBA_PER_TARGET(x) lists x's per-target definitions in the same order; use it only
// in the HWY_ONCE part of a foreach_target file, where every target namespace exists.
inline constexpr int kNumCompiledTargets = 3;
#define JAMBA_PER_TARGET(name) &N_AVX3::name, &N_AVX2::name, &N_SCALAR::name

// Picks the definition compiled for `target` from a JAMBA_PER_TARGET list.
template <typename Table>
const Table& SelectForTarget(SimdTarget target, const Table* const (&tables)[kNumCompiledTargets]) {
  switch (target) {
    case SimdTarget::kAvx512:
      return *tables[0];
    case SimdTarget::kAvx2:
      return *tables[1];
    case SimdTarget::kScalar:
      break;
  }
  return *tables[2];
}

}  // namespace jamba::kernels::cpu

#endif  // JAMBA_KERNELS_CPU_SIMD_TARGET_H_
