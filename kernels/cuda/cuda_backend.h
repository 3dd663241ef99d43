// CudaBackend: the CUDA implementation of kernels::Backend, for one GPU. Every op is enqueued on
// one CUDA stream in call order and computes in fp32 like the CPU backend (same formulas, up to
// summation order); weights keep their stored dtype in device memory. Memory comes from a caching
// pool (device_pool.h); ops cannot report errors through the Backend interface, so a failing CUDA
// call inside an op aborts with file:line, while allocation and weight preparation return Status.
//
// MatMul numerics (y = x W^T, fp32 activations, weights bf16/f16/f32/int8):
//   * n <= 8 rows (decode): a GEMV kernel reads W once in its stored type and accumulates the
//     exact fp32 products in fp32, like the CPU backend. Bound by weight bandwidth.
//   * n > 8 (prefill), bf16 and int8 weights (int8 values are exact in bf16): cuBLAS bf16 tensor
//     cores with fp32 accumulation on a two-term split of the activations, x = hi + lo with
//     hi = bf16(x), lo = bf16(x - hi). Both terms multiply the exact bf16 weights, so the only
//     error added is W (x - hi - lo), with |x - hi - lo| <= 2^-16 |x| (bf16 keeps 8 bits, so each
//     rounding leaves at most 2^-8): at most 1.5e-5 of sum_k |w_k x_k| and in practice far less,
//     since the residuals have random signs -- the order of fp32 accumulation error -- instead of
//     2^-8 (4e-3) for plain bf16 activations. Cost: two tensor-core products; hi and lo are
//     stacked as 2n columns of one GEMM (W read once) while that fp32 product fits 256 MiB of
//     scratch. MatMulPrecision::kBf16Activations drops the lo term: half the tensor work, up to
//     4e-3 relative error.
//   * n > 8, f32 weights: cuBLAS SGEMM (no TF32). f16 weights: converted to fp32 in row chunks,
//     then SGEMM (f16 activations could overflow; f16 checkpoints are rare).
//
// Thread safety: ops, copies and graph calls serialise on one mutex and one stream, so several
// host threads may share the backend (the scheduler thread running forward steps while another
// thread reads a sequence's state); work from different threads interleaves in call order.
//
//   auto backend = kernels::cuda::CudaBackend::Create({.device = 0});
//   if (!backend.ok()) ...  // kUnavailable when there is no usable GPU
//   auto model = engine::JambaModel::Load(dir, **backend, {});
#ifndef JAMBA_KERNELS_CUDA_CUDA_BACKEND_H_
#define JAMBA_KERNELS_CUDA_CUDA_BACKEND_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "kernels/backend.h"
#include "kernels/cuda/cuda_resources.h"
#include "kernels/cuda/device_pool.h"
#include "kernels/cuda/launchers.h"

namespace jamba::kernels::cuda {

enum class MatMulPrecision : uint8_t {
  kSplitBf16,        // prefill GEMMs on bf16 tensor cores with hi+lo activations (~fp32 accuracy)
  kBf16Activations,  // activations rounded to bf16 once (faster, up to 4e-3 relative error)
};

struct CudaBackendOptions {
  int device = 0;             // CUDA device index
  bool enable_graphs = true;  // allow BeginCapture / EndCapture / Replay
  MatMulPrecision matmul_precision = MatMulPrecision::kSplitBf16;
};

class CudaBackend final : public Backend {
 public:
  // Number of usable CUDA devices: 0 when there is no driver (cudaErrorInsufficientDriver), no
  // device (cudaErrorNoDevice), or cuBLAS cannot initialise. Probed once per process.
  static int DeviceCount();
  // kUnavailable when the device cannot be used, kInvalidArgument for a bad device index.
  static absl::StatusOr<std::unique_ptr<CudaBackend>> Create(const CudaBackendOptions& options);

  // Only Create() can make the token; the constructor is public for std::make_unique.
  class Token {
    friend class CudaBackend;
    Token() = default;
  };
  CudaBackend(Token, const CudaBackendOptions& options, int device, std::string device_name,
              int num_sms);
  ~CudaBackend() override;

  std::string Name() const override;
  bool UsesHostMemory() const override { return false; }
  bool KeepsHostWeights() const override { return false; }

  absl::StatusOr<DeviceBuffer> Allocate(size_t bytes) override;
  void CopyFromHost(void* dst, const void* host_src, size_t bytes) override;
  void CopyToHost(void* host_dst, const void* src, size_t bytes) override;
  // memmove semantics: overlapping ranges (either direction) go through a temporary buffer.
  void Copy(void* dst, const void* src, size_t bytes) override;
  void Fill(float* dst, float value, size_t count) override;
  void Synchronize() override;

  absl::StatusOr<Matrix> PrepareMatrix(const Matrix& host, WeightFormat format) override;
  absl::StatusOr<const float*> PrepareVector(const void* host, DType dtype, size_t count) override;

  void EmbeddingLookup(const Matrix& table, std::span<const int32_t> tokens, float* out) override;
  void MatMul(const Matrix& w, const float* x, int64_t n, float* y, const float* bias) override;
  void RmsNorm(const float* x, int64_t x_stride, int64_t n, int64_t d, const float* weight,
               float eps, float* y, int64_t y_stride) override;
  void Add(float* y, const float* x, size_t count) override;
  void SwiGluMlp(const MlpWeights& mlp, const float* x, int64_t n, float* out) override;
  void Moe(const MoeArgs& args) override;
  using Backend::Attention;
  using Backend::CausalConv1dSilu;
  using Backend::SelectiveScan;
  void CausalConv1dSilu(std::span<const CausalConvArgs> sequences) override;
  void SelectiveScan(std::span<const SelectiveScanArgs> sequences) override;
  void Attention(std::span<const AttentionArgs> sequences) override;
  // The CUDA kernels read an fp32 KV cache in one contiguous chunk only: reduced-precision caches
  // have no device kernels (none could be tested without a GPU), so the engine refuses them on
  // this backend before any op runs.
  bool SupportsKvDType(KvDType dtype) const override { return dtype == KvDType::kF32; }
  void StoreKv(std::span<const KvStoreArgs> writes) override;

  // ---- CUDA graphs (opt-in; needs options.enable_graphs) ----
  // BeginCapture() records every op issued until EndCapture(key) into a CUDA graph instead of
  // running it; Replay(key) then launches the recorded kernels again with one call. A graph
  // replays exactly what was recorded: the same pointers, the same scalar arguments (token
  // counts, `past`, strides) and, for MoE, the same expert tables. So:
  //   * The engine may capture a run of ops only if every argument is identical at replay time.
  //     With today's Backend interface that holds for a decode step of a fixed batch of
  //     sequences (same SequenceStates, same ForwardWorkspace buffers, one token each) for the
  //     Mamba mixers and the FFN/MoE of every layer -- keyed by layer and batch signature (state
  //     addresses, workspace buffer addresses). Attention is not replayable across steps because
  //     `past` and the KV-cache write offset change every step; issue it eagerly between replays.
  //   * Ops that touch host memory cannot be captured (EmbeddingLookup, CopyFromHost, CopyToHost,
  //     Synchronize): they are skipped during capture and EndCapture returns kFailedPrecondition.
  //   * Run the same ops once eagerly before capturing (MoE expert tables are built then).
  //   * Scratch memory the recorded ops use is owned by the graph; ClearGraphs() frees it.
  //   * Capture is per backend: do not issue ops from another thread while capturing.
  absl::Status BeginCapture();
  absl::Status EndCapture(const std::string& key);
  bool HasGraph(const std::string& key) const;
  absl::Status Replay(const std::string& key);
  void ClearGraphs();

  // ---- device information (benchmarks, diagnostics) ----
  int device() const { return device_; }
  const std::string& device_name() const { return device_name_; }
  int num_sms() const { return num_sms_; }
  cudaStream_t stream() const { return stream_.get(); }
  DevicePool::Stats pool_stats() const { return pool_.stats(); }
  // Device memory free and total (cudaMemGetInfo); cached pool blocks count as used.
  absl::Status MemoryInfo(size_t* free_bytes, size_t* total_bytes) const;
  // Returns every cached pool block to the driver.
  void ReleaseCachedMemory() { pool_.ReleaseCached(); }
  void ResetPeakMemory() { pool_.ResetPeak(); }

 protected:
  void Free(void* data, size_t bytes) override;

 private:
  class Scratch;
  // One sequence's launch of each per-sequence operation.
  void CausalConv1dSiluOne(const CausalConvArgs& args);
  void SelectiveScanOne(const SelectiveScanArgs& args);
  void AttentionOne(const AttentionArgs& args);
  struct CapturedGraph {
    Graph graph;
    GraphExec exec;
    std::vector<DeviceBuffer> scratch;  // kept alive while the graph can be replayed
  };
  struct ExpertTable {
    std::vector<DeviceExpert> host;
    DeviceMemory device;
    WeightType type = WeightType::kBF16;
    bool vectorized = false;
  };

  // Implementations; callers hold mu_.
  void MatMulLocked(const Matrix& w, const float* x, int64_t n, float* y, int64_t ldy,
                    const float* bias) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SplitBf16GemmLocked(const uint16_t* w, int64_t rows, int64_t cols, const uint16_t* x_hi,
                           const uint16_t* x_lo, int64_t n, float* y, int64_t ldy,
                           const float* scale, const float* bias)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SgemmLocked(const float* w, int64_t rows, int64_t cols, const float* x, int64_t n, float* y,
                   int64_t ldy) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SwiGluMlpLocked(const MlpWeights& mlp, const float* x, int64_t n, float* out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MoeChunkLocked(const MoeArgs& args, const float* x, int64_t n, float* out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  const ExpertTable* ExpertTableLocked(std::span<const MlpWeights> experts)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Device scratch for one op, fatal when memory runs out (see Scratch).
  DeviceBuffer TakeScratch(size_t bytes) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReturnScratch(DeviceBuffer buffer) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // True (and the capture marked failed) when `op` runs while capturing.
  bool RejectInCapture(const char* op) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Makes this backend's device current for the calling thread.
  void UseDevice() const;
  // Takes ownership of load-time device memory (weights, vectors) for the backend's lifetime.
  const void* Own(DeviceMemory memory);

  const CudaBackendOptions options_;
  const int device_;
  const std::string device_name_;
  const int num_sms_;

  // Declared before everything that holds pool blocks, so it is destroyed after them.
  DevicePool pool_;
  Stream stream_;
  CublasHandle cublas_;
  DeviceMemory cublas_workspace_;

  absl::Mutex own_mu_;
  std::vector<DeviceMemory> owned_ ABSL_GUARDED_BY(own_mu_);

  mutable absl::Mutex mu_;
  bool capturing_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status capture_error_ ABSL_GUARDED_BY(mu_);
  std::vector<DeviceBuffer> capture_scratch_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, CapturedGraph> graphs_ ABSL_GUARDED_BY(mu_);
  std::map<const MlpWeights*, ExpertTable> expert_tables_ ABSL_GUARDED_BY(mu_);
};

}  // namespace jamba::kernels::cuda

#endif  // JAMBA_KERNELS_CUDA_CUDA_BACKEND_H_
