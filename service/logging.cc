// JSON-lines log output.
#include "service/logging.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace jamba::service {
namespace {

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

}  // namespace

absl::StatusOr<LogLevel> ParseLogLevel(absl::string_view name) {
  for (LogLevel level : {LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarning, LogLevel::kError}) {
    if (name == LevelName(level)) return level;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("log level must be debug, info, warning or error, got \"", name, "\""));
}

void Logger::Log(LogLevel level, absl::string_view event, nlohmann::json fields) const {
  if (!Enabled(level)) return;
  nlohmann::json line = {
      {"time", absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone())},
      {"level", LevelName(level)},
      {"event", std::string(event)}};
  if (fields.is_object()) {
    for (auto& [key, value] : fields.items()) line[key] = std::move(value);
  }
  // Replace, never throw, on invalid UTF-8 in a field (a client-sent request id, say).
  const std::string text =
      line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  std::fwrite(text.data(), 1, text.size(), out_);
  std::fflush(out_);
}

void Logger::LogRequest(const RequestLogEntry& entry) const {
  nlohmann::json fields = {{"request_id", entry.request_id},
                           {"method", entry.method},
                           {"tenant", entry.tenant},
                           {"code", entry.code},
                           {"latency_ms", entry.latency_seconds * 1e3},
                           {"tokens_in", entry.tokens_in},
                           {"tokens_out", entry.tokens_out}};
  if (!entry.reason.empty()) fields["reason"] = entry.reason;
  if (!entry.error.empty()) fields["error"] = entry.error;
  Log(entry.code == "OK" || entry.code == "CANCELLED" ? LogLevel::kInfo : LogLevel::kWarning,
      "request", std::move(fields));
}

}  // namespace jamba::service
