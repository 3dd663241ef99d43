// `jamba session ...`: persisted sessions from the command line, a thin layer over the Engine's
// session calls (see docs/session-format.md). Ingest a long document once, then generate from it
// in later runs without recomputing it; fork, rewind, list and delete sessions. With --server the
// same commands (and `ask`) act on a running jambad's sessions (tools/cli/remote/session.cc).
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "engine/status_macros.h"
#include "nlohmann/json.hpp"
#include "tools/cli/commands.h"
#include "tools/cli/common.h"
#include "tools/cli/remote/client.h"

namespace jamba::cli {
namespace {

constexpr char kUsage[] =
    R"(usage: jamba session <command> --store DIR --model DIR [--tenant T] [flags]

commands:
  create      [--id ID] [--name TEXT]                 create an empty session (prints its id)
  append      --id ID [--file PATH | --text TEXT | --ids IDS.npy]
                                                      feed input (stdin when none is given) and
                                                      commit it, with a checkpoint every
                                                      --checkpoint-interval tokens (4096)
  generate    --id ID [--prompt TEXT | --file PATH | --ids IDS.npy] [--commit] [--max-tokens N]
              [--temperature T] [--top-p P] [--top-k K] [--min-p P] [--repetition-penalty R]
              [--seed S] [--stop TEXT] [--ignore-eos] [--quiet]
                                                      continue the session, streaming to stdout;
                                                      --commit appends prompt and answer to it
  fork        --id ID --new-id ID2 [--at POSITION]    a new session sharing ID's state
  rewind      --id ID --to POSITION                   drop everything after a checkpoint
  checkpoints --id ID                                 positions that fork and rewind accept
  list        [--json]                                the tenant's sessions
  delete      --id ID

every command: --store DIR (the session directory) --model DIR (sessions are bound to the model)
  [--tenant T] (default "default") [--key-file KEY] (AES-256 encryption at rest)
  [--threads N] [--device cpu|cuda|auto] [--simd avx512|avx2|scalar] [--weights bf16|int8]
  [--precision auto|exact|fast] [--activations fp32|bf16] [--kv-dtype fp32|bf16|int8]
  [--kv-memory-bytes N] [--weight-memory packed|mapped]
  (a session resumes only under the precision it was written with: see `jamba session list --json`)
)";

std::string HumanBytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024 && u < 4) {
    bytes /= 1024;
    ++u;
  }
  return u == 0 ? absl::StrFormat("%.0f %s", bytes, units[u])
                : absl::StrFormat("%.1f %s", bytes, units[u]);
}

std::string LocalTime(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S", t, absl::LocalTimeZone());
}

// One subcommand's parsed flags and the engine it needs.
struct Context {
  std::string command;  // e.g. "session append", for messages
  Flags flags;
  std::string tenant;
  std::unique_ptr<Engine> engine;
};

absl::StatusOr<Context> Prepare(const std::string& sub, const Args& args, FlagSpec spec) {
  AddEngineFlags(spec);
  spec.values.insert({"store", "tenant", "key-file", "checkpoint-interval"});
  JAMBA_ASSIGN_OR_RETURN(Flags flags, Flags::Parse(args, spec));
  if (!flags.positional().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unexpected argument \"", flags.positional().front(), "\""));
  }
  JAMBA_ASSIGN_OR_RETURN(const std::string store, flags.Require("store"));
  JAMBA_ASSIGN_OR_RETURN(const std::string model, flags.Require("model"));
  JAMBA_ASSIGN_OR_RETURN(EngineOptions options, EngineOptionsFromFlags(flags));
  options.session_dir = store;
  options.session_key_file = flags.GetOr("key-file", "");
  JAMBA_ASSIGN_OR_RETURN(options.checkpoint_interval,
                         flags.GetInt("checkpoint-interval", options.checkpoint_interval));
  if (options.checkpoint_interval <= 0) {
    return absl::InvalidArgumentError("--checkpoint-interval must be positive");
  }
  Context context{absl::StrCat("session ", sub), std::move(flags), "", nullptr};
  context.tenant = context.flags.GetOr("tenant", "default");
  JAMBA_ASSIGN_OR_RETURN(context.engine, Engine::Open(model, options));
  return context;
}

// Reads the input of `append` / `generate`: --file, --text, --ids, or (when `stdin_default`)
// standard input. nullopt when none is given and stdin is not the default.
absl::StatusOr<std::optional<Input>> ReadInput(const Context& c, const char* text_flag,
                                               bool stdin_default) {
  const int given = c.flags.Has("file") + c.flags.Has(text_flag) + c.flags.Has("ids");
  if (given > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("give at most one of --file, --", text_flag, " and --ids"));
  }
  const bool has_tokenizer = c.engine->model_info().has_tokenizer;
  if (auto path = c.flags.Get("ids")) {
    JAMBA_ASSIGN_OR_RETURN(std::vector<int32_t> ids, ReadTokenIds(*path));
    return Input::Tokens(std::move(ids));
  }
  std::string text;
  if (auto path = c.flags.Get("file")) {
    std::ifstream in(*path, std::ios::binary);
    if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", *path));
    text.assign(std::istreambuf_iterator<char>(in), {});
  } else if (auto value = c.flags.Get(text_flag)) {
    text = *value;
  } else if (stdin_default) {
    text.assign(std::istreambuf_iterator<char>(std::cin), {});
  } else {
    return std::nullopt;
  }
  if (!has_tokenizer) {
    return absl::FailedPreconditionError(
        "this model has no tokenizer (tokenizer.model): give token ids with --ids IDS.npy");
  }
  if (text.empty()) return absl::InvalidArgumentError("the input is empty");
  return Input::Text(std::move(text));
}

absl::StatusOr<std::string> RequireId(const Context& c) { return c.flags.Require("id"); }

absl::StatusOr<int64_t> RequirePosition(const Context& c, const std::string& name) {
  JAMBA_RETURN_IF_ERROR(c.flags.Require(name).status());
  JAMBA_ASSIGN_OR_RETURN(const int64_t position, c.flags.GetInt(name, 0));
  if (position < 0) return absl::InvalidArgumentError(absl::StrCat("--", name, " is negative"));
  return position;
}

absl::Status Create(Context& c) {
  CreateSessionOptions options;
  options.id = c.flags.GetOr("id", "");
  options.display_name = c.flags.GetOr("name", "");
  JAMBA_ASSIGN_OR_RETURN(SessionInfo info, c.engine->CreateSession(c.tenant, options));
  std::cout << info.id << "\n";
  return absl::OkStatus();
}

// Progress on a terminal: tokens done of total and the rate, redrawn at most 10 times a second.
class ProgressLine {
 public:
  ProgressLine() : enabled_(::isatty(STDERR_FILENO) == 1) {}
  bool Update(int64_t done, int64_t total) {
    if (!enabled_) return true;
    const auto now = Clock::now();
    if (done < total && now - last_ < std::chrono::milliseconds(100)) return true;
    last_ = now;
    const double seconds = std::chrono::duration<double>(now - start_).count();
    std::cerr << absl::StrFormat("\r  %d / %d tokens (%.0f%%), %.1f tok/s   ", done, total,
                                 total > 0 ? 100.0 * done / total : 100.0,
                                 seconds > 0 ? done / seconds : 0.0)
              << std::flush;
    drawn_ = true;
    return true;
  }
  void Finish() {
    if (drawn_) std::cerr << "\n";
  }

 private:
  using Clock = std::chrono::steady_clock;
  const bool enabled_;
  bool drawn_ = false;
  const Clock::time_point start_ = Clock::now();
  Clock::time_point last_{};
};

absl::Status Append(Context& c) {
  JAMBA_ASSIGN_OR_RETURN(const std::string id, RequireId(c));
  JAMBA_ASSIGN_OR_RETURN(std::optional<Input> input, ReadInput(c, "text", true));
  // Fail on a missing session before reading a long document through the model.
  JAMBA_RETURN_IF_ERROR(c.engine->GetSession(c.tenant, id).status());
  ProgressLine progress;
  AppendOptions options;
  options.on_progress = [&progress](int64_t done, int64_t total) {
    return progress.Update(done, total);
  };
  auto result = c.engine->AppendToSession(c.tenant, id, *input, options);
  progress.Finish();
  JAMBA_RETURN_IF_ERROR(result.status());
  const Usage& usage = result->usage;
  const double rate = result->seconds > 0 ? usage.recomputed_tokens / result->seconds : 0;
  std::cout << absl::StrFormat(
      "appended %d tokens to %s in %.2f s (%.1f tok/s%s): now %d tokens, %d checkpoints, %s on "
      "disk\n",
      usage.prompt_tokens, id, result->seconds, rate,
      usage.restored_tokens > 0
          ? absl::StrCat("; ", usage.restored_tokens, " restored from a stored checkpoint")
          : "",
      result->session.token_count, result->session.checkpoint_count,
      HumanBytes(static_cast<double>(result->session.disk_bytes)));
  return absl::OkStatus();
}

absl::Status Generate(Context& c) {
  JAMBA_ASSIGN_OR_RETURN(const std::string id, RequireId(c));
  JAMBA_ASSIGN_OR_RETURN(std::optional<Input> input, ReadInput(c, "prompt", false));
  JAMBA_ASSIGN_OR_RETURN(const GenerateOptions options, GenerateOptionsFromFlags(c.flags));
  const bool commit = c.flags.GetBool("commit");
  const bool ids_only = !c.engine->model_info().has_tokenizer;
  auto result = c.engine->GenerateFromSession(c.tenant, id, input, options, commit,
                                              [ids_only](const GenerateChunk& chunk) {
                                                if (ids_only) {
                                                  for (const GeneratedToken& t : chunk.tokens)
                                                    std::cout << t.token << " ";
                                                } else {
                                                  std::cout << chunk.text;
                                                }
                                                std::cout.flush();
                                                return true;
                                              });
  std::cout << "\n";
  JAMBA_RETURN_IF_ERROR(result.status());
  if (!c.flags.GetBool("quiet")) {
    const Timings& t = result->timings;
    std::cerr << absl::StrFormat(
        "[session %s] resumed %d tokens, fed %d, generated %d in %.3f s (first token after "
        "%.3f s); finish: %s; seed %d; %s\n",
        id, result->usage.restored_tokens, result->usage.prompt_tokens,
        result->usage.completion_tokens, t.prefill_seconds + t.decode_seconds, t.prefill_seconds,
        FinishReasonName(result->finish_reason), result->seed,
        commit ? "committed to the session" : "not committed (the session is unchanged)");
  }
  return absl::OkStatus();
}

absl::Status Fork(Context& c) {
  JAMBA_ASSIGN_OR_RETURN(const std::string id, RequireId(c));
  JAMBA_ASSIGN_OR_RETURN(const std::string new_id, c.flags.Require("new-id"));
  std::optional<int64_t> at;
  if (c.flags.Has("at")) {
    JAMBA_ASSIGN_OR_RETURN(at, RequirePosition(c, "at"));
  }
  JAMBA_ASSIGN_OR_RETURN(SessionInfo info, c.engine->ForkSession(c.tenant, id, new_id, at));
  std::cout << absl::StrFormat("forked %s at %d tokens into %s\n", id, info.token_count, info.id);
  return absl::OkStatus();
}

absl::Status Rewind(Context& c) {
  JAMBA_ASSIGN_OR_RETURN(const std::string id, RequireId(c));
  JAMBA_ASSIGN_OR_RETURN(const int64_t to, RequirePosition(c, "to"));
  JAMBA_ASSIGN_OR_RETURN(SessionInfo info, c.engine->RewindSession(c.tenant, id, to));
  std::cout << absl::StrFormat("rewound %s to %d tokens\n", id, info.token_count);
  return absl::OkStatus();
}

absl::Status Checkpoints(Context& c) {
  JAMBA_ASSIGN_OR_RETURN(const std::string id, RequireId(c));
  JAMBA_ASSIGN_OR_RETURN(std::vector<CheckpointInfo> checkpoints,
                         c.engine->ListCheckpoints(c.tenant, id));
  std::cout << absl::StrFormat("%12s  %-9s  %s\n", "position", "reason", "created");
  for (const CheckpointInfo& cp : checkpoints) {
    std::cout << absl::StrFormat("%12d  %-9s  %s\n", cp.position, cp.reason,
                                 LocalTime(cp.create_time));
  }
  return absl::OkStatus();
}

absl::Status List(Context& c) {
  std::vector<SessionInfo> sessions;
  std::string token;
  do {
    JAMBA_ASSIGN_OR_RETURN(SessionPage page, c.engine->ListSessions(c.tenant, 1000, token));
    sessions.insert(sessions.end(), page.sessions.begin(), page.sessions.end());
    token = page.next_page_token;
  } while (!token.empty());
  if (c.flags.GetBool("json")) {
    nlohmann::json out = nlohmann::json::array();
    for (const SessionInfo& s : sessions) {
      out.push_back(
          {{"id", s.id},
           {"tenant", s.tenant},
           {"display_name", s.display_name},
           {"labels", s.labels},
           {"token_count", s.token_count},
           {"checkpoint_count", s.checkpoint_count},
           {"disk_bytes", s.disk_bytes},
           {"kv_dtype", s.kv_dtype},
           {"precision", s.precision},
           {"create_time", absl::FormatTime(absl::RFC3339_sec, s.create_time, absl::UTCTimeZone())},
           {"update_time",
            absl::FormatTime(absl::RFC3339_sec, s.update_time, absl::UTCTimeZone())}});
    }
    std::cout << out.dump(2) << "\n";
    return absl::OkStatus();
  }
  std::cout << absl::StrFormat("%-24s %10s %6s %10s  %-19s  %s\n", "id", "tokens", "ckpts", "disk",
                               "updated", "name");
  for (const SessionInfo& s : sessions) {
    std::cout << absl::StrFormat("%-24s %10d %6d %10s  %-19s  %s\n", s.id, s.token_count,
                                 s.checkpoint_count, HumanBytes(static_cast<double>(s.disk_bytes)),
                                 LocalTime(s.update_time), s.display_name);
  }
  return absl::OkStatus();
}

absl::Status Delete(Context& c) {
  JAMBA_ASSIGN_OR_RETURN(const std::string id, RequireId(c));
  JAMBA_RETURN_IF_ERROR(c.engine->DeleteSession(c.tenant, id));
  std::cout << "deleted " << id << "\n";
  return absl::OkStatus();
}

struct Subcommand {
  const char* name;
  absl::Status (*run)(Context& c);
  const char* values;    // flags with a value, space-separated
  const char* booleans;  // flags without
};

constexpr Subcommand kSubcommands[] = {
    {"create", Create, "id name", ""},
    {"append", Append, "id file text ids", ""},
    {"generate", Generate, "id prompt file ids", "commit quiet"},
    {"fork", Fork, "id new-id at", ""},
    {"rewind", Rewind, "id to", ""},
    {"checkpoints", Checkpoints, "id", ""},
    {"list", List, "", "json"},
    {"delete", Delete, "id", ""},
};

}  // namespace

int RunSession(const Args& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "help") {
    (args.empty() ? std::cerr : std::cout)
        << kUsage << "\n"
        << remote::kSessionUsage << remote::kConnectionHelp << remote::kExitCodesHelp;
    return args.empty() ? 2 : 0;
  }
  if (remote::WantsServer(args)) return remote::RunSession(args);
  for (const Subcommand& sub : kSubcommands) {
    if (args[0] != sub.name) continue;
    FlagSpec spec;
    for (absl::string_view name : absl::StrSplit(sub.values, ' ', absl::SkipEmpty()))
      spec.values.emplace(name);
    for (absl::string_view name : absl::StrSplit(sub.booleans, ' ', absl::SkipEmpty()))
      spec.booleans.emplace(name);
    if (std::string(sub.name) == "generate") AddSamplingFlags(spec);
    const std::string command = absl::StrCat("session ", sub.name);
    auto context = Prepare(sub.name, Args(args.begin() + 1, args.end()), spec);
    if (!context.ok()) return Fail(command, context.status());
    if (absl::Status status = sub.run(*context); !status.ok()) return Fail(command, status);
    return 0;
  }
  if (args[0] == "ask") {
    std::cerr << "jamba session ask: asks a running jambad: give --server HOST:PORT (locally, "
                 "use jamba session generate)\n";
    return 2;
  }
  std::cerr << "jamba session: unknown command \"" << args[0] << "\"\n" << kUsage;
  return 2;
}

}  // namespace jamba::cli
