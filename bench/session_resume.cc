// session_resume: what a persisted session buys. One document grows through the sizes (1K to
// 64K tokens by default), appended to a session in stages; at each size it measures the stage's
// ingest (prefill + persist), the bytes on disk per token (KV alone, and what a pure transformer
// of the same width would need), the time from "resume" - a fresh Engine on the persisted store,
// the session not in memory - to the first generated token (it comes from the stored logits) and
// to the second (the first forward pass: it reads, and first checks, the whole KV), with the page
// cache warm and, with --cold, dropped first; and the time to re-prefill the same document from
// scratch to its first token. Prints a table; --json writes the figures. It never passes or fails
// on time.
//
//   session_resume [--model DIR] [--sizes 1024,8192,32768,65536] [--threads N]
//                  [--precision auto|exact|fast] [--kv-dtype fp32|bf16|int8] [--cold]
//                  [--encrypt] [--reprefill-max N] [--checkpoint-interval N] [--store DIR]
//                  [--json OUT]
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <span>
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
  std::vector<int64_t> sizes = {1024, 8192, 32768, 65536};
  int threads = 0;
  int64_t checkpoint_interval = 4096;
  std::string precision = "auto";
  std::string kv_dtype;           // "": the precision's
  bool cold = false;              // also resume after dropping the page cache (needs root)
  bool encrypt = false;           // the store encrypted at rest (decrypting reads)
  int64_t reprefill_max = 32768;  // larger documents skip the (slow) re-prefill
  std::string store;              // empty: a temporary directory, removed at the end
  std::string json;               // empty: no JSON
};

absl::StatusOr<Options> ParseOptions(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help") {
      return absl::InvalidArgumentError(
          "usage: session_resume [--model DIR] [--sizes 1024,8192,32768,65536] [--threads N] "
          "[--precision auto|exact|fast] [--kv-dtype fp32|bf16|int8] [--cold] [--encrypt] "
          "[--reprefill-max N] [--checkpoint-interval N] [--store DIR] [--json OUT]");
    }
    if (flag == "--cold") {
      o.cold = true;
      continue;
    }
    if (flag == "--encrypt") {
      o.encrypt = true;
      continue;
    }
    if (i + 1 >= argc) return absl::InvalidArgumentError(flag + " needs a value");
    const std::string value = argv[++i];
    if (flag == "--model") {
      o.model = value;
    } else if (flag == "--sizes") {
      o.sizes.clear();
      for (absl::string_view s : absl::StrSplit(value, ',', absl::SkipEmpty())) {
        int64_t n = 0;
        if (!absl::SimpleAtoi(s, &n) || n < 2 || (!o.sizes.empty() && n <= o.sizes.back())) {
          return absl::InvalidArgumentError(
              "--sizes: increasing token counts >= 2, comma-separated (one session grows through "
              "them)");
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
    } else if (flag == "--precision") {
      o.precision = value;
    } else if (flag == "--kv-dtype") {
      o.kv_dtype = value;
    } else if (flag == "--reprefill-max") {
      if (!absl::SimpleAtoi(value, &o.reprefill_max))
        return absl::InvalidArgumentError("--reprefill-max must be an integer");
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

struct Resume {
  double first_token_seconds = 0;   // the call to its first token (from the stored logits)
  double second_token_seconds = 0;  // first token to second: the first forward pass
  int32_t first_token = -1;
};

struct SizeResult {
  int64_t tokens = 0;
  int64_t ingested_tokens = 0;  // appended in this stage: the tokens after the previous size
  double ingest_seconds = 0;    // of this stage
  int64_t disk_bytes = 0;
  int64_t kv_disk_bytes = 0;  // the KV segment files alone
  int64_t checkpoints = 0;
  double engine_open_seconds = 0;  // the fresh Engine of the resume (model load, store open)
  Resume warm;
  std::optional<Resume> cold;
  double cold_read_bytes_per_second = 0;     // reading the session's files from a cold cache
  double reprefill_first_token_seconds = 0;  // 0: not measured
  bool same_first_token = false;
};

GenerateOptions GreedyTokens(int64_t n) {
  GenerateOptions options;
  options.sampling.temperature = 0;
  options.stop.max_tokens = n;
  options.stop.ignore_eos = true;
  options.tenant = "no-prefix-reuse";
  return options;
}

// Calls `run` and returns the seconds until its first streamed token, and that token; with two
// tokens asked for, also the seconds from the first to the second.
template <typename Run>
absl::StatusOr<Resume> TimeTokens(Run run) {
  const auto start = Clock::now();
  std::vector<Clock::time_point> at;
  int32_t token = -1;
  JAMBA_RETURN_IF_ERROR(run([&](const GenerateChunk& chunk) {
                          for (const GeneratedToken& t : chunk.tokens) {
                            at.push_back(Clock::now());
                            if (at.size() == 1) token = t.token;
                          }
                          return true;
                        }).status());
  if (at.empty()) return absl::InternalError("no token was generated");
  Resume r;
  r.first_token_seconds = Seconds(start, at[0]);
  r.first_token = token;
  if (at.size() > 1) r.second_token_seconds = Seconds(at[0], at[1]);
  return r;
}

// Drops the page cache (as root), so that what a resume reads comes from the disk.
absl::Status DropPageCache() {
  ::sync();
  std::ofstream drop("/proc/sys/vm/drop_caches");
  drop << "3\n";
  drop.close();
  if (!drop) {
    return absl::PermissionDeniedError(
        "--cold: cannot write /proc/sys/vm/drop_caches (needs root, outside a container that "
        "forbids it)");
  }
  return absl::OkStatus();
}

int64_t FileBytes(const std::filesystem::path& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  return ec ? 0 : static_cast<int64_t>(size);
}

// Bytes per second of reading every file of `dir` in turn from a cold page cache.
absl::StatusOr<double> ColdReadSpeed(const std::string& dir) {
  JAMBA_RETURN_IF_ERROR(DropPageCache());
  std::vector<char> buffer(size_t{8} << 20);
  int64_t total = 0;
  const auto start = Clock::now();
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(entry.path(), std::ios::binary);
    while (in.read(buffer.data(), static_cast<std::streamsize>(buffer.size())) || in.gcount() > 0)
      total += in.gcount();
  }
  return static_cast<double>(total) / Seconds(start, Clock::now());
}

// Grows the session to doc[0, n) (it holds doc[0, from)) and measures it there.
absl::StatusOr<SizeResult> RunSize(const Options& o, Engine& scratch, std::span<const int32_t> doc,
                                   int64_t from, int64_t n, const EngineOptions& engine_options) {
  SizeResult r;
  r.tokens = n;
  r.ingested_tokens = n - from;
  const std::string id = "doc";
  const std::string session_dir =
      absl::StrCat(engine_options.session_dir, "/tenants/", kTenant, "/sessions/", id);
  {
    JAMBA_ASSIGN_OR_RETURN(auto writer, Engine::Open(o.model, engine_options));
    if (from == 0) JAMBA_RETURN_IF_ERROR(writer->CreateSession(kTenant, {.id = id}).status());
    AppendOptions append;
    int64_t last_percent = -1;
    append.on_progress = [&](int64_t done, int64_t total) {
      const int64_t percent = total > 0 ? 100 * done / total : 100;
      if (percent / 10 != last_percent / 10 && ::isatty(STDERR_FILENO)) {
        std::cerr << absl::StrFormat("\r  ingesting tokens %d-%d: %d%%  ", from, n, percent)
                  << std::flush;
      }
      last_percent = percent;
      return true;
    };
    const std::vector<int32_t> stage(doc.begin() + from, doc.begin() + n);
    const auto start = Clock::now();
    JAMBA_ASSIGN_OR_RETURN(AppendResult appended,
                           writer->AppendToSession(kTenant, id, Input::Tokens(stage), append));
    r.ingest_seconds = Seconds(start, Clock::now());
    if (::isatty(STDERR_FILENO)) std::cerr << "\r" << std::string(40, ' ') << "\r";
    r.disk_bytes = appended.session.disk_bytes;
    r.checkpoints = appended.session.checkpoint_count;
  }  // the writer is gone: nothing of the session is in memory
  for (const auto& entry : std::filesystem::directory_iterator(session_dir)) {
    if (entry.path().extension() == ".kv") r.kv_disk_bytes += FileBytes(entry.path());
  }
  auto resume = [&](bool cold) -> absl::StatusOr<Resume> {
    const auto open_start = Clock::now();
    JAMBA_ASSIGN_OR_RETURN(auto fresh, Engine::Open(o.model, engine_options));
    if (!cold) r.engine_open_seconds = Seconds(open_start, Clock::now());
    // After the model is loaded (its packed weights are the engine's own memory), so that only
    // the session's files come from the disk.
    if (cold) JAMBA_RETURN_IF_ERROR(DropPageCache());
    return TimeTokens([&](const StreamCallback& on_chunk) {
      return fresh->GenerateFromSession(kTenant, id, std::nullopt, GreedyTokens(2), false,
                                        on_chunk);
    });
  };
  JAMBA_ASSIGN_OR_RETURN(r.warm, resume(false));
  if (o.cold) {
    JAMBA_ASSIGN_OR_RETURN(r.cold, resume(true));
    JAMBA_ASSIGN_OR_RETURN(r.cold_read_bytes_per_second, ColdReadSpeed(session_dir));
  }
  if (n <= o.reprefill_max) {
    const std::vector<int32_t> prefix(doc.begin(), doc.begin() + n);
    JAMBA_ASSIGN_OR_RETURN(Resume timed, TimeTokens([&](const StreamCallback& on_chunk) {
                             return scratch.Generate(Input::Tokens(prefix), GreedyTokens(1),
                                                     on_chunk);
                           }));
    r.reprefill_first_token_seconds = timed.first_token_seconds;
    r.same_first_token = timed.first_token == r.warm.first_token;
  }
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
  scratch_options.precision = o.precision;
  scratch_options.kv_dtype = o.kv_dtype;
  for (int64_t n : o.sizes)
    scratch_options.max_prompt_tokens = std::max(scratch_options.max_prompt_tokens, n);
  JAMBA_ASSIGN_OR_RETURN(auto scratch, Engine::Open(o.model, scratch_options));
  const ModelInfo& info = scratch->model_info();
  // A pure transformer of the same width: fp32 K and V in every layer.
  const int64_t transformer_kv_per_token =
      int64_t{2} * info.num_layers * info.num_key_value_heads * info.head_dim * 4;

  std::string store = o.store;
  const bool temporary = store.empty();
  if (temporary) {
    store =
        (std::filesystem::temp_directory_path() / absl::StrCat("jamba-session-resume-", ::getpid()))
            .string();
  }
  std::string key_file;
  if (o.encrypt) {
    std::filesystem::create_directories(store);
    key_file = store + "/bench.key";
    std::ofstream key(key_file, std::ios::trunc);
    key << std::string(64, '7') << "\n";  // 32 bytes as hex: a benchmark's fixed key
  }
  std::cout << absl::StrFormat(
      "model %s: %.2fB parameters, %d layers (%d attention, %d Mamba), backend %s, %d threads\n"
      "precision %s (activations %s, kv_dtype %s: %d KV bytes per token in memory)%s\n",
      o.model, info.total_parameters / 1e9, info.num_layers, info.num_attention_layers,
      info.num_mamba_layers, info.backend,
      o.threads > 0 ? o.threads : static_cast<int>(std::thread::hardware_concurrency()),
      info.precision, info.activations, info.kv_dtype, info.kv_bytes_per_token,
      o.encrypt ? ", store encrypted at rest" : "");
  std::cout << absl::StrFormat("%8s %9s %10s %10s %11s %8s %12s %12s %12s %12s %13s %9s\n",
                               "tokens", "ingest s", "ingest t/s", "kv disk/t", "disk/token",
                               "open s", "resume->1st", "1st->2nd", "cold->1st", "cold 1st->2nd",
                               "prefill->1st", "speedup");

  EngineOptions engine_options;
  engine_options.threads = o.threads;
  engine_options.precision = o.precision;
  engine_options.kv_dtype = o.kv_dtype;
  engine_options.session_dir = store + "/sessions";
  engine_options.session_key_file = key_file;
  engine_options.checkpoint_interval = o.checkpoint_interval;
  engine_options.max_prompt_tokens = scratch_options.max_prompt_tokens;
  std::filesystem::remove_all(engine_options.session_dir);
  int64_t largest = 0;
  for (int64_t n : o.sizes) {
    if (n <= info.max_context_tokens) largest = std::max(largest, n);
  }
  JAMBA_ASSIGN_OR_RETURN(const std::vector<int32_t> doc, Document(*scratch, largest));

  Json results = Json::array();
  int64_t held = 0;  // the session's tokens so far
  for (int64_t n : o.sizes) {
    if (n > info.max_context_tokens) {
      std::cout << absl::StrFormat("%8d  skipped: above the model's context (%d)\n", n,
                                   info.max_context_tokens);
      continue;
    }
    JAMBA_ASSIGN_OR_RETURN(SizeResult r, RunSize(o, *scratch, doc, held, n, engine_options));
    held = n;
    const double per_token = static_cast<double>(r.disk_bytes) / static_cast<double>(n);
    const double kv_per_token = static_cast<double>(r.kv_disk_bytes) / static_cast<double>(n);
    const double speedup = r.reprefill_first_token_seconds > 0
                               ? r.reprefill_first_token_seconds / r.warm.first_token_seconds
                               : 0;
    auto ms = [](double seconds) { return absl::StrFormat("%.2f ms", 1e3 * seconds); };
    std::cout << absl::StrFormat(
        "%8d %9.2f %10.0f %10s %11s %8.3f %12s %12s %12s %12s %13s %9s%s\n", n, r.ingest_seconds,
        static_cast<double>(r.ingested_tokens) / r.ingest_seconds, HumanBytes(kv_per_token),
        HumanBytes(per_token), r.engine_open_seconds, ms(r.warm.first_token_seconds),
        ms(r.warm.second_token_seconds), r.cold ? ms(r.cold->first_token_seconds) : "-",
        r.cold ? ms(r.cold->second_token_seconds) : "-",
        r.reprefill_first_token_seconds > 0
            ? absl::StrFormat("%.3f s", r.reprefill_first_token_seconds)
            : std::string("-"),
        speedup > 0 ? absl::StrFormat("%.0fx", speedup) : std::string("-"),
        r.reprefill_first_token_seconds > 0 && !r.same_first_token ? "  (first tokens differ!)"
                                                                   : "");
    Json row = {
        {"tokens", n},
        {"ingested_tokens", r.ingested_tokens},
        {"ingest_seconds", r.ingest_seconds},
        {"ingest_tokens_per_second", static_cast<double>(r.ingested_tokens) / r.ingest_seconds},
        {"disk_bytes", r.disk_bytes},
        {"kv_disk_bytes", r.kv_disk_bytes},
        {"checkpoints", r.checkpoints},
        {"disk_bytes_per_token", per_token},
        {"kv_disk_bytes_per_token", kv_per_token},
        {"kv_memory_bytes_per_token", info.kv_bytes_per_token},
        {"transformer_kv_bytes_per_token", transformer_kv_per_token},
        {"engine_open_seconds", r.engine_open_seconds},
        {"resume_first_token_seconds", r.warm.first_token_seconds},
        {"resume_second_token_seconds", r.warm.second_token_seconds}};
    if (r.cold) {
      row["cold_resume_first_token_seconds"] = r.cold->first_token_seconds;
      row["cold_resume_second_token_seconds"] = r.cold->second_token_seconds;
      row["cold_read_bytes_per_second"] = r.cold_read_bytes_per_second;
    }
    if (r.reprefill_first_token_seconds > 0) {
      row["reprefill_first_token_seconds"] = r.reprefill_first_token_seconds;
      row["speedup"] = speedup;
      row["same_first_token"] = r.same_first_token;
    }
    results.push_back(std::move(row));
  }
  if (temporary) std::filesystem::remove_all(store);
  std::cout
      << "ingest: appending the tokens after the previous size to the session (one document, "
         "appended to in stages);\nkv disk/t: the KV segment files over the tokens; disk/token: "
         "the whole session "
         "directory (KV, token ids, Mamba checkpoints every "
      << o.checkpoint_interval
      << " tokens).\nopen s: opening the fresh Engine of the resume (model and store); "
         "resume->1st: from the call on that Engine to the first token (the session loaded from "
         "disk, page cache warm; the token comes from the stored logits); 1st->2nd: the first "
         "forward pass, which reads (and first checks) the whole KV; cold: the same after "
         "dropping the page cache; prefill->1st: the same document from scratch.\n";

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
                {"precision", info.precision},
                {"activations", info.activations},
                {"kv_dtype", info.kv_dtype},
                {"encrypted", o.encrypt},
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
