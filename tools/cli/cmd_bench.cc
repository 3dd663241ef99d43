// `jamba bench`: CPU throughput of a model against this machine's measured ceilings, and
// `jamba bench --context-sweep`: decode speed versus context for a hybrid and (optionally) an
// all-attention model, with the KV cache in a chosen dtype (--kv-dtype, or --precision's). Prints a
// table; --json writes the figures (see bench/cpu_bench.h).
#include <fstream>
#include <iostream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "bench/cpu_bench.h"
#include "kernels/cpu/matmul_bf16_dot.h"
#include "sdk/precision.h"
#include "tools/cli/commands.h"
#include "tools/cli/common.h"

namespace jamba::cli {
namespace {

template <typename T>
absl::StatusOr<std::vector<T>> ParseList(const Flags& flags, const std::string& name,
                                         std::vector<T> fallback) {
  auto value = flags.Get(name);
  if (!value.has_value()) return fallback;
  std::vector<T> out;
  for (absl::string_view part : absl::StrSplit(*value, ',', absl::SkipEmpty())) {
    int64_t parsed = 0;
    if (!absl::SimpleAtoi(part, &parsed) || parsed <= 0) {
      return absl::InvalidArgumentError("--" + name +
                                        " takes a comma-separated list of positive integers");
    }
    out.push_back(static_cast<T>(parsed));
  }
  return out;
}

absl::Status WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  out.close();
  if (!out) return absl::PermissionDeniedError("cannot write " + path);
  std::cerr << "wrote " << path << "\n";
  return absl::OkStatus();
}

}  // namespace

int RunBench(const Args& args) {
  FlagSpec spec;
  spec.values = {"model",         "attention-model", "json",      "svg",         "threads",
                 "simd",          "weights",         "precision", "activations", "kv-dtype",
                 "weight-memory", "prefill",         "batches",   "contexts",    "steps",
                 "headroom-gib"};
  spec.booleans = {"context-sweep", "max-context"};
  auto flags = Flags::Parse(args, spec);
  if (!flags.ok()) return Fail("bench", flags.status());
  auto model = flags->Require("model");
  auto threads = flags->GetInt("threads", 0);
  auto steps = flags->GetInt("steps", 0);
  for (const absl::Status& s : {model.status(), threads.status(), steps.status()}) {
    if (!s.ok()) return Fail("bench", s);
  }
  // The same precision settings as an engine's (--precision, and --activations / --kv-dtype to
  // override it); the bench runs on the CPU backend.
  sdk::PrecisionRequest precision_request;
  precision_request.precision = flags->GetOr("precision", "auto");
  precision_request.activations = flags->GetOr("activations", "");
  // --context-sweep takes a list of KV dtypes (one curve each, measured in the same run).
  const std::vector<std::string> kv_dtypes =
      absl::StrSplit(flags->GetOr("kv-dtype", ""), ',', absl::SkipEmpty());
  precision_request.kv_dtype = kv_dtypes.size() == 1 ? kv_dtypes[0] : "";
  precision_request.cpu_has_bf16 = kernels::cpu::CpuHasAvx512Bf16();
  auto precision = sdk::ResolvePrecision(precision_request);
  if (!precision.ok()) return Fail("bench", precision.status());
  if (kv_dtypes.size() > 1 && !flags->GetBool("context-sweep")) {
    return Fail("bench",
                absl::InvalidArgumentError("--kv-dtype takes a list only with --context-sweep"));
  }
  if (flags->GetBool("max-context")) {
    bench::MaxContextOptions options;
    options.model_dir = *model;
    options.threads = static_cast<int>(*threads);
    options.bf16_activations = precision->bf16_activations;
    if (flags->Has("kv-dtype")) options.kv_dtypes = {precision->kv_dtype};
    auto headroom = flags->GetDouble("headroom-gib", 3.0);
    if (!headroom.ok()) return Fail("bench", headroom.status());
    options.headroom_bytes = static_cast<int64_t>(*headroom * (1 << 30));
    if (*steps > 0) options.decode_steps = static_cast<int>(*steps);
    auto report = bench::RunMaxContext(options);
    if (!report.ok()) return Fail("bench", report.status());
    if (auto path = flags->Get("json")) {
      if (absl::Status s = WriteText(*path, report->dump(2) + "\n"); !s.ok())
        return Fail("bench", s);
    }
    return 0;
  }
  if (flags->GetBool("context-sweep")) {
    bench::ContextSweepOptions options;
    options.hybrid_model_dir = *model;
    options.attention_model_dir = flags->GetOr("attention-model", "");
    options.kv_dtypes = {precision->kv_dtype};
    if (kv_dtypes.size() > 1) {
      options.kv_dtypes.clear();
      for (const std::string& name : kv_dtypes) {
        auto dtype = sdk::ResolvePrecision({.kv_dtype = name});
        if (!dtype.ok()) return Fail("bench", dtype.status());
        options.kv_dtypes.push_back(dtype->kv_dtype);
      }
    }
    options.threads = static_cast<int>(*threads);
    auto contexts = ParseList<int64_t>(*flags, "contexts", options.contexts);
    if (!contexts.ok()) return Fail("bench", contexts.status());
    options.contexts = *contexts;
    if (*steps > 0) options.decode_steps = static_cast<int>(*steps);
    auto sweep = bench::RunContextSweep(options);
    if (!sweep.ok()) return Fail("bench", sweep.status());
    if (auto path = flags->Get("json")) {
      if (absl::Status s = WriteText(*path, sweep->dump(2) + "\n"); !s.ok())
        return Fail("bench", s);
    }
    if (auto path = flags->Get("svg")) {
      if (absl::Status s = WriteText(*path, bench::ContextSweepSvg(*sweep)); !s.ok())
        return Fail("bench", s);
    }
    return 0;
  }
  bench::CpuBenchOptions options;
  options.model_dir = *model;
  options.threads = static_cast<int>(*threads);
  options.simd = flags->GetOr("simd", "");
  const std::string weights = flags->GetOr("weights", "bf16");
  if (weights != "bf16" && weights != "auto" && weights != "int8") {
    return Fail("bench", absl::InvalidArgumentError("--weights must be bf16 (as stored) or int8"));
  }
  options.int8 = weights == "int8";
  options.bf16_activations = precision->bf16_activations;
  options.kv_dtype = precision->kv_dtype;
  options.precision = precision->name;
  const std::string weight_memory = flags->GetOr("weight-memory", "packed");
  if (weight_memory != "packed" && weight_memory != "mapped") {
    return Fail("bench", absl::InvalidArgumentError("--weight-memory must be packed or mapped"));
  }
  options.pack_weights = weight_memory == "packed";
  auto prefill = ParseList<int64_t>(*flags, "prefill", options.prefill_lengths);
  auto batches = ParseList<int>(*flags, "batches", options.decode_batches);
  auto contexts = ParseList<int64_t>(*flags, "contexts", options.decode_contexts);
  for (const absl::Status& s : {prefill.status(), batches.status(), contexts.status()}) {
    if (!s.ok()) return Fail("bench", s);
  }
  options.prefill_lengths = *prefill;
  options.decode_batches = *batches;
  options.decode_contexts = *contexts;
  if (*steps > 0) options.decode_steps = static_cast<int>(*steps);
  auto report = bench::RunCpuBench(options);
  if (!report.ok()) return Fail("bench", report.status());
  if (auto path = flags->Get("json")) {
    if (absl::Status s = WriteText(*path, report->dump(2) + "\n"); !s.ok()) return Fail("bench", s);
  }
  return 0;
}

}  // namespace jamba::cli
