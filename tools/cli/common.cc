// Shared CLI helpers.
#include "tools/cli/common.h"

#include <iostream>
#include <limits>

#include "absl/strings/str_cat.h"
#include "engine/file_util.h"
#include "engine/npy.h"
#include "engine/status_macros.h"

namespace jamba::cli {

void AddEngineFlags(FlagSpec& spec) {
  for (const char* name :
       {"model", "threads", "device", "simd", "weights", "precision", "activations", "kv-dtype",
        "kv-memory-bytes", "weight-memory", "tool-call-format", "reasoning-format"})
    spec.values.insert(name);
}

absl::StatusOr<EngineOptions> EngineOptionsFromFlags(const Flags& flags) {
  EngineOptions options;
  JAMBA_ASSIGN_OR_RETURN(int64_t threads, flags.GetInt("threads", 0));
  if (threads < 0 || threads > 4096)
    return absl::InvalidArgumentError("--threads must be in [0, 4096]");
  options.threads = static_cast<int>(threads);
  options.device = flags.GetOr("device", "cpu");
  options.simd = flags.GetOr("simd", "");
  options.weights = flags.GetOr("weights", "auto");
  if (options.weights == "bf16") options.weights = "auto";
  options.precision = flags.GetOr("precision", "auto");
  options.activations = flags.GetOr("activations", "");
  options.kv_dtype = flags.GetOr("kv-dtype", "");
  JAMBA_ASSIGN_OR_RETURN(options.kv_memory_bytes, flags.GetInt("kv-memory-bytes", 0));
  options.weight_memory = flags.GetOr("weight-memory", "packed");
  options.tool_call_format = flags.GetOr("tool-call-format", "auto");
  options.reasoning_format = flags.GetOr("reasoning-format", "auto");
  return options;
}

void AddSamplingFlags(FlagSpec& spec) {
  spec.values.insert({"max-tokens", "temperature", "top-p", "top-k", "min-p", "seed",
                      "repetition-penalty", "stop"});
  spec.booleans.insert("ignore-eos");
}

absl::StatusOr<GenerateOptions> GenerateOptionsFromFlags(const Flags& flags) {
  GenerateOptions options;
  JAMBA_ASSIGN_OR_RETURN(const int64_t max_tokens, flags.GetInt("max-tokens", 64));
  JAMBA_ASSIGN_OR_RETURN(const double temperature, flags.GetDouble("temperature", 1.0));
  JAMBA_ASSIGN_OR_RETURN(const double top_p, flags.GetDouble("top-p", 1.0));
  JAMBA_ASSIGN_OR_RETURN(const int64_t top_k, flags.GetInt("top-k", 0));
  JAMBA_ASSIGN_OR_RETURN(const double min_p, flags.GetDouble("min-p", 0.0));
  JAMBA_ASSIGN_OR_RETURN(const double repetition, flags.GetDouble("repetition-penalty", 1.0));
  JAMBA_ASSIGN_OR_RETURN(const int64_t seed, flags.GetInt("seed", 0));
  options.stop.max_tokens = max_tokens;
  options.stop.ignore_eos = flags.GetBool("ignore-eos");
  if (auto stop = flags.Get("stop")) options.stop.stop_strings.push_back(*stop);
  options.sampling.temperature = static_cast<float>(temperature);
  options.sampling.top_p = static_cast<float>(top_p);
  options.sampling.top_k = static_cast<int32_t>(top_k);
  options.sampling.min_p = static_cast<float>(min_p);
  options.sampling.repetition_penalty = static_cast<float>(repetition);
  if (flags.Has("seed")) options.sampling.seed = static_cast<uint64_t>(seed);
  return options;
}

int Fail(const std::string& command, const absl::Status& status) {
  std::cerr << "jamba " << command << ": " << status.message() << "\n";
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
      return 2;
    default:
      return 1;
  }
}

absl::StatusOr<std::vector<int32_t>> ReadTokenIds(const std::string& path) {
  JAMBA_ASSIGN_OR_RETURN(engine::NpyArray array, engine::ReadNpy(path));
  if (!(array.shape.size() == 1 || (array.shape.size() == 2 && array.shape[0] == 1))) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": token ids must have shape [T] or [1, T]"));
  }
  JAMBA_ASSIGN_OR_RETURN(std::vector<int64_t> values, array.AsInts());
  std::vector<int32_t> ids;
  for (int64_t v : values) {
    if (v < 0 || v > std::numeric_limits<int32_t>::max()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": token id ", v, " is out of range"));
    }
    ids.push_back(static_cast<int32_t>(v));
  }
  return ids;
}

absl::Status WriteTokenIds(const std::string& path, const std::vector<int32_t>& ids) {
  std::vector<int64_t> wide(ids.begin(), ids.end());
  return engine::WriteNpyInt64(path, {static_cast<int64_t>(wide.size())}, wide.data());
}

absl::StatusOr<std::string> TextFromFlags(const Flags& flags) {
  if (flags.Has("text") == flags.Has("file")) {
    return absl::InvalidArgumentError("give exactly one of --text or --file");
  }
  if (auto text = flags.Get("text")) return *text;
  return engine::ReadFileToString(*flags.Get("file"));
}

}  // namespace jamba::cli
