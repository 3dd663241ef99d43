// CpuBackend: runs each op by splitting it into independent ranges over the thread pool and
// calling the SIMD kernels chosen for this CPU.
#include "kernels/cpu/cpu_backend.h"

#include <sys/mman.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <numeric>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "kernels/cpu/matmul_bf16_dot.h"

namespace jamba::kernels::cpu {
namespace {

constexpr size_t kAlignment = 64;
constexpr size_t kHugePageBytes = size_t{2} << 20;

// Tokens processed together against a block of weight rows: their activations stay in L2 while
// the block's rows stream through L1.
constexpr int64_t kTokenBlock = 48;

// Rows per task when `token_blocks` token blocks share the work: about four tasks per thread in
// all, in whole 16-row groups.
int64_t RowsPerBlock(int64_t rows, int64_t threads, int64_t token_blocks) {
  const int64_t row_blocks =
      std::clamp<int64_t>((threads * 4 + token_blocks - 1) / token_blocks, 1, (rows + 15) / 16);
  return ((rows + row_blocks - 1) / row_blocks + 15) / 16 * 16;
}

// y[t, r] += bias[r] for the task's rows [r0, r1) and tokens [t0, t0 + tn).
void AddBias(const ElementwiseKernels& elementwise, const float* bias, int64_t r0, int64_t r1,
             int64_t t0, int64_t tn, float* y, int64_t y_stride) {
  for (int64_t t = t0; t < t0 + tn; ++t) elementwise.add(y + t * y_stride + r0, bias + r0, r1 - r0);
}

}  // namespace

absl::StatusOr<std::unique_ptr<CpuBackend>> CpuBackend::Create(const CpuBackendOptions& options) {
  SimdTarget target = BestSimdTarget();
  if (options.simd_target.has_value()) {
    const auto supported = SupportedSimdTargets();
    if (std::find(supported.begin(), supported.end(), *options.simd_target) == supported.end()) {
      return absl::FailedPreconditionError(
          absl::StrCat("SIMD target '", std::string(SimdTargetName(*options.simd_target)),
                       "' is not supported by this CPU"));
    }
    target = *options.simd_target;
  }
  if (options.bf16_activations && !CpuHasAvx512Bf16()) {
    return absl::FailedPreconditionError(
        "bf16 activations need a CPU with AVX512_BF16 dot products; this one has none (use fp32)");
  }
  return std::unique_ptr<CpuBackend>(new CpuBackend(options, target));
}

CpuBackend::CpuBackend(const CpuBackendOptions& options, SimdTarget target)
    : pool_(options.num_threads),
      target_(target),
      bf16_activations_(options.bf16_activations),
      pack_weights_(options.pack_weights),
      matmul_(GetMatMulKernels(target)),
      elementwise_(GetElementwiseKernels(target)),
      mamba_(GetMambaKernels(target)),
      attention_(GetAttentionKernels(target)) {}

CpuBackend::~CpuBackend() {
  absl::MutexLock lock(&owned_mu_);
  owned_.clear();
}

std::string CpuBackend::Name() const {
  return absl::StrCat("cpu/", std::string(SimdTargetName(target_)), " x", pool_.num_threads(),
                      bf16_activations_ ? " bf16-activations" : "");
}

absl::StatusOr<DeviceBuffer> CpuBackend::Allocate(size_t bytes) {
  return AllocateAligned(bytes, /*huge_pages=*/false);
}

absl::StatusOr<DeviceBuffer> CpuBackend::AllocateAligned(size_t bytes, bool huge_pages) {
  const size_t alignment = huge_pages && bytes >= kHugePageBytes ? kHugePageBytes : kAlignment;
  const size_t rounded = std::max(alignment, (bytes + alignment - 1) / alignment * alignment);
  void* data = std::aligned_alloc(alignment, rounded);
#ifdef MADV_HUGEPAGE
  // Advice only: where the OS has THP off, the buffer simply stays on 4 KiB pages.
  if (data != nullptr && alignment == kHugePageBytes) ::madvise(data, rounded, MADV_HUGEPAGE);
#endif
  if (data == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat("cannot allocate ", bytes, " bytes"));
  }
  return DeviceBuffer(this, data, bytes);
}

void CpuBackend::Free(void* data, size_t /*bytes*/) { std::free(data); }

void CpuBackend::CopyFromHost(void* dst, const void* host_src, size_t bytes) {
  if (bytes > 0) std::memcpy(dst, host_src, bytes);
}
void CpuBackend::CopyToHost(void* host_dst, const void* src, size_t bytes) {
  if (bytes > 0) std::memcpy(host_dst, src, bytes);
}
void CpuBackend::Copy(void* dst, const void* src, size_t bytes) {
  if (bytes > 0) std::memmove(dst, src, bytes);
}
void CpuBackend::Fill(float* dst, float value, size_t count) { std::fill_n(dst, count, value); }

void* CpuBackend::Own(DeviceBuffer buffer) {
  void* data = buffer.data();
  absl::MutexLock lock(&owned_mu_);
  owned_.push_back(std::move(buffer));
  return data;
}

MatrixLayout CpuBackend::PackedLayout(const Matrix& m) const {
  if (UsesBf16Dot(m) && m.rows % kPairBlockRows == 0 && m.cols % 2 == 0)
    return MatrixLayout::kPairBlocks;
  if (m.rows % kInterleaveRows == 0 && m.cols % kInterleaveCols == 0)
    return MatrixLayout::kInterleaved;
  return MatrixLayout::kRowMajor;
}

absl::StatusOr<Matrix> CpuBackend::CopyPacked(const Matrix& m) {
  const MatrixLayout layout = PackedLayout(m);
  // Weights stream from memory at every decode step: on 4 KiB pages each page costs a TLB miss.
  // Only weights ask for 2 MiB pages: KV and workspaces are allocated while serving, where a
  // huge-page fault can stall in memory compaction (a 32K-token session resume measured 0.61 s
  // with 4 KiB KV pages and 0.90 s with huge ones).
  auto copy = AllocateAligned(m.bytes(), /*huge_pages=*/true);
  if (!copy.ok()) return copy.status();
  const size_t element = DTypeSize(m.dtype);
  const size_t row_bytes = static_cast<size_t>(m.cols) * element;
  const auto* src = static_cast<const char*>(m.data);
  auto* dst = static_cast<char*>(copy->data());
  // Rows in groups of `group_rows`: each row's `piece_cols`-column pieces go where
  // offset(row in group, column) puts them within the group, which starts where its first row
  // did.
  auto scatter = [&](int64_t group_rows, int64_t piece_cols, auto offset) {
    const size_t piece = static_cast<size_t>(piece_cols) * element;
    ParallelRanges(m.rows / group_rows, 64 / group_rows, [&](int64_t begin, int64_t end) {
      for (int64_t g = begin; g < end; ++g) {
        const size_t group = static_cast<size_t>(g * group_rows) * row_bytes;
        for (int64_t i = 0; i < group_rows; ++i) {
          for (int64_t k = 0; k < m.cols; k += piece_cols) {
            std::memcpy(dst + group + static_cast<size_t>(offset(i, k)) * element,
                        src + group + static_cast<size_t>(i) * row_bytes + k * element, piece);
          }
        }
      }
    });
  };
  switch (layout) {
    case MatrixLayout::kRowMajor:
      std::memcpy(dst, src, m.bytes());
      break;
    case MatrixLayout::kInterleaved:
      scatter(kInterleaveRows, kInterleaveCols,
              [](int64_t r, int64_t k) { return InterleavedOffset(r, k); });
      break;
    case MatrixLayout::kPairBlocks:
      scatter(kPairBlockRows, 2, [](int64_t r, int64_t k) { return PairBlockOffset(r, k); });
      break;
  }
  Matrix result = m;
  result.data = Own(*std::move(copy));
  result.layout = layout;
  return result;
}

absl::StatusOr<Matrix> CpuBackend::PrepareMatrix(const Matrix& host, WeightFormat format) {
  if (host.layout != MatrixLayout::kRowMajor)
    return absl::InvalidArgumentError("PrepareMatrix takes row-major host weights");
  if (format == WeightFormat::kAsStored || host.dtype == DType::kI8) {
    if (!pack_weights_) return host;
    return CopyPacked(host);
  }
  // Weight-only int8: symmetric, one scale per output row (max |w| maps to 127).
  auto quantized = Allocate(static_cast<size_t>(host.rows * host.cols));
  if (!quantized.ok()) return quantized.status();
  auto scales = Allocate(static_cast<size_t>(host.rows) * sizeof(float));
  if (!scales.ok()) return scales.status();
  auto* q = static_cast<int8_t*>(quantized->data());
  float* s = scales->f32();
  ParallelRanges(host.rows, 16, [&](int64_t begin, int64_t end) {
    std::vector<float> row(static_cast<size_t>(host.cols));
    for (int64_t r = begin; r < end; ++r) {
      const size_t row_bytes = static_cast<size_t>(host.cols) * DTypeSize(host.dtype);
      ConvertToF32(static_cast<const char*>(host.data) + r * row_bytes, host.dtype, row.size(),
                   row.data());
      float max_abs = 0.0f;
      for (float v : row) max_abs = std::max(max_abs, std::fabs(v));
      const float scale = max_abs > 0.0f ? max_abs / 127.0f : 1.0f;
      s[r] = scale;
      for (int64_t c = 0; c < host.cols; ++c) {
        const float v = std::nearbyint(row[c] / scale);
        q[r * host.cols + c] = static_cast<int8_t>(std::clamp(v, -127.0f, 127.0f));
      }
    }
  });
  Matrix result = host;
  result.dtype = DType::kI8;
  result.data = quantized->data();
  result.row_scales = static_cast<const float*>(Own(*std::move(scales)));
  if (pack_weights_) return CopyPacked(result);  // `quantized` is freed on return
  result.data = Own(*std::move(quantized));
  return result;
}

absl::StatusOr<const float*> CpuBackend::PrepareVector(const void* host, DType dtype,
                                                       size_t count) {
  auto buffer = Allocate(count * sizeof(float));
  if (!buffer.ok()) return buffer.status();
  ConvertToF32(host, dtype, count, buffer->f32());
  return static_cast<const float*>(Own(*std::move(buffer)));
}

void CpuBackend::ParallelRanges(int64_t count, int64_t grain,
                                const std::function<void(int64_t, int64_t)>& fn) {
  if (count <= 0) return;
  const int64_t max_tasks = static_cast<int64_t>(pool_.num_threads()) * 4;
  const int64_t tasks = std::clamp<int64_t>(count / std::max<int64_t>(grain, 1), 1, max_tasks);
  const int64_t per_task = (count + tasks - 1) / tasks;
  pool_.ParallelFor(tasks, [&](int64_t task, int) {
    const int64_t begin = task * per_task;
    const int64_t end = std::min(count, begin + per_task);
    if (begin < end) fn(begin, end);
  });
}

void CpuBackend::EmbeddingLookup(const Matrix& table, std::span<const int32_t> tokens, float* out) {
  const int64_t n = static_cast<int64_t>(tokens.size());
  ParallelRanges(n, 8, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t)
      matmul_.convert_row(table, tokens[t], out + t * table.cols);
  });
}

void CpuBackend::MatMulBf16Dot(const Matrix& w, const float* x, int64_t n, float* y,
                               const float* bias) {
  // Token blocks of kTokenBlock keep a block's activations in L2 while row groups stream by;
  // rows are split finely enough to feed every thread.
  const int64_t token_blocks = (n + kTokenBlock - 1) / kTokenBlock;
  // Each token block's activations are laid out on their own: for pair blocks, all tokens'
  // pairs side by side would spread one block's activations over n / kTokenBlock times the span.
  const int64_t block_elements = Bf16ActivationElements(w.layout, kTokenBlock, w.cols);
  // The scratch pool hands out floats: two bf16 values each.
  ScratchPool::Lease xb_lease =
      scratch_.Get(static_cast<size_t>((token_blocks * block_elements + 1) / 2));
  auto* xb = reinterpret_cast<uint16_t*>(xb_lease.data());
  auto activations_of_block = [&](int64_t t0) {
    return Bf16ActivationsFor(w.layout, std::min(kTokenBlock, n - t0), w.cols,
                              xb + t0 / kTokenBlock * block_elements);
  };
  for (int64_t t0 = 0; t0 < n; t0 += kTokenBlock) {
    RoundActivationsToBf16(x + t0 * w.cols, w.cols, std::min(kTokenBlock, n - t0), w.cols,
                           activations_of_block(t0), 0);
  }
  const int64_t rows_per_block = RowsPerBlock(w.rows, pool_.num_threads(), token_blocks);
  const int64_t blocks = (w.rows + rows_per_block - 1) / rows_per_block;
  pool_.ParallelFor(blocks * token_blocks, [&](int64_t task, int) {
    const int64_t r0 = (task / token_blocks) * rows_per_block;
    const int64_t r1 = std::min(w.rows, r0 + rows_per_block);
    const int64_t t0 = (task % token_blocks) * kTokenBlock;
    const int64_t tn = std::min(kTokenBlock, n - t0);
    if (r0 >= r1) return;
    Bf16DotRows(w, r0, r1, activations_of_block(t0), tn, y + t0 * w.rows, w.rows);
    if (bias != nullptr) AddBias(elementwise_, bias, r0, r1, t0, tn, y, w.rows);
  });
}

void CpuBackend::MatMul(const Matrix& w, const float* x, int64_t n, float* y, const float* bias) {
  if (n <= 0 || w.rows <= 0) return;
  if (UsesBf16Dot(w)) return MatMulBf16Dot(w, x, n, y, bias);
  const int64_t threads = pool_.num_threads();
  const bool packed = n >= kPackMinTokens && w.dtype != DType::kF32;
  int64_t token_block = n;
  int64_t rows_per_block = 0;
  if (packed) {
    // Many tokens: one task per kPackMaxRows rows and all tokens; the kernel widens the rows once
    // and walks token blocks that stay in L2.
    rows_per_block = kPackMaxRows;
  } else {
    // Few tokens (decode): split rows, and tokens too when rows alone cannot feed every thread.
    const int64_t token_blocks =
        w.rows / 16 >= 2 * threads ? 1 : (n + kTokenBlock - 1) / kTokenBlock;
    token_block = token_blocks == 1 ? n : kTokenBlock;
    rows_per_block = RowsPerBlock(w.rows, threads, token_blocks);
  }
  const int64_t token_blocks = (n + token_block - 1) / token_block;
  const int64_t row_blocks = (w.rows + rows_per_block - 1) / rows_per_block;
  // Per-thread scratch for widening weight rows to fp32 once per many-token block.
  const int64_t pack_floats = PackScratchFloats(w.cols);
  ScratchPool::Lease pack =
      scratch_.Get(packed ? static_cast<size_t>(pack_floats * pool_.num_threads()) : 0);
  // Many-token products read activation rows side by side: copy them to a padded stride when
  // their natural stride is a multiple of 4 KiB (all L1-set aliases of each other).
  int64_t x_stride = w.cols;
  ScratchPool::Lease padded = scratch_.Get(0);
  if (packed && (w.cols * sizeof(float)) % 4096 == 0) {
    x_stride = PackedRowStride(w.cols);
    padded = scratch_.Get(static_cast<size_t>(n * x_stride));
    for (int64_t t = 0; t < n; ++t) {
      std::memcpy(padded.data() + t * x_stride, x + t * w.cols,
                  static_cast<size_t>(w.cols) * sizeof(float));
    }
    x = padded.data();
  }
  pool_.ParallelFor(row_blocks * token_blocks, [&](int64_t task, int thread) {
    const int64_t rb = task / token_blocks;
    const int64_t tb = task % token_blocks;
    const int64_t r0 = rb * rows_per_block;
    const int64_t r1 = std::min(w.rows, r0 + rows_per_block);
    const int64_t t0 = tb * token_block;
    const int64_t tn = std::min(token_block, n - t0);
    if (r0 >= r1) return;
    float* scratch = packed ? pack.data() + thread * pack_floats : nullptr;
    matmul_.rows(w, r0, r1, x + t0 * x_stride, x_stride, tn, y + t0 * w.rows, w.rows, scratch);
    if (bias != nullptr) AddBias(elementwise_, bias, r0, r1, t0, tn, y, w.rows);
  });
}

void CpuBackend::RmsNorm(const float* x, int64_t x_stride, int64_t n, int64_t d,
                         const float* weight, float eps, float* y, int64_t y_stride) {
  ParallelRanges(n, std::max<int64_t>(1, 16384 / std::max<int64_t>(d, 1)),
                 [&](int64_t begin, int64_t end) {
                   for (int64_t t = begin; t < end; ++t) {
                     elementwise_.rms_norm_row(x + t * x_stride, d, weight, eps, y + t * y_stride);
                   }
                 });
}

void CpuBackend::Add(float* y, const float* x, size_t count) {
  ParallelRanges(static_cast<int64_t>(count), 1 << 14, [&](int64_t begin, int64_t end) {
    elementwise_.add(y + begin, x + begin, end - begin);
  });
}

void CpuBackend::SwiGluMlp(const MlpWeights& mlp, const float* x, int64_t n, float* out) {
  if (n < kPackMinTokens) {
    const SwiGluJob job{&mlp, x, n, out};
    return SwiGluFewTokens({&job, 1});
  }
  const int64_t f = mlp.gate.rows;
  ScratchPool::Lease gate = scratch_.Get(static_cast<size_t>(n * f));
  ScratchPool::Lease up = scratch_.Get(static_cast<size_t>(n * f));
  MatMul(mlp.gate, x, n, gate.data(), nullptr);
  MatMul(mlp.up, x, n, up.data(), nullptr);
  ParallelRanges(n * f, 1 << 14, [&](int64_t begin, int64_t end) {
    elementwise_.silu_mul(gate.data() + begin, up.data() + begin, end - begin, gate.data() + begin);
  });
  MatMul(mlp.down, gate.data(), n, out, nullptr);
}

void CpuBackend::ProductRows(const Matrix& w, int64_t r0, int64_t r1, const float* x,
                             const Bf16Activations& xb, int64_t n, float* y) {
  if (xb.data != nullptr) {
    Bf16DotRows(w, r0, r1, xb, n, y, w.rows);
  } else {
    matmul_.rows(w, r0, r1, x, w.cols, n, y, w.rows, nullptr);
  }
}

void CpuBackend::SwiGluFewTokens(std::span<const SwiGluJob> jobs) {
  // Rows per piece: 256 rows of a 2048-column bf16 matrix are 1 MiB, small enough to balance
  // the threads at the end of a region, large enough for the prefetchers to stream.
  constexpr int64_t kPieceRows = 256;
  struct Buffers {
    float* gate;  // [tokens, f]: gate, then SiLU(gate) * up
    float* up;    // [tokens, f]
    // bf16 activations of each product, laid out for its matrix; null data: an fp32 product.
    Bf16Activations gate_x, up_x, down_x;
  };
  // bf16 elements of one job's activations for `w`, when it takes them.
  auto bf16_elements = [&](const Matrix& w, int64_t tokens) {
    return UsesBf16Dot(w) ? Bf16ActivationElements(w.layout, tokens, w.cols) : 0;
  };
  // gate and up read the same activations, once, when their layouts agree (they always do for
  // prepared weights: one shape and dtype).
  auto up_shares_gate_x = [&](const MlpWeights& m) {
    return UsesBf16Dot(m.gate) && UsesBf16Dot(m.up) && m.gate.layout == m.up.layout;
  };
  auto job_floats = [&](const SwiGluJob& job) {
    const MlpWeights& mlp = *job.mlp;
    int64_t elements = bf16_elements(mlp.gate, job.tokens) + bf16_elements(mlp.down, job.tokens);
    if (!up_shares_gate_x(mlp)) elements += bf16_elements(mlp.up, job.tokens);
    // Scratch floats hold two bf16 values each; each of the (up to three) buffers starts on one.
    return 2 * job.tokens * mlp.gate.rows + (elements + 3) / 2;
  };
  int64_t total_floats = 0;
  for (const SwiGluJob& job : jobs) total_floats += job_floats(job);
  ScratchPool::Lease lease = scratch_.Get(static_cast<size_t>(total_floats));
  std::vector<Buffers> buffers(jobs.size());
  float* next = lease.data();
  for (size_t j = 0; j < jobs.size(); ++j) {
    const SwiGluJob& job = jobs[j];
    const MlpWeights& mlp = *job.mlp;
    const int64_t f = mlp.gate.rows, hidden = mlp.gate.cols;
    Buffers& b = buffers[j];
    b.gate = next;
    b.up = next + job.tokens * f;
    auto* bf16_area = reinterpret_cast<uint16_t*>(next + 2 * job.tokens * f);
    next += job_floats(job);
    // Carves `w`'s activations from the job's area (none when w takes fp32 ones).
    auto carve = [&](const Matrix& w) {
      if (!UsesBf16Dot(w)) return Bf16Activations{};
      const Bf16Activations a = Bf16ActivationsFor(w.layout, job.tokens, w.cols, bf16_area);
      bf16_area += (bf16_elements(w, job.tokens) + 1) / 2 * 2;
      return a;
    };
    b.gate_x = carve(mlp.gate);
    b.up_x = up_shares_gate_x(mlp) ? b.gate_x : carve(mlp.up);
    b.down_x = carve(mlp.down);
    if (b.gate_x.data != nullptr)
      RoundActivationsToBf16(job.x, hidden, job.tokens, hidden, b.gate_x, 0);
    if (b.up_x.data != nullptr && b.up_x.data != b.gate_x.data)
      RoundActivationsToBf16(job.x, hidden, job.tokens, hidden, b.up_x, 0);
  }
  auto pieces_of = [&](auto rows_of) {
    std::vector<SequencePiece> pieces;
    for (size_t j = 0; j < jobs.size(); ++j) {
      if (jobs[j].tokens <= 0) continue;
      const int64_t rows = rows_of(*jobs[j].mlp);
      for (int64_t r = 0; r < rows; r += kPieceRows)
        pieces.push_back({j, r, std::min(rows, r + kPieceRows)});
    }
    return pieces;
  };
  const std::vector<SequencePiece> hidden_pieces =
      pieces_of([](const MlpWeights& m) { return m.gate.rows; });
  pool_.ParallelFor(static_cast<int64_t>(hidden_pieces.size()), [&](int64_t task, int) {
    const SequencePiece& p = hidden_pieces[static_cast<size_t>(task)];
    const SwiGluJob& job = jobs[p.sequence];
    const Buffers& b = buffers[p.sequence];
    const MlpWeights& mlp = *job.mlp;
    const int64_t f = mlp.gate.rows;
    ProductRows(mlp.gate, p.begin, p.end, job.x, b.gate_x, job.tokens, b.gate);
    ProductRows(mlp.up, p.begin, p.end, job.x, b.up_x, job.tokens, b.up);
    for (int64_t t = 0; t < job.tokens; ++t) {
      float* h = b.gate + t * f + p.begin;
      elementwise_.silu_mul(h, b.up + t * f + p.begin, p.end - p.begin, h);
    }
    if (b.down_x.data != nullptr) {
      RoundActivationsToBf16(b.gate + p.begin, f, job.tokens, p.end - p.begin, b.down_x, p.begin);
    }
  });
  const std::vector<SequencePiece> output_pieces =
      pieces_of([](const MlpWeights& m) { return m.down.rows; });
  pool_.ParallelFor(static_cast<int64_t>(output_pieces.size()), [&](int64_t task, int) {
    const SequencePiece& p = output_pieces[static_cast<size_t>(task)];
    const SwiGluJob& job = jobs[p.sequence];
    const Buffers& b = buffers[p.sequence];
    ProductRows(job.mlp->down, p.begin, p.end, b.gate, b.down_x, job.tokens, job.out);
  });
}

void CpuBackend::Moe(const MoeArgs& args) {
  const int64_t n = args.tokens;
  const int64_t num_experts = args.router->rows;
  const int64_t hidden = args.router->cols;
  ScratchPool::Lease probs_lease = scratch_.Get(static_cast<size_t>(n * num_experts));
  float* probs = probs_lease.data();
  MatMul(*args.router, args.x, n, probs, nullptr);
  // Group the step's tokens by expert so each expert's weights are read once per call.
  std::vector<std::vector<int64_t>> expert_tokens(static_cast<size_t>(num_experts));
  std::vector<std::vector<float>> expert_weights(static_cast<size_t>(num_experts));
  std::vector<int64_t> order(static_cast<size_t>(num_experts));
  for (int64_t t = 0; t < n; ++t) {
    float* p = probs + t * num_experts;
    elementwise_.softmax(p, num_experts);
    std::iota(order.begin(), order.end(), 0);
    // Highest probability first; ties go to the lower expert index, as torch.topk does on CPU.
    std::partial_sort(order.begin(), order.begin() + args.top_k, order.end(),
                      [p](int64_t a, int64_t b) { return p[a] > p[b] || (p[a] == p[b] && a < b); });
    for (int j = 0; j < args.top_k; ++j) {
      expert_tokens[order[j]].push_back(t);
      expert_weights[order[j]].push_back(p[order[j]]);
    }
  }
  std::fill_n(args.out, n * hidden, 0.0f);
  size_t most_tokens = 0;
  for (const auto& tokens : expert_tokens) most_tokens = std::max(most_tokens, tokens.size());
  // Few tokens per expert (decode): every expert's rows in shared parallel regions, each
  // expert's tokens gathered into its own block; otherwise one expert after another.
  const bool together = most_tokens < static_cast<size_t>(kPackMinTokens);
  const size_t gathered = together ? static_cast<size_t>(n * args.top_k) : most_tokens;
  ScratchPool::Lease xs = scratch_.Get(gathered * static_cast<size_t>(hidden));
  ScratchPool::Lease ys = scratch_.Get(gathered * static_cast<size_t>(hidden));
  std::vector<SwiGluJob> jobs;
  std::vector<int64_t> job_experts;
  int64_t offset = 0;
  for (int64_t e = 0; e < num_experts; ++e) {
    const auto& tokens = expert_tokens[e];
    if (tokens.empty()) continue;
    const int64_t m = static_cast<int64_t>(tokens.size());
    float* x = xs.data() + offset * hidden;
    float* y = ys.data() + offset * hidden;
    for (int64_t j = 0; j < m; ++j)
      std::memcpy(x + j * hidden, args.x + tokens[j] * hidden, hidden * sizeof(float));
    if (together) {
      jobs.push_back({&args.experts[e], x, m, y});
      job_experts.push_back(e);
      offset += m;
      continue;
    }
    SwiGluMlp(args.experts[e], x, m, y);
    AddExpertOutput(y, expert_tokens[e], expert_weights[e], hidden, args.out);
  }
  if (!together) return;
  SwiGluFewTokens(jobs);
  for (size_t j = 0; j < jobs.size(); ++j) {
    const int64_t e = job_experts[j];
    AddExpertOutput(jobs[j].out, expert_tokens[e], expert_weights[e], hidden, args.out);
  }
}

void CpuBackend::AddExpertOutput(const float* y, std::span<const int64_t> tokens,
                                 std::span<const float> weights, int64_t hidden, float* out) {
  for (size_t j = 0; j < tokens.size(); ++j)
    matmul_.axpy(weights[j], y + static_cast<int64_t>(j) * hidden, out + tokens[j] * hidden,
                 hidden);
}

void CpuBackend::CausalConv1dSilu(std::span<const CausalConvArgs> sequences) {
  // Pieces on multiples of 16 channels: whole vectors for the kernel's SiLU pass.
  const std::vector<SequencePiece> pieces = SplitSequences(sequences.size(), [&](size_t i) {
    const CausalConvArgs& a = sequences[i];
    const int64_t grain = std::max<int64_t>(16, 4096 / std::max<int64_t>(a.tokens, 1));
    return a.tokens > 0 ? PieceSplit{a.channels, grain} : PieceSplit{};
  });
  pool_.ParallelFor(static_cast<int64_t>(pieces.size()), [&](int64_t task, int) {
    const SequencePiece& p = pieces[static_cast<size_t>(task)];
    mamba_.causal_conv1d_silu(sequences[p.sequence], p.begin, p.end);
  });
}

void CpuBackend::SelectiveScan(std::span<const SelectiveScanArgs> sequences) {
  // Pieces on multiples of 16 channels: a channel then always takes the same (vector or scalar
  // tail) path in the scan's input transform, whatever the token count and split.
  const std::vector<SequencePiece> pieces = SplitSequences(sequences.size(), [&](size_t i) {
    const SelectiveScanArgs& a = sequences[i];
    const int64_t grain = std::max<int64_t>(8, 2048 / std::max<int64_t>(a.tokens, 1));
    return a.tokens > 0 ? PieceSplit{a.channels, grain} : PieceSplit{};
  });
  int64_t scratch_per_thread = 0;
  for (const SequencePiece& p : pieces) {
    scratch_per_thread =
        std::max(scratch_per_thread, 2 * sequences[p.sequence].tokens * (p.end - p.begin));
  }
  ScratchPool::Lease scratch =
      scratch_.Get(static_cast<size_t>(scratch_per_thread * pool_.num_threads()));
  pool_.ParallelFor(static_cast<int64_t>(pieces.size()), [&](int64_t task, int thread) {
    const SequencePiece& p = pieces[static_cast<size_t>(task)];
    mamba_.selective_scan(sequences[p.sequence], p.begin, p.end,
                          scratch.data() + thread * scratch_per_thread);
  });
}

void CpuBackend::Attention(std::span<const AttentionArgs> sequences) {
  // Items split KV heads only as far as this call's sequences cannot feed the threads alone (a
  // decode step of many sequences keeps each sequence's heads together, reading its KV once).
  const int64_t threads_per_sequence = std::max<int64_t>(
      1, pool_.num_threads() / std::max<int64_t>(static_cast<int64_t>(sequences.size()), 1));
  std::vector<int64_t> heads_per_item(sequences.size());
  int64_t scratch_per_thread = 0;
  const std::vector<SequencePiece> pieces = SplitSequences(sequences.size(), [&](size_t i) {
    const AttentionArgs& a = sequences[i];
    if (a.tokens <= 0 || a.num_kv_heads <= 0) return PieceSplit{};
    heads_per_item[i] = AttentionHeadsPerItem(a, threads_per_sequence);
    scratch_per_thread = std::max(scratch_per_thread, AttentionScratchFloats(a, heads_per_item[i]));
    return PieceSplit{AttentionItems(a, heads_per_item[i]), 1, 1};
  });
  ScratchPool::Lease scratch =
      scratch_.Get(static_cast<size_t>(scratch_per_thread * pool_.num_threads()));
  pool_.ParallelFor(static_cast<int64_t>(pieces.size()), [&](int64_t task, int thread) {
    const SequencePiece& p = pieces[static_cast<size_t>(task)];
    attention_.attend(sequences[p.sequence], heads_per_item[p.sequence], p.begin, p.end,
                      scratch.data() + thread * scratch_per_thread);
  });
}

void CpuBackend::StoreKv(std::span<const KvStoreArgs> writes) {
  // Pieces of whole rows (a scaled row needs its head's absmax): about 64 KiB of fp32 input each.
  const std::vector<SequencePiece> pieces = SplitSequences(writes.size(), [&](size_t i) {
    const KvStoreArgs& w = writes[i];
    const int64_t row_floats = static_cast<int64_t>(w.num_kv_heads) * w.head_dim;
    return w.rows > 0 ? PieceSplit{w.rows, std::max<int64_t>(1, 16384 / row_floats), 1}
                      : PieceSplit{};
  });
  pool_.ParallelFor(static_cast<int64_t>(pieces.size()), [&](int64_t task, int) {
    const SequencePiece& p = pieces[static_cast<size_t>(task)];
    const KvStoreArgs& w = writes[p.sequence];
    const int64_t row_floats = static_cast<int64_t>(w.num_kv_heads) * w.head_dim;
    const int64_t row_bytes = KvRowBytes(w.dtype, w.num_kv_heads, w.head_dim);
    EncodeKvRows(w.keys + p.begin * row_floats, p.end - p.begin, w.dtype, w.num_kv_heads,
                 w.head_dim, static_cast<char*>(w.dst_keys) + p.begin * row_bytes);
    EncodeKvRows(w.values + p.begin * row_floats, p.end - p.begin, w.dtype, w.num_kv_heads,
                 w.head_dim, static_cast<char*>(w.dst_values) + p.begin * row_bytes);
  });
}

std::vector<CpuBackend::SequencePiece> CpuBackend::SplitSequences(
    size_t sequences, const std::function<PieceSplit(size_t)>& split) const {
  const int64_t max_pieces = static_cast<int64_t>(pool_.num_threads()) * 4;
  std::vector<SequencePiece> pieces;
  for (size_t i = 0; i < sequences; ++i) {
    const PieceSplit s = split(i);
    if (s.count <= 0) continue;
    const int64_t n = std::clamp<int64_t>(s.count / std::max<int64_t>(s.grain, 1), 1, max_pieces);
    const int64_t per_piece = ((s.count + n - 1) / n + s.multiple - 1) / s.multiple * s.multiple;
    for (int64_t begin = 0; begin < s.count; begin += per_piece)
      pieces.push_back({i, begin, std::min(s.count, begin + per_piece)});
  }
  return pieces;
}

}  // namespace jamba::kernels::cpu
