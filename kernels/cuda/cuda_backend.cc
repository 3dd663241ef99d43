// CudaBackend: device setup, memory, weight preparation, the non-GEMM ops, MoE routing and the
// CUDA graph API. The matmul dispatch lives in gemm_cublas.cc; the kernels in the .cu files.
#include "kernels/cuda/cuda_backend.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "kernels/cuda/scratch.h"
#include "kernels/dtype.h"

namespace jamba::kernels::cuda {
namespace {

static_assert(static_cast<int>(DType::kF32) == static_cast<int>(WeightType::kF32));
static_assert(static_cast<int>(DType::kBF16) == static_cast<int>(WeightType::kBF16));
static_assert(static_cast<int>(DType::kF16) == static_cast<int>(WeightType::kF16));
static_assert(static_cast<int>(DType::kI8) == static_cast<int>(WeightType::kI8));

constexpr size_t kCublasWorkspaceBytes = size_t{32} << 20;  // cuBLAS' recommendation for Hopper
// Token chunk of SwiGluMlp and Moe: bounds their scratch (about 2.5 GB at Jamba-v0.1 shapes).
constexpr int64_t kFfnChunkTokens = 8192;
// MoE batches up to this many tokens take the device-only expert path (no host round trip).
constexpr int64_t kMoeDeviceMaxTokens = 64;

WeightType ToWeightType(DType dtype) { return static_cast<WeightType>(dtype); }

DeviceMatrix ToDevice(const Matrix& m) {
  return {m.data, ToWeightType(m.dtype), m.rows, m.cols, m.row_scales};
}

size_t VectorBytes(WeightType type) { return type == WeightType::kI8 ? 8 : 16; }

bool IsAligned(const void* p, size_t bytes) { return reinterpret_cast<uintptr_t>(p) % bytes == 0; }

}  // namespace

// ---------------------------------------------------------------------------------------------
// Creation and device information

int CudaBackend::DeviceCount() {
  static const int kCount = [] {
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess) {
      (void)cudaGetLastError();  // 35 (no driver), 100 (no device), ...
      return 0;
    }
    if (count <= 0) return 0;
    cublasHandle_t handle = nullptr;
    if (cublasCreate(&handle) != CUBLAS_STATUS_SUCCESS) {
      (void)cudaGetLastError();
      return 0;
    }
    (void)cublasDestroy(handle);
    return count;
  }();
  return kCount;
}

absl::StatusOr<std::unique_ptr<CudaBackend>> CudaBackend::Create(
    const CudaBackendOptions& options) {
  const int count = DeviceCount();
  if (count == 0) {
    return absl::UnavailableError("no CUDA device: no driver, no GPU, or cuBLAS cannot start");
  }
  if (options.device < 0 || options.device >= count) {
    return absl::InvalidArgumentError(
        absl::StrCat("CUDA device ", options.device, " does not exist (", count, " found)"));
  }
  if (absl::Status s = JAMBA_CUDA_STATUS(cudaSetDevice(options.device)); !s.ok()) return s;
  cudaDeviceProp props{};
  if (absl::Status s = JAMBA_CUDA_STATUS(cudaGetDeviceProperties(&props, options.device));
      !s.ok()) {
    return s;
  }
  if (props.major < 8) {
    return absl::UnavailableError(absl::StrCat("CUDA device ", options.device, " (", props.name,
                                               ") has compute capability ", props.major, ".",
                                               props.minor, "; this build needs 8.0 or newer"));
  }
  auto backend = std::make_unique<CudaBackend>(Token(), options, options.device, props.name,
                                               props.multiProcessorCount);
  auto stream = CreateStream();
  if (!stream.ok()) return stream.status();
  backend->stream_ = *std::move(stream);
  auto cublas = CreateCublas();
  if (!cublas.ok()) {
    return absl::UnavailableError(absl::StrCat("no CUDA device: ", cublas.status().message()));
  }
  backend->cublas_ = *std::move(cublas);
  auto workspace = MallocDevice(kCublasWorkspaceBytes);
  if (!workspace.ok()) return workspace.status();
  backend->cublas_workspace_ = *std::move(workspace);
  cublasHandle_t handle = backend->cublas_.get();
  if (absl::Status s = JAMBA_CUDA_STATUS(cublasSetStream(handle, backend->stream_.get()));
      !s.ok()) {
    return s;
  }
  // An explicit workspace keeps cuBLAS from allocating during graph capture.
  if (absl::Status s = JAMBA_CUDA_STATUS(
          cublasSetWorkspace(handle, backend->cublas_workspace_.get(), kCublasWorkspaceBytes));
      !s.ok()) {
    return s;
  }
  // Default math: SGEMM stays IEEE fp32 (no TF32).
  if (absl::Status s = JAMBA_CUDA_STATUS(cublasSetMathMode(handle, CUBLAS_DEFAULT_MATH)); !s.ok()) {
    return s;
  }
  if (absl::Status s = JAMBA_CUDA_STATUS(InitAttentionKernels()); !s.ok()) return s;
  return backend;
}

CudaBackend::CudaBackend(Token, const CudaBackendOptions& options, int device,
                         std::string device_name, int num_sms)
    : options_(options), device_(device), device_name_(std::move(device_name)), num_sms_(num_sms) {}

CudaBackend::~CudaBackend() {
  if (stream_) (void)cudaStreamSynchronize(stream_.get());
  absl::MutexLock lock(&mu_);
  graphs_.clear();
  capture_scratch_.clear();
  expert_tables_.clear();
}

std::string CudaBackend::Name() const {
  return absl::StrCat("cuda:", device_, " ", device_name_, " (", num_sms_, " SMs)");
}

void CudaBackend::UseDevice() const { JAMBA_CUDA_CHECK(cudaSetDevice(device_)); }

absl::Status CudaBackend::MemoryInfo(size_t* free_bytes, size_t* total_bytes) const {
  UseDevice();
  return JAMBA_CUDA_STATUS(cudaMemGetInfo(free_bytes, total_bytes));
}

// ---------------------------------------------------------------------------------------------
// Memory

absl::StatusOr<DeviceBuffer> CudaBackend::Allocate(size_t bytes) {
  UseDevice();
  auto block = pool_.Allocate(bytes);
  if (!block.ok()) return block.status();
  return DeviceBuffer(this, *block, bytes);
}

void CudaBackend::Free(void* data, size_t /*bytes*/) { pool_.Free(data); }

DeviceBuffer CudaBackend::TakeScratch(size_t bytes) {
  auto buffer = Allocate(std::max<size_t>(bytes, 1));
  if (!buffer.ok()) {
    std::string message =
        absl::StrCat("out of device memory for op scratch: ", buffer.status().ToString());
    JAMBA_CUDA_REQUIRE(false, message.c_str());
  }
  return *std::move(buffer);
}

void CudaBackend::ReturnScratch(DeviceBuffer buffer) {
  if (capturing_) capture_scratch_.push_back(std::move(buffer));
  // Otherwise the buffer returns to the pool here; stream order protects pending kernels.
}

const void* CudaBackend::Own(DeviceMemory memory) {
  const void* p = memory.get();
  absl::MutexLock lock(&own_mu_);
  owned_.push_back(std::move(memory));
  return p;
}

bool CudaBackend::RejectInCapture(const char* op) {
  if (!capturing_) return false;
  if (capture_error_.ok()) {
    capture_error_ = absl::FailedPreconditionError(
        absl::StrCat(op, " touches host memory and cannot be captured in a CUDA graph"));
  }
  return true;
}

void CudaBackend::CopyFromHost(void* dst, const void* host_src, size_t bytes) {
  if (bytes == 0) return;
  absl::MutexLock lock(&mu_);
  UseDevice();
  if (RejectInCapture("CopyFromHost")) return;
  // From pageable memory the call returns once the source is staged, so the caller may reuse it.
  JAMBA_CUDA_CHECK(cudaMemcpyAsync(dst, host_src, bytes, cudaMemcpyHostToDevice, stream_.get()));
}

void CudaBackend::CopyToHost(void* host_dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  absl::MutexLock lock(&mu_);
  UseDevice();
  if (RejectInCapture("CopyToHost")) return;
  JAMBA_CUDA_CHECK(cudaMemcpyAsync(host_dst, src, bytes, cudaMemcpyDeviceToHost, stream_.get()));
  JAMBA_CUDA_CHECK(cudaStreamSynchronize(stream_.get()));
}

void CudaBackend::Copy(void* dst, const void* src, size_t bytes) {
  if (bytes == 0 || dst == src) return;
  absl::MutexLock lock(&mu_);
  UseDevice();
  const auto d = reinterpret_cast<uintptr_t>(dst);
  const auto s = reinterpret_cast<uintptr_t>(src);
  const bool overlap = d < s + bytes && s < d + bytes;
  if (!overlap) {
    JAMBA_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream_.get()));
    return;
  }
  // cudaMemcpy's result is undefined for overlapping ranges: go through a temporary.
  Scratch tmp(*this, bytes);
  JAMBA_CUDA_CHECK(
      cudaMemcpyAsync(tmp.as<void>(), src, bytes, cudaMemcpyDeviceToDevice, stream_.get()));
  JAMBA_CUDA_CHECK(
      cudaMemcpyAsync(dst, tmp.as<void>(), bytes, cudaMemcpyDeviceToDevice, stream_.get()));
}

void CudaBackend::Fill(float* dst, float value, size_t count) {
  absl::MutexLock lock(&mu_);
  UseDevice();
  JAMBA_CUDA_CHECK(LaunchFill(dst, value, static_cast<int64_t>(count), stream_.get()));
}

void CudaBackend::Synchronize() {
  absl::MutexLock lock(&mu_);
  UseDevice();
  if (RejectInCapture("Synchronize")) return;
  JAMBA_CUDA_CHECK(cudaStreamSynchronize(stream_.get()));
}

// ---------------------------------------------------------------------------------------------
// Weights

absl::StatusOr<Matrix> CudaBackend::PrepareMatrix(const Matrix& host, WeightFormat format) {
  if (host.rows < 0 || host.cols < 0) return absl::InvalidArgumentError("negative matrix shape");
  if (host.layout != MatrixLayout::kRowMajor)
    return absl::InvalidArgumentError("PrepareMatrix takes row-major host weights");
  absl::MutexLock lock(&mu_);
  UseDevice();
  if (capturing_) return absl::FailedPreconditionError("PrepareMatrix during graph capture");
  cudaStream_t stream = stream_.get();
  Matrix result = host;
  const size_t count = static_cast<size_t>(host.rows * host.cols);
  if (format == WeightFormat::kAsStored || host.dtype == DType::kI8) {
    auto data = MallocDevice(host.bytes());
    if (!data.ok()) return data.status();
    if (absl::Status s = JAMBA_CUDA_STATUS(
            cudaMemcpyAsync(data->get(), host.data, host.bytes(), cudaMemcpyHostToDevice, stream));
        !s.ok()) {
      return s;
    }
    if (host.dtype == DType::kI8) {
      if (host.row_scales == nullptr)
        return absl::InvalidArgumentError("int8 matrix without scales");
      const size_t scale_bytes = static_cast<size_t>(host.rows) * sizeof(float);
      auto scales = MallocDevice(scale_bytes);
      if (!scales.ok()) return scales.status();
      if (absl::Status s = JAMBA_CUDA_STATUS(cudaMemcpyAsync(
              scales->get(), host.row_scales, scale_bytes, cudaMemcpyHostToDevice, stream));
          !s.ok()) {
        return s;
      }
      result.row_scales = static_cast<const float*>(Own(*std::move(scales)));
    }
    if (absl::Status s = JAMBA_CUDA_STATUS(cudaStreamSynchronize(stream)); !s.ok()) return s;
    result.data = Own(*std::move(data));
    return result;
  }
  // Weight-only int8 quantized on the device with the CPU backend's exact formula.
  auto staged = MallocDevice(host.bytes());
  if (!staged.ok()) return staged.status();
  auto quantized = MallocDevice(count);
  if (!quantized.ok()) return quantized.status();
  auto scales = MallocDevice(static_cast<size_t>(host.rows) * sizeof(float));
  if (!scales.ok()) return scales.status();
  if (absl::Status s = JAMBA_CUDA_STATUS(
          cudaMemcpyAsync(staged->get(), host.data, host.bytes(), cudaMemcpyHostToDevice, stream));
      !s.ok()) {
    return s;
  }
  if (absl::Status s = JAMBA_CUDA_STATUS(LaunchQuantizeRowsInt8(
          staged->get(), ToWeightType(host.dtype), host.rows, host.cols,
          static_cast<int8_t*>(quantized->get()), static_cast<float*>(scales->get()), stream));
      !s.ok()) {
    return s;
  }
  if (absl::Status s = JAMBA_CUDA_STATUS(cudaStreamSynchronize(stream)); !s.ok()) return s;
  result.dtype = DType::kI8;
  result.data = Own(*std::move(quantized));
  result.row_scales = static_cast<const float*>(Own(*std::move(scales)));
  return result;
}

absl::StatusOr<const float*> CudaBackend::PrepareVector(const void* host, DType dtype,
                                                        size_t count) {
  std::vector<float> values(count);
  ConvertToF32(host, dtype, count, values.data());
  absl::MutexLock lock(&mu_);
  UseDevice();
  if (capturing_) return absl::FailedPreconditionError("PrepareVector during graph capture");
  auto data = MallocDevice(count * sizeof(float));
  if (!data.ok()) return data.status();
  if (absl::Status s =
          JAMBA_CUDA_STATUS(cudaMemcpyAsync(data->get(), values.data(), count * sizeof(float),
                                            cudaMemcpyHostToDevice, stream_.get()));
      !s.ok()) {
    return s;
  }
  if (absl::Status s = JAMBA_CUDA_STATUS(cudaStreamSynchronize(stream_.get())); !s.ok()) return s;
  return static_cast<const float*>(Own(*std::move(data)));
}

// ---------------------------------------------------------------------------------------------
// Ops

void CudaBackend::EmbeddingLookup(const Matrix& table, std::span<const int32_t> tokens,
                                  float* out) {
  if (tokens.empty()) return;
  absl::MutexLock lock(&mu_);
  UseDevice();
  if (RejectInCapture("EmbeddingLookup")) return;
  const int64_t n = static_cast<int64_t>(tokens.size());
  Scratch ids(*this, tokens.size_bytes());
  JAMBA_CUDA_CHECK(cudaMemcpyAsync(ids.as<void>(), tokens.data(), tokens.size_bytes(),
                                   cudaMemcpyHostToDevice, stream_.get()));
  JAMBA_CUDA_CHECK(LaunchEmbedding(ToDevice(table), ids.as<int32_t>(), n, out, stream_.get()));
}

void CudaBackend::MatMul(const Matrix& w, const float* x, int64_t n, float* y, const float* bias) {
  absl::MutexLock lock(&mu_);
  UseDevice();
  MatMulLocked(w, x, n, y, w.rows, bias);
}

void CudaBackend::RmsNorm(const float* x, int64_t x_stride, int64_t n, int64_t d,
                          const float* weight, float eps, float* y, int64_t y_stride) {
  absl::MutexLock lock(&mu_);
  UseDevice();
  JAMBA_CUDA_CHECK(LaunchRmsNorm(x, x_stride, n, d, weight, eps, y, y_stride, stream_.get()));
}

void CudaBackend::Add(float* y, const float* x, size_t count) {
  absl::MutexLock lock(&mu_);
  UseDevice();
  JAMBA_CUDA_CHECK(LaunchAdd(y, x, static_cast<int64_t>(count), stream_.get()));
}

void CudaBackend::SwiGluMlp(const MlpWeights& mlp, const float* x, int64_t n, float* out) {
  absl::MutexLock lock(&mu_);
  UseDevice();
  SwiGluMlpLocked(mlp, x, n, out);
}

void CudaBackend::SwiGluMlpLocked(const MlpWeights& mlp, const float* x, int64_t n, float* out) {
  const int64_t f = mlp.gate.rows;
  const int64_t h = mlp.down.rows;
  for (int64_t t0 = 0; t0 < n; t0 += kFfnChunkTokens) {
    const int64_t nc = std::min(kFfnChunkTokens, n - t0);
    Scratch gate(*this, static_cast<size_t>(nc * f) * sizeof(float));
    Scratch up(*this, static_cast<size_t>(nc * f) * sizeof(float));
    MatMulLocked(mlp.gate, x + t0 * mlp.gate.cols, nc, gate.as<float>(), f, nullptr);
    MatMulLocked(mlp.up, x + t0 * mlp.up.cols, nc, up.as<float>(), f, nullptr);
    JAMBA_CUDA_CHECK(
        LaunchSiluMul(gate.as<float>(), up.as<float>(), gate.as<float>(), nc * f, stream_.get()));
    MatMulLocked(mlp.down, gate.as<float>(), nc, out + t0 * h, h, nullptr);
  }
}

const CudaBackend::ExpertTable* CudaBackend::ExpertTableLocked(
    std::span<const MlpWeights> experts) {
  std::vector<DeviceExpert> host(experts.size());
  const WeightType type = ToWeightType(experts[0].gate.dtype);
  const int64_t h = experts[0].gate.cols;
  const int64_t f = experts[0].gate.rows;
  bool vectorized = h % 8 == 0 && f % 8 == 0;
  for (size_t e = 0; e < experts.size(); ++e) {
    const MlpWeights& m = experts[e];
    JAMBA_CUDA_REQUIRE(m.gate.dtype == experts[0].gate.dtype && m.up.dtype == m.gate.dtype &&
                           m.down.dtype == m.gate.dtype,
                       "Moe: every expert matrix must have the same dtype");
    JAMBA_CUDA_REQUIRE(m.gate.rows == f && m.gate.cols == h && m.up.rows == f && m.up.cols == h &&
                           m.down.rows == h && m.down.cols == f,
                       "Moe: expert shapes differ");
    host[e] = {m.gate.data,       m.up.data,       m.down.data,
               m.gate.row_scales, m.up.row_scales, m.down.row_scales};
    for (const void* p : {m.gate.data, m.up.data, m.down.data}) {
      vectorized = vectorized && IsAligned(p, VectorBytes(type));
    }
  }
  ExpertTable& table = expert_tables_[experts.data()];
  const size_t bytes = host.size() * sizeof(DeviceExpert);
  if (table.device && table.host.size() == host.size() &&
      std::memcmp(table.host.data(), host.data(), bytes) == 0) {
    return &table;
  }
  if (capturing_) {
    if (capture_error_.ok()) {
      capture_error_ = absl::FailedPreconditionError(
          "Moe: run the layer once before capturing it (its expert table is built eagerly)");
    }
    return nullptr;
  }
  auto device = MallocDevice(bytes);
  JAMBA_CUDA_REQUIRE(device.ok(), "out of device memory for a MoE expert table");
  // The old table may still be read by queued kernels: wait before replacing it.
  JAMBA_CUDA_CHECK(cudaStreamSynchronize(stream_.get()));
  // Stream-ordered, so the kernels queued next see the whole table; the pageable source is
  // staged before the call returns (and moved, not reallocated, below).
  JAMBA_CUDA_CHECK(
      cudaMemcpyAsync(device->get(), host.data(), bytes, cudaMemcpyHostToDevice, stream_.get()));
  table.host = std::move(host);
  table.device = *std::move(device);
  table.type = type;
  table.vectorized = vectorized;
  return &table;
}

void CudaBackend::Moe(const MoeArgs& args) {
  absl::MutexLock lock(&mu_);
  UseDevice();
  const int64_t num_experts = args.router->rows;
  JAMBA_CUDA_REQUIRE(num_experts > 0 && num_experts <= kMoeMaxExperts,
                     "Moe: the CUDA backend supports 1..256 experts");
  JAMBA_CUDA_REQUIRE(static_cast<int64_t>(args.experts.size()) == num_experts,
                     "Moe: router rows and expert count differ");
  JAMBA_CUDA_REQUIRE(args.top_k > 0 && args.top_k <= std::min<int64_t>(kMoeMaxTopK, num_experts),
                     "Moe: top_k must be in 1..min(8, experts)");
  const int64_t h = args.router->cols;
  for (int64_t t0 = 0; t0 < args.tokens; t0 += kFfnChunkTokens) {
    const int64_t nc = std::min(kFfnChunkTokens, args.tokens - t0);
    MoeChunkLocked(args, args.x + t0 * h, nc, args.out + t0 * h);
  }
}

void CudaBackend::MoeChunkLocked(const MoeArgs& args, const float* x, int64_t n, float* out) {
  cudaStream_t stream = stream_.get();
  const int num_experts = static_cast<int>(args.router->rows);
  const int64_t h = args.router->cols;
  const int64_t f = args.experts[0].gate.rows;
  const int k = args.top_k;
  const int64_t slots = n * k;

  Scratch logits(*this, static_cast<size_t>(n * num_experts) * sizeof(float));
  MatMulLocked(*args.router, x, n, logits.as<float>(), num_experts, nullptr);
  // Routing tables in one buffer: ids, weights, slot_of [slots]; sorted_token [slots];
  // offsets [E + 1].
  Scratch routing(*this, static_cast<size_t>(4 * slots + num_experts + 1) * 4);
  int32_t* ids = routing.as<int32_t>();
  float* weights = reinterpret_cast<float*>(ids + slots);
  int32_t* slot_of = ids + 2 * slots;
  int32_t* sorted_token = ids + 3 * slots;
  int32_t* offsets = ids + 4 * slots;
  JAMBA_CUDA_CHECK(LaunchMoeTopK(logits.as<float>(), n, num_experts, k, ids, weights, stream));
  JAMBA_CUDA_CHECK(LaunchMoeSort(ids, n, k, num_experts, offsets, sorted_token, slot_of, stream));
  Scratch ys(*this, static_cast<size_t>(slots * h) * sizeof(float));

  if (capturing_ || n <= kMoeDeviceMaxTokens) {
    const ExpertTable* table = ExpertTableLocked(args.experts);
    if (table == nullptr) return;  // capture failed; EndCapture reports it
    Scratch act(*this, static_cast<size_t>(slots * f) * sizeof(float));
    const bool vec = table->vectorized && IsAligned(x, 16);
    const auto* experts = static_cast<const DeviceExpert*>(table->device.get());
    JAMBA_CUDA_CHECK(LaunchMoeGateUp(experts, table->type, num_experts, h, f, x, offsets,
                                     sorted_token, vec, n == 1, act.as<float>(), stream));
    JAMBA_CUDA_CHECK(LaunchMoeDown(experts, table->type, num_experts, h, f, act.as<float>(),
                                   offsets, vec, n == 1, ys.as<float>(), stream));
  } else {
    // Large batches: per-expert row counts to the host, then each expert's rows as one GEMM.
    std::vector<int32_t> host_offsets(static_cast<size_t>(num_experts) + 1);
    JAMBA_CUDA_CHECK(cudaMemcpyAsync(host_offsets.data(), offsets,
                                     host_offsets.size() * sizeof(int32_t), cudaMemcpyDeviceToHost,
                                     stream));
    Scratch xs(*this, static_cast<size_t>(slots * h) * sizeof(float));
    JAMBA_CUDA_CHECK(LaunchMoeGather(x, h, sorted_token, slots, xs.as<float>(), stream));
    JAMBA_CUDA_CHECK(cudaStreamSynchronize(stream));
    Scratch gate(*this, static_cast<size_t>(slots * f) * sizeof(float));
    Scratch up(*this, static_cast<size_t>(slots * f) * sizeof(float));
    for (int e = 0; e < num_experts; ++e) {
      const int64_t begin = host_offsets[e];
      const int64_t count = host_offsets[e + 1] - begin;
      if (count == 0) continue;
      const MlpWeights& m = args.experts[e];
      MatMulLocked(m.gate, xs.as<float>() + begin * h, count, gate.as<float>() + begin * f, f,
                   nullptr);
      MatMulLocked(m.up, xs.as<float>() + begin * h, count, up.as<float>() + begin * f, f, nullptr);
    }
    JAMBA_CUDA_CHECK(
        LaunchSiluMul(gate.as<float>(), up.as<float>(), gate.as<float>(), slots * f, stream));
    for (int e = 0; e < num_experts; ++e) {
      const int64_t begin = host_offsets[e];
      const int64_t count = host_offsets[e + 1] - begin;
      if (count == 0) continue;
      MatMulLocked(args.experts[e].down, gate.as<float>() + begin * f, count,
                   ys.as<float>() + begin * h, h, nullptr);
    }
  }
  JAMBA_CUDA_CHECK(LaunchMoeCombine(ys.as<float>(), h, ids, weights, slot_of, n, k, out, stream));
}

// One launch per sequence (for each per-sequence operation): they are short next to a step's
// products, and each launch already covers every channel or head of its sequence.
void CudaBackend::CausalConv1dSilu(std::span<const CausalConvArgs> sequences) {
  for (const CausalConvArgs& args : sequences) CausalConv1dSiluOne(args);
}

void CudaBackend::CausalConv1dSiluOne(const CausalConvArgs& args) {
  absl::MutexLock lock(&mu_);
  UseDevice();
  JAMBA_CUDA_REQUIRE(args.kernel_size >= 1 && args.kernel_size <= kConvMaxKernel,
                     "CausalConv1dSilu: kernel size must be 1..16");
  ConvParams p;
  p.tokens = args.tokens;
  p.channels = args.channels;
  p.kernel_size = args.kernel_size;
  p.u = args.u;
  p.u_stride = args.u_stride;
  p.weight = args.weight;
  p.bias = args.bias;
  p.state = args.state;
  p.out = args.out;
  JAMBA_CUDA_CHECK(LaunchCausalConv1dSilu(p, stream_.get()));
}

void CudaBackend::SelectiveScan(std::span<const SelectiveScanArgs> sequences) {
  for (const SelectiveScanArgs& args : sequences) SelectiveScanOne(args);
}

void CudaBackend::SelectiveScanOne(const SelectiveScanArgs& args) {
  absl::MutexLock lock(&mu_);
  UseDevice();
  JAMBA_CUDA_REQUIRE(args.state_size >= 1 && args.state_size <= kScanMaxState,
                     "SelectiveScan: state size must be 1..256");
  ScanParams p;
  p.tokens = args.tokens;
  p.channels = args.channels;
  p.state_size = args.state_size;
  p.x = args.x;
  p.dt_raw = args.dt_raw;
  p.a = args.a;
  p.b = args.b;
  p.b_stride = args.b_stride;
  p.c = args.c;
  p.c_stride = args.c_stride;
  p.d = args.d;
  p.z = args.z;
  p.z_stride = args.z_stride;
  p.state = args.state;
  p.y = args.y;
  JAMBA_CUDA_CHECK(LaunchSelectiveScan(p, stream_.get()));
}

void CudaBackend::StoreKv(std::span<const KvStoreArgs> writes) {
  for (const KvStoreArgs& w : writes) {
    JAMBA_CUDA_REQUIRE(w.dtype == KvDType::kF32, "StoreKv: the CUDA backend stores fp32 KV only");
    const size_t bytes =
        static_cast<size_t>(w.rows) * static_cast<size_t>(w.num_kv_heads * w.head_dim) * 4;
    Copy(w.dst_keys, w.keys, bytes);
    Copy(w.dst_values, w.values, bytes);
  }
}

void CudaBackend::Attention(std::span<const AttentionArgs> sequences) {
  for (const AttentionArgs& args : sequences) AttentionOne(args);
}

void CudaBackend::AttentionOne(const AttentionArgs& args) {
  absl::MutexLock lock(&mu_);
  UseDevice();
  JAMBA_CUDA_REQUIRE(args.head_dim >= 1 && args.head_dim <= kAttentionMaxHeadDim,
                     "Attention: head_dim must be 1..256");
  JAMBA_CUDA_REQUIRE(args.num_kv_heads >= 1 && args.num_heads % args.num_kv_heads == 0,
                     "Attention: num_heads must be a multiple of num_kv_heads");
  AttentionParams p;
  p.tokens = args.tokens;
  p.past = args.past;
  p.num_heads = args.num_heads;
  p.num_kv_heads = args.num_kv_heads;
  p.head_dim = args.head_dim;
  JAMBA_CUDA_REQUIRE(args.kv_dtype == KvDType::kF32 && args.kv.size() == 1,
                     "Attention: the CUDA backend reads an fp32 KV cache in one chunk");
  p.q = args.q;
  p.keys = static_cast<const float*>(args.kv[0].keys);
  p.values = static_cast<const float*>(args.kv[0].values);
  p.out = args.out;
  const size_t scratch_bytes = AttentionScratchBytes(p, num_sms_);
  if (scratch_bytes == 0) {
    JAMBA_CUDA_CHECK(LaunchAttention(p, num_sms_, nullptr, stream_.get()));
    return;
  }
  Scratch partials(*this, scratch_bytes);
  JAMBA_CUDA_CHECK(LaunchAttention(p, num_sms_, partials.as<void>(), stream_.get()));
}

// ---------------------------------------------------------------------------------------------
// CUDA graphs

absl::Status CudaBackend::BeginCapture() {
  if (!options_.enable_graphs) {
    return absl::FailedPreconditionError("CUDA graphs are disabled in CudaBackendOptions");
  }
  absl::MutexLock lock(&mu_);
  UseDevice();
  if (capturing_) return absl::FailedPreconditionError("a graph capture is already running");
  if (absl::Status s =
          JAMBA_CUDA_STATUS(cudaStreamBeginCapture(stream_.get(), cudaStreamCaptureModeRelaxed));
      !s.ok()) {
    return s;
  }
  capturing_ = true;
  capture_error_ = absl::OkStatus();
  capture_scratch_.clear();
  return absl::OkStatus();
}

absl::Status CudaBackend::EndCapture(const std::string& key) {
  absl::MutexLock lock(&mu_);
  UseDevice();
  if (!capturing_) return absl::FailedPreconditionError("EndCapture without BeginCapture");
  capturing_ = false;
  cudaGraph_t raw_graph = nullptr;
  absl::Status status = JAMBA_CUDA_STATUS(cudaStreamEndCapture(stream_.get(), &raw_graph));
  Graph graph(raw_graph);
  std::vector<DeviceBuffer> scratch = std::move(capture_scratch_);
  capture_scratch_.clear();
  if (!capture_error_.ok()) status = capture_error_;
  if (!status.ok()) return status;
  cudaGraphExec_t raw_exec = nullptr;
  if (absl::Status s = JAMBA_CUDA_STATUS(cudaGraphInstantiate(&raw_exec, graph.get(), 0));
      !s.ok()) {
    return s;
  }
  CapturedGraph captured{std::move(graph), GraphExec(raw_exec), std::move(scratch)};
  if (graphs_.count(key) > 0) {
    // The old graph may still be running.
    if (absl::Status s = JAMBA_CUDA_STATUS(cudaStreamSynchronize(stream_.get())); !s.ok()) {
      return s;
    }
  }
  graphs_.insert_or_assign(key, std::move(captured));
  return absl::OkStatus();
}

bool CudaBackend::HasGraph(const std::string& key) const {
  absl::MutexLock lock(&mu_);
  return graphs_.count(key) > 0;
}

absl::Status CudaBackend::Replay(const std::string& key) {
  absl::MutexLock lock(&mu_);
  UseDevice();
  if (capturing_) return absl::FailedPreconditionError("Replay during a graph capture");
  auto it = graphs_.find(key);
  if (it == graphs_.end()) return absl::NotFoundError(absl::StrCat("no CUDA graph '", key, "'"));
  return JAMBA_CUDA_STATUS(cudaGraphLaunch(it->second.exec.get(), stream_.get()));
}

void CudaBackend::ClearGraphs() {
  absl::MutexLock lock(&mu_);
  UseDevice();
  JAMBA_CUDA_CHECK(cudaStreamSynchronize(stream_.get()));
  graphs_.clear();
}

}  // namespace jamba::kernels::cuda
