// Causal GQA attention (no positional encoding) for every SIMD target. One work item is one
// (query token, query head) pair; the backend spreads items over threads.
#ifndef JAMBA_KERNELS_CPU_ATTENTION_H_
#define JAMBA_KERNELS_CPU_ATTENTION_H_

#include <cstdint>

#include "kernels/backend.h"
#include "kernels/cpu/cpu_features.h"

namespace jamba::kernels::cpu {

struct AttentionKernels {
  // Computes items [item_begin, item_end), item = token * num_heads + head. `scores` holds at
  // least past + tokens floats.
  void (*attend)(const AttentionArgs& args, int64_t item_begin, int64_t item_end, float* scores);
};

const AttentionKernels& GetAttentionKernels(SimdTarget target);

}  // namespace jamba::kernels::cpu

#endif  // JAMBA_KERNELS_CPU_ATTENTION_H_
