// `jamba chat --server ADDR`: an interactive chat kept in a server session. Each line read from
// stdin is a user message; the reply streams to stdout and the turn is committed to the session,
// so the conversation survives the client (continue it with --session ID) and the server. With
// --tools the model may call them: each call is printed and the next line is its result. Works
// the same with stdin not a terminal (one message per line), which is how the tests drive it.
#include <unistd.h>

#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "engine/file_util.h"
#include "engine/status_macros.h"
#include "jamba/chat_json.h"
#include "tools/cli/common.h"
#include "tools/cli/remote/client.h"

namespace jamba::cli::remote {
namespace {

constexpr char kChatUsage[] =
    R"(usage: jamba chat --server HOST:PORT [connection flags] [--session ID] [--system TEXT]
                  [--max-tokens N] [--temperature T] [--top-p P] [--top-k K] [--min-p P]
                  [--repetition-penalty R] [--seed S] [--stop TEXT] [--quiet]
                  [--tools FILE.json] [--tool-choice auto|none|required|NAME]
                  [--documents FILE.json]
Reads user messages from stdin, one per line, and streams the replies. The conversation lives in a
new server session (its id is printed), or in --session ID to continue one (a session holding a
document, for example). Lines: /reset forgets this chat's turns (back to where it started),
/exit (or end of input) quits.
--tools offers functions to the model (OpenAI's shape: [{"type": "function", "function": {"name",
"description", "parameters"}}]); --documents gives it documents ([{"title", "text", ...}]). Both go
with the chat's first message. A reply that calls tools prints each call on stdout as
  [tool call ID] NAME ARGUMENTS-JSON
and the next line of input is that call's result (one line per call), after which the reply goes
on. Reasoning (a <think> block) streams to stderr, apart from the answer (not with --quiet).
)";

// A file's parse error, naming the file.
absl::Status InFile(const absl::Status& status, const std::string& path) {
  return absl::Status(status.code(), absl::StrCat(path, ": ", status.message()));
}

// The --tools and --documents files, as the v1 messages carry them (checked before anything is
// sent).
absl::Status ReadToolsAndDocuments(const Flags& flags, v1::ChatMessages& out) {
  if (auto path = flags.Get("tools")) {
    JAMBA_ASSIGN_OR_RETURN(std::string text, engine::ReadFileToString(*path));
    auto tools = ToolsFromJson(text);
    if (!tools.ok()) return InFile(tools.status(), *path);
    for (const Tool& tool : *tools) {
      v1::Tool& v1_tool = *out.add_tools();
      v1_tool.set_name(tool.name);
      v1_tool.set_description(tool.description);
      v1_tool.set_parameters(tool.parameters);
    }
  }
  if (auto path = flags.Get("documents")) {
    JAMBA_ASSIGN_OR_RETURN(std::string text, engine::ReadFileToString(*path));
    auto documents = DocumentsFromJson(text);
    if (!documents.ok()) return InFile(documents.status(), *path);
    for (const Document& document : *documents) {
      v1::Document& v1_document = *out.add_documents();
      v1_document.set_title(document.title);
      v1_document.set_text(document.text);
      v1_document.mutable_metadata()->insert(document.metadata.begin(), document.metadata.end());
    }
  }
  return absl::OkStatus();
}

absl::Status ApplyToolChoice(const Flags& flags, const v1::ChatMessages& offered,
                             v1::GenerateRequest& turn) {
  auto choice = flags.Get("tool-choice");
  if (!choice.has_value()) return absl::OkStatus();
  if (offered.tools_size() == 0) {
    return absl::InvalidArgumentError("--tool-choice needs --tools");
  }
  v1::ToolChoice& out = *turn.mutable_tool_choice();
  if (*choice == "auto") {
    out.set_mode(v1::ToolChoice::AUTO);
  } else if (*choice == "none") {
    out.set_mode(v1::ToolChoice::NONE);
  } else if (*choice == "required") {
    out.set_mode(v1::ToolChoice::REQUIRED);
  } else {
    for (const v1::Tool& tool : offered.tools()) {
      if (tool.name() == *choice) {
        out.set_mode(v1::ToolChoice::FUNCTION);
        out.set_function(*choice);
        return absl::OkStatus();
      }
    }
    return absl::InvalidArgumentError(absl::StrCat(
        "--tool-choice: \"", *choice, "\" is not auto, none, required or a tool in --tools"));
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::Session> AppendOne(const Connection& connection, const std::string& name,
                                      const v1::AppendToSessionRequest& content) {
  const auto context = connection.NewContext(name);
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
  // Tools and documents go with the first message this chat sends.
  v1::ChatMessages beside;
  JAMBA_RETURN_IF_ERROR(ReadToolsAndDocuments(flags, beside));
  JAMBA_RETURN_IF_ERROR(ApplyToolChoice(flags, beside, turn));
  const v1::ChatMessages offered = beside;  // sent again after /reset rewinds them away

  v1::Session session;
  if (auto id = flags.Get("session")) {
    if (flags.Has("system")) {
      return absl::InvalidArgumentError("--system starts a new chat: not with --session");
    }
    v1::GetSessionRequest request;
    request.set_name(SessionName(*id));
    const auto context = connection.NewContext(request.name());
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
      const auto context = connection.NewContext(name);
      JAMBA_RETURN_IF_ERROR(
          FromGrpc(connection.sessions().RewindSession(context.get(), request, &session)));
      beside = offered;
      if (!quiet) std::cerr << "(the conversation starts over)\n";
      continue;
    }
    if (message[0] == '/') {
      std::cerr << "unknown command " << message << ": /reset or /exit\n";
      continue;
    }
    v1::ChatMessages messages = beside;
    beside.Clear();
    v1::ChatMessage& user = *messages.add_messages();
    user.set_role(v1::ChatMessage::USER);
    user.set_content(message);
    // One user message, then as many rounds as the model calls tools.
    bool ended = false;
    for (;;) {
      v1::GenerateRequest request = turn;
      v1::SessionInput& input = *request.mutable_session();
      input.set_session(name);
      input.set_commit(true);
      *input.mutable_messages() = std::move(messages);
      messages.Clear();
      std::vector<v1::ToolCall> calls;
      bool thinking = false;
      JAMBA_ASSIGN_OR_RETURN(
          StreamResult result,
          StreamGenerate(connection, request, [&](const v1::GenerateResponse& r) {
            if (!r.reasoning().empty() && !quiet) {
              if (!thinking) std::cerr << "[thinking] ";
              thinking = true;
              std::cerr << r.reasoning() << std::flush;
            }
            if (thinking && (!r.text().empty() || r.tool_calls_size() > 0) && !quiet) {
              std::cerr << "\n";
              thinking = false;
            }
            std::cout << r.text() << std::flush;
            calls.insert(calls.end(), r.tool_calls().begin(), r.tool_calls().end());
          }));
      if (thinking) std::cerr << "\n";
      // The server closes the committed reply as a finished turn, even one cut short.
      session = result.last.session();
      if (result.last.malformed_tool_call() && !quiet) {
        std::cerr << "  (the model wrote a tool call that does not parse; it is shown as text)\n";
      }
      if (calls.empty()) {
        std::cout << "\n" << std::flush;
        if (!quiet) std::cerr << "  [" << StreamSummary(result) << "]\n";
        break;
      }
      if (!result.last.text().empty()) std::cout << "\n";
      for (const v1::ToolCall& call : calls) {
        std::cout << "[tool call " << call.id() << "] " << call.name() << " " << call.arguments()
                  << "\n"
                  << std::flush;
      }
      if (!quiet) std::cerr << "  [" << StreamSummary(result) << "]\n";
      // Each call's result is the next line; the reply goes on once all are in.
      for (const v1::ToolCall& call : calls) {
        if (terminal) std::cerr << "result of " << call.id() << " (" << call.name() << ")> ";
        std::string result_line;
        if (!std::getline(std::cin, result_line) ||
            absl::StripAsciiWhitespace(result_line) == "/exit") {
          ended = true;
          break;
        }
        v1::ChatMessage& answer = *messages.add_messages();
        answer.set_role(v1::ChatMessage::TOOL);
        answer.set_tool_call_id(call.id());
        answer.set_name(call.name());
        answer.set_content(result_line);
      }
      if (ended) break;
    }
    if (ended) break;
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
  spec.values.insert({"session", "system", "tools", "tool-choice", "documents"});
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
