// JSON-lines logs on stderr: one object per line, so log shippers need no parser of their own.
// Every RPC gets one "request" line when it ends (request id, method, tenant, code, latency,
// tokens); server events (listening, draining, errors) get lines of their own.
#ifndef JAMBA_SERVICE_LOGGING_H_
#define JAMBA_SERVICE_LOGGING_H_

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace jamba::service {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };
absl::StatusOr<LogLevel> ParseLogLevel(absl::string_view name);

struct RequestLogEntry {
  std::string request_id;
  std::string method;  // "jamba.v1.GenerationService/Generate"
  std::string tenant;  // "" when the call was refused before authentication
  std::string code;    // "OK", "INVALID_ARGUMENT", ...
  std::string reason;  // ErrorInfo reason of an error, or ""
  // The full error message for the server's log (it may name server paths the client never sees),
  // kept for errors of the server's side (INTERNAL, DATA_LOSS, RESOURCE_EXHAUSTED, UNKNOWN).
  std::string error;
  double latency_seconds = 0;
  int64_t tokens_in = 0;
  int64_t tokens_out = 0;
};

// Stateless apart from its settings: each line is written with one fwrite, which stdio locks, so
// lines from different threads never interleave.
class Logger {
 public:
  explicit Logger(LogLevel min_level = LogLevel::kInfo, std::FILE* out = stderr)
      : min_level_(min_level), out_(out) {}

  bool Enabled(LogLevel level) const { return level >= min_level_; }
  // {"time": ..., "level": ..., "event": event, ...fields}
  void Log(LogLevel level, absl::string_view event, nlohmann::json fields = {}) const;
  void LogRequest(const RequestLogEntry& entry) const;

 private:
  const LogLevel min_level_;
  std::FILE* const out_;
};

}  // namespace jamba::service

#endif  // JAMBA_SERVICE_LOGGING_H_
