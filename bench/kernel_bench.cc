// Micro-benchmarks of the CPU kernels on the bench model's shapes: MatMul (bf16 weights) at
// decode and prefill batch sizes and decode attention, against the machine's measured ceilings.
// Prints a table and, with --json OUT, writes it.
// Usage: jamba_kernel_bench [--threads N] [--activations fp32|bf16] [--json OUT]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "bench/machine_bench.h"
#include "kernels/cpu/cpu_backend.h"
#include "nlohmann/json.hpp"

namespace {

using Clock = std::chrono::steady_clock;

// Process CPU time: with one thread it is immune to time-slicing by other processes.
double CpuSeconds() {
  timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 0;
  std::string json_path;
  bool bf16_activations = false;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--threads") == 0) threads = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--json") == 0) json_path = argv[i + 1];
    if (std::strcmp(argv[i], "--activations") == 0)
      bf16_activations = std::strcmp(argv[i + 1], "bf16") == 0;
  }
  auto backend = jamba::kernels::cpu::CpuBackend::Create(
      {.num_threads = threads, .bf16_activations = bf16_activations});
  if (!backend.ok()) {
    std::fprintf(stderr, "%s\n", std::string(backend.status().message()).c_str());
    return 1;
  }
  const auto machine = jamba::bench::MeasureMachine((*backend)->pool(), size_t{256} << 20);
  std::printf("%s: triad %.2f GB/s, peak %.1f GFLOP/s\n", (*backend)->Name().c_str(),
              machine.triad_bytes_per_second / 1e9, machine.peak_flops / 1e9);
  std::printf("%-28s %10s %12s %10s %12s %10s %14s\n", "matmul (bf16 weights)", "ms", "GFLOP/s",
              "of peak", "GB/s", "of triad", "GFLOP/s (cpu)");
  std::mt19937 rng(1);
  nlohmann::json rows = nlohmann::json::array();
  struct Shape {
    int64_t out, in, tokens;
  };
  for (const Shape& s : std::vector<Shape>{{8192, 2048, 1},
                                           {2048, 4096, 1},
                                           {4096, 2048, 4},
                                           {8192, 2048, 16},
                                           {2048, 4096, 16},
                                           {8192, 2048, 256},
                                           {2048, 4096, 512},
                                           {4096, 2048, 512}}) {
    std::vector<uint16_t> w(static_cast<size_t>(s.out * s.in));
    for (auto& v : w)
      v = jamba::kernels::F32ToBF16(static_cast<float>(rng() % 2000) / 1000.0f - 1.0f);
    std::vector<float> x(static_cast<size_t>(s.tokens * s.in), 0.5f),
        y(static_cast<size_t>(s.tokens * s.out));
    // As the model holds its weights: packed by the backend.
    auto prepared =
        (*backend)->PrepareMatrix({w.data(), jamba::kernels::DType::kBF16, s.out, s.in, nullptr},
                                  jamba::kernels::WeightFormat::kAsStored);
    if (!prepared.ok()) {
      std::fprintf(stderr, "%s\n", std::string(prepared.status().message()).c_str());
      return 1;
    }
    const jamba::kernels::Matrix m = *prepared;
    (*backend)->MatMul(m, x.data(), s.tokens, y.data(), nullptr);
    const int reps = s.tokens >= 256 ? 3 : 20;
    const auto start = Clock::now();
    const double cpu_start = CpuSeconds();
    for (int r = 0; r < reps; ++r) (*backend)->MatMul(m, x.data(), s.tokens, y.data(), nullptr);
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count() / reps;
    const double cpu_seconds = (CpuSeconds() - cpu_start) / reps;
    const double flops = 2.0 * static_cast<double>(s.out * s.in * s.tokens) / seconds;
    const double bytes = static_cast<double>(w.size() * 2) / seconds;
    const std::string name =
        std::to_string(s.out) + "x" + std::to_string(s.in) + " n=" + std::to_string(s.tokens);
    std::printf("%-28s %10.3f %12.1f %9.1f%% %12.2f %9.1f%% %14.1f\n", name.c_str(), seconds * 1e3,
                flops / 1e9, 100 * flops / machine.peak_flops, bytes / 1e9,
                100 * bytes / machine.triad_bytes_per_second,
                2.0 * static_cast<double>(s.out * s.in * s.tokens) / cpu_seconds / 1e9);
    rows.push_back({{"shape", name},
                    {"seconds", seconds},
                    {"flops_per_second", flops},
                    {"fraction_of_peak", flops / machine.peak_flops},
                    {"weight_bytes_per_second", bytes},
                    {"fraction_of_triad", bytes / machine.triad_bytes_per_second}});
  }
  // Decode reads every weight once per step from memory: products over 32 distinct 8192x2048
  // matrices (1 GiB of bf16, far past the caches) with 1 token (batch-1 decode's GEMV, the figure
  // its roofline rests on), with 4 (an expert's share of a batch-16 step) and with 16 (a dense
  // product of a batch-16 step, where arithmetic and streaming take about as long). Each runs on
  // the weights in place
  // (row-major, 4 KiB pages) and as the backend packs them (its own copy on 2 MiB pages, row groups
  // interleaved), alternating so both see the same memory conditions.
  const int64_t dram_rows = 8192, dram_cols = 2048, count = 32;
  std::vector<uint16_t> w(static_cast<size_t>(dram_rows * dram_cols * count));
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<uint16_t>(0x3f80 + (i % 61));
  std::vector<jamba::kernels::Matrix> in_place, packed;
  for (int64_t m = 0; m < count; ++m) {
    in_place.push_back({w.data() + m * dram_rows * dram_cols, jamba::kernels::DType::kBF16,
                        dram_rows, dram_cols, nullptr});
    auto prepared =
        (*backend)->PrepareMatrix(in_place.back(), jamba::kernels::WeightFormat::kAsStored);
    if (!prepared.ok()) {
      std::fprintf(stderr, "%s\n", std::string(prepared.status().message()).c_str());
      return 1;
    }
    packed.push_back(*prepared);
  }
  for (const int64_t tokens : {int64_t{1}, int64_t{4}, int64_t{16}}) {
    std::vector<float> x(static_cast<size_t>(dram_cols * tokens), 0.5f),
        y(static_cast<size_t>(dram_rows * tokens));
    auto sweep = [&](const std::vector<jamba::kernels::Matrix>& matrices) {
      const auto start = Clock::now();
      for (const auto& mat : matrices) (*backend)->MatMul(mat, x.data(), tokens, y.data(), nullptr);
      return std::chrono::duration<double>(Clock::now() - start).count();
    };
    sweep(in_place);
    sweep(packed);
    double best[2] = {1e30, 1e30};
    for (int rep = 0; rep < 5; ++rep) {
      best[0] = std::min(best[0], sweep(in_place));
      best[1] = std::min(best[1], sweep(packed));
    }
    for (int variant = 0; variant < 2; ++variant) {
      const double bytes = static_cast<double>(w.size() * 2) / best[variant];
      const std::string name = "8192x2048 n=" + std::to_string(tokens) + " x32 DRAM " +
                               (variant == 0 ? "in place" : "packed");
      std::printf("%-28s %10.3f %12s %10s %12.2f %9.1f%%\n", name.c_str(),
                  best[variant] * 1e3 / count, "", "", bytes / 1e9,
                  100 * bytes / machine.triad_bytes_per_second);
      rows.push_back({{"shape", name},
                      {"seconds", best[variant] / count},
                      {"weight_bytes_per_second", bytes},
                      {"fraction_of_triad", bytes / machine.triad_bytes_per_second}});
    }
  }
  // Decode attention (16 heads sharing 4 KV heads, head size 128, as in the bench model): one
  // query against 16K keys, and a batched step's 16 sequences of one query each against 4K keys
  // apiece; every K and V row is read once per call. Once per KV cache dtype, from the same
  // random values: fp32 (64 MiB of K and V for 16K keys), bf16, int8 and fp8 E4M3 (with per-head
  // scales). The dtypes of one case take their calls in turn, best of 9 each, so that they
  // compare under the same moments of this VM's load.
  nlohmann::json attention_rows = nlohmann::json::array();
  const jamba::kernels::KvDType kDTypes[] = {
      jamba::kernels::KvDType::kF32, jamba::kernels::KvDType::kBF16, jamba::kernels::KvDType::kI8,
      jamba::kernels::KvDType::kF8E4M3};
  for (const auto& [sequences, keys] : {std::pair<int, int64_t>{1, 16384}, {16, 4096}}) {
    const int heads = 16, kv_heads = 4, head_dim = 128;
    const int64_t kv_floats = keys * kv_heads * head_dim;
    std::normal_distribution<float> dist(0.0f, 1.0f);
    // The same queries and fp32 rows for every dtype.
    std::vector<std::vector<float>> q(sequences), k32(sequences), v32(sequences);
    for (int s = 0; s < sequences; ++s) {
      q[s].resize(static_cast<size_t>(heads * head_dim));
      k32[s].resize(static_cast<size_t>(kv_floats));
      v32[s].resize(k32[s].size());
      for (float& f : q[s]) f = dist(rng);
      for (float& f : k32[s]) f = dist(rng);
      for (float& f : v32[s]) f = dist(rng);
    }
    struct Calls {
      std::vector<std::vector<char>> k, v;
      std::vector<std::vector<float>> out;
      std::vector<jamba::kernels::KvChunk> chunks;
      std::vector<jamba::kernels::AttentionArgs> args;
      double best = 1e30;
    };
    std::vector<Calls> calls(std::size(kDTypes));
    for (size_t d = 0; d < calls.size(); ++d) {
      const jamba::kernels::KvDType dtype = kDTypes[d];
      const int64_t row_bytes = jamba::kernels::KvRowBytes(dtype, kv_heads, head_dim);
      Calls& c = calls[d];
      c.k.resize(sequences);
      c.v.resize(sequences);
      c.out.resize(sequences);
      c.chunks.resize(sequences);
      c.args.resize(sequences);
      for (int s = 0; s < sequences; ++s) {
        c.k[s].resize(static_cast<size_t>(keys * row_bytes));
        c.v[s].resize(c.k[s].size());
        c.out[s].resize(q[s].size());
        jamba::kernels::EncodeKvRows(k32[s].data(), keys, dtype, kv_heads, head_dim, c.k[s].data());
        jamba::kernels::EncodeKvRows(v32[s].data(), keys, dtype, kv_heads, head_dim, c.v[s].data());
        c.chunks[s] = {c.k[s].data(), c.v[s].data(), keys};
        jamba::kernels::AttentionArgs& args = c.args[s];
        args.tokens = 1;
        args.past = keys - 1;
        args.num_heads = heads;
        args.num_kv_heads = kv_heads;
        args.head_dim = head_dim;
        args.q = q[s].data();
        args.kv_dtype = dtype;
        args.kv = {&c.chunks[s], 1};
        args.out = c.out[s].data();
      }
      (*backend)->Attention(c.args);  // warm-up
    }
    for (int rep = 0; rep < 9; ++rep) {
      for (Calls& c : calls) {
        const auto start = Clock::now();
        (*backend)->Attention(c.args);
        c.best = std::min(c.best, std::chrono::duration<double>(Clock::now() - start).count());
      }
    }
    for (size_t d = 0; d < calls.size(); ++d) {
      const jamba::kernels::KvDType dtype = kDTypes[d];
      const double best = calls[d].best;
      const double kv_bytes =
          2.0 * sequences *
          static_cast<double>(keys * jamba::kernels::KvRowBytes(dtype, kv_heads, head_dim));
      const std::string name = std::string("attention ") + jamba::kernels::KvDTypeName(dtype) +
                               " " + std::to_string(sequences) + " x " +
                               std::to_string(keys / 1024) + "K";
      std::printf("%-28s %10.3f %12s %10s %12.2f %9.1f%%\n", name.c_str(), best * 1e3, "", "",
                  kv_bytes / best / 1e9, 100 * kv_bytes / best / machine.triad_bytes_per_second);
      attention_rows.push_back(
          {{"case", "decode, " + std::to_string(sequences) +
                        " sequence(s) of 1 query, 16 heads / 4 KV heads x 128, " +
                        std::to_string(keys) + " keys each"},
           {"kv_dtype", jamba::kernels::KvDTypeName(dtype)},
           {"seconds", best},
           {"kv_bytes", kv_bytes},
           {"keys_per_second", static_cast<double>(sequences * keys) / best},
           {"kv_bytes_per_second", kv_bytes / best},
           {"fraction_of_triad", kv_bytes / best / machine.triad_bytes_per_second}});
    }
  }
  if (!json_path.empty()) {
    std::ofstream out(json_path);
    out << nlohmann::json({{"backend", (*backend)->Name()},
                           {"triad_bytes_per_second", machine.triad_bytes_per_second},
                           {"peak_fp32_flops", machine.peak_flops},
                           {"matmul", rows},
                           {"attention", attention_rows}})
               .dump(2)
        << "\n";
  }
  return 0;
}
