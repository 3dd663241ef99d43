// jambad: the Jamba server (gRPC, and the OpenAI-compatible HTTP API). Reads the configuration
// (file, then flags), opens the Engine, serves until SIGTERM or SIGINT, then drains gracefully and
// exits 0. Also `jambad hash-key`, which prints an API key file line.
#include <malloc.h>
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "google/protobuf/stubs/logging.h"
#include "jamba/engine.h"
#include "nlohmann/json.hpp"
#include "service/auth.h"
#include "service/config.h"
#include "service/logging.h"
#include "service/server.h"

namespace jamba::service {
namespace {

constexpr char kUsage[] =
    "usage: jambad [--config FILE] [--port-file FILE] [--KEY VALUE ...]\n"
    "       jambad hash-key TENANT [KEY]   (reads the key from stdin when not given)\n"
    "\n"
    "Serves a Jamba model over gRPC (jamba.v1) and an OpenAI-compatible HTTP API. Configuration "
    "comes from FILE (default "
    "/etc/jambad/jambad.conf,\n"
    "`key = value` lines) and from flags, which override it. Keys (docs/jambad.md has more):\n";

// Protobuf's own log lines become JSON lines too (a stateless Logger per line: no global state).
void ProtobufLogHandler(google::protobuf::LogLevel level, const char* file, int line,
                        const std::string& message) {
  const Logger logger(LogLevel::kDebug);
  const LogLevel ours = level >= google::protobuf::LOGLEVEL_ERROR     ? LogLevel::kError
                        : level == google::protobuf::LOGLEVEL_WARNING ? LogLevel::kWarning
                                                                      : LogLevel::kInfo;
  logger.Log(ours, "protobuf", {{"message", message}, {"file", file}, {"line", line}});
}

int HashKey(const std::vector<std::string>& args) {
  if (args.empty() || args.size() > 2 || !IsValidTenant(args[0])) {
    std::cerr << "usage: jambad hash-key TENANT [KEY]\n"
                 "TENANT is 1-64 of [A-Za-z0-9_.-]; the key is read from stdin when not given "
                 "(so it stays out of the process list and shell history).\n";
    return 2;
  }
  std::string key;
  if (args.size() == 2) {
    key = args[1];
  } else {
    std::getline(std::cin, key);
  }
  key = std::string(absl::StripAsciiWhitespace(key));
  if (key.empty()) {
    std::cerr << "jambad hash-key: empty key\n";
    return 2;
  }
  std::cout << KeyFileLine(key, args[0]) << "\n";
  return 0;
}

// Written to a temporary name and renamed, so a reader never sees a partial port number.
absl::Status WritePortFile(const std::string& path, int port) {
  const std::string temp = path + ".tmp";
  {
    std::ofstream out(temp, std::ios::trunc);
    out << port << "\n";
    if (!out) return absl::UnavailableError(absl::StrCat("cannot write ", temp));
  }
  std::error_code ec;
  std::filesystem::rename(temp, path, ec);
  if (ec) return absl::UnavailableError(absl::StrCat("cannot write ", path, ": ", ec.message()));
  return absl::OkStatus();
}

EngineOptions ToEngineOptions(const JambadConfig& c) {
  EngineOptions o;
  o.threads = c.threads;
  o.device = c.device;
  o.simd = c.simd;
  o.weights = c.weights;
  o.precision = c.precision;
  o.activations = c.activations;
  o.kv_dtype = c.kv_dtype;
  o.kv_memory_bytes = c.kv_memory_bytes;
  o.weight_memory = c.weight_memory;
  o.tool_call_format = c.tool_call_format;
  o.reasoning_format = c.reasoning_format;
  o.max_batch_tokens = c.max_batch_tokens;
  o.prefill_chunk = c.prefill_chunk;
  o.max_running_requests = c.max_running_requests;
  o.max_queued_requests = c.max_queued_requests;
  // The engine applies its prompt limit to session appends too; the API limits only stateless
  // prompts (checked by the service), so the engine gets the context window.
  o.max_context_tokens = c.max_context_tokens;
  o.max_prompt_tokens = c.max_context_tokens > 0 ? c.max_context_tokens : o.max_prompt_tokens;
  o.max_new_tokens = c.max_completion_tokens;
  o.session_dir = c.session_dir;
  o.session_key_file = c.session_key_file;
  o.session_memory_bytes = c.session_memory_bytes;
  o.session_disk_quota_bytes = c.session_disk_quota_bytes;
  o.session_ttl = c.session_ttl;
  o.session_lease_ttl = c.session_lease_ttl;
  o.session_owner_id = c.replica_id;
  o.checkpoint_interval = c.checkpoint_interval_tokens;
  o.min_prefix_reuse_tokens = c.min_prefix_reuse_tokens;
  // A call on a busy session answers ABORTED (SESSION_BUSY) instead of parking a shared worker
  // thread behind someone else's operation.
  o.wait_for_busy_sessions = false;
  return o;
}

// glibc raises its mmap threshold each time a large block is freed (up to 32 MiB), after which
// blocks of a request's size (a 4 MiB prompt, its copies) come from the heap and the freed space
// stays with the process. A fixed threshold keeps every block of 1 MiB or more in its own
// mapping, returned to the system when the request ends; smaller ones are trimmed from the top.
void KeepLargeAllocationsReturnable() {
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
  mallopt(M_TRIM_THRESHOLD, 16 << 20);
}

int Run(int argc, char** argv) {
  KeepLargeAllocationsReturnable();
  std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && args[0] == "hash-key") {
    return HashKey(std::vector<std::string>(args.begin() + 1, args.end()));
  }
  const Logger startup_logger(LogLevel::kInfo);
  absl::StatusOr<CommandLine> command_line = ParseCommandLine(args);
  if (!command_line.ok()) {
    startup_logger.Log(LogLevel::kError, "bad_command_line",
                       {{"error", std::string(command_line.status().message())}});
    std::cerr << kUsage << ConfigKeysHelp();
    return 2;
  }
  if (command_line->help) {
    std::cout << kUsage << ConfigKeysHelp();
    return 0;
  }
  if (command_line->version) {
    std::cout << "jambad " << JAMBA_VERSION << "\n";
    return 0;
  }
  absl::StatusOr<JambadConfig> config = LoadConfig(*command_line);
  if (!config.ok()) {
    startup_logger.Log(LogLevel::kError, "bad_config",
                       {{"error", std::string(config.status().message())}});
    return 2;
  }
  const Logger logger(*ParseLogLevel(config->log_level));
  google::protobuf::SetLogHandler(&ProtobufLogHandler);

  // Signals are taken by sigwait on this thread: blocked before any other thread exists, so every
  // thread inherits the mask and none is interrupted.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  Authenticator auth;
  if (!config->api_key_file.empty()) {
    absl::StatusOr<Authenticator> loaded = Authenticator::FromKeyFile(config->api_key_file);
    if (!loaded.ok()) {
      logger.Log(LogLevel::kError, "bad_api_key_file",
                 {{"error", std::string(loaded.status().message())}});
      return 2;
    }
    auth = *std::move(loaded);
  }
  logger.Log(LogLevel::kInfo, "loading_model",
             {{"model", config->model}, {"device", config->device}});
  absl::StatusOr<std::unique_ptr<Engine>> engine =
      Engine::Open(config->model, ToEngineOptions(*config));
  if (!engine.ok()) {
    logger.Log(LogLevel::kError, "model_load_failed",
               {{"model", config->model}, {"error", std::string(engine.status().message())}});
    return 1;
  }
  absl::StatusOr<std::unique_ptr<JambaServer>> server =
      JambaServer::Start(**engine, *config, auth, logger);
  if (!server.ok()) {
    logger.Log(LogLevel::kError, "start_failed",
               {{"error", std::string(server.status().message())}});
    return 1;
  }
  const nlohmann::json ready = {{"event", "listening"},
                                {"address", config->listen},
                                {"port", (*server)->port()},
                                {"metrics_port", (*server)->metrics_port()},
                                {"http_port", (*server)->http_port()},
                                {"tls", !config->tls_cert.empty()},
                                {"auth", auth.enabled()},
                                {"fingerprint", (*engine)->model_info().fingerprint},
                                {"precision", (*engine)->model_info().precision},
                                {"kv_dtype", (*engine)->model_info().kv_dtype}};
  std::cout << ready.dump() << std::endl;
  logger.Log(LogLevel::kInfo, "listening", ready);
  if (!command_line->port_file.empty()) {
    absl::Status written = WritePortFile(command_line->port_file, (*server)->port());
    if (!written.ok())
      logger.Log(LogLevel::kError, "port_file", {{"error", std::string(written.message())}});
  }

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  logger.Log(LogLevel::kInfo, "draining",
             {{"signal", signal_number == SIGTERM ? "SIGTERM" : "SIGINT"},
              {"timeout_s", absl::ToDoubleSeconds(config->drain_timeout)}});
  (*server)->Drain(config->drain_timeout);
  server->reset();
  engine->reset();  // stops the engine thread; sessions were persisted at each commit
  logger.Log(LogLevel::kInfo, "stopped");
  return 0;
}

}  // namespace
}  // namespace jamba::service

int main(int argc, char** argv) { return jamba::service::Run(argc, argv); }
