// CPU model benchmarks: prefill and decode throughput against measured ceilings.
#include "bench/cpu_bench.h"

#include <sys/resource.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <optional>
#include <random>
#include <span>

#include "absl/strings/str_format.h"
#include "bench/machine_bench.h"
#include "bench/svg_plot.h"
#include "engine/forward_workspace.h"
#include "engine/jamba_model.h"
#include "engine/memory_budget.h"
#include "engine/status_macros.h"
#include "kernels/cpu/cpu_backend.h"

namespace jamba::bench {
namespace {

using Clock = std::chrono::steady_clock;
using Json = nlohmann::json;

double Seconds(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Process CPU time: on a busy machine, flops per CPU-second per thread still measure the kernels,
// while wall time also measures the neighbours.
double CpuSeconds() {
  timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

double PeakRssBytes() {
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) * 1024.0;
}

// What one decode step of `batch` sequences at `context` must read and compute, split into the
// phases StepFloorSeconds weighs separately. Experts: top-k per token; over a batch, the expected
// number of distinct experts under uniform routing (random weights route close to uniformly).
struct StepCost {
  double dense_bytes = 0;   // every matrix and vector but the experts'
  double expert_bytes = 0;  // the experts the batch's tokens pick
  double kv_bytes = 0;
  double state_bytes = 0;  // Mamba conv and SSM states, read and written
  double dense_flops = 0;  // products with the dense matrices (router and lm_head included)
  double expert_flops = 0;
  double attention_flops = 0;  // scores and weighted values over the KV
  double weight_bytes() const { return dense_bytes + expert_bytes; }
  double total_bytes() const { return dense_bytes + expert_bytes + kv_bytes + state_bytes; }
};

StepCost DecodeStepCost(const engine::ModelConfig& c, int batch, int64_t context,
                        double weight_bytes_per_param, double mlp_bytes_per_param,
                        kernels::KvDType kv_dtype) {
  const double h = static_cast<double>(c.hidden_size), f = static_cast<double>(c.intermediate_size);
  const double i = static_cast<double>(c.mamba_inner()), n = c.mamba_d_state,
               r = static_cast<double>(c.mamba_dt_rank);
  const double q = static_cast<double>(c.num_attention_heads * c.head_dim());
  const double kv = static_cast<double>(c.num_key_value_heads * c.head_dim());
  const double tokens = batch, keys = static_cast<double>(context);
  StepCost cost;
  const double w = weight_bytes_per_param;
  // Dense matrices stored as the checkpoint is (mlp_params: the dense MLPs, int8 with --weights).
  double dense_params = static_cast<double>(c.vocab_size) * h;  // lm_head (embedding: a row each)
  double mlp_params = 0;
  for (const engine::LayerConfig& layer : c.layers) {
    if (layer.mixer == engine::MixerKind::kAttention) {
      dense_params += 2 * q * h + 2 * kv * h;
      cost.kv_bytes +=
          tokens * keys * 2 *
          static_cast<double>(kernels::KvRowBytes(kv_dtype, c.num_key_value_heads, c.head_dim()));
      cost.attention_flops += tokens * keys * 4 * q;
    } else {
      dense_params += 2 * i * h + (r + 2 * n) * i + i * r + h * i;
      cost.dense_bytes += i * (c.mamba_d_conv + n + 4) * 4;  // conv, A, D, biases in fp32
      cost.state_bytes += tokens * 2 * i * (c.mamba_d_conv - 1 + n) * 4;  // read + write
    }
    const double mlp = 3 * h * f;
    if (layer.ffn == engine::FfnKind::kMoe) {
      const double e = layer.num_experts, k = c.num_experts_per_tok;
      const double distinct = e * (1 - std::pow(1 - k / e, batch));
      dense_params += e * h;  // router
      cost.expert_bytes += distinct * mlp * mlp_bytes_per_param;
      cost.expert_flops += 2 * tokens * k * mlp;
    } else {
      mlp_params += mlp;
    }
  }
  cost.dense_bytes += dense_params * w + mlp_params * mlp_bytes_per_param;
  cost.dense_flops = 2 * tokens * (dense_params + mlp_params);
  return cost;
}

// The fastest a decode step could run here: each phase (the dense products, the expert
// products, attention and the Mamba state) at the slower of streaming its bytes at `bandwidth`
// and doing its arithmetic at `peak_flops`, phases one after another (each layer needs the one
// before). Overlap within a phase is assumed perfect, so no implementation beats it at these
// rates; the bandwidth is itself a measured figure, which a step can beat by a few percent.
double StepFloorSeconds(const StepCost& cost, double bandwidth, double peak_flops) {
  return std::max(cost.dense_bytes / bandwidth, cost.dense_flops / peak_flops) +
         std::max(cost.expert_bytes / bandwidth, cost.expert_flops / peak_flops) +
         std::max((cost.kv_bytes + cost.state_bytes) / bandwidth,
                  cost.attention_flops / peak_flops);
}

// Matmul and attention flops of prefilling `tokens` tokens from an empty state.
double PrefillFlops(const engine::ModelConfig& c, int64_t tokens) {
  const double active_matmul =
      static_cast<double>(c.ActiveParameters()) -
      static_cast<double>(c.vocab_size * c.hidden_size);  // no embedding matmul
  double flops = 2 * active_matmul * static_cast<double>(tokens);
  const double q = static_cast<double>(c.num_attention_heads * c.head_dim());
  // Causal attention: QK^T and PV over (t + 1) keys for token t.
  const double pairs = static_cast<double>(tokens) * static_cast<double>(tokens + 1) / 2;
  flops += c.num_attention_layers() * 4 * q * pairs;
  return flops;
}

// A state of `context` cached tokens (random K/V rows in `kv_dtype`, default the model's, and
// random Mamba states).
absl::StatusOr<engine::SequenceState> SyntheticState(
    const engine::JambaModel& model, int64_t context, std::mt19937& rng,
    std::optional<kernels::KvDType> kv_dtype = std::nullopt) {
  JAMBA_ASSIGN_OR_RETURN(engine::SequenceState state,
                         engine::SequenceState::Create(model.config(), model.backend(),
                                                       kv_dtype.value_or(model.kv_dtype())));
  std::normal_distribution<float> dist(0.0f, 1.0f);
  const int64_t chunk = 4096;
  std::vector<float> keys(static_cast<size_t>(chunk * state.kv_row_floats()));
  std::vector<float> values(keys.size());
  for (float& v : keys) v = dist(rng);
  for (float& v : values) v = dist(rng);
  // One allocation for the whole context (as a resume would): pages are sized to fit it.
  JAMBA_RETURN_IF_ERROR(state.ReserveKv(context));
  for (int64_t done = 0; done < context; done += chunk) {
    JAMBA_RETURN_IF_ERROR(
        state.AppendKvFromF32(std::min(chunk, context - done), keys.data(), values.data()));
  }
  for (int l = 0; l < state.num_layers(); ++l) {
    if (state.layer_kind(l) != engine::MixerKind::kMamba) continue;
    std::vector<float> conv(static_cast<size_t>(state.conv_state_floats()));
    std::vector<float> ssm(static_cast<size_t>(state.ssm_state_floats()));
    for (float& v : conv) v = 0.1f * dist(rng);
    for (float& v : ssm) v = 0.1f * dist(rng);
    state.WriteMambaState(l, conv.data(), ssm.data());
  }
  std::vector<int32_t> tokens(static_cast<size_t>(context));
  for (int32_t& t : tokens)
    t = static_cast<int32_t>(rng() % static_cast<uint32_t>(model.config().vocab_size));
  state.SetTokensForRestore(std::move(tokens));
  state.SetLastLogits(std::vector<float>(static_cast<size_t>(model.config().vocab_size), 0.0f));
  return state;
}

// `batch` copies of a synthetic state at one context, decoded together one step at a time.
class DecodeLoad {
 public:
  static absl::StatusOr<DecodeLoad> Create(const engine::JambaModel& model, int batch,
                                           int64_t context, std::mt19937& rng,
                                           std::optional<kernels::KvDType> kv_dtype) {
    DecodeLoad load(model);
    JAMBA_ASSIGN_OR_RETURN(engine::SequenceState first,
                           SyntheticState(model, context, rng, kv_dtype));
    for (int b = 1; b < batch; ++b) {
      JAMBA_ASSIGN_OR_RETURN(engine::SequenceState copy, first.Clone());
      load.states_.push_back(std::move(copy));
    }
    load.states_.push_back(std::move(first));
    load.next_.resize(static_cast<size_t>(batch));
    return load;
  }

  // One forward step over every sequence, each fed a random token; returns its seconds.
  absl::StatusOr<double> Step(engine::ForwardWorkspace& ws, std::mt19937& rng) {
    std::vector<engine::ForwardItem> items;
    for (size_t b = 0; b < states_.size(); ++b) {
      next_[b] = static_cast<int32_t>(rng() % static_cast<uint32_t>(model_->config().vocab_size));
      items.push_back({&states_[b], std::span<const int32_t>(&next_[b], 1), false});
    }
    const auto start = Clock::now();
    JAMBA_RETURN_IF_ERROR(model_->Forward(items, ws));
    return Seconds(start);
  }

  int batch() const { return static_cast<int>(states_.size()); }

 private:
  explicit DecodeLoad(const engine::JambaModel& model) : model_(&model) {}

  const engine::JambaModel* model_;
  std::vector<engine::SequenceState> states_;
  std::vector<int32_t> next_;
};

// `batch` sequences at a context of `context` cached tokens.
struct DecodeShape {
  int batch;
  int64_t context;
  std::optional<kernels::KvDType> kv_dtype;  // unset: the model's
};

// Decode tokens/s of each shape. The shapes take their steps in turn, one each per round, so
// that all of them see the same moments of this VM's drifting memory bandwidth and their ratios
// (batch 16 over batch 1, 64K context over 1K) are not at its mercy.
absl::StatusOr<std::vector<double>> MeasureDecode(const engine::JambaModel& model,
                                                  engine::ForwardWorkspace& ws,
                                                  std::span<const DecodeShape> shapes, int steps,
                                                  std::mt19937& rng) {
  std::vector<DecodeLoad> loads;
  for (const DecodeShape& shape : shapes) {
    JAMBA_ASSIGN_OR_RETURN(DecodeLoad load, DecodeLoad::Create(model, shape.batch, shape.context,
                                                               rng, shape.kv_dtype));
    JAMBA_RETURN_IF_ERROR(load.Step(ws, rng).status());  // warm-up: workspace and KV growth
    loads.push_back(std::move(load));
  }
  std::vector<double> seconds(loads.size(), 0.0);
  for (int s = 0; s < steps; ++s) {
    for (size_t i = 0; i < loads.size(); ++i) {
      JAMBA_ASSIGN_OR_RETURN(const double step_seconds, loads[i].Step(ws, rng));
      seconds[i] += step_seconds;
    }
  }
  std::vector<double> tokens_per_second;
  for (size_t i = 0; i < loads.size(); ++i)
    tokens_per_second.push_back(static_cast<double>(loads[i].batch()) * steps / seconds[i]);
  return tokens_per_second;
}

absl::StatusOr<std::unique_ptr<kernels::cpu::CpuBackend>> MakeBackend(int threads,
                                                                      const std::string& simd,
                                                                      bool bf16_activations,
                                                                      bool pack_weights) {
  kernels::cpu::CpuBackendOptions options;
  options.num_threads = threads;
  options.bf16_activations = bf16_activations;
  options.pack_weights = pack_weights;
  if (!simd.empty()) {
    auto target = kernels::cpu::ParseSimdTarget(simd);
    if (!target) return absl::InvalidArgumentError("--simd must be avx512, avx2 or scalar");
    options.simd_target = *target;
  }
  return kernels::cpu::CpuBackend::Create(options);
}

}  // namespace

absl::StatusOr<Json> RunCpuBench(const CpuBenchOptions& options) {
  JAMBA_ASSIGN_OR_RETURN(auto backend, MakeBackend(options.threads, options.simd,
                                                   options.bf16_activations, options.pack_weights));
  // The ceilings first: their arrays are freed before the model loads, so they do not count in
  // the peak RSS reported below.
  const MachineCeilings machine = MeasureMachine(backend->pool());
  engine::ModelOptions model_options;
  model_options.weights.int8_mlp = options.int8;
  model_options.kv_dtype = options.kv_dtype;
  JAMBA_ASSIGN_OR_RETURN(auto model,
                         engine::JambaModel::Load(options.model_dir, *backend, model_options));
  const engine::ModelConfig& config = model->config();
  engine::ForwardWorkspace ws(*backend);
  std::mt19937 rng(1234);

  std::printf(
      "machine: %d threads, kernels %s; triad %.2f GB/s; peak fp32 FMA %.1f GFLOP/s; peak bf16 "
      "dot %.1f GFLOP/s\n",
      machine.threads, backend->Name().c_str(), machine.triad_bytes_per_second / 1e9,
      machine.peak_flops / 1e9, machine.peak_bf16_dot_flops / 1e9);
  Json report = {{"model_dir", options.model_dir},
                 {"weights", options.int8 ? "int8 MLPs/experts, rest as stored" : "as stored"},
                 {"activations", options.bf16_activations ? "bf16" : "fp32"},
                 {"kv_dtype", kernels::KvDTypeName(options.kv_dtype)},
                 {"precision", options.precision},
                 {"weight_memory", options.pack_weights ? "packed copy (interleaved row groups)"
                                                        : "in place (mapped checkpoint)"},
                 {"backend", backend->Name()},
                 {"threads", machine.threads},
                 {"total_parameters", config.TotalParameters()},
                 {"active_parameters", config.ActiveParameters()},
                 {"machine",
                  {{"triad_bytes_per_second", machine.triad_bytes_per_second},
                   {"peak_fp32_flops", machine.peak_flops},
                   {"peak_bf16_dot_flops", machine.peak_bf16_dot_flops},
                   {"simd_target", machine.simd_target}}}};

  // Stored weight bytes per parameter (the checkpoint's dtype; the bench preset is bf16).
  const double weight_bytes = config.torch_dtype == "float32" ? 4.0 : 2.0;
  const double mlp_bytes = options.int8 ? 1.0 : weight_bytes;

  std::printf("\n%-22s %12s %12s %14s %10s %16s\n", "prefill", "tokens/s", "seconds", "GFLOP/s",
              "of peak", "per-core (cpu)");
  Json prefill = Json::array();
  auto random_ids = [&](int64_t length) {
    std::vector<int32_t> ids(static_cast<size_t>(length));
    for (int32_t& t : ids)
      t = static_cast<int32_t>(rng() % static_cast<uint32_t>(config.vocab_size));
    return ids;
  };
  // One unmeasured prefill first: the first forward after loading faults in every mapped weight
  // page and sizes the workspace, which is start-up cost, not kernel speed.
  if (!options.prefill_lengths.empty()) {
    JAMBA_ASSIGN_OR_RETURN(engine::SequenceState warm, model->NewSequence());
    JAMBA_RETURN_IF_ERROR(model->Prefill(
        warm, random_ids(std::min<int64_t>(512, options.prefill_lengths.front())), ws, 512));
  }
  for (int64_t length : options.prefill_lengths) {
    // Short prompts take seconds: best of three steadies them on a noisy machine.
    const int runs = length <= 1024 ? 3 : 1;
    double seconds = 1e30, cpu_seconds = 1e30;
    for (int run = 0; run < runs; ++run) {
      JAMBA_ASSIGN_OR_RETURN(engine::SequenceState state, model->NewSequence());
      const std::vector<int32_t> ids = random_ids(length);
      const auto start = Clock::now();
      const double cpu_start = CpuSeconds();
      JAMBA_RETURN_IF_ERROR(model->Prefill(state, ids, ws, 512));
      const double run_seconds = Seconds(start);
      if (run_seconds < seconds) {
        seconds = run_seconds;
        cpu_seconds = CpuSeconds() - cpu_start;
      }
    }
    const double flops = PrefillFlops(config, length) / seconds;
    // Flops per CPU-second against one thread's share of the peak: what the kernels achieve on
    // the cores they got, whatever else ran on the machine.
    const double per_core =
        PrefillFlops(config, length) / cpu_seconds / (machine.peak_flops / machine.threads);
    std::printf("%-22s %12.1f %12.3f %14.1f %9.1f%% %15.1f%%\n",
                absl::StrFormat("%d tokens", length).c_str(), length / seconds, seconds,
                flops / 1e9, 100 * flops / machine.peak_flops, 100 * per_core);
    prefill.push_back({{"tokens", length},
                       {"seconds", seconds},
                       {"tokens_per_second", length / seconds},
                       {"flops_per_second", flops},
                       {"fraction_of_peak_fma", flops / machine.peak_flops},
                       {"cpu_seconds", cpu_seconds},
                       {"per_core_fraction_of_peak_fma_by_cpu_time", per_core},
                       {"time_to_first_token_seconds", seconds}});
  }
  report["prefill"] = prefill;
  if (!prefill.empty())
    report["time_to_first_token_seconds"] = {{"prompt_tokens", prefill[0]["tokens"]},
                                             {"seconds", prefill[0]["seconds"]}};

  struct DecodePoint {
    int64_t context;
    int batch;
    double tokens_per_second;
  };
  std::vector<DecodePoint> points;
  // One context at a time: every batch's KV at every context at once would not fit everywhere.
  for (int64_t context : options.decode_contexts) {
    std::vector<DecodeShape> shapes;
    for (int batch : options.decode_batches) shapes.push_back({batch, context});
    JAMBA_ASSIGN_OR_RETURN(std::vector<double> tps,
                           MeasureDecode(*model, ws, shapes, options.decode_steps, rng));
    for (size_t i = 0; i < tps.size(); ++i)
      points.push_back({context, options.decode_batches[i], tps[i]});
  }
  const double peak_rss = PeakRssBytes();
  // This VM's bandwidth drifts by tens of percent within minutes (other tenants): measure the
  // triad again after the decode points and hold decode to the higher of the two.
  const double triad_after = MeasureTriad(backend->pool());
  const double bandwidth = std::max(machine.triad_bytes_per_second, triad_after);
  report["machine"]["triad_bytes_per_second_after_decode"] = triad_after;
  report["machine"]["roofline_bytes_per_second"] = bandwidth;
  std::printf(
      "\ndecode roofline: %.2f GB/s (the higher of the triad before, %.2f, and after, %.2f)\n",
      bandwidth / 1e9, machine.triad_bytes_per_second / 1e9, triad_after / 1e9);
  // The step floor's rates: products at the peak of the instruction the backend multiplies with,
  // bytes at the faster of the triad and what batch 1 streamed at the same context (a read-only
  // stream can beat the triad, and batch 1 ran in the same moments as the others).
  const bool dot_products = options.bf16_activations && machine.peak_bf16_dot_flops > 0;
  const double product_peak = dot_products ? machine.peak_bf16_dot_flops : machine.peak_flops;
  report["machine"]["product_peak_flops"] = product_peak;
  std::printf("%-22s %12s %14s %14s %10s %10s\n", "decode", "tokens/s", "ms/step", "GB/step",
              "roofline", "floor");
  Json decode = Json::array();
  std::vector<std::string> ceilings;
  double batch1 = 0, batch1_bandwidth = bandwidth, batch1_floor = 0;
  for (const auto& [context, batch, tps] : points) {
    const StepCost cost =
        DecodeStepCost(config, batch, context, weight_bytes, mlp_bytes, options.kv_dtype);
    const double step_seconds = batch / tps;
    const double roofline_seconds = cost.total_bytes() / bandwidth;
    if (batch == 1) {
      batch1 = tps;
      batch1_bandwidth = std::max(bandwidth, cost.total_bytes() / step_seconds);
    }
    const double floor_seconds = StepFloorSeconds(cost, batch1_bandwidth, product_peak);
    if (batch == 1) batch1_floor = floor_seconds;
    std::printf("%-22s %12.2f %14.1f %14.3f %9.1f%% %9.1f%%\n",
                absl::StrFormat("batch %d, context %d", batch, context).c_str(), tps,
                1e3 * step_seconds, cost.total_bytes() / 1e9, 100 * roofline_seconds / step_seconds,
                100 * floor_seconds / step_seconds);
    Json point = {
        {"batch", batch},
        {"context", context},
        {"tokens_per_second", tps},
        {"step_seconds", step_seconds},
        {"bytes_per_step", cost.total_bytes()},
        {"weight_bytes_per_step", cost.weight_bytes()},
        {"expert_weight_bytes_per_step", cost.expert_bytes},
        {"kv_bytes_per_step", cost.kv_bytes},
        {"state_bytes_per_step", cost.state_bytes},
        {"product_flops_per_step", cost.dense_flops + cost.expert_flops + cost.attention_flops},
        {"roofline_seconds", roofline_seconds},
        {"fraction_of_roofline", roofline_seconds / step_seconds},
        {"floor_seconds", floor_seconds},
        {"fraction_of_floor", floor_seconds / step_seconds},
        {"speedup_over_batch_1", batch1 > 0 ? tps / batch1 : 1.0}};
    if (batch > 1 && batch1_floor > 0) {
      // The most batch `batch` could gain over batch 1 here: both steps at their floors. A
      // property of the machine (bandwidth against arithmetic), not of how batch 1 happened to
      // run: a batch 1 slowed by a bad moment of memory would otherwise raise it.
      const double ceiling = batch * batch1_floor / floor_seconds;
      point["speedup_ceiling"] = ceiling;
      ceilings.push_back(absl::StrFormat(
          "batch %d over batch 1, context %d: %.2fx measured; %.2fx with both at their floors",
          batch, context, tps / batch1, ceiling));
    }
    decode.push_back(std::move(point));
  }
  std::printf(
      "floor: each phase (dense products, expert products, attention + Mamba state) at the\n"
      "slower of %s at %.1f GFLOP/s and its bytes at batch 1's bandwidth (>= the roofline's)\n",
      dot_products ? "bf16 dot products" : "fp32 FMA", product_peak / 1e9);
  for (const std::string& line : ceilings) std::printf("%s\n", line.c_str());
  report["decode"] = decode;
  report["peak_rss_bytes"] = peak_rss;
  std::printf("\npeak RSS %.2f GiB (model, workspaces and KV; the triad arrays come after)\n",
              peak_rss / (1 << 30));
  return report;
}

absl::StatusOr<Json> RunContextSweep(const ContextSweepOptions& options) {
  JAMBA_ASSIGN_OR_RETURN(auto backend, MakeBackend(options.threads, "", false, true));
  Json sweep = {{"backend", backend->Name()}, {"series", Json::array()}};
  std::mt19937 rng(99);
  std::vector<std::string> dirs = {options.hybrid_model_dir};
  if (!options.attention_model_dir.empty()) dirs.push_back(options.attention_model_dir);
  for (const std::string& dir : dirs) {
    JAMBA_ASSIGN_OR_RETURN(auto model, engine::JambaModel::Load(dir, *backend, {}));
    engine::ForwardWorkspace ws(*backend);
    const engine::ModelConfig& config = model->config();
    const std::string model_name =
        config.num_attention_layers() == config.num_hidden_layers
            ? "every layer attention"
            : absl::StrFormat("hybrid (%d of %d layers attention)", config.num_attention_layers(),
                              config.num_hidden_layers);
    // Every (dtype, context) sequence at once, stepped in turn (see MeasureDecode): the curves'
    // shapes and their ratios are then the contexts' and dtypes' doing, not the memory
    // bandwidth's drift between points.
    std::vector<DecodeShape> shapes;
    for (kernels::KvDType dtype : options.kv_dtypes) {
      for (int64_t context : options.contexts) shapes.push_back({1, context, dtype});
    }
    JAMBA_ASSIGN_OR_RETURN(std::vector<double> measured,
                           MeasureDecode(*model, ws, shapes, options.decode_steps, rng));
    for (size_t d = 0; d < options.kv_dtypes.size(); ++d) {
      const kernels::KvDType dtype = options.kv_dtypes[d];
      const std::string name =
          options.kv_dtypes.size() > 1
              ? absl::StrFormat("%s, %s KV", model_name, kernels::KvDTypeName(dtype))
              : model_name;
      std::printf("\n%s: %s\n%-12s %12s %16s\n", name.c_str(), dir.c_str(), "context", "tokens/s",
                  "KV bytes/seq");
      Json points = Json::array();
      for (size_t c = 0; c < options.contexts.size(); ++c) {
        const int64_t context = options.contexts[c];
        const double tps = measured[d * options.contexts.size() + c];
        const double kv_bytes =
            static_cast<double>(config.KvBytesPerToken(dtype)) * static_cast<double>(context);
        std::printf("%-12lld %12.2f %13.2f GiB\n", static_cast<long long>(context), tps,
                    kv_bytes / (1 << 30));
        points.push_back({{"context", context},
                          {"tokens_per_second", tps},
                          {"kv_bytes_per_sequence", kv_bytes}});
      }
      sweep["series"].push_back({{"name", name},
                                 {"model_dir", dir},
                                 {"kv_dtype", kernels::KvDTypeName(dtype)},
                                 {"kv_bytes_per_token", config.KvBytesPerToken(dtype)},
                                 {"attention_layers", config.num_attention_layers()},
                                 {"layers", config.num_hidden_layers},
                                 {"points", points}});
    }
  }
  return sweep;
}

absl::StatusOr<Json> RunMaxContext(const MaxContextOptions& options) {
  Json report = {{"model_dir", options.model_dir},
                 {"activations", options.bf16_activations ? "bf16" : "fp32"},
                 {"headroom_bytes", options.headroom_bytes},
                 {"points", Json::array()}};
  std::printf("%-10s %12s %14s %14s %12s %12s %12s\n", "kv_dtype", "KV B/token", "available",
              "max context", "KV GiB", "fill s", "tokens/s");
  std::mt19937 rng(7);
  for (const kernels::KvDType dtype : options.kv_dtypes) {
    // A backend per dtype: the backend owns the weights it packs until it goes, so a shared one
    // would hold every earlier dtype's copy and shrink the memory the later dtypes measure.
    JAMBA_ASSIGN_OR_RETURN(auto backend,
                           MakeBackend(options.threads, "", options.bf16_activations, true));
    report["backend"] = backend->Name();
    engine::ModelOptions model_options;
    model_options.kv_dtype = dtype;
    JAMBA_ASSIGN_OR_RETURN(auto model,
                           engine::JambaModel::Load(options.model_dir, *backend, model_options));
    engine::ForwardWorkspace ws(*backend);
    const engine::ModelConfig& config = model->config();
    const int64_t per_token = config.KvBytesPerToken(dtype);
    const int64_t available = engine::ProbeAvailableMemory();
    if (available < 0) return absl::UnavailableError("cannot read the machine's available memory");
    const int64_t context = std::max<int64_t>(
        1, (available - options.headroom_bytes - config.MambaStateBytes()) / per_token);
    // Fill, then decode: one step of warm-up (workspaces), then the timed steps.
    const auto fill_start = Clock::now();
    JAMBA_ASSIGN_OR_RETURN(engine::SequenceState state, SyntheticState(*model, context, rng));
    const double fill_seconds = Seconds(fill_start);
    double seconds = 0;
    int32_t token = 1;
    for (int step = 0; step <= options.decode_steps; ++step) {
      const engine::ForwardItem item{&state, std::span<const int32_t>(&token, 1), false};
      const auto start = Clock::now();
      JAMBA_RETURN_IF_ERROR(model->Forward(std::span<const engine::ForwardItem>(&item, 1), ws));
      if (step > 0) seconds += Seconds(start);
      token = static_cast<int32_t>(rng() % static_cast<uint32_t>(config.vocab_size));
    }
    const double tps = options.decode_steps / seconds;
    const double kv_bytes = static_cast<double>(per_token) * static_cast<double>(context);
    std::printf("%-10s %12lld %11.2f GiB %14lld %12.2f %12.1f %12.3f\n",
                kernels::KvDTypeName(dtype), static_cast<long long>(per_token),
                static_cast<double>(available) / (1 << 30), static_cast<long long>(context),
                kv_bytes / (1 << 30), fill_seconds, tps);
    report["points"].push_back(
        {{"kv_dtype", kernels::KvDTypeName(dtype)},
         {"kv_bytes_per_token", per_token},
         {"available_memory_bytes", available},
         {"max_context_tokens", context},
         {"max_position_embeddings", config.max_position_embeddings},
         {"beyond_trained_context", context > config.max_position_embeddings},
         {"kv_bytes", kv_bytes},
         {"fill_seconds", fill_seconds},
         {"decode_tokens_per_second", tps},
         {"decode_step_seconds", seconds / options.decode_steps},
         {"peak_rss_bytes", PeakRssBytes()}});
  }
  return report;
}

std::string ContextSweepSvg(const Json& sweep) {
  std::vector<PlotSeries> series;
  const char* colors[] = {"#1f77b4", "#d62728", "#2ca02c"};
  for (size_t s = 0; s < sweep["series"].size(); ++s) {
    PlotSeries one;
    one.name = sweep["series"][s]["name"].get<std::string>();
    one.color = colors[s % 3];
    for (const Json& p : sweep["series"][s]["points"]) {
      one.points.push_back({p["context"].get<double>(), p["tokens_per_second"].get<double>()});
    }
    series.push_back(std::move(one));
  }
  PlotOptions options;
  options.title = "Decode speed vs context, batch 1 (" + sweep["backend"].get<std::string>() + ")";
  options.x_label = "context (tokens)";
  options.y_label = "decode tokens/s";
  options.log2_x = true;
  return RenderLinePlot(series, options);
}

}  // namespace jamba::bench
