// The CPU implementation of Backend: host memory, Highway SIMD kernels chosen at run time, and a
// thread pool that splits every op over rows, channels or heads.
#ifndef JAMBA_KERNELS_CPU_CPU_BACKEND_H_
#define JAMBA_KERNELS_CPU_CPU_BACKEND_H_

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
  void CausalConv1dSilu(const CausalConvArgs& args) override;
  void SelectiveScan(const SelectiveScanArgs& args) override;
  void Attention(const AttentionArgs& args) override;

 protected:
  void Free(void* data, size_t bytes) override;

 private:
  CpuBackend(const CpuBackendOptions& options, SimdTarget target);
  // Allocate, on 2 MiB boundaries with transparent huge pages asked for when `huge_pages` and the
  // buffer spans at least one.
  absl::StatusOr<DeviceBuffer> AllocateAligned(size_t bytes, bool huge_pages);
  // A copy of `m` in memory the backend owns: interleaved when the shape allows, else row-major.
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
