// `jamba chat --server ADDR`: an interactive chat kept in a server session. Each line read from
// stdin is a user message; the reply streams to stdout and the turn is committed to the session,
// so the conversation survives the client (continue it with --session ID) and the server. Works
// the same with stdin not a terminal (one message per line), which is how the tests drive it.
#include <unistd.h>

#include <iostream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "engine/status_macros.h"
#include "tools/cli/common.h"
#include "tools/cli/remote/client.h"

namespace jamba::cli::remote {
namespace {

constexpr char kChatUsage[] =
    R"(usage: jamba chat --server HOST:PORT [connection flags] [--session ID] [--system TEXT]
                  [--max-tokens N] [--temperature T] [--top-p P] [--top-k K] [--min-p P]
                  [--repetition-penalty R] [--seed S] [--stop TEXT] [--quiet]
Reads user messages from stdin, one per line, and streams the replies. The conversation lives in a
new server session (its id is printed), or in --session ID to continue one (a session holding a
document, for example). Lines: /reset forgets this chat's turns (back to where it started),
/exit (or end of input) quits.
)";

absl::StatusOr<v1::Session> AppendOne(const Connection& connection, const std::string& name,
                                      const v1::AppendToSessionRequest& content) {
  const auto context = connection.NewContext();
  auto stream = connection.sessions().AppendToSession(context.get());
  v1::AppendToSessionRequest config;
  config.mutable_config()->set_session(name);
  if (stream->Write(config) && stream->Write(content)) stream->WritesDone();
  v1::AppendToSessionResponse response, last;
  while (stream->Read(&response)) last = response;
  JAMBA_RETURN_IF_ERROR(FromGrpc(stream->Finish()));
  return last.session();
}

absl::Status Chat(const Flags& flags, const Connection& connection) {
  const bool quiet = flags.GetBool("quiet");
  const bool terminal = ::isatty(STDIN_FILENO) == 1;
  v1::ModelInfo model;
  {
    const auto context = connection.NewContext();
    JAMBA_RETURN_IF_ERROR(FromGrpc(
        connection.models().GetModelInfo(context.get(), v1::GetModelInfoRequest(), &model)));
  }
  if (!model.tokenizer().has_chat_template()) {
    return absl::FailedPreconditionError(
        absl::StrCat("the server's model (", model.model_id(), ") has no chat template"));
  }
  // Checked before the first message, so a bad flag never costs a session.
  v1::GenerateRequest turn;
  JAMBA_RETURN_IF_ERROR(ApplySamplingFlags(flags, turn));

  v1::Session session;
  if (auto id = flags.Get("session")) {
    if (flags.Has("system")) {
      return absl::InvalidArgumentError("--system starts a new chat: not with --session");
    }
    v1::GetSessionRequest request;
    request.set_name(SessionName(*id));
    const auto context = connection.NewContext();
    JAMBA_RETURN_IF_ERROR(
        FromGrpc(connection.sessions().GetSession(context.get(), request, &session)));
  } else {
    v1::CreateSessionRequest request;
    request.mutable_session()->set_display_name("jamba chat");
    const auto context = connection.NewContext();
    JAMBA_RETURN_IF_ERROR(
        FromGrpc(connection.sessions().CreateSession(context.get(), request, &session)));
    if (auto system = flags.Get("system")) {
      v1::AppendToSessionRequest content;
      content.mutable_message()->set_role(v1::ChatMessage::SYSTEM);
      content.mutable_message()->set_content(*system);
      JAMBA_ASSIGN_OR_RETURN(session, AppendOne(connection, session.name(), content));
    }
  }
  const std::string name = session.name();
  // Every append and commit ends with a checkpoint, so where the chat starts is one: /reset
  // rewinds there without recomputing anything.
  const int32_t start = session.token_count();
  if (!quiet) {
    std::cerr << "chat in session " << SessionId(name) << " (" << start << " tokens) on "
              << connection.address() << "; /reset forgets this chat's turns, /exit quits\n";
  }

  std::string line;
  for (;;) {
    if (terminal) std::cerr << "> " << std::flush;
    if (!std::getline(std::cin, line)) break;
    const std::string message(absl::StripAsciiWhitespace(line));
    if (message.empty()) continue;
    if (message == "/exit" || message == "/quit") break;
    if (message == "/reset") {
      v1::RewindSessionRequest request;
      request.set_name(name);
      request.set_checkpoint(absl::StrCat(name, "/checkpoints/", start));
      const auto context = connection.NewContext();
      JAMBA_RETURN_IF_ERROR(
          FromGrpc(connection.sessions().RewindSession(context.get(), request, &session)));
      if (!quiet) std::cerr << "(the conversation starts over)\n";
      continue;
    }
    if (message[0] == '/') {
      std::cerr << "unknown command " << message << ": /reset or /exit\n";
      continue;
    }
    v1::GenerateRequest request = turn;
    v1::SessionInput& input = *request.mutable_session();
    input.set_session(name);
    input.set_commit(true);
    v1::ChatMessage& user = *input.mutable_messages()->add_messages();
    user.set_role(v1::ChatMessage::USER);
    user.set_content(message);
    JAMBA_ASSIGN_OR_RETURN(StreamResult result,
                           StreamGenerate(connection, request, [](const v1::GenerateResponse& r) {
                             std::cout << r.text() << std::flush;
                           }));
    std::cout << "\n" << std::flush;
    // The server closes the committed reply as a finished turn, even one cut short.
    session = result.last.session();
    if (!quiet) std::cerr << "  [" << StreamSummary(result) << "]\n";
  }
  if (!quiet) {
    std::cerr << "session " << SessionId(name) << ": " << session.token_count()
              << " tokens; continue with: jamba chat --server " << connection.address()
              << " --session " << SessionId(name) << "\n";
  }
  return absl::OkStatus();
}

}  // namespace

int RunChat(const Args& args) {
  if (!args.empty() && (args[0] == "--help" || args[0] == "help")) {
    std::cout << kChatUsage << kConnectionHelp << kExitCodesHelp;
    return 0;
  }
  FlagSpec spec;
  AddConnectionFlags(spec);
  AddSamplingFlags(spec);
  spec.values.insert({"session", "system"});
  spec.booleans.insert("quiet");
  auto flags = Flags::Parse(args, spec);
  if (!flags.ok()) return Fail("chat", flags.status());
  if (!flags->Has("server")) {
    std::cerr << "jamba chat: --server HOST:PORT is required (chat talks to a running jambad)\n"
              << kChatUsage;
    return 2;
  }
  if (!flags->positional().empty()) {
    return Fail("chat", absl::InvalidArgumentError(absl::StrCat(
                            "unexpected argument \"", flags->positional().front(), "\"")));
  }
  auto connection = Connection::FromFlags(*flags);
  if (!connection.ok()) return Fail("chat", connection.status());
  if (absl::Status status = Chat(*flags, **connection); !status.ok()) return Fail("chat", status);
  return 0;
}

}  // namespace jamba::cli::remote
