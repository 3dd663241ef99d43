// `jamba bench`: CPU figures for a model in one run, each compared with a ceiling measured in the
// same run (memory bandwidth for decode, peak FMA rate for prefill). Decode at a context of C
// tokens runs on a state whose C cached K/V rows and Mamba states are random values: decode cost
// does not depend on their values, and building a 16K context by real prefill would take the
// 2-core CI machine many minutes per point.
#ifndef JAMBA_BENCH_CPU_BENCH_H_
#define JAMBA_BENCH_CPU_BENCH_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/kv_dtype.h"
#include "nlohmann/json.hpp"

namespace jamba::bench {

struct CpuBenchOptions {
  std::string model_dir;
  int threads = 0;
  std::string simd;               // "" = best
  bool int8 = false;              // weight-only int8 MLPs and experts
  bool bf16_activations = false;  // bf16 dot products (CpuBackendOptions::bf16_activations)
  bool pack_weights = true;       // --weight-memory (CpuBackendOptions::pack_weights)
  kernels::KvDType kv_dtype = kernels::KvDType::kF32;
  std::string precision;  // the preset these options came from, for the report
  std::vector<int64_t> prefill_lengths = {512, 4096};
  std::vector<int> decode_batches = {1, 4, 16};
  std::vector<int64_t> decode_contexts = {1024, 16384};
  int decode_steps = 6;  // timed steps per point (after one warm-up step)
};

// Returns the report (machine ceilings, prefill, decode, TTFT, peak RSS); prints a table to
// stdout as it goes.
absl::StatusOr<nlohmann::json> RunCpuBench(const CpuBenchOptions& options);

struct ContextSweepOptions {
  std::string hybrid_model_dir;     // the bench preset
  std::string attention_model_dir;  // same dimensions, every layer attention; empty: none
  int threads = 0;
  // One curve per KV dtype, their points measured in turn in the same run (fp32 activations).
  std::vector<kernels::KvDType> kv_dtypes = {kernels::KvDType::kF32};
  std::vector<int64_t> contexts = {1024, 2048, 4096, 8192, 16384, 32768, 65536};
  int decode_steps = 8;
};

// The longest context this machine's memory holds for one sequence, per KV dtype, and the decode
// speed there: after the model loads, the machine's available memory less `headroom_bytes` (left
// for other processes and the engine's workspaces) over the bytes a token's KV takes; a synthetic
// state of that many tokens (random K/V rows, as the decode points of RunCpuBench) is then
// allocated, filled and decoded. Contexts past the model's trained max_position_embeddings are
// reported as such: the architecture has no positional limit, the checkpoint was not trained past
// it.
struct MaxContextOptions {
  std::string model_dir;
  int threads = 0;
  bool bf16_activations = false;
  std::vector<kernels::KvDType> kv_dtypes = {kernels::KvDType::kF32, kernels::KvDType::kBF16,
                                             kernels::KvDType::kI8};
  int64_t headroom_bytes = int64_t{3} << 30;
  int decode_steps = 3;  // timed, after one warm-up step
};
absl::StatusOr<nlohmann::json> RunMaxContext(const MaxContextOptions& options);

// Decode tokens/s at batch 1 over the contexts for each model and KV dtype; prints a table.
absl::StatusOr<nlohmann::json> RunContextSweep(const ContextSweepOptions& options);
// The sweep as an SVG line chart.
std::string ContextSweepSvg(const nlohmann::json& sweep);

}  // namespace jamba::bench

#endif  // JAMBA_BENCH_CPU_BENCH_H_
