// The CPU implementation of Backend: host memory, Highway SIMD kernels chosen at run time, and a
// thread pool that splits every op over rows, channels or heads.
#ifndef JAMBA_KERNELS_CPU_CPU_BACKEND_H_
#define JAMBA_KERNELS_CPU_CPU_BACKEND_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "kernels/backend.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/mamba.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/matmul_bf16_dot.h"
#include "kernels/cpu/scratch_pool.h"
#include "kernels/cpu/thread_pool.h"

namespace jamba::kernels::cpu {

struct CpuBackendOptions {
  int num_threads = 0;                    // <= 0: every hardware thread this process may use
  std::optional<SimdTarget> simd_target;  // unset: the best this CPU supports
  // Products with bf16 weights round the activations to bf16 and use the CPU's bf16 dot-product
  // instruction (about twice the arithmetic rate; see matmul_bf16_dot.h). Off by default: fp32
  // activations are what the golden tests hold to 1e-4. Create fails without AVX512_BF16.
  bool bf16_activations = false;
  // PrepareMatrix copies every weight into the backend's own memory (2 MiB pages where the OS
  // grants them), with row groups interleaved where the shape allows (MatrixLayout): batch-1
  // decode then streams weights sequentially (1.24x the decode tokens/s of weights used in place,
  // bench model, back-to-back runs). Off: stored weights are used in place from the host memory
  // (the mapped checkpoint: no copy, and the page cache is shared with other processes mapping
  // the same files).
  bool pack_weights = true;
};

class CpuBackend final : public Backend {
 public:
  // Fails if a forced SIMD target is not supported by this CPU.
  static absl::StatusOr<std::unique_ptr<CpuBackend>> Create(const CpuBackendOptions& options);
  ~CpuBackend() override;

  std::string Name() const override;
  bool UsesHostMemory() const override { return true; }
  bool KeepsHostWeights() const override { return !pack_weights_; }
  SimdTarget simd_target() const { return target_; }
  int num_threads() const { return pool_.num_threads(); }
  ThreadPool& pool() { return pool_; }

  absl::StatusOr<DeviceBuffer> Allocate(size_t bytes) override;
  void CopyFromHost(void* dst, const void* host_src, size_t bytes) override;
  void CopyToHost(void* host_dst, const void* src, size_t bytes) override;
  void Copy(void* dst, const void* src, size_t bytes) override;
  void Fill(float* dst, float value, size_t count) override;
  void Synchronize() override {}

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
  bool SupportsKvDType(KvDType) const override { return true; }
  void StoreKv(std::span<const KvStoreArgs> writes) override;

 protected:
  void Free(void* data, size_t bytes) override;

 private:
  CpuBackend(const CpuBackendOptions& options, SimdTarget target);

  // Products with `w` run on the AVX-512 BF16 dot-product kernels (activations rounded to bf16):
  // asked for, and the weights are bf16 (int8 weights keep fp32 activations).
  bool UsesBf16Dot(const Matrix& w) const { return bf16_activations_ && w.dtype == DType::kBF16; }

  // One SwiGLU MLP over a few tokens (fewer than kPackMinTokens): an expert's share of a step,
  // or a decode step's dense MLP.
  struct SwiGluJob {
    const MlpWeights* mlp;
    const float* x;  // [tokens, hidden]
    int64_t tokens;
    float* out;  // [tokens, hidden]
  };
  // Runs every job in two parallel regions (gate, up and SiLU for all jobs' rows; then down)
  // instead of four per job, so the threads stream weights without waiting at a barrier after
  // each matrix. Each output is the same dot product as MatMul's: results are bitwise those of
  // SwiGluMlp's general path.
  void SwiGluFewTokens(std::span<const SwiGluJob> jobs);
  // out[tokens[j], :] += weights[j] * y[j, :], in order (the MoE combine of one expert).
  void AddExpertOutput(const float* y, std::span<const int64_t> tokens,
                       std::span<const float> weights, int64_t hidden, float* out);
  // y[t, r] for rows [r0, r1) of w and `n` tokens of a product whose activations are `x` (fp32,
  // [n, w.cols]) or, when `xb` has data, `x` rounded to bf16 and laid out for w.
  void ProductRows(const Matrix& w, int64_t r0, int64_t r1, const float* x,
                   const Bf16Activations& xb, int64_t n, float* y);

  // Work of a per-sequence operation (conv, scan, attention) over all of a step's sequences in
  // one parallel region: each sequence's [0, count) units (channels, attention items) cut into
  // about `count / grain` pieces (at most four per thread), each a multiple of `multiple` units.
  // SwiGluFewTokens cuts its jobs' rows into SequencePieces too (`sequence` is the job).
  struct PieceSplit {
    int64_t count = 0;
    int64_t grain = 1;
    int64_t multiple = 16;
  };
  struct SequencePiece {
    size_t sequence;
    int64_t begin, end;
  };
  std::vector<SequencePiece> SplitSequences(size_t sequences,
                                            const std::function<PieceSplit(size_t)>& split) const;

  // Allocate, on 2 MiB boundaries with transparent huge pages asked for when `huge_pages` and the
  // buffer spans at least one.
  absl::StatusOr<DeviceBuffer> AllocateAligned(size_t bytes, bool huge_pages);
  // The layout CopyPacked gives `m`: pair blocks for the bf16 dot products, else interleaved,
  // when the shape allows; else row-major.
  MatrixLayout PackedLayout(const Matrix& m) const;
  // A copy of `m`, in PackedLayout(m), in memory the backend owns.
  absl::StatusOr<Matrix> CopyPacked(const Matrix& m);
  // MatMul of a BF16 matrix with activations rounded to bf16 (bf16_activations_).
  void MatMulBf16Dot(const Matrix& w, const float* x, int64_t n, float* y, const float* bias);
  // Keeps a buffer alive for the backend's lifetime (prepared weights).
  void* Own(DeviceBuffer buffer);
  // Splits [0, count) into contiguous ranges of at least `grain` and runs fn(begin, end) on them.
  void ParallelRanges(int64_t count, int64_t grain,
                      const std::function<void(int64_t, int64_t)>& fn);

  ThreadPool pool_;
  const SimdTarget target_;
  const bool bf16_activations_;
  const bool pack_weights_;
  const MatMulKernels& matmul_;
  const ElementwiseKernels& elementwise_;
  const MambaKernels& mamba_;
  const AttentionKernels& attention_;

  ScratchPool scratch_;

  absl::Mutex owned_mu_;
  std::vector<DeviceBuffer> owned_ ABSL_GUARDED_BY(owned_mu_);
};

}  // namespace jamba::kernels::cpu

#endif  // JAMBA_KERNELS_CPU_CPU_BACKEND_H_
