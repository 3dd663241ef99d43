// Causal GQA attention (no positional encoding) for every SIMD target, tiled for reuse: one work
// item is a tile of up to kAttentionQueryTile consecutive query tokens times the query heads of a
// group of KV heads, so every K and V row is read once per tile, not once per (token, head). Keys
// are walked in fixed blocks of kAttentionKeyBlock with an online softmax (running max and sum),
// so scratch stays small at any context; each block is visited for all of the item's KV heads in
// turn, so the item reads the KV rows' pieces side by side instead of one narrow strided stream
// per head. A query's result depends only on its own position and the keys, never on which other
// queries or heads share its item or batch, nor on how its KV rows are split into chunks (a block
// that spans two chunks adds its keys in the same order). K and V are read in the cache's stored
// dtype and widened in registers.
#ifndef JAMBA_KERNELS_CPU_ATTENTION_H_
#define JAMBA_KERNELS_CPU_ATTENTION_H_

#include <cstdint>

#include "kernels/backend.h"
#include "kernels/cpu/cpu_features.h"

namespace jamba::kernels::cpu {

inline constexpr int64_t kAttentionQueryTile = 4;
inline constexpr int64_t kAttentionKeyBlock = 128;

// KV heads per work item: all of them when query tiles alone give every thread work (prefill),
// else the fewest that still leave `threads` items (decode: one tile).
inline int64_t AttentionHeadsPerItem(const AttentionArgs& args, int64_t threads) {
  const int64_t tiles = (args.tokens + kAttentionQueryTile - 1) / kAttentionQueryTile;
  int64_t heads = args.num_kv_heads;
  while (heads % 2 == 0 && tiles * (args.num_kv_heads / heads) < threads) heads /= 2;
  return heads;
}

// Work items of an attention call: query tiles x groups of `heads_per_item` KV heads.
inline int64_t AttentionItems(const AttentionArgs& args, int64_t heads_per_item) {
  return (args.tokens + kAttentionQueryTile - 1) / kAttentionQueryTile *
         (args.num_kv_heads / heads_per_item);
}

// Scratch floats one thread needs for one item.
inline int64_t AttentionScratchFloats(const AttentionArgs& args, int64_t heads_per_item) {
  const int64_t rows = kAttentionQueryTile * (args.num_heads / args.num_kv_heads);
  return heads_per_item * rows * (kAttentionKeyBlock + args.head_dim + 2);
}

struct AttentionKernels {
  // Computes items [item_begin, item_end), item = query_tile * (num_kv_heads / heads_per_item) +
  // head group, using `scratch` (AttentionScratchFloats floats). heads_per_item divides
  // num_kv_heads.
  void (*attend)(const AttentionArgs& args, int64_t heads_per_item, int64_t item_begin,
                 int64_t item_end, float* scratch);
};

const AttentionKernels& GetAttentionKernels(SimdTarget target);

}  // namespace jamba::kernels::cpu

#endif  // JAMBA_KERNELS_CPU_ATTENTION_H_
