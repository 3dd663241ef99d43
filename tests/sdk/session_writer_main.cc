// session_writer: the process tests/sdk/session_crash_test.cc kills. It commits to its sessions
// in an endless loop, following tests/sdk/crash_plan.h (appends of deterministic tokens, rewinds),
// and after each commit returns it appends the committed length to <log-dir>/<id>.log. On start
// it first logs the length it finds on disk (the state the previous, killed writer left).
//
//   session_writer --model M --store S --log-dir D --sessions N [--key-file F] [--kv-dtype T]
//
// It prints "ready" once the engine and store are open and "committed <id> <length>" after each
// commit, so the test can aim its kills at commits and knows the writer made progress.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "engine/status_macros.h"
#include "jamba/engine.h"
#include "tests/sdk/crash_plan.h"

namespace jamba {
namespace {

constexpr char kTenant[] = "crash";

// One line per call, with a single write(2) on an O_APPEND descriptor: a kill leaves either the
// whole line or a partial last line, which the test ignores.
absl::Status AppendLine(const std::string& path, int64_t value) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return absl::InternalError("cannot open " + path);
  const std::string line = absl::StrCat(value, "\n");
  const ssize_t n = ::write(fd, line.data(), line.size());
  ::close(fd);
  if (n != static_cast<ssize_t>(line.size())) return absl::InternalError("cannot write " + path);
  return absl::OkStatus();
}

absl::Status Run(const std::map<std::string, std::string>& flags) {
  for (const char* required : {"model", "store", "log-dir", "sessions"}) {
    if (!flags.count(required)) return absl::InvalidArgumentError(absl::StrCat("--", required));
  }
  int sessions = 0;
  if (!absl::SimpleAtoi(flags.at("sessions"), &sessions) || sessions < 1) {
    return absl::InvalidArgumentError("--sessions");
  }
  EngineOptions options;
  options.threads = 1;
  // fp32 activations, the KV cache in --kv-dtype (default fp32): what the test recomputes.
  options.precision = "exact";
  if (flags.count("kv-dtype")) options.kv_dtype = flags.at("kv-dtype");
  options.session_dir = flags.at("store");
  options.checkpoint_interval = testing::kCrashCheckpointInterval;
  if (flags.count("key-file")) options.session_key_file = flags.at("key-file");
  JAMBA_ASSIGN_OR_RETURN(auto engine, Engine::Open(flags.at("model"), options));

  std::vector<int64_t> length(static_cast<size_t>(sessions), -1);
  std::vector<std::string> logs;
  for (int s = 0; s < sessions; ++s) {
    const std::string id = testing::CrashSessionId(s);
    logs.push_back(absl::StrCat(flags.at("log-dir"), "/", id, ".log"));
    auto info = engine->GetSession(kTenant, id);
    if (info.ok()) {
      length[s] = info->token_count;
      JAMBA_RETURN_IF_ERROR(AppendLine(logs[s], length[s]));
    } else if (!absl::IsNotFound(info.status())) {
      return info.status();
    }
  }
  std::cout << "ready" << std::endl;

  for (;;) {
    for (int s = 0; s < sessions; ++s) {
      const std::string id = testing::CrashSessionId(s);
      const int64_t next = testing::CrashNextLength(length[s]);
      if (length[s] < 0) {
        JAMBA_RETURN_IF_ERROR(engine->CreateSession(kTenant, {.id = id}).status());
      } else if (next < length[s]) {
        JAMBA_RETURN_IF_ERROR(engine->RewindSession(kTenant, id, next).status());
      } else {
        std::vector<int32_t> tokens;
        for (int64_t p = length[s]; p < next; ++p) tokens.push_back(testing::CrashToken(s, p));
        JAMBA_ASSIGN_OR_RETURN(AppendResult result,
                               engine->AppendToSession(kTenant, id, Input::Tokens(tokens)));
        if (result.session.token_count != next) {
          return absl::InternalError(
              absl::StrCat(id, ": appended to ", result.session.token_count, ", expected ", next));
        }
      }
      length[s] = next;
      JAMBA_RETURN_IF_ERROR(AppendLine(logs[s], next));
      std::cout << "committed " << id << " " << next << std::endl;
    }
  }
}

}  // namespace
}  // namespace jamba

int main(int argc, char** argv) {
  std::map<std::string, std::string> flags;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string name = argv[i];
    if (name.rfind("--", 0) == 0) flags[name.substr(2)] = argv[i + 1];
  }
  const absl::Status status = jamba::Run(flags);
  std::cerr << "session_writer: " << status << "\n";
  return 1;
}
