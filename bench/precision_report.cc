// precision_report: how far each reduced precision moves the logits, as figures for
// bench/results/precision.json (tests/engine/reduced_precision_test.cc and
// tests/sdk/precision_test.cc assert bounds on the same comparisons).
//   * the KV cache in bf16, int8 and fp8 E4M3 (fp32 activations) against an fp32 cache, on every
//     golden case (40 tokens) and on the demo model (1024 tokens of its corpus);
//   * the precision presets through the public API (exact, and fast on this machine) against the
//     golden references (transformers' logits).
// For each: max and mean |logit difference|, the logits' spread, and how often the greedy
// (argmax) token is the same.
//
//   precision_report [--demo-model DIR] [--json OUT]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/forward_workspace.h"
#include "engine/jamba_model.h"
#include "engine/npy.h"
#include "engine/status_macros.h"
#include "jamba/engine.h"
#include "kernels/cpu/cpu_backend.h"
#include "nlohmann/json.hpp"

namespace jamba::bench {
namespace {

using Json = nlohmann::json;

const char* const kGoldenCases[] = {"hybrid4_dense_f32", "hybrid4_tied_f32", "hybrid8_moe_bf16",
                                    "hybrid8_moe_f32_sharded"};

std::string GoldenDir(const std::string& name) {
  return std::string(JAMBA_SOURCE_DIR) + "/tests/data/golden/" + name;
}

Json Deviation(const std::vector<float>& ours, const std::vector<float>& reference, int64_t vocab) {
  const int64_t rows = static_cast<int64_t>(reference.size()) / vocab;
  double max_abs = 0, sum_abs = 0, sum = 0, sum_sq = 0;
  int agree = 0;
  for (int64_t t = 0; t < rows; ++t) {
    const float* a = ours.data() + t * vocab;
    const float* b = reference.data() + t * vocab;
    agree += std::max_element(a, a + vocab) - a == std::max_element(b, b + vocab) - b;
    for (int64_t v = 0; v < vocab; ++v) {
      const double d = std::fabs(static_cast<double>(a[v]) - b[v]);
      max_abs = std::max(max_abs, d);
      sum_abs += d;
      sum += b[v];
      sum_sq += static_cast<double>(b[v]) * b[v];
    }
  }
  const double n = static_cast<double>(reference.size());
  return {{"tokens", rows},
          {"max_abs_logit_difference", max_abs},
          {"mean_abs_logit_difference", sum_abs / n},
          {"reference_logit_std", std::sqrt(sum_sq / n - (sum / n) * (sum / n))},
          {"greedy_agreement", static_cast<double>(agree) / static_cast<double>(rows)}};
}

// All-position logits of `ids` with the KV cache in `dtype` (fp32 activations).
absl::StatusOr<std::vector<float>> EngineLogits(const std::string& dir, kernels::KvDType dtype,
                                                const std::vector<int32_t>& ids) {
  JAMBA_ASSIGN_OR_RETURN(auto backend, kernels::cpu::CpuBackend::Create({.num_threads = 0}));
  engine::ModelOptions options;
  options.kv_dtype = dtype;
  JAMBA_ASSIGN_OR_RETURN(auto model, engine::JambaModel::Load(dir, *backend, options));
  engine::ForwardWorkspace ws(*backend);
  JAMBA_ASSIGN_OR_RETURN(engine::SequenceState state, model->NewSequence());
  std::vector<float> logits;
  JAMBA_RETURN_IF_ERROR(model->Prefill(state, ids, ws, 64, &logits));
  return logits;
}

absl::StatusOr<Json> KvDTypes(const std::string& name, const std::string& dir,
                              const std::vector<int32_t>& ids, int64_t vocab) {
  JAMBA_ASSIGN_OR_RETURN(std::vector<float> exact, EngineLogits(dir, kernels::KvDType::kF32, ids));
  Json rows = Json::array();
  for (kernels::KvDType dtype :
       {kernels::KvDType::kBF16, kernels::KvDType::kI8, kernels::KvDType::kF8E4M3}) {
    JAMBA_ASSIGN_OR_RETURN(std::vector<float> reduced, EngineLogits(dir, dtype, ids));
    Json row = Deviation(reduced, exact, vocab);
    row["model"] = name;
    row["kv_dtype"] = kernels::KvDTypeName(dtype);
    std::printf(
        "%-26s %-9s %7lld tokens: max |d| %.4f, mean |d| %.5f (logit std %.3f), greedy "
        "agreement %.1f%%\n",
        name.c_str(), kernels::KvDTypeName(dtype),
        static_cast<long long>(row["tokens"].get<int64_t>()),
        row["max_abs_logit_difference"].get<double>(),
        row["mean_abs_logit_difference"].get<double>(), row["reference_logit_std"].get<double>(),
        100 * row["greedy_agreement"].get<double>());
    rows.push_back(std::move(row));
  }
  return rows;
}

absl::StatusOr<std::vector<int32_t>> Ids(const std::string& path) {
  JAMBA_ASSIGN_OR_RETURN(engine::NpyArray array, engine::ReadNpy(path));
  JAMBA_ASSIGN_OR_RETURN(std::vector<int64_t> ids, array.AsInts());
  return std::vector<int32_t>(ids.begin(), ids.end());
}

absl::Status Run(const std::string& demo_model, const std::string& json_path) {
  Json kv = Json::array();
  std::printf("KV cache dtype against an fp32 cache (fp32 activations):\n");
  for (const char* name : kGoldenCases) {
    const std::string dir = GoldenDir(name);
    JAMBA_ASSIGN_OR_RETURN(std::vector<int32_t> ids, Ids(dir + "/input_ids.npy"));
    JAMBA_ASSIGN_OR_RETURN(auto engine, Engine::Open(dir, {.threads = 0, .precision = "exact"}));
    JAMBA_ASSIGN_OR_RETURN(Json rows, KvDTypes(name, dir, ids, engine->model_info().vocab_size));
    for (Json& row : rows) kv.push_back(std::move(row));
  }
  {
    JAMBA_ASSIGN_OR_RETURN(auto engine,
                           Engine::Open(demo_model, {.threads = 0, .precision = "exact"}));
    std::ifstream in(std::string(JAMBA_SOURCE_DIR) + "/tools/demo_corpus.txt");
    const std::string corpus((std::istreambuf_iterator<char>(in)), {});
    JAMBA_ASSIGN_OR_RETURN(std::vector<int32_t> ids, engine->Tokenize(corpus, true));
    while (ids.size() < 1024) ids.insert(ids.end(), ids.begin(), ids.end());
    ids.resize(1024);
    JAMBA_ASSIGN_OR_RETURN(
        Json rows, KvDTypes("demo-model", demo_model, ids, engine->model_info().vocab_size));
    for (Json& row : rows) kv.push_back(std::move(row));
  }
  std::printf("\nprecision presets against the golden references (transformers):\n");
  Json presets = Json::array();
  for (const char* name : kGoldenCases) {
    const std::string dir = GoldenDir(name);
    // The bf16 case's fp32-compute reference (bf16 weights, fp32 arithmetic) is what exact
    // reproduces; its bf16-compute reference is transformers' own bf16 run.
    std::vector<std::string> refs = {"logits_full"};
    if (std::string(name) == "hybrid8_moe_bf16") refs = {"logits_full_f32compute", "logits_full"};
    JAMBA_ASSIGN_OR_RETURN(std::vector<int32_t> ids, Ids(dir + "/input_ids.npy"));
    for (const char* precision : {"exact", "fast"}) {
      JAMBA_ASSIGN_OR_RETURN(auto engine,
                             Engine::Open(dir, {.threads = 0, .precision = precision}));
      JAMBA_ASSIGN_OR_RETURN(std::vector<float> logits, engine->ComputeLogits(ids, 7));
      for (const std::string& ref : refs) {
        JAMBA_ASSIGN_OR_RETURN(engine::NpyArray array, engine::ReadNpy(dir + "/" + ref + ".npy"));
        JAMBA_ASSIGN_OR_RETURN(std::vector<float> reference, array.AsFloats());
        Json row = Deviation(logits, reference, engine->model_info().vocab_size);
        row["model"] = name;
        row["reference"] = ref;
        row["precision"] = precision;
        row["activations"] = engine->model_info().activations;
        row["kv_dtype"] = engine->model_info().kv_dtype;
        std::printf(
            "%-26s %-5s (%s activations, %s KV) vs %-22s: max |d| %.2e, mean |d| %.2e, "
            "greedy agreement %.1f%%\n",
            name, precision, engine->model_info().activations.c_str(),
            engine->model_info().kv_dtype.c_str(), ref.c_str(),
            row["max_abs_logit_difference"].get<double>(),
            row["mean_abs_logit_difference"].get<double>(),
            100 * row["greedy_agreement"].get<double>());
        presets.push_back(std::move(row));
      }
    }
  }
  if (!json_path.empty()) {
    std::ofstream out(json_path, std::ios::trunc);
    out << Json({{"benchmark", "precision_report"},
                 {"kv_dtype_vs_fp32_cache", kv},
                 {"presets_vs_golden_references", presets}})
               .dump(2)
        << "\n";
    if (!out) return absl::InternalError("cannot write " + json_path);
    std::cout << "wrote " << json_path << "\n";
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace jamba::bench

int main(int argc, char** argv) {
  std::string demo_model = JAMBA_DEMO_MODEL_DIR;
  std::string json;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--demo-model") {
      demo_model = argv[i + 1];
    } else if (flag == "--json") {
      json = argv[i + 1];
    } else {
      std::cerr << "usage: precision_report [--demo-model DIR] [--json OUT]\n";
      return 2;
    }
  }
  if (absl::Status s = jamba::bench::Run(demo_model, json); !s.ok()) {
    std::cerr << "precision_report: " << s << "\n";
    return 1;
  }
  return 0;
}
