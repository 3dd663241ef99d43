// The Backend interface: the only way the engine touches tensors. One implementation per device
// (kernels/cpu, kernels/cuda). Pointers passed to the ops point into the backend's own memory
// (host memory for the CPU backend, device memory for CUDA); the engine allocates them here.
// Every op computes in fp32; weights and the KV cache keep their stored dtype.
#ifndef JAMBA_KERNELS_BACKEND_H_
#define JAMBA_KERNELS_BACKEND_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "kernels/dtype.h"
#include "kernels/kv_dtype.h"

namespace jamba::kernels {

class Backend;

// How a matrix's elements are ordered in memory.
enum class MatrixLayout : uint8_t {
  kRowMajor,
  // Rows in groups of kInterleaveRows; each group is stored as consecutive chunks of
  // kInterleaveCols columns, a chunk holding its rows' pieces one after another. A product over a
  // row group then reads one sequential stream rather than four concurrent row streams (which
  // the hardware prefetcher follows far better), and a group starting at row r still starts at
  // element r * cols. Only the CPU backend produces it (PrepareMatrix), for rows % 4 == 0 and
  // cols % 32 == 0.
  kInterleaved,
  // BF16 rows in blocks of kPairBlockRows; a block stores its columns two at a time: columns 2j
  // and 2j + 1 of its 16 rows, row after row, are one 64-byte piece, the weight operand of one
  // AVX-512 BF16 dot-product instruction. That instruction then adds one broadcast pair of a
  // token's activations times the pair to 16 rows' sums at once, and a row's sum ends in one lane
  // with nothing to add across lanes: a many-token product reaches the instruction's peak rate,
  // which the row-wise layouts' per-output reductions and extra loads keep it from. Each sum runs
  // over the pairs in order, so products differ in rounding from the row-wise layouts'. Only the
  // CPU backend produces it (PrepareMatrix), when it computes with bf16 activations, for BF16
  // matrices with rows % 16 == 0 and even cols; a block starting at row r starts at element
  // r * cols.
  kPairBlocks,
};
inline constexpr int64_t kInterleaveRows = 4;
inline constexpr int64_t kInterleaveCols = 32;
inline constexpr int64_t kPairBlockRows = 16;

// Elements from the start of a kInterleaved row group to element k of its row r (r < 4): the one
// definition of the layout, for the code that writes it and the kernels that read it.
constexpr int64_t InterleavedOffset(int64_t r, int64_t k) {
  return (k / kInterleaveCols) * (kInterleaveRows * kInterleaveCols) + r * kInterleaveCols +
         k % kInterleaveCols;
}

// The same for a kPairBlocks block and its row r (r < 16).
constexpr int64_t PairBlockOffset(int64_t r, int64_t k) {
  return (k / 2) * (2 * kPairBlockRows) + r * 2 + k % 2;
}

// A matrix held by a backend. nn.Linear weights are [out_features, in_features].
struct Matrix {
  const void* data = nullptr;
  DType dtype = DType::kF32;
  int64_t rows = 0;
  int64_t cols = 0;
  const float* row_scales = nullptr;  // kI8 only: value = int8 * row_scales[row]
  MatrixLayout layout = MatrixLayout::kRowMajor;

  size_t bytes() const { return static_cast<size_t>(rows * cols) * DTypeSize(dtype); }
};

// A SwiGLU MLP: down( SiLU(gate x) * (up x) ). gate/up are [F, H], down is [H, F].
struct MlpWeights {
  Matrix gate;
  Matrix up;
  Matrix down;
};

// How a host weight should be held by the backend.
enum class WeightFormat : uint8_t {
  kAsStored,  // keep F32/BF16/F16 as in the checkpoint
  kInt8,      // weight-only int8, one scale per output row
};

// Backend memory, freed by the backend that allocated it. Move-only.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(Backend* owner, void* data, size_t bytes)
      : owner_(owner), data_(data), bytes_(bytes) {}
  DeviceBuffer(DeviceBuffer&& other) noexcept { *this = std::move(other); }
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() { Reset(); }

  void Reset();
  void* data() const { return data_; }
  float* f32() const { return static_cast<float*>(data_); }
  size_t bytes() const { return bytes_; }
  bool empty() const { return data_ == nullptr; }

 private:
  Backend* owner_ = nullptr;
  void* data_ = nullptr;
  size_t bytes_ = 0;
};

// Arguments of the Mamba selective scan over n consecutive tokens of one sequence.
// h[c,:] = exp(A[c,:] * dt[t,c]) * h[c,:] + dt[t,c] * B[t,:] * x[t,c]
// y[t,c] = (sum_n h[c,n] C[t,n] + D[c] x[t,c]) * SiLU(z[t,c]),  dt = softplus(dt_raw)
struct SelectiveScanArgs {
  int64_t tokens = 0;
  int64_t channels = 0;           // I
  int64_t state_size = 0;         // N
  const float* x = nullptr;       // [tokens, I] conv output
  const float* dt_raw = nullptr;  // [tokens, I] dt_proj output including its bias, pre-softplus
  const float* a = nullptr;       // [I, N] = -exp(A_log)
  const float* b = nullptr;       // [tokens, b_stride], first N used
  int64_t b_stride = 0;
  const float* c = nullptr;  // [tokens, c_stride], first N used
  int64_t c_stride = 0;
  const float* d = nullptr;  // [I]
  const float* z = nullptr;  // [tokens, z_stride] gate, first I used
  int64_t z_stride = 0;
  float* state = nullptr;  // [I, N] in/out
  float* y = nullptr;      // [tokens, I]
};

// Arguments of the causal depthwise conv1d + SiLU over n consecutive tokens of one sequence.
struct CausalConvArgs {
  int64_t tokens = 0;
  int64_t channels = 0;
  int kernel_size = 0;       // K
  const float* u = nullptr;  // [tokens, u_stride], first `channels` used
  int64_t u_stride = 0;
  const float* weight = nullptr;  // [channels, K]; column K-1 multiplies the current token
  const float* bias = nullptr;    // [channels] or null
  float* state = nullptr;         // [channels, K-1]: the K-1 previous inputs, oldest first; updated
  float* out = nullptr;           // [tokens, channels]
};

// Causal GQA attention for n new queries of one sequence, no positional encoding.
// Query row t sits at absolute position past+t and sees key rows 0..past+t. The keys and values
// are the sequence's KV cache as stored: rows in `kv_dtype` (kv_dtype.h), in chunks that together
// hold at least past+tokens rows in position order (rows past that are never read).
struct AttentionArgs {
  int64_t tokens = 0;
  int64_t past = 0;
  int num_heads = 0;
  int num_kv_heads = 0;
  int head_dim = 0;
  const float* q = nullptr;  // [tokens, num_heads*head_dim]
  KvDType kv_dtype = KvDType::kF32;
  std::span<const KvChunk> kv;  // rows of KvRowBytes(kv_dtype, num_kv_heads, head_dim)
  float* out = nullptr;         // [tokens, num_heads*head_dim]
};

// New K and V rows of one sequence, written into its KV cache in the cache's dtype.
struct KvStoreArgs {
  int64_t rows = 0;
  int num_kv_heads = 0;
  int head_dim = 0;
  KvDType dtype = KvDType::kF32;
  const float* keys = nullptr;    // [rows, num_kv_heads*head_dim]
  const float* values = nullptr;  // [rows, num_kv_heads*head_dim]
  void* dst_keys = nullptr;       // `rows` cached rows (KvRowBytes each)
  void* dst_values = nullptr;
};

// A sparse MoE feed-forward over n tokens: softmax over all experts' router logits, top-k
// without renormalisation, sum of the chosen experts' SwiGLU outputs weighted by their probability.
struct MoeArgs {
  int64_t tokens = 0;
  const float* x = nullptr;        // [tokens, H]
  const Matrix* router = nullptr;  // [E, H]
  std::span<const MlpWeights> experts;
  int top_k = 0;
  float* out = nullptr;  // [tokens, H], overwritten
};

class Backend {
 public:
  virtual ~Backend() = default;

  virtual std::string Name() const = 0;
  // True when the backend's pointers are ordinary host pointers (the CPU backend).
  virtual bool UsesHostMemory() const = 0;

  // ---- memory ----
  virtual absl::StatusOr<DeviceBuffer> Allocate(size_t bytes) = 0;
  virtual void CopyFromHost(void* dst, const void* host_src, size_t bytes) = 0;
  virtual void CopyToHost(void* host_dst, const void* src, size_t bytes) = 0;
  virtual void Copy(void* dst, const void* src, size_t bytes) = 0;
  virtual void Fill(float* dst, float value, size_t count) = 0;
  // Waits until every op issued so far has finished.
  virtual void Synchronize() = 0;

  // ---- weights (called at load time) ----
  // Makes a row-major host weight usable by the ops. When KeepsHostWeights(), kAsStored may
  // return a view of the host memory (which must then outlive the backend's use of it);
  // otherwise the backend owns a copy, possibly in another layout.
  virtual absl::StatusOr<Matrix> PrepareMatrix(const Matrix& host, WeightFormat format) = 0;
  // True when prepared matrices may still point into the host weights passed to PrepareMatrix,
  // so those must stay mapped (and are best kept resident).
  virtual bool KeepsHostWeights() const = 0;
  // Converts a small parameter (norm weight, bias, ...) to fp32 in backend memory, owned by it.
  virtual absl::StatusOr<const float*> PrepareVector(const void* host, DType dtype,
                                                     size_t count) = 0;

  // ---- ops ----
  // out[t,:] = table[tokens[t],:] as fp32. `tokens` is host memory, already range-checked.
  virtual void EmbeddingLookup(const Matrix& table, std::span<const int32_t> tokens,
                               float* out) = 0;
  // y[n, w.rows] = x[n, w.cols] * w^T (+ bias[w.rows]).
  virtual void MatMul(const Matrix& w, const float* x, int64_t n, float* y,
                      const float* bias = nullptr) = 0;
  // y[t,:d] = x[t,:d] / sqrt(mean(x^2) + eps) * weight, rows with strides.
  virtual void RmsNorm(const float* x, int64_t x_stride, int64_t n, int64_t d, const float* weight,
                       float eps, float* y, int64_t y_stride) = 0;
  // y += x, elementwise.
  virtual void Add(float* y, const float* x, size_t count) = 0;
  virtual void SwiGluMlp(const MlpWeights& mlp, const float* x, int64_t n, float* out) = 0;
  virtual void Moe(const MoeArgs& args) = 0;
  // The per-sequence operations take every sequence of a step at once: a batched decode step
  // has many sequences of one token each, too little work apiece to feed the threads (or SMs)
  // one sequence at a time. The sequences must not share state or outputs.
  virtual void CausalConv1dSilu(std::span<const CausalConvArgs> sequences) = 0;
  virtual void SelectiveScan(std::span<const SelectiveScanArgs> sequences) = 0;
  virtual void Attention(std::span<const AttentionArgs> sequences) = 0;
  // Whether the KV cache may be stored in `dtype` (Attention and StoreKv read and write it).
  virtual bool SupportsKvDType(KvDType dtype) const = 0;
  // Converts and writes every item's rows (items must not overlap).
  virtual void StoreKv(std::span<const KvStoreArgs> writes) = 0;
  void CausalConv1dSilu(const CausalConvArgs& args) { CausalConv1dSilu({&args, 1}); }
  void SelectiveScan(const SelectiveScanArgs& args) { SelectiveScan({&args, 1}); }
  void Attention(const AttentionArgs& args) { Attention({&args, 1}); }

 protected:
  friend class DeviceBuffer;
  virtual void Free(void* data, size_t bytes) = 0;
};

inline DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& other) noexcept {
  if (this != &other) {
    Reset();
    owner_ = std::exchange(other.owner_, nullptr);
    data_ = std::exchange(other.data_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

inline void DeviceBuffer::Reset() {
  if (data_ != nullptr && owner_ != nullptr) owner_->Free(data_, bytes_);
  owner_ = nullptr;
  data_ = nullptr;
  bytes_ = 0;
}

}  // namespace jamba::kernels

#endif  // JAMBA_KERNELS_BACKEND_H_
