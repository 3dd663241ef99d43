// Scratch activations of a forward pass, in backend memory, grown on demand and reused across
// steps. One workspace per thread that calls JambaModel::Forward.
#ifndef JAMBA_ENGINE_FORWARD_WORKSPACE_H_
#define JAMBA_ENGINE_FORWARD_WORKSPACE_H_

#include <array>
#include <cstddef>

#include "absl/status/status.h"
#include "engine/model_config.h"
#include "kernels/backend.h"

namespace jamba::engine {

class ForwardWorkspace {
 public:
  enum Slot : int {
    kHidden,      // [T, H] residual stream
    kNormed,      // [T, H] normed input of a mixer or FFN
    kBranchOut,   // [T, H] mixer or FFN output
    kMambaXz,     // [T, 2I] in_proj output (u | z)
    kMambaConv,   // [T, I] conv + SiLU output
    kMambaXProj,  // [T, R + 2N]
    kMambaDtIn,   // [T, R] normed dt
    kMambaBc,     // [T, 2N] normed B | C
    kMambaDt,     // [T, I] dt_proj output
    kMambaY,      // [T, I] scan output
    kAttnQ,       // [T, NH*Dh]
    kAttnK,       // [T, NKV*Dh]
    kAttnV,       // [T, NKV*Dh]
    kAttnOut,     // [T, NH*Dh]
    kLogitRows,   // [rows, H] final-normed rows that need logits
    kLogits,      // [rows, V]
    kNumSlots,
  };

  explicit ForwardWorkspace(kernels::Backend& backend) : backend_(backend) {}

  // Makes every slot large enough for `tokens` tokens and `logit_rows` rows of logits.
  absl::Status Reserve(const ModelConfig& config, int64_t tokens, int64_t logit_rows);
  float* slot(Slot s) const { return buffers_[s].f32(); }
  kernels::Backend& backend() const { return backend_; }

 private:
  kernels::Backend& backend_;
  std::array<kernels::DeviceBuffer, kNumSlots> buffers_;
};

}  // namespace jamba::engine

#endif  // JAMBA_ENGINE_FORWARD_WORKSPACE_H_
