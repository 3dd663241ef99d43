// session_resume: what a persisted session buys. For documents of 1K, 8K and 32K tokens it
// measures the ingest (prefill + persist), the bytes on disk per token (and what a pure transformer
// of the same width would need), the time from "resume" - a fresh Engine on the persisted store,
// the session not in memory - to the first generated token, and the time to re-prefill the same
// document from scratch to its first token. Prints a table; --json writes the figures. It never
// passes or fails on time.
//
//   session_resume [--model DIR] [--sizes 1024,8192,32768] [--threads N]
//                  [--checkpoint-interval N] [--store DIR] [--json OUT]
#include <sys/utsname.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "engine/status_macros.h"
#include "jamba/engine.h"
#include "nlohmann/json.hpp"

namespace jamba::bench {
namespace {

using Clock = std::chrono::steady_clock;
using Json = nlohmann::json;

constexpr char kTenant[] = "bench";

double Seconds(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

struct Options {
  std::string model = JAMBA_DEMO_MODEL_DIR;
  std::vector<int64_t> sizes = {1024, 8192, 32768};
  int threads = 0;
  int64_t checkpoint_interval = 4096;
  std::string store;  // empty: a temporary directory, removed at the end
  std::string json;   // empty: no JSON
};

absl::StatusOr<Options> ParseOptions(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help") {
      return absl::InvalidArgumentError(
          "usage: session_resume [--model DIR] [--sizes 1024,8192,32768] [--threads N] "
          "[--checkpoint-interval N] [--store DIR] [--json OUT]");
    }
    if (i + 1 >= argc) return absl::InvalidArgumentError(flag + " needs a value");
    const std::string value = argv[++i];
    if (flag == "--model") {
      o.model = value;
    } else if (flag == "--sizes") {
      o.sizes.clear();
      for (absl::string_view s : absl::StrSplit(value, ',', absl::SkipEmpty())) {
        int64_t n = 0;
        if (!absl::SimpleAtoi(s, &n) || n < 2) {
          return absl::InvalidArgumentError("--sizes: token counts >= 2, comma-separated");
        }
        o.sizes.push_back(n);
      }
    } else if (flag == "--threads") {
      if (!absl::SimpleAtoi(value, &o.threads) || o.threads < 0) {
        return absl::InvalidArgumentError("--threads must be a non-negative integer");
      }
    } else if (flag == "--checkpoint-interval") {
      if (!absl::SimpleAtoi(value, &o.checkpoint_interval) || o.checkpoint_interval <= 0) {
        return absl::InvalidArgumentError("--checkpoint-interval must be positive");
      }
    } else if (flag == "--store") {
      o.store = value;
    } else if (flag == "--json") {
      o.json = value;
    } else {
      return absl::InvalidArgumentError("unknown flag " + flag);
    }
  }
  return o;
}

// A document of exactly `n` tokens: the demo corpus through the model's tokenizer (repeated as
// needed), or deterministic ids for a model without one.
absl::StatusOr<std::vector<int32_t>> Document(Engine& engine, int64_t n) {
  std::vector<int32_t> tokens;
  if (engine.model_info().has_tokenizer) {
    std::ifstream in(JAMBA_DEMO_CORPUS, std::ios::binary);
    const std::string corpus((std::istreambuf_iterator<char>(in)), {});
    if (corpus.empty()) return absl::NotFoundError(absl::StrCat("cannot read ", JAMBA_DEMO_CORPUS));
    std::string text = corpus;
    for (;;) {
      JAMBA_ASSIGN_OR_RETURN(tokens, engine.Tokenize(text, /*add_bos=*/true));
      if (static_cast<int64_t>(tokens.size()) >= n) break;
      text += "\n\n" + corpus;
    }
    tokens.resize(static_cast<size_t>(n));
  } else {
    const int64_t vocab = engine.model_info().vocab_size;
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    for (int64_t i = 0; i < n; ++i) {
      x = x * 6364136223846793005ULL + 1442695040888963407ULL;
      tokens.push_back(static_cast<int32_t>(3 + (x >> 33) % static_cast<uint64_t>(vocab - 3)));
    }
  }
  return tokens;
}

struct SizeResult {
  int64_t tokens = 0;
  double ingest_seconds = 0;
  int64_t disk_bytes = 0;
  int64_t checkpoints = 0;
  double engine_open_seconds = 0;  // the fresh Engine of the resume (model load, store open)
  double resume_first_token_seconds = 0;
  double reprefill_first_token_seconds = 0;
  bool same_first_token = false;
};

GenerateOptions OneGreedyToken() {
  GenerateOptions options;
  options.sampling.temperature = 0;
  options.stop.max_tokens = 1;
  options.stop.ignore_eos = true;
  options.tenant = "no-prefix-reuse";
  return options;
}

// Calls `run` and returns the seconds until its first streamed token, and that token.
template <typename Run>
absl::StatusOr<std::pair<double, int32_t>> TimeToFirstToken(Run run) {
  const auto start = Clock::now();
  std::optional<Clock::time_point> first;
  int32_t token = -1;
  JAMBA_RETURN_IF_ERROR(run([&](const GenerateChunk& chunk) {
                          if (!first.has_value() && !chunk.tokens.empty()) {
                            first = Clock::now();
                            token = chunk.tokens.front().token;
                          }
                          return true;
                        }).status());
  if (!first.has_value()) return absl::InternalError("no token was generated");
  return std::make_pair(Seconds(start, *first), token);
}

absl::StatusOr<SizeResult> RunSize(const Options& o, Engine& scratch, int64_t n,
                                   const std::string& store) {
  SizeResult r;
  r.tokens = n;
  JAMBA_ASSIGN_OR_RETURN(const std::vector<int32_t> doc, Document(scratch, n));
  EngineOptions engine_options;
  engine_options.threads = o.threads;
  engine_options.session_dir = store;
  engine_options.checkpoint_interval = o.checkpoint_interval;
  engine_options.max_prompt_tokens = std::max<int64_t>(n, engine_options.max_prompt_tokens);
  const std::string id = absl::StrCat("doc-", n);
  {
    JAMBA_ASSIGN_OR_RETURN(auto writer, Engine::Open(o.model, engine_options));
    JAMBA_RETURN_IF_ERROR(writer->CreateSession(kTenant, {.id = id}).status());
    AppendOptions append;
    int64_t last_percent = -1;
    append.on_progress = [&](int64_t done, int64_t total) {
      const int64_t percent = total > 0 ? 100 * done / total : 100;
      if (percent / 10 != last_percent / 10 && ::isatty(STDERR_FILENO)) {
        std::cerr << absl::StrFormat("\r  ingesting %d tokens: %d%%  ", n, percent) << std::flush;
      }
      last_percent = percent;
      return true;
    };
    const auto start = Clock::now();
    JAMBA_ASSIGN_OR_RETURN(AppendResult appended,
                           writer->AppendToSession(kTenant, id, Input::Tokens(doc), append));
    r.ingest_seconds = Seconds(start, Clock::now());
    if (::isatty(STDERR_FILENO)) std::cerr << "\r" << std::string(40, ' ') << "\r";
    r.disk_bytes = appended.session.disk_bytes;
    r.checkpoints = appended.session.checkpoint_count;
  }  // the writer is gone: nothing of the session is in memory
  int32_t resumed_token = -1;
  {
    const auto open_start = Clock::now();
    JAMBA_ASSIGN_OR_RETURN(auto fresh, Engine::Open(o.model, engine_options));
    r.engine_open_seconds = Seconds(open_start, Clock::now());
    JAMBA_ASSIGN_OR_RETURN(auto timed, TimeToFirstToken([&](const StreamCallback& on_chunk) {
                             return fresh->GenerateFromSession(kTenant, id, std::nullopt,
                                                               OneGreedyToken(), false, on_chunk);
                           }));
    r.resume_first_token_seconds = timed.first;
    resumed_token = timed.second;
  }
  JAMBA_ASSIGN_OR_RETURN(auto timed, TimeToFirstToken([&](const StreamCallback& on_chunk) {
                           return scratch.Generate(Input::Tokens(doc), OneGreedyToken(), on_chunk);
                         }));
  r.reprefill_first_token_seconds = timed.first;
  r.same_first_token = timed.second == resumed_token;
  return r;
}

std::string HumanBytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB"};
  int u = 0;
  while (bytes >= 1024 && u < 3) {
    bytes /= 1024;
    ++u;
  }
  return absl::StrFormat("%.1f %s", bytes, units[u]);
}

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) return line.substr(colon + 2);
    }
  }
  return "unknown";
}

absl::Status Run(const Options& o) {
  EngineOptions scratch_options;
  scratch_options.threads = o.threads;
  for (int64_t n : o.sizes)
    scratch_options.max_prompt_tokens = std::max(scratch_options.max_prompt_tokens, n);
  JAMBA_ASSIGN_OR_RETURN(auto scratch, Engine::Open(o.model, scratch_options));
  const ModelInfo& info = scratch->model_info();
  // Per attention layer: K and V, each NKV * Dh fp32 values per token.
  const int64_t kv_per_layer =
      info.num_attention_layers > 0 ? info.kv_bytes_per_token / info.num_attention_layers : 0;
  const int64_t transformer_kv_per_token = kv_per_layer * info.num_layers;

  std::string store = o.store;
  const bool temporary = store.empty();
  if (temporary) {
    store =
        (std::filesystem::temp_directory_path() / absl::StrCat("jamba-session-resume-", ::getpid()))
            .string();
  }
  std::cout << absl::StrFormat(
      "model %s: %.2fB parameters, %d layers (%d attention, %d Mamba), backend %s, %d threads\n",
      o.model, info.total_parameters / 1e9, info.num_layers, info.num_attention_layers,
      info.num_mamba_layers, info.backend,
      o.threads > 0 ? o.threads : static_cast<int>(std::thread::hardware_concurrency()));
  std::cout << absl::StrFormat("%8s %9s %10s %11s %14s %8s %12s %13s %9s\n", "tokens", "ingest s",
                               "ingest t/s", "disk/token", "transformer/t", "open s", "resume->1st",
                               "prefill->1st", "speedup");

  Json results = Json::array();
  for (int64_t n : o.sizes) {
    if (n > info.max_context_tokens) {
      std::cout << absl::StrFormat("%8d  skipped: above the model's context (%d)\n", n,
                                   info.max_context_tokens);
      continue;
    }
    std::filesystem::remove_all(absl::StrCat(store, "/", n));
    JAMBA_ASSIGN_OR_RETURN(SizeResult r, RunSize(o, *scratch, n, absl::StrCat(store, "/", n)));
    const double per_token = static_cast<double>(r.disk_bytes) / static_cast<double>(n);
    const double speedup = r.reprefill_first_token_seconds / r.resume_first_token_seconds;
    std::cout << absl::StrFormat("%8d %9.2f %10.0f %11s %14s %8.3f %10.3f s %11.3f s %8.1fx%s\n", n,
                                 r.ingest_seconds, n / r.ingest_seconds, HumanBytes(per_token),
                                 HumanBytes(static_cast<double>(transformer_kv_per_token)),
                                 r.engine_open_seconds, r.resume_first_token_seconds,
                                 r.reprefill_first_token_seconds, speedup,
                                 r.same_first_token ? "" : "  (first tokens differ!)");
    results.push_back({{"tokens", n},
                       {"ingest_seconds", r.ingest_seconds},
                       {"ingest_tokens_per_second", n / r.ingest_seconds},
                       {"disk_bytes", r.disk_bytes},
                       {"checkpoints", r.checkpoints},
                       {"disk_bytes_per_token", per_token},
                       {"attention_kv_bytes_per_token", info.kv_bytes_per_token},
                       {"transformer_kv_bytes_per_token", transformer_kv_per_token},
                       {"engine_open_seconds", r.engine_open_seconds},
                       {"resume_first_token_seconds", r.resume_first_token_seconds},
                       {"reprefill_first_token_seconds", r.reprefill_first_token_seconds},
                       {"speedup", speedup},
                       {"same_first_token", r.same_first_token}});
  }
  if (temporary) std::filesystem::remove_all(store);
  std::cout << "disk/token: the session directory over its tokens (KV, token ids, Mamba "
               "checkpoints every "
            << o.checkpoint_interval
            << " tokens); transformer/t: fp32 KV of the same width with attention in every "
               "layer.\nopen s: opening the fresh Engine of the resume (model and store); "
               "resume->1st: from the call on that Engine to the first token (the session loaded "
               "from disk, page cache warm); prefill->1st: the same document from scratch.\n";

  if (!o.json.empty()) {
    struct utsname un = {};
    ::uname(&un);
    Json out = {{"benchmark", "session_resume"},
                {"time", absl::FormatTime(absl::RFC3339_sec, absl::Now(), absl::UTCTimeZone())},
                {"machine",
                 {{"cpu", CpuModel()},
                  {"hardware_threads", std::thread::hardware_concurrency()},
                  {"threads", o.threads},
                  {"os", absl::StrCat(un.sysname, " ", un.release)},
                  {"backend", info.backend}}},
                {"model",
                 {{"dir", o.model},
                  {"fingerprint", info.fingerprint},
                  {"total_parameters", info.total_parameters},
                  {"layers", info.num_layers},
                  {"attention_layers", info.num_attention_layers},
                  {"mamba_layers", info.num_mamba_layers},
                  {"kv_bytes_per_token", info.kv_bytes_per_token},
                  {"mamba_state_bytes", info.mamba_state_bytes},
                  {"vocab_size", info.vocab_size}}},
                {"checkpoint_interval", o.checkpoint_interval},
                {"results", results}};
    const std::filesystem::path path(o.json);
    if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
    std::ofstream file(o.json, std::ios::trunc);
    file << out.dump(2) << "\n";
    if (!file) return absl::InternalError("cannot write " + o.json);
    std::cout << "wrote " << o.json << "\n";
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace jamba::bench

int main(int argc, char** argv) {
  auto options = jamba::bench::ParseOptions(argc, argv);
  if (!options.ok()) {
    std::cerr << options.status().message() << "\n";
    return 2;
  }
  if (absl::Status status = jamba::bench::Run(*options); !status.ok()) {
    std::cerr << "session_resume: " << status << "\n";
    return 1;
  }
  return 0;
}
