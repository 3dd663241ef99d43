// The option table shared by the config file and the flags, value parsers and the cross-key
// checks.
#include "service/config.h"

#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <optional>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace jamba::service {
namespace {

using Setter = std::function<absl::Status(absl::string_view value, JambadConfig& config)>;

struct Option {
  const char* key;
  const char* help;
  Setter set;
};

absl::Status Bad(absl::string_view expected, absl::string_view value) {
  return absl::InvalidArgumentError(absl::StrCat("expected ", expected, ", got \"", value, "\""));
}

Setter String(std::string JambadConfig::*member) {
  return [member](absl::string_view value, JambadConfig& config) {
    config.*member = std::string(value);
    return absl::OkStatus();
  };
}

Setter OneOf(std::string JambadConfig::*member, std::vector<std::string> allowed) {
  return [member, allowed](absl::string_view value, JambadConfig& config) {
    for (const std::string& a : allowed) {
      if (value == a) {
        config.*member = a;
        return absl::OkStatus();
      }
    }
    return Bad(absl::StrCat("one of ", absl::StrJoin(allowed, ", ")), value);
  };
}

template <typename Int>
Setter Integer(Int JambadConfig::*member, int64_t min, int64_t max) {
  return [member, min, max](absl::string_view value, JambadConfig& config) {
    int64_t n = 0;
    if (!absl::SimpleAtoi(value, &n) || n < min || n > max) {
      return Bad(absl::StrCat("an integer in [", min, ", ", max, "]"), value);
    }
    config.*member = static_cast<Int>(n);
    return absl::OkStatus();
  };
}

// Bytes: an integer with an optional binary suffix (KiB, MiB, GiB, TiB; K, M, G, T mean the same).
Setter Bytes(int64_t JambadConfig::*member, int64_t min) {
  return [member, min](absl::string_view value, JambadConfig& config) {
    absl::string_view number = value;
    int shift = 0;
    static constexpr std::pair<const char*, int> kSuffixes[] = {
        {"KiB", 10}, {"MiB", 20}, {"GiB", 30}, {"TiB", 40},
        {"K", 10},   {"M", 20},   {"G", 30},   {"T", 40}};
    for (const auto& [suffix, bits] : kSuffixes) {
      if (absl::ConsumeSuffix(&number, suffix)) {
        shift = bits;
        break;
      }
    }
    number = absl::StripAsciiWhitespace(number);
    int64_t n = 0;
    if (!absl::SimpleAtoi(number, &n) || n < 0 ||
        n > (std::numeric_limits<int64_t>::max() >> shift) || (n << shift) < min) {
      return Bad(
          absl::StrCat("a byte count of at least ", min, " (optionally with KiB, MiB, GiB or TiB)"),
          value);
    }
    config.*member = n << shift;
    return absl::OkStatus();
  };
}

// Durations as absl writes them ("30s", "1h30m", "250ms"), plus whole days ("7d"); "0" is zero.
Setter Duration(absl::Duration JambadConfig::*member) {
  return [member](absl::string_view value, JambadConfig& config) {
    absl::Duration d;
    absl::string_view days = value;
    int64_t n = 0;
    if (absl::ConsumeSuffix(&days, "d") && absl::SimpleAtoi(days, &n) && n >= 0) {
      d = absl::Hours(24 * n);
    } else if (!absl::ParseDuration(value, &d) || d < absl::ZeroDuration()) {
      return Bad("a duration such as 30s, 5m, 2h or 7d", value);
    }
    config.*member = d;
    return absl::OkStatus();
  };
}

Setter Bool(bool JambadConfig::*member) {
  return [member](absl::string_view value, JambadConfig& config) {
    const std::string v = absl::AsciiStrToLower(value);
    if (v == "true" || v == "yes" || v == "on" || v == "1") {
      config.*member = true;
    } else if (v == "false" || v == "no" || v == "off" || v == "0") {
      config.*member = false;
    } else {
      return Bad("true or false", value);
    }
    return absl::OkStatus();
  };
}

constexpr int64_t kMaxInt = std::numeric_limits<int32_t>::max();

// Built on each use (config parsing only): cheaper to reason about than a static table.
std::vector<Option> Options() {
  return {
      {"model", "model directory (Hugging Face format); required", String(&JambadConfig::model)},
      {"model_id", "ModelInfo.model_id (default: the model directory's base name)",
       String(&JambadConfig::model_id)},
      {"device", "cpu, cuda or auto", OneOf(&JambadConfig::device, {"cpu", "cuda", "auto"})},
      {"threads", "CPU threads of the engine; 0: all", Integer(&JambadConfig::threads, 0, 4096)},
      {"simd", "CPU kernels: \"\" (best), avx512, avx2 or scalar",
       OneOf(&JambadConfig::simd, {"", "avx512", "avx2", "scalar"})},
      {"weights", "auto (as stored) or int8", OneOf(&JambadConfig::weights, {"auto", "int8"})},
      {"precision",
       "auto (fast where the CPU has AVX512_BF16, else exact), exact (fp32 activations and KV) "
       "or fast (bf16 activations and KV)",
       OneOf(&JambadConfig::precision, {"auto", "exact", "fast"})},
      {"activations", "overrides the precision's: fp32, or bf16 (AVX512_BF16 dot products)",
       OneOf(&JambadConfig::activations, {"", "fp32", "bf16"})},
      {"kv_dtype", "overrides the precision's KV cache dtype: fp32, bf16 or int8",
       OneOf(&JambadConfig::kv_dtype, {"", "fp32", "bf16", "int8"})},
      {"kv_memory", "memory the KV caches may take; 0: the machine's available memory",
       Bytes(&JambadConfig::kv_memory_bytes, 0)},
      {"weight_memory",
       "packed (copied at load, faster decode) or mapped (used in place from the page cache)",
       OneOf(&JambadConfig::weight_memory, {"packed", "mapped"})},
      {"tool_call_format",
       "how chat replies' tool calls are read: auto (from the chat template), jamba, hermes or "
       "none",
       OneOf(&JambadConfig::tool_call_format, {"auto", "jamba", "hermes", "none"})},
      {"reasoning_format", "chat replies' <think> blocks: auto (from the template), think or none",
       OneOf(&JambadConfig::reasoning_format, {"auto", "think", "none"})},
      {"listen", "gRPC address, host:port (port 0: any free port)", String(&JambadConfig::listen)},
      {"tls_cert", "PEM server certificate chain (enables TLS)", String(&JambadConfig::tls_cert)},
      {"tls_key", "PEM private key of tls_cert", String(&JambadConfig::tls_key)},
      {"tls_client_ca", "PEM CA bundle to verify client certificates",
       String(&JambadConfig::tls_client_ca)},
      {"tls_require_client_cert", "refuse clients without a certificate (mutual TLS)",
       Bool(&JambadConfig::tls_require_client_cert)},
      {"keepalive_time", "interval of server keepalive pings",
       Duration(&JambadConfig::keepalive_time)},
      {"keepalive_timeout", "how long to wait for a keepalive ack",
       Duration(&JambadConfig::keepalive_timeout)},
      {"keepalive_min_client_interval", "shortest client ping interval tolerated",
       Duration(&JambadConfig::keepalive_min_client_interval)},
      {"max_request_bytes", "largest request message accepted",
       Bytes(&JambadConfig::max_request_bytes, 1024)},
      {"max_response_bytes", "largest response message sent",
       Bytes(&JambadConfig::max_response_bytes, 1024)},
      {"worker_threads", "threads running Generate and AppendToSession streams",
       Integer(&JambadConfig::worker_threads, 1, 4096)},
      {"worker_queue", "streams waiting for a worker thread before RESOURCE_EXHAUSTED",
       Integer(&JambadConfig::worker_queue, 0, kMaxInt)},
      {"session_threads", "threads running the unary session methods",
       Integer(&JambadConfig::session_threads, 1, 4096)},
      {"session_queue", "unary session calls waiting for a thread before RESOURCE_EXHAUSTED",
       Integer(&JambadConfig::session_queue, 0, kMaxInt)},
      {"retry_delay", "RetryInfo.retry_delay sent with QUEUE_FULL and UNAVAILABLE",
       Duration(&JambadConfig::retry_delay)},
      {"commit_margin",
       "a committing Generate commits only while this much is left before the client's deadline",
       Duration(&JambadConfig::commit_margin)},
      {"http_listen",
       "OpenAI-compatible HTTP API address, host:port (port 0: any free port); empty: off",
       String(&JambadConfig::http_listen)},
      {"http_threads", "HTTP connections served at once (each holds a thread while open)",
       Integer(&JambadConfig::http_threads, 1, 4096)},
      {"http_keepalive_timeout", "how long an idle HTTP connection is kept open (and its thread)",
       Duration(&JambadConfig::http_keepalive_timeout)},
      {"http_timeout", "how long a read or write of an HTTP connection may stall",
       Duration(&JambadConfig::http_timeout)},
      {"api_key_file", "file of `<sha256-hex-of-key> <tenant>` lines; unset: no authentication",
       String(&JambadConfig::api_key_file)},
      {"metrics_listen", "Prometheus /metrics address, host:port; empty: off",
       String(&JambadConfig::metrics_listen)},
      {"session_dir", "where sessions are stored; empty: sessions off",
       String(&JambadConfig::session_dir)},
      {"session_key_file", "32-byte key file: encrypt sessions at rest (AES-256-GCM)",
       String(&JambadConfig::session_key_file)},
      {"session_memory", "session states kept in memory",
       Bytes(&JambadConfig::session_memory_bytes, 0)},
      {"session_disk_quota", "disk space of all sessions; 0: unlimited",
       Bytes(&JambadConfig::session_disk_quota_bytes, 0)},
      {"session_ttl", "delete sessions idle this long; 0: never",
       Duration(&JambadConfig::session_ttl)},
      {"session_lease_ttl",
       "how long a replica's claim on a session lasts unless renewed (sessions shared by several "
       "jambad processes)",
       Duration(&JambadConfig::session_lease_ttl)},
      {"replica_id",
       "this process's name in session leases, unique among the jambad processes sharing "
       "session_dir; empty: hostname:pid:random",
       String(&JambadConfig::replica_id)},
      {"checkpoint_interval", "tokens between periodic session checkpoints",
       Integer(&JambadConfig::checkpoint_interval_tokens, 16, kMaxInt)},
      {"min_prefix_reuse", "shortest checkpoint prefix worth restoring, in tokens",
       Integer(&JambadConfig::min_prefix_reuse_tokens, 1, kMaxInt)},
      {"max_batch_tokens", "tokens per engine step",
       Integer(&JambadConfig::max_batch_tokens, 1, kMaxInt)},
      {"prefill_chunk", "most prompt tokens one request feeds per step",
       Integer(&JambadConfig::prefill_chunk, 1, kMaxInt)},
      {"max_running_requests", "requests batched together",
       Integer(&JambadConfig::max_running_requests, 1, 1 << 16)},
      {"max_queued_requests", "requests waiting in the engine before RESOURCE_EXHAUSTED",
       Integer(&JambadConfig::max_queued_requests, 0, kMaxInt)},
      {"max_context_tokens", "tokens of one sequence; 0: the model's max_position_embeddings",
       Integer(&JambadConfig::max_context_tokens, 0, kMaxInt)},
      {"max_prompt_tokens", "tokens of a stateless prompt; 0: max_context_tokens",
       Integer(&JambadConfig::max_prompt_tokens, 0, kMaxInt)},
      {"max_completion_tokens", "largest GenerateRequest.max_tokens",
       Integer(&JambadConfig::max_completion_tokens, 1, kMaxInt)},
      {"default_max_tokens", "max_tokens when a request leaves it unset",
       Integer(&JambadConfig::default_max_tokens, 1, kMaxInt)},
      {"drain_timeout", "on SIGTERM, how long in-flight calls may finish before being cancelled",
       Duration(&JambadConfig::drain_timeout)},
      {"log_level", "debug, info, warning or error",
       OneOf(&JambadConfig::log_level, {"debug", "info", "warning", "error"})},
  };
}

std::optional<Option> FindOption(absl::string_view key) {
  for (Option& option : Options()) {
    if (key == option.key) return std::move(option);
  }
  return std::nullopt;
}

}  // namespace

absl::Status ApplyConfigValue(absl::string_view key, absl::string_view value,
                              absl::string_view where, JambadConfig& config) {
  std::optional<Option> option = FindOption(key);
  if (!option.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": unknown key \"", key, "\" (see docs/jambad.md)"));
  }
  absl::Status status = option->set(value, config);
  if (!status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": ", key, ": ", status.message()));
  }
  return absl::OkStatus();
}

absl::Status ApplyConfigText(absl::string_view text, absl::string_view source,
                             JambadConfig& config) {
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    const std::string where = absl::StrCat(source, ":", line_number);
    // A # starts a comment anywhere: no value needs one (paths with # are not supported).
    if (size_t hash = line.find('#'); hash != absl::string_view::npos) line = line.substr(0, hash);
    line = absl::StripAsciiWhitespace(line);
    if (line.empty()) continue;
    const size_t eq = line.find('=');
    if (eq == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": expected `key = value`"));
    }
    absl::string_view key = absl::StripAsciiWhitespace(line.substr(0, eq));
    absl::string_view value = absl::StripAsciiWhitespace(line.substr(eq + 1));
    // Values may be quoted, so that an empty string can be written explicitly.
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      value = value.substr(1, value.size() - 2);
    }
    absl::Status status = ApplyConfigValue(key, value, where, config);
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

absl::Status ValidateConfig(const JambadConfig& c) {
  auto bad = [](absl::string_view why) { return absl::InvalidArgumentError(why); };
  if (c.model.empty()) {
    return bad(
        absl::StrCat("no model configured: set `model = /path/to/model-dir` in the config file (",
                     kDefaultConfigPath, " by default) or pass --model /path/to/model-dir"));
  }
  if (c.tls_cert.empty() != c.tls_key.empty()) {
    return bad("tls_cert and tls_key must be set together");
  }
  if (!c.tls_client_ca.empty() && c.tls_cert.empty()) {
    return bad("tls_client_ca needs TLS: set tls_cert and tls_key too");
  }
  if (c.tls_require_client_cert && c.tls_client_ca.empty()) {
    return bad("tls_require_client_cert needs tls_client_ca to verify client certificates");
  }
  if (c.listen.empty()) return bad("listen must be host:port");
  if (c.http_timeout < absl::Milliseconds(1)) return bad("http_timeout must be positive");
  if (c.max_prompt_tokens > 0 && c.max_context_tokens > 0 &&
      c.max_prompt_tokens > c.max_context_tokens) {
    return bad("max_prompt_tokens must not exceed max_context_tokens");
  }
  if (c.default_max_tokens > c.max_completion_tokens) {
    return bad("default_max_tokens must not exceed max_completion_tokens");
  }
  if (c.prefill_chunk > c.max_batch_tokens) {
    return bad("prefill_chunk must not exceed max_batch_tokens");
  }
  if (c.session_lease_ttl < absl::Seconds(1)) {
    return bad("session_lease_ttl must be at least 1s (renewals happen every third of it)");
  }
  if (c.replica_id.size() > 256) return bad("replica_id must be at most 256 characters");
  return absl::OkStatus();
}

absl::StatusOr<CommandLine> ParseCommandLine(const std::vector<std::string>& args) {
  CommandLine out;
  for (size_t i = 0; i < args.size(); ++i) {
    absl::string_view arg = args[i];
    if (arg == "--help" || arg == "-h") {
      out.help = true;
      continue;
    }
    if (arg == "--version") {
      out.version = true;
      continue;
    }
    if (!absl::ConsumePrefix(&arg, "--")) {
      return absl::InvalidArgumentError(
          absl::StrCat("unexpected argument \"", arg, "\" (options are --key value)"));
    }
    std::string key;
    std::string value;
    if (size_t eq = arg.find('='); eq != absl::string_view::npos) {
      key = std::string(arg.substr(0, eq));
      value = std::string(arg.substr(eq + 1));
    } else {
      key = std::string(arg);
      if (i + 1 >= args.size()) {
        return absl::InvalidArgumentError(absl::StrCat("--", key, " needs a value"));
      }
      value = args[++i];
    }
    absl::StrReplaceAll({{"-", "_"}}, &key);  // --max-tokens and --max_tokens both work
    if (key == "config") {
      out.config_path = value;
      out.config_path_given = true;
    } else if (key == "port_file") {
      out.port_file = value;
    } else if (!FindOption(key).has_value()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", key, ": unknown option (see jambad --help)"));
    } else {
      out.overrides.emplace_back(std::move(key), std::move(value));
    }
  }
  return out;
}

absl::StatusOr<JambadConfig> LoadConfig(const CommandLine& command_line) {
  JambadConfig config;
  std::error_code ec;
  if (command_line.config_path_given || std::filesystem::exists(command_line.config_path, ec)) {
    std::ifstream in(command_line.config_path, std::ios::binary);
    if (!in) {
      return absl::NotFoundError(
          absl::StrCat("config file ", command_line.config_path, " cannot be read"));
    }
    std::stringstream text;
    text << in.rdbuf();
    absl::Status status = ApplyConfigText(text.str(), command_line.config_path, config);
    if (!status.ok()) return status;
  }
  for (const auto& [key, value] : command_line.overrides) {
    absl::Status status = ApplyConfigValue(key, value, absl::StrCat("--", key), config);
    if (!status.ok()) return status;
  }
  absl::Status status = ValidateConfig(config);
  if (!status.ok()) return status;
  return config;
}

std::string ConfigKeysHelp() {
  std::string out;
  for (const Option& option : Options()) {
    absl::StrAppend(&out, "  --", option.key, "\n      ", option.help, "\n");
  }
  return out;
}

}  // namespace jamba::service
