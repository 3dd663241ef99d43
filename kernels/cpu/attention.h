// Causal GQA attention (no positional encoding) for every SIMD target, tiled for reuse: one work
// item is a tile of up to kAttentionQueryTile consecutive query tokens times the query heads that
// share one KV head, so every K and V row is read once per tile, not once per (token, head). Keys
// are walked in fixed blocks of kAttentionKeyBlock with an online softmax (running max and sum),
// so scratch stays small at any context. A query's result depends only on its own position and
// the keys, never on which other queries share its tile or batch.
#ifndef JAMBA_KERNELS_CPU_ATTENTION_H_
#define JAMBA_KERNELS_CPU_ATTENTION_H_

#include <cstdint>

#include "kernels/backend.h"
#include "kernels/cpu/cpu_features.h"

namespace jamba::kernels::cpu {

inline constexpr int64_t kAttentionQueryTile = 4;
inline constexpr int64_t kAttentionKeyBlock = 128;

// Work items of an attention call: query tiles x KV heads.
inline int64_t AttentionItems(const AttentionArgs& args) {
  return (args.tokens + kAttentionQueryTile - 1) / kAttentionQueryTile * args.num_kv_heads;
}

// Scratch floats one thread needs for one item.
inline int64_t AttentionScratchFloats(const AttentionArgs& args) {
  const int64_t rows = kAttentionQueryTile * (args.num_heads / args.num_kv_heads);
  return rows * (kAttentionKeyBlock + args.head_dim + 2);
}

struct AttentionKernels {
  // Computes items [item_begin, item_end), item = query_tile * num_kv_heads + kv_head, using
  // `scratch` (AttentionScratchFloats floats).
  void (*attend)(const AttentionArgs& args, int64_t item_begin, int64_t item_end, float* scratch);
};

const AttentionKernels& GetAttentionKernels(SimdTarget target);

}  // namespace jamba::kernels::cpu

#endif  // JAMBA_KERNELS_CPU_ATTENTION_H_
