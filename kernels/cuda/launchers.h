// Host-side entry points of every CUDA kernel of the backend, grouped by the .cu file that defines
// them. Plain C++17 with CUDA runtime types only (no absl, no <span>), so nvcc and the C++20
// sources share it. Each launcher enqueues its kernels on `stream` and returns the launch error
// (cudaGetLastError) for the caller to check; none synchronises. Shapes are in elements; every
// pointer is device memory unless its comment says otherwise.
#ifndef JAMBA_KERNELS_CUDA_LAUNCHERS_H_
#define JAMBA_KERNELS_CUDA_LAUNCHERS_H_

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace jamba::kernels::cuda {

// Element type of a device weight matrix; the values equal kernels::DType's.
enum class WeightType : int { kF32 = 0, kBF16 = 1, kF16 = 2, kI8 = 3 };

// A row-major device matrix [rows, cols]; row_scales [rows] for kI8 (value = int8 * scale).
struct DeviceMatrix {
  const void* data = nullptr;
  WeightType type = WeightType::kF32;
  int64_t rows = 0;
  int64_t cols = 0;
  const float* row_scales = nullptr;
};

// ---- elementwise.cu ----
cudaError_t LaunchFill(float* dst, float value, int64_t count, cudaStream_t stream);
// y[i] += x[i]
cudaError_t LaunchAdd(float* y, const float* x, int64_t count, cudaStream_t stream);
// out[i] = SiLU(gate[i]) * up[i]; out may alias gate.
cudaError_t LaunchSiluMul(const float* gate, const float* up, float* out, int64_t count,
                          cudaStream_t stream);
// y[t, :d] = x[t, :d] / sqrt(mean(x[t, :d]^2) + eps) * weight, rows t < n with strides.
cudaError_t LaunchRmsNorm(const float* x, int64_t x_stride, int64_t n, int64_t d,
                          const float* weight, float eps, float* y, int64_t y_stride,
                          cudaStream_t stream);
// out[t, :] = float(table[tokens[t], :]) (times the row scale for kI8).
cudaError_t LaunchEmbedding(const DeviceMatrix& table, const int32_t* tokens, int64_t n, float* out,
                            cudaStream_t stream);

// ---- convert.cu ----
// Weight-only int8 per output row, exactly as the CPU backend: scale = max|w| / 127 (1 if the row
// is zero), q = clamp(nearbyint(w / scale), -127, 127). src is [rows, cols] of `type` (not kI8).
cudaError_t LaunchQuantizeRowsInt8(const void* src, WeightType type, int64_t rows, int64_t cols,
                                   int8_t* q, float* scales, cudaStream_t stream);
// dst[r - row_begin, :] = w[r, :] for r in [row_begin, row_end), as fp32 (to_bf16 false) or as
// bf16 bits (to_bf16 true; only exact for kBF16 and the integer values of kI8). Row scales of kI8
// are NOT applied: the caller scales the product's output rows.
cudaError_t LaunchConvertRows(const DeviceMatrix& w, int64_t row_begin, int64_t row_end,
                              bool to_bf16, void* dst, cudaStream_t stream);
// hi[i] = bf16(x[i]) (round to nearest even), lo[i] = bf16(x[i] - float(hi[i])); lo may be null.
cudaError_t LaunchSplitBf16(const float* x, int64_t count, uint16_t* hi, uint16_t* lo,
                            cudaStream_t stream);
// y[t * ldy + r] = (sum_p c[p * part_stride + t * ldc + r]) * scale[r] + bias[r] for t < n,
// r < m; scale and bias may be null. c may alias y when num_parts == 1 and ldc == ldy.
cudaError_t LaunchMatMulEpilogue(const float* c, int64_t ldc, int64_t part_stride, int num_parts,
                                 int64_t n, int64_t m, const float* scale, const float* bias,
                                 float* y, int64_t ldy, cudaStream_t stream);

// ---- gemv.cu ----
// The decode path of MatMul: y[t * ldy + r] = sum_k w[r, k] * x[t, k] (* scale[r]) (+ bias[r])
// for t < n <= kGemvMaxTokens, reading each weight once in its stored type, fp32 accumulation.
inline constexpr int64_t kGemvMaxTokens = 8;
cudaError_t LaunchGemv(const DeviceMatrix& w, const float* x, int64_t n, float* y, int64_t ldy,
                       const float* bias, cudaStream_t stream);

// ---- moe.cu ----
// One expert's SwiGLU weights as device pointers (all experts of a layer share one WeightType).
struct DeviceExpert {
  const void* gate = nullptr;          // [F, H]
  const void* up = nullptr;            // [F, H]
  const void* down = nullptr;          // [H, F]
  const float* gate_scales = nullptr;  // kI8 only
  const float* up_scales = nullptr;
  const float* down_scales = nullptr;
};
inline constexpr int kMoeMaxExperts = 256;
inline constexpr int kMoeMaxTopK = 8;
// Per token: softmax over logits[t, :E] (fp32), then the top_k experts by probability, ties to the
// lower index. expert_ids/weights are [n, top_k], highest probability first.
cudaError_t LaunchMoeTopK(const float* logits, int64_t n, int num_experts, int top_k,
                          int32_t* expert_ids, float* weights, cudaStream_t stream);
// Groups the n*top_k assignments by expert (ascending), stable in token order: offsets[E + 1]
// (offsets[e]..offsets[e+1] are expert e's slots), sorted_token[slot], slot_of[t * top_k + j].
cudaError_t LaunchMoeSort(const int32_t* expert_ids, int64_t n, int top_k, int num_experts,
                          int32_t* offsets, int32_t* sorted_token, int32_t* slot_of,
                          cudaStream_t stream);
// xs[slot, :] = x[sorted_token[slot], :] for slot < count.
cudaError_t LaunchMoeGather(const float* x, int64_t hidden, const int32_t* sorted_token,
                            int64_t count, float* xs, cudaStream_t stream);
// Device-only grouped expert GEMVs for small batches (no host sync): for every slot of expert e,
// act[slot, :F] = SiLU(gate_e x) * (up_e x), then ys[slot, :H] = down_e act[slot]. Each block
// takes an expert's slots 8 at a time (1 at a time with single_token, for one-token batches).
// `vectorized` requires H % 8 == 0, F % 8 == 0 and 16-byte aligned weights and activations.
cudaError_t LaunchMoeGateUp(const DeviceExpert* experts, WeightType type, int num_experts,
                            int64_t hidden, int64_t ffn, const float* x, const int32_t* offsets,
                            const int32_t* sorted_token, bool vectorized, bool single_token,
                            float* act, cudaStream_t stream);
cudaError_t LaunchMoeDown(const DeviceExpert* experts, WeightType type, int num_experts,
                          int64_t hidden, int64_t ffn, const float* act, const int32_t* offsets,
                          bool vectorized, bool single_token, float* ys, cudaStream_t stream);
// out[t, :] = sum over t's assignments in ascending expert order of weight * ys[slot, :],
// accumulated in fp32 from zero (the CPU backend's order).
cudaError_t LaunchMoeCombine(const float* ys, int64_t hidden, const int32_t* expert_ids,
                             const float* weights, const int32_t* slot_of, int64_t n, int top_k,
                             float* out, cudaStream_t stream);

// ---- mamba.cu ----
struct ConvParams {
  int64_t tokens = 0;
  int64_t channels = 0;
  int kernel_size = 0;
  const float* u = nullptr;  // [tokens, u_stride]
  int64_t u_stride = 0;
  const float* weight = nullptr;  // [channels, K]
  const float* bias = nullptr;    // [channels] or null
  float* state = nullptr;         // [channels, K-1], oldest first; updated
  float* out = nullptr;           // [tokens, channels]
};
inline constexpr int kConvMaxKernel = 16;
cudaError_t LaunchCausalConv1dSilu(const ConvParams& p, cudaStream_t stream);

struct ScanParams {
  int64_t tokens = 0;
  int64_t channels = 0;
  int64_t state_size = 0;
  const float* x = nullptr;       // [tokens, channels]
  const float* dt_raw = nullptr;  // [tokens, channels]
  const float* a = nullptr;       // [channels, N]
  const float* b = nullptr;       // [tokens, b_stride]
  int64_t b_stride = 0;
  const float* c = nullptr;  // [tokens, c_stride]
  int64_t c_stride = 0;
  const float* d = nullptr;  // [channels]
  const float* z = nullptr;  // [tokens, z_stride]
  int64_t z_stride = 0;
  float* state = nullptr;  // [channels, N]
  float* y = nullptr;      // [tokens, channels]
};
inline constexpr int64_t kScanMaxState = 256;
// Tokens up to this count use the single-step kernel (no shared-memory staging).
inline constexpr int64_t kScanStepMaxTokens = 4;
cudaError_t LaunchSelectiveScan(const ScanParams& p, cudaStream_t stream);

// ---- attention.cu ----
struct AttentionParams {
  int64_t tokens = 0;
  int64_t past = 0;
  int num_heads = 0;
  int num_kv_heads = 0;
  int head_dim = 0;
  const float* q = nullptr;       // [tokens, NH * Dh]
  const float* keys = nullptr;    // [past + tokens, NKV * Dh]
  const float* values = nullptr;  // [past + tokens, NKV * Dh]
  float* out = nullptr;           // [tokens, NH * Dh]
};
inline constexpr int kAttentionMaxHeadDim = 256;
// Device scratch (bytes) LaunchAttention needs for split-KV partial results; 0 when the call is
// not split. `num_sms` is the device's multiprocessor count.
size_t AttentionScratchBytes(const AttentionParams& p, int num_sms);
cudaError_t LaunchAttention(const AttentionParams& p, int num_sms, void* scratch,
                            cudaStream_t stream);
// Raises the attention kernels' dynamic shared-memory limit; call once per device.
cudaError_t InitAttentionKernels();

// ---- synthetic.cu ----
// Fills `count` elements of `type` with values uniform in [lo, hi) derived from a hash of (seed,
// index): reproducible, no RNG state. kI8 draws integers in [-127, 127] and ignores lo/hi.
cudaError_t LaunchHashFill(void* dst, WeightType type, int64_t count, uint64_t seed, float lo,
                           float hi, cudaStream_t stream);

}  // namespace jamba::kernels::cuda

#endif  // JAMBA_KERNELS_CUDA_LAUNCHERS_H_
