// `jamba session ... --server ADDR`: the sessions of a running jambad. `append` streams a file
// (or stdin) in chunks while the server reports its progress, shown on a terminal; `ask`
// generates from a session with a question, optionally committing it and the answer.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "engine/status_macros.h"
#include "google/protobuf/empty.pb.h"
#include "nlohmann/json.hpp"
#include "tools/cli/common.h"
#include "tools/cli/remote/client.h"

namespace jamba::cli::remote {

const char kSessionUsage[] =
    R"(usage: jamba session <command> --server HOST:PORT [connection flags] [flags]

commands (on the server's sessions, of the tenant the API key selects):
  create      [--id ID] [--name TEXT] [--skip-bos]    create an empty session (prints its id;
                                                      the server picks one without --id)
  append      --id ID [--file PATH | --text TEXT | --ids IDS.npy] [--role user|system|assistant]
              [--chunk-bytes N] [--progress]
                                                      stream input (stdin when none is given) in
                                                      chunks; progress on a terminal (or with
                                                      --progress); --role makes it one chat message
  ask         --id ID [--question TEXT | --text TEXT | --ids IDS.npy] [--commit] [--max-tokens N]
              [--temperature T] [--top-p P] [--top-k K] [--min-p P] [--repetition-penalty R]
              [--seed S] [--stop TEXT] [--ignore-eos] [--quiet]
                                                      generate from the session, streaming to
                                                      stdout: --question is a user chat message
                                                      (the answer is the assistant's), --text is
                                                      raw text; --commit keeps both in the session
  fork        --id ID [--new-id ID2] [--at POSITION]  a new session sharing ID's state
  rewind      --id ID --to POSITION                   drop everything after a checkpoint
  checkpoints --id ID                                 positions that fork and rewind accept
  list        [--json]                                the tenant's sessions
  delete      --id ID
)";

namespace {

using Clock = std::chrono::steady_clock;

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

absl::Time ToTime(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

std::string LocalTime(const google::protobuf::Timestamp& t) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S", ToTime(t), absl::LocalTimeZone());
}

std::string Rfc3339(const google::protobuf::Timestamp& t) {
  return absl::FormatTime(absl::RFC3339_sec, ToTime(t), absl::UTCTimeZone());
}

struct Context {
  std::string command;  // "session append", for messages
  Flags flags;
  std::unique_ptr<Connection> connection;
};

absl::StatusOr<std::string> RequireName(const Context& c) {
  JAMBA_ASSIGN_OR_RETURN(const std::string id, c.flags.Require("id"));
  return SessionName(id);
}

absl::StatusOr<int64_t> RequirePosition(const Context& c, const std::string& flag) {
  JAMBA_RETURN_IF_ERROR(c.flags.Require(flag).status());
  JAMBA_ASSIGN_OR_RETURN(const int64_t position, c.flags.GetInt(flag, 0));
  if (position < 0) return absl::InvalidArgumentError(absl::StrCat("--", flag, " is negative"));
  return position;
}

absl::Status Create(Context& c) {
  v1::CreateSessionRequest request;
  request.set_session_id(c.flags.GetOr("id", ""));
  request.mutable_session()->set_display_name(c.flags.GetOr("name", ""));
  request.mutable_session()->set_skip_bos(c.flags.GetBool("skip-bos"));
  v1::Session session;
  const auto context = c.connection->NewContext(request.session_id());
  JAMBA_RETURN_IF_ERROR(
      FromGrpc(c.connection->sessions().CreateSession(context.get(), request, &session)));
  std::cout << SessionId(session.name()) << "\n";
  return absl::OkStatus();
}

// Where an append's content comes from: a file, stdin, one --text, or token ids.
class ContentSource {
 public:
  static absl::StatusOr<ContentSource> FromFlags(const Flags& flags) {
    const int given = flags.Has("file") + flags.Has("text") + flags.Has("ids");
    if (given > 1)
      return absl::InvalidArgumentError("give at most one of --file, --text and --ids");
    ContentSource source;
    JAMBA_ASSIGN_OR_RETURN(source.chunk_bytes_, flags.GetInt("chunk-bytes", 64 << 10));
    if (source.chunk_bytes_ < 16 || source.chunk_bytes_ > (1 << 20)) {
      return absl::InvalidArgumentError("--chunk-bytes must be in [16, 1048576]");
    }
    if (auto ids_path = flags.Get("ids")) {
      auto ids = ReadTokenIds(*ids_path);
      if (!ids.ok()) return absl::InvalidArgumentError(ids.status().message());
      source.ids_ = *std::move(ids);
      source.total_ = static_cast<int64_t>(source.ids_.size());
      source.kind_ = Kind::kIds;
    } else if (auto text = flags.Get("text")) {
      if (text->empty()) return absl::InvalidArgumentError("--text is empty");
      source.text_ = *text;
      source.total_ = static_cast<int64_t>(text->size());
      source.kind_ = Kind::kText;
    } else if (auto path = flags.Get("file")) {
      source.file_ = std::make_unique<std::ifstream>(*path, std::ios::binary);
      if (!*source.file_) return absl::InvalidArgumentError(absl::StrCat("cannot open ", *path));
      source.file_->seekg(0, std::ios::end);
      source.total_ = static_cast<int64_t>(source.file_->tellg());
      source.file_->seekg(0);
      if (source.total_ == 0) return absl::InvalidArgumentError(absl::StrCat(*path, " is empty"));
      source.in_ = source.file_.get();
      source.kind_ = Kind::kStream;
    } else {
      source.in_ = &std::cin;
      source.kind_ = Kind::kStream;
    }
    return source;
  }

  // Bytes (text) or ids in all; -1 when unknown (stdin).
  int64_t total() const { return total_; }
  bool is_ids() const { return kind_ == Kind::kIds; }
  // Whether reading the file or stdin failed (rather than reaching its end).
  bool failed() const { return in_ != nullptr && in_->bad(); }

  // The next content message; false at the end. Text is cut between UTF-8 characters, because
  // the server requires each chunk to be valid UTF-8 on its own.
  bool Next(v1::AppendToSessionRequest& request, int64_t& units) {
    request.Clear();
    units = 0;
    switch (kind_) {
      case Kind::kIds: {
        if (offset_ >= ids_.size()) return false;
        const size_t end = std::min(ids_.size(), offset_ + static_cast<size_t>(chunk_bytes_));
        request.mutable_token_ids()->mutable_ids()->Add(ids_.begin() + offset_, ids_.begin() + end);
        units = static_cast<int64_t>(end - offset_);
        offset_ = end;
        return true;
      }
      case Kind::kText: {
        if (offset_ >= text_.size()) return false;
        std::string piece = text_.substr(offset_, chunk_bytes_);
        offset_ += piece.size();
        pending_ = std::move(piece);
        break;
      }
      case Kind::kStream: {
        std::string buffer(static_cast<size_t>(chunk_bytes_), '\0');
        in_->read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
        buffer.resize(static_cast<size_t>(in_->gcount()));
        pending_ += buffer;
        if (buffer.empty() && pending_.empty()) return false;
        break;
      }
    }
    // Hold back an incomplete character at the end unless nothing follows.
    const bool more = kind_ == Kind::kText ? offset_ < text_.size() : !in_->eof();
    size_t cut = pending_.size();
    if (more) cut = CompleteUtf8Prefix(pending_);
    if (cut == 0) cut = pending_.size();  // no complete character at all: the server decides
    request.set_text(pending_.substr(0, cut));
    pending_.erase(0, cut);
    units = static_cast<int64_t>(request.text().size());
    return true;
  }

 private:
  enum class Kind { kText, kStream, kIds };

  // The length of the longest prefix of `s` that does not end inside a UTF-8 character.
  static size_t CompleteUtf8Prefix(const std::string& s) {
    for (size_t back = 1; back <= 4 && back <= s.size(); ++back) {
      const auto byte = static_cast<unsigned char>(s[s.size() - back]);
      if ((byte & 0xC0) == 0x80) continue;  // a continuation byte: look further back
      const size_t length = byte < 0x80 ? 1 : byte >= 0xF0 ? 4 : byte >= 0xE0 ? 3 : 2;
      return length > back ? s.size() - back : s.size();
    }
    return s.size();
  }

  Kind kind_ = Kind::kStream;
  int64_t chunk_bytes_ = 0;
  int64_t total_ = -1;
  std::vector<int32_t> ids_;
  std::string text_;
  size_t offset_ = 0;
  std::unique_ptr<std::ifstream> file_;
  std::istream* in_ = nullptr;
  std::string pending_;
};

// The append's progress: redrawn in place on a terminal (at most 10 times a second), one line
// every 2 seconds with --progress otherwise.
class AppendProgressLine {
 public:
  explicit AppendProgressLine(bool forced)
      : terminal_(::isatty(STDERR_FILENO) == 1), enabled_(terminal_ || forced) {}

  void Update(const v1::AppendProgress& p, int64_t sent, int64_t total, bool is_ids, bool last) {
    if (!enabled_) return;
    const Clock::time_point now = Clock::now();
    const auto every = terminal_ ? std::chrono::milliseconds(100) : std::chrono::seconds(2);
    if (!last && drawn_ && now - last_ < every) return;
    last_ = now;
    const double seconds = std::chrono::duration<double>(now - start_).count();
    std::string sent_text =
        is_ids ? absl::StrFormat("%d ids", sent) : HumanBytes(static_cast<double>(sent));
    if (total > 0) {
      absl::StrAppend(
          &sent_text, " of ",
          is_ids ? absl::StrFormat("%d", total) : HumanBytes(static_cast<double>(total)),
          absl::StrFormat(" (%.0f%%)", 100.0 * sent / total));
    }
    const std::string line = absl::StrFormat(
        "  sent %s; tokens %d processed of %d received (%d restored), %.0f tok/s, %.1f s",
        sent_text, p.tokens_processed(), p.tokens_received(), p.restored_tokens(),
        seconds > 0 ? p.recomputed_tokens() / seconds : 0.0, seconds);
    if (terminal_) {
      std::cerr << "\r" << line << "\x1b[K" << std::flush;
    } else {
      std::cerr << line << "\n" << std::flush;
    }
    drawn_ = true;
  }
  void Finish() {
    if (drawn_ && terminal_) std::cerr << "\n";
  }

 private:
  const bool terminal_;
  const bool enabled_;
  bool drawn_ = false;
  const Clock::time_point start_ = Clock::now();
  Clock::time_point last_{};
};

absl::Status Append(Context& c) {
  JAMBA_ASSIGN_OR_RETURN(const std::string name, RequireName(c));
  JAMBA_ASSIGN_OR_RETURN(ContentSource source, ContentSource::FromFlags(c.flags));
  v1::AppendToSessionRequest config;
  config.mutable_config()->set_session(name);
  // A fine progress grain: a document of a few thousand tokens still shows it move.
  config.mutable_config()->set_progress_interval_tokens(256);
  if (auto role = c.flags.Get("role")) {
    v1::ChatMessage::Role value;
    if (!v1::ChatMessage::Role_Parse(absl::AsciiStrToUpper(*role), &value) ||
        value == v1::ChatMessage::ROLE_UNSPECIFIED) {
      return absl::InvalidArgumentError("--role must be user, system or assistant");
    }
    config.mutable_config()->set_message_role(value);
  }

  const auto context = c.connection->NewContext(name);
  const Clock::time_point start = Clock::now();
  auto stream = c.connection->sessions().AppendToSession(context.get());
  // The writer streams the content while this thread reads the progress: neither waits for the
  // other, and gRPC's flow control keeps the writer from running far ahead of the server.
  std::atomic<int64_t> sent{0};
  absl::Status read_error;
  std::thread writer([&] {
    if (!stream->Write(config)) return;
    v1::AppendToSessionRequest chunk;
    int64_t units = 0;
    while (source.Next(chunk, units)) {
      if (!stream->Write(chunk)) return;  // the call ended: Finish() says why
      sent += units;
    }
    if (source.failed()) {
      read_error = absl::DataLossError("reading the input failed");
      context->TryCancel();  // abandon the append: the session stays as it was
      return;
    }
    stream->WritesDone();
  });
  AppendProgressLine progress(c.flags.GetBool("progress"));
  v1::AppendToSessionResponse response, last;
  while (stream->Read(&response)) {
    progress.Update(response.progress(), sent.load(), source.total(), source.is_ids(),
                    response.has_session());
    last = response;
  }
  writer.join();
  const grpc::Status status = stream->Finish();
  progress.Finish();
  JAMBA_RETURN_IF_ERROR(read_error);
  JAMBA_RETURN_IF_ERROR(FromGrpc(status));
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  const v1::AppendProgress& p = last.progress();
  const v1::Session& session = last.session();
  std::cout << absl::StrFormat(
      "appended %d tokens to %s in %.2f s (%.1f tok/s%s): now %d tokens, %d checkpoints, %s on "
      "disk\n",
      p.tokens_processed(), SessionId(session.name()), seconds,
      seconds > 0 ? p.recomputed_tokens() / seconds : 0.0,
      p.restored_tokens() > 0
          ? absl::StrCat("; ", p.restored_tokens(), " restored from a stored checkpoint")
          : "",
      session.token_count(), session.checkpoint_count(),
      HumanBytes(static_cast<double>(session.size_bytes())));
  return absl::OkStatus();
}

absl::Status Ask(Context& c) {
  JAMBA_ASSIGN_OR_RETURN(const std::string name, RequireName(c));
  const int given = c.flags.Has("question") + c.flags.Has("text") + c.flags.Has("ids");
  if (given > 1) {
    return absl::InvalidArgumentError("give at most one of --question, --text and --ids");
  }
  v1::GenerateRequest request;
  v1::SessionInput& input = *request.mutable_session();
  input.set_session(name);
  input.set_commit(c.flags.GetBool("commit"));
  if (auto question = c.flags.Get("question")) {
    v1::ChatMessage& message = *input.mutable_messages()->add_messages();
    message.set_role(v1::ChatMessage::USER);
    message.set_content(*question);
  } else if (auto text = c.flags.Get("text")) {
    input.set_text(*text);
  } else if (auto path = c.flags.Get("ids")) {
    auto ids = ReadTokenIds(*path);
    if (!ids.ok()) return absl::InvalidArgumentError(ids.status().message());
    input.mutable_token_ids()->mutable_ids()->Add(ids->begin(), ids->end());
  }
  JAMBA_RETURN_IF_ERROR(ApplySamplingFlags(c.flags, request));
  // Without a text question (token ids, or nothing), the answer is printed as token ids too.
  const bool text = c.flags.Has("question") || c.flags.Has("text");
  bool printed = false;
  auto result = StreamGenerate(*c.connection, request, [&](const v1::GenerateResponse& r) {
    printed = true;
    if (text) {
      std::cout << r.text();
    } else {
      for (const int32_t t : r.token_ids()) std::cout << t << " ";
    }
    std::cout.flush();
  });
  if (printed || result.ok()) std::cout << std::endl;  // before the summary on stderr
  JAMBA_RETURN_IF_ERROR(result.status());
  if (!c.flags.GetBool("quiet")) {
    std::cerr << "[session " << SessionId(name) << "] " << StreamSummary(*result) << "; "
              << (input.commit() ? absl::StrCat("committed: now ",
                                                result->last.session().token_count(), " tokens")
                                 : "not committed (the session is unchanged)")
              << "\n";
  }
  return absl::OkStatus();
}

absl::Status Fork(Context& c) {
  JAMBA_ASSIGN_OR_RETURN(const std::string name, RequireName(c));
  v1::ForkSessionRequest request;
  request.set_name(name);
  request.set_session_id(c.flags.GetOr("new-id", ""));
  if (c.flags.Has("at")) {
    JAMBA_ASSIGN_OR_RETURN(const int64_t at, RequirePosition(c, "at"));
    request.set_checkpoint(absl::StrCat(name, "/checkpoints/", at));
  }
  v1::Session session;
  const auto context = c.connection->NewContext(name);  // routed by the session forked from
  JAMBA_RETURN_IF_ERROR(
      FromGrpc(c.connection->sessions().ForkSession(context.get(), request, &session)));
  std::cout << absl::StrFormat("forked %s at %d tokens into %s\n", SessionId(name),
                               session.token_count(), SessionId(session.name()));
  return absl::OkStatus();
}

absl::Status Rewind(Context& c) {
  JAMBA_ASSIGN_OR_RETURN(const std::string name, RequireName(c));
  JAMBA_ASSIGN_OR_RETURN(const int64_t to, RequirePosition(c, "to"));
  v1::RewindSessionRequest request;
  request.set_name(name);
  request.set_checkpoint(absl::StrCat(name, "/checkpoints/", to));
  v1::Session session;
  const auto context = c.connection->NewContext(name);
  JAMBA_RETURN_IF_ERROR(
      FromGrpc(c.connection->sessions().RewindSession(context.get(), request, &session)));
  std::cout << absl::StrFormat("rewound %s to %d tokens\n", SessionId(name), session.token_count());
  return absl::OkStatus();
}

absl::Status Checkpoints(Context& c) {
  JAMBA_ASSIGN_OR_RETURN(const std::string name, RequireName(c));
  std::cout << absl::StrFormat("%12s  %-9s  %s\n", "position", "reason", "created");
  std::string token;
  do {
    v1::ListCheckpointsRequest request;
    request.set_parent(name);
    request.set_page_size(1000);
    request.set_page_token(token);
    v1::ListCheckpointsResponse response;
    const auto context = c.connection->NewContext(name);
    JAMBA_RETURN_IF_ERROR(
        FromGrpc(c.connection->sessions().ListCheckpoints(context.get(), request, &response)));
    for (const v1::Checkpoint& cp : response.checkpoints()) {
      std::cout << absl::StrFormat(
          "%12d  %-9s  %s\n", cp.token_count(),
          absl::AsciiStrToLower(v1::Checkpoint::Trigger_Name(cp.trigger())),
          LocalTime(cp.create_time()));
    }
    token = response.next_page_token();
  } while (!token.empty());
  return absl::OkStatus();
}

absl::Status List(Context& c) {
  std::vector<v1::Session> sessions;
  std::string token;
  do {
    v1::ListSessionsRequest request;
    request.set_page_size(1000);
    request.set_page_token(token);
    v1::ListSessionsResponse response;
    const auto context = c.connection->NewContext();
    JAMBA_RETURN_IF_ERROR(
        FromGrpc(c.connection->sessions().ListSessions(context.get(), request, &response)));
    sessions.insert(sessions.end(), response.sessions().begin(), response.sessions().end());
    token = response.next_page_token();
  } while (!token.empty());
  if (c.flags.GetBool("json")) {
    nlohmann::json out = nlohmann::json::array();
    for (const v1::Session& s : sessions) {
      out.push_back({{"id", SessionId(s.name())},
                     {"display_name", s.display_name()},
                     {"token_count", s.token_count()},
                     {"checkpoint_count", s.checkpoint_count()},
                     {"disk_bytes", s.size_bytes()},
                     {"model", s.model()},
                     {"create_time", Rfc3339(s.create_time())},
                     {"update_time", Rfc3339(s.update_time())}});
    }
    std::cout << out.dump(2) << "\n";
    return absl::OkStatus();
  }
  std::cout << absl::StrFormat("%-24s %10s %6s %10s  %-19s  %s\n", "id", "tokens", "ckpts", "disk",
                               "updated", "name");
  for (const v1::Session& s : sessions) {
    std::cout << absl::StrFormat("%-24s %10d %6d %10s  %-19s  %s\n", SessionId(s.name()),
                                 s.token_count(), s.checkpoint_count(),
                                 HumanBytes(static_cast<double>(s.size_bytes())),
                                 LocalTime(s.update_time()), s.display_name());
  }
  return absl::OkStatus();
}

absl::Status Delete(Context& c) {
  JAMBA_ASSIGN_OR_RETURN(const std::string name, RequireName(c));
  v1::DeleteSessionRequest request;
  request.set_name(name);
  google::protobuf::Empty empty;
  const auto context = c.connection->NewContext(name);
  JAMBA_RETURN_IF_ERROR(
      FromGrpc(c.connection->sessions().DeleteSession(context.get(), request, &empty)));
  std::cout << "deleted " << SessionId(name) << "\n";
  return absl::OkStatus();
}

struct Subcommand {
  const char* name;
  absl::Status (*run)(Context& c);
  const char* values;    // flags with a value, space-separated
  const char* booleans;  // flags without
};

constexpr Subcommand kSubcommands[] = {
    {"create", Create, "id name", "skip-bos"},
    {"append", Append, "id file text ids role chunk-bytes", "progress"},
    {"ask", Ask, "id question text ids", "commit quiet"},
    {"fork", Fork, "id new-id at", ""},
    {"rewind", Rewind, "id to", ""},
    {"checkpoints", Checkpoints, "id", ""},
    {"list", List, "", "json"},
    {"delete", Delete, "id", ""},
};

}  // namespace

int RunSession(const Args& args) {
  // `generate` is the local name of `ask`; both work against a server.
  const std::string sub = args.empty() ? "" : args[0] == "generate" ? "ask" : args[0];
  for (const Subcommand& s : kSubcommands) {
    if (sub != s.name) continue;
    const std::string command = absl::StrCat("session ", s.name);
    FlagSpec spec;
    AddConnectionFlags(spec);
    for (absl::string_view name : absl::StrSplit(s.values, ' ', absl::SkipEmpty()))
      spec.values.emplace(name);
    for (absl::string_view name : absl::StrSplit(s.booleans, ' ', absl::SkipEmpty()))
      spec.booleans.emplace(name);
    if (sub == "ask") AddSamplingFlags(spec);
    auto flags = Flags::Parse(Args(args.begin() + 1, args.end()), spec);
    if (!flags.ok()) return Fail(command, flags.status());
    if (!flags->positional().empty()) {
      return Fail(command, absl::InvalidArgumentError(absl::StrCat(
                               "unexpected argument \"", flags->positional().front(), "\"")));
    }
    auto connection = Connection::FromFlags(*flags);
    if (!connection.ok()) return Fail(command, connection.status());
    Context context{command, *std::move(flags), *std::move(connection)};
    if (absl::Status status = s.run(context); !status.ok()) return Fail(command, status);
    return 0;
  }
  std::cerr << "jamba session: unknown command \"" << (args.empty() ? "" : args[0])
            << "\" for --server\n"
            << kSessionUsage << kConnectionHelp << kExitCodesHelp;
  return 2;
}

}  // namespace jamba::cli::remote
