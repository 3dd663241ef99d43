// jambad's configuration: a file of `key = value` lines (# starts a comment; default path
// /etc/jambad/jambad.conf) and the same keys as command-line flags (`--key value` or
// `--key=value`), flags overriding the file. docs/jambad.md documents every key; an unknown key or
// a bad value is an error naming the key and where it came from (file and line, or the flag).
#ifndef JAMBA_SERVICE_CONFIG_H_
#define JAMBA_SERVICE_CONFIG_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace jamba::service {

inline constexpr char kDefaultConfigPath[] = "/etc/jambad/jambad.conf";

struct JambadConfig {
  // Model and compute.
  std::string model;     // the model directory; required
  std::string model_id;  // reported as ModelInfo.model_id; default: the directory's base name
  std::string device = "cpu";
  int threads = 0;  // 0: every CPU this process may use
  std::string simd;
  std::string weights = "auto";
  std::string precision = "auto";  // EngineOptions::precision
  std::string activations;         // "": the precision's
  std::string kv_dtype;            // "": the precision's
  int64_t kv_memory_bytes = 0;     // 0: the machine's available memory
  std::string weight_memory = "packed";
  // Chat output parsing (EngineOptions): "auto" follows the chat template's family.
  std::string tool_call_format = "auto";
  std::string reasoning_format = "auto";

  // Network.
  std::string listen = "127.0.0.1:50051";
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;
  bool tls_require_client_cert = false;
  absl::Duration keepalive_time = absl::Seconds(60);
  absl::Duration keepalive_timeout = absl::Seconds(20);
  absl::Duration keepalive_min_client_interval = absl::Seconds(10);
  int64_t max_request_bytes = 4 << 20;
  int64_t max_response_bytes = 16 << 20;
  int worker_threads = 64;  // stream RPCs (Generate, AppendToSession) running engine calls
  int worker_queue = 64;    // stream RPCs waiting for a worker thread
  int session_threads = 8;  // unary session RPCs (disk I/O)
  int session_queue = 256;  // unary session RPCs waiting for a thread
  absl::Duration retry_delay = absl::Seconds(1);  // RetryInfo of QUEUE_FULL / UNAVAILABLE
  // A committing Generate commits only while at least this much time is left before the client's
  // deadline, so the OK can still reach the client before its deadline fires.
  absl::Duration commit_margin = absl::Milliseconds(100);

  // The OpenAI-compatible HTTP API.
  std::string http_listen = "127.0.0.1:8000";  // "" turns it off
  int http_threads = 128;                      // connections served at once (one thread each)
  absl::Duration http_keepalive_timeout = absl::Seconds(5);
  absl::Duration http_timeout = absl::Seconds(30);  // a read or write may stall this long

  // Authentication and monitoring.
  std::string api_key_file;
  std::string metrics_listen = "127.0.0.1:9464";  // "" turns the metrics endpoint off

  // Sessions.
  std::string session_dir = "/var/lib/jambad/sessions";  // "" turns sessions off
  std::string session_key_file;
  int64_t session_memory_bytes = int64_t{8} << 30;
  int64_t session_disk_quota_bytes = 0;
  absl::Duration session_ttl = absl::ZeroDuration();
  // Sharing session_dir with other jambad processes (docs/session-format.md).
  absl::Duration session_lease_ttl = absl::Seconds(10);
  std::string replica_id;  // "": hostname:pid:random
  int64_t checkpoint_interval_tokens = 4096;
  int64_t min_prefix_reuse_tokens = 32;

  // Engine queue and batching.
  int64_t max_batch_tokens = 512;
  int64_t prefill_chunk = 256;
  int max_running_requests = 32;
  int max_queued_requests = 256;

  // Request limits.
  int64_t max_context_tokens = 0;  // 0: the model's max_position_embeddings
  int64_t max_prompt_tokens = 0;   // 0: max_context_tokens
  int64_t max_completion_tokens = 4096;
  int64_t default_max_tokens = 256;

  // Operation.
  absl::Duration drain_timeout = absl::Seconds(30);
  std::string log_level = "info";  // debug, info, warning, error
};

// Sets the keys of a config file's text. `source` names it in errors ("jambad.conf:12: ...").
absl::Status ApplyConfigText(absl::string_view text, absl::string_view source,
                             JambadConfig& config);
// Sets one key; `where` names the origin in errors ("--threads", "jambad.conf:3").
absl::Status ApplyConfigValue(absl::string_view key, absl::string_view value,
                              absl::string_view where, JambadConfig& config);
// Cross-key checks once everything is applied: a model is configured, TLS files come in pairs,
// limits are positive and consistent. The message says what to change.
absl::Status ValidateConfig(const JambadConfig& config);

// What `jambad [flags]` asked for.
struct CommandLine {
  std::string config_path = kDefaultConfigPath;
  bool config_path_given = false;  // a missing default file is fine; a missing given one is not
  std::string port_file;           // write the bound gRPC port here once listening
  bool help = false;
  bool version = false;
  std::vector<std::pair<std::string, std::string>> overrides;  // (key, value) in order
};
absl::StatusOr<CommandLine> ParseCommandLine(const std::vector<std::string>& args);

// The file (when it exists or was given), then the flags, then ValidateConfig.
absl::StatusOr<JambadConfig> LoadConfig(const CommandLine& command_line);

// Every key with a one-line description, for --help.
std::string ConfigKeysHelp();

}  // namespace jamba::service

#endif  // JAMBA_SERVICE_CONFIG_H_
