// Sizes and grows the forward pass's scratch buffers.
#include "engine/forward_workspace.h"

#include "engine/status_macros.h"

namespace jamba::engine {

absl::Status ForwardWorkspace::Reserve(const ModelConfig& c, int64_t t, int64_t logit_rows) {
  const int64_t h = c.hidden_size, i = c.mamba_inner(), n = c.mamba_d_state, r = c.mamba_dt_rank;
  const int64_t q = c.num_attention_heads * c.head_dim();
  const int64_t kv = c.num_key_value_heads * c.head_dim();
  std::array<int64_t, kNumSlots> floats{};
  floats[kHidden] = t * h;
  floats[kNormed] = t * h;
  floats[kBranchOut] = t * h;
  floats[kMambaXz] = t * 2 * i;
  floats[kMambaConv] = t * i;
  floats[kMambaXProj] = t * (r + 2 * n);
  floats[kMambaDtIn] = t * r;
  floats[kMambaBc] = t * 2 * n;
  floats[kMambaDt] = t * i;
  floats[kMambaY] = t * i;
  floats[kAttnQ] = t * q;
  floats[kAttnK] = t * kv;
  floats[kAttnV] = t * kv;
  floats[kAttnOut] = t * q;
  floats[kLogitRows] = logit_rows * h;
  floats[kLogits] = logit_rows * c.vocab_size;
  for (int s = 0; s < kNumSlots; ++s) {
    const size_t bytes = static_cast<size_t>(floats[s]) * sizeof(float);
    if (buffers_[s].bytes() >= bytes) continue;
    // Grow with headroom so a slowly growing batch does not reallocate every step.
    JAMBA_ASSIGN_OR_RETURN(buffers_[s], backend_.Allocate(bytes + bytes / 4));
  }
  return absl::OkStatus();
}

}  // namespace jamba::engine
