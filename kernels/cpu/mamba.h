// The sequential parts of a Mamba mixer: causal depthwise conv1d + SiLU and the selective scan,
// compiled for every SIMD target. Each call covers a range of channels, so the backend can spread
// channels over threads; tokens are processed in order within a channel.
#ifndef JAMBA_KERNELS_CPU_MAMBA_H_
#define JAMBA_KERNELS_CPU_MAMBA_H_

#include <cstdint>

#include "kernels/backend.h"
#include "kernels/cpu/cpu_features.h"

namespace jamba::kernels::cpu {

struct MambaKernels {
  void (*causal_conv1d_silu)(const CausalConvArgs& args, int64_t channel_begin,
                             int64_t channel_end);
  // `scratch` holds 2 * tokens * (channel_end - channel_begin) floats.
  void (*selective_scan)(const SelectiveScanArgs& args, int64_t channel_begin, int64_t channel_end,
                         float* scratch);
};

const MambaKernels& GetMambaKernels(SimdTarget target);

}  // namespace jamba::kernels::cpu

#endif  // JAMBA_KERNELS_CPU_MAMBA_H_
