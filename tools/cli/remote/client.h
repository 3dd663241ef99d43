// The `jamba` CLI as a client of a running jambad: the connection flags (--server, TLS, API key),
// one channel carrying the jamba.v1 stubs, per-call contexts that carry the key, the mapping of
// gRPC errors to messages and exit codes, and the Generate stream shared by generate, chat and
// session ask. Only the stubs generated from proto/ are used (no other client library).
#ifndef JAMBA_TOOLS_CLI_REMOTE_CLIENT_H_
#define JAMBA_TOOLS_CLI_REMOTE_CLIENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "grpcpp/grpcpp.h"
#include "jamba/v1/generation_service.grpc.pb.h"
#include "jamba/v1/model_service.grpc.pb.h"
#include "jamba/v1/session_service.grpc.pb.h"
#include "tools/cli/commands.h"
#include "tools/cli/flags.h"

namespace jamba::cli::remote {

// The exit codes of every client command, for the usage texts.
inline constexpr char kExitCodesHelp[] =
    "exit codes with --server: 0 ok; 2 INVALID_ARGUMENT or FAILED_PRECONDITION (also bad flags);\n"
    "  3 NOT_FOUND; 4 UNAUTHENTICATED or PERMISSION_DENIED; 5 UNAVAILABLE or DEADLINE_EXCEEDED;\n"
    "  1 any other error. Errors print the gRPC code, the message and the error's reason.\n";

// The connection flags, for the usage texts.
inline constexpr char kConnectionHelp[] =
    "connection: --server HOST:PORT [--tls] [--tls-ca CA.pem] [--tls-cert CERT.pem --tls-key "
    "KEY.pem]\n"
    "  [--api-key KEY | --api-key-file FILE] (default: $JAMBA_API_KEY) [--timeout SECONDS]\n"
    "  --tls-ca (or --tls) turns TLS on; --tls-cert/--tls-key add a client certificate (mutual "
    "TLS).\n";

// True when `args` ask for the client mode (a --server flag).
bool WantsServer(const Args& args);

// --server --tls --tls-ca --tls-cert --tls-key --api-key --api-key-file --timeout.
void AddConnectionFlags(FlagSpec& spec);

class Connection {
 public:
  // Reads the key and certificate files the flags name; connects lazily (the first call).
  static absl::StatusOr<std::unique_ptr<Connection>> FromFlags(const Flags& flags);

  // A context for one call: the API key as `authorization: Bearer`, --timeout's deadline, and
  // the session the call acts on (an id or a name; "" for none) as `x-jamba-session:
  // sessions/{id}` metadata, which consistent-hash load balancers route by.
  std::unique_ptr<grpc::ClientContext> NewContext(const std::string& session = "") const;

  v1::SessionService::Stub& sessions() const { return *sessions_; }
  v1::GenerationService::Stub& generation() const { return *generation_; }
  v1::ModelService::Stub& models() const { return *models_; }
  const std::string& address() const { return address_; }

 private:
  std::string address_;
  std::string api_key_;
  double timeout_seconds_ = 0;  // 0: no deadline
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::SessionService::Stub> sessions_;
  std::unique_ptr<v1::GenerationService::Stub> generation_;
  std::unique_ptr<v1::ModelService::Stub> models_;
};

// An RPC's failure as an absl::Status of the same code, whose message reads
// "NOT_FOUND: <server message> (reason SESSION_NOT_FOUND)" with the BadRequest fields and the
// RetryInfo delay when the server sent them.
absl::Status FromGrpc(const grpc::Status& status);

// The exit code of a failure (see kExitCodesHelp).
int ExitCode(absl::StatusCode code);

// Prints "jamba <command>: <message>" to stderr and returns ExitCode(status.code()).
int Fail(const std::string& command, const absl::Status& status);

// "sessions/ID" from an id given either way ("ID" or "sessions/ID").
std::string SessionName(const std::string& id);
// "ID" from "sessions/ID".
std::string SessionId(const std::string& name);

// Sets the GenerateRequest fields of the sampling flags that are given (see AddSamplingFlags);
// the others keep the server's defaults.
absl::Status ApplySamplingFlags(const Flags& flags, v1::GenerateRequest& request);

// "max_tokens" for FINISH_REASON_MAX_TOKENS.
std::string FinishReasonName(v1::FinishReason reason);

// A finished Generate stream as the client saw it.
struct StreamResult {
  std::vector<int32_t> tokens;     // every response's token_ids
  v1::GenerateResponse last;       // finish_reason, usage, seed, session
  double first_token_seconds = 0;  // call start to the first response with a token
  double total_seconds = 0;        // call start to the end of the stream
};

// Runs Generate and calls `on_response` with each response as it arrives (to print it). Fails
// with FromGrpc of the call's status.
absl::StatusOr<StreamResult> StreamGenerate(
    const Connection& connection, const v1::GenerateRequest& request,
    const std::function<void(const v1::GenerateResponse&)>& on_response);

// One summary line for stderr: tokens in and out, time to first token and the decode rate, the
// finish reason and the seed.
std::string StreamSummary(const StreamResult& result);

// The subcommands (the callers have checked WantsServer).
int RunGenerate(const Args& args);
int RunChat(const Args& args);
int RunSession(const Args& args);
int RunTokenize(const Args& args);

// The usage text of `jamba session ... --server`.
extern const char kSessionUsage[];

}  // namespace jamba::cli::remote

#endif  // JAMBA_TOOLS_CLI_REMOTE_CLIENT_H_
