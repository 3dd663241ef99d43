// The connection, error mapping and Generate stream of the `jamba` client commands.
#include "tools/cli/remote/client.h"

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "engine/status_macros.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace jamba::cli::remote {
namespace {

using Clock = std::chrono::steady_clock;

absl::StatusOr<std::string> ReadWholeFile(const std::string& flag, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("--", flag, ": cannot read ", path));
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Keys go in clear text without TLS; loopback never leaves the machine, anything else may.
bool IsLoopback(const std::string& address) {
  return absl::StartsWith(address, "127.") || absl::StartsWith(address, "localhost:") ||
         absl::StartsWith(address, "[::1]:") || absl::StartsWith(address, "unix:") ||
         absl::StartsWith(address, "ipv4:127.") || absl::StartsWith(address, "dns:///localhost:");
}

}  // namespace

bool WantsServer(const Args& args) {
  for (const std::string& arg : args) {
    if (arg == "--server" || absl::StartsWith(arg, "--server=")) return true;
  }
  return false;
}

void AddConnectionFlags(FlagSpec& spec) {
  spec.values.insert(
      {"server", "tls-ca", "tls-cert", "tls-key", "api-key", "api-key-file", "timeout"});
  spec.booleans.insert("tls");
}

absl::StatusOr<std::unique_ptr<Connection>> Connection::FromFlags(const Flags& flags) {
  auto connection = std::make_unique<Connection>();
  JAMBA_ASSIGN_OR_RETURN(connection->address_, flags.Require("server"));
  if (connection->address_.empty()) return absl::InvalidArgumentError("--server is empty");

  if (flags.Has("api-key") && flags.Has("api-key-file")) {
    return absl::InvalidArgumentError("give at most one of --api-key and --api-key-file");
  }
  if (auto key = flags.Get("api-key")) {
    connection->api_key_ = *key;
  } else if (auto path = flags.Get("api-key-file")) {
    JAMBA_ASSIGN_OR_RETURN(const std::string text, ReadWholeFile("api-key-file", *path));
    // The first line; a trailing newline (or CR) is not part of the key.
    connection->api_key_ = std::string(absl::StripAsciiWhitespace(text.substr(0, text.find('\n'))));
    if (connection->api_key_.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("--api-key-file: ", *path, " is empty"));
    }
  } else if (const char* env = std::getenv("JAMBA_API_KEY"); env != nullptr) {
    connection->api_key_ = std::string(absl::StripAsciiWhitespace(env));
  }

  JAMBA_ASSIGN_OR_RETURN(connection->timeout_seconds_, flags.GetDouble("timeout", 0));
  if (connection->timeout_seconds_ < 0) {
    return absl::InvalidArgumentError("--timeout must not be negative");
  }

  if (flags.Has("tls-cert") != flags.Has("tls-key")) {
    return absl::InvalidArgumentError("--tls-cert and --tls-key go together");
  }
  const bool tls = flags.GetBool("tls") || flags.Has("tls-ca") || flags.Has("tls-cert");
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (tls) {
    grpc::SslCredentialsOptions options;  // empty roots: the system's CAs
    if (auto path = flags.Get("tls-ca")) {
      JAMBA_ASSIGN_OR_RETURN(options.pem_root_certs, ReadWholeFile("tls-ca", *path));
    }
    if (auto path = flags.Get("tls-cert")) {
      JAMBA_ASSIGN_OR_RETURN(options.pem_cert_chain, ReadWholeFile("tls-cert", *path));
      JAMBA_ASSIGN_OR_RETURN(options.pem_private_key,
                             ReadWholeFile("tls-key", *flags.Get("tls-key")));
    }
    credentials = grpc::SslCredentials(options);
  } else {
    credentials = grpc::InsecureChannelCredentials();
    if (!connection->api_key_.empty() && !IsLoopback(connection->address_)) {
      std::cerr << "jamba: warning: sending the API key without TLS to " << connection->address_
                << " (use --tls-ca)\n";
    }
  }
  connection->channel_ = grpc::CreateChannel(connection->address_, credentials);
  connection->sessions_ = v1::SessionService::NewStub(connection->channel_);
  connection->generation_ = v1::GenerationService::NewStub(connection->channel_);
  connection->models_ = v1::ModelService::NewStub(connection->channel_);
  return connection;
}

std::unique_ptr<grpc::ClientContext> Connection::NewContext(const std::string& session) const {
  auto context = std::make_unique<grpc::ClientContext>();
  if (!api_key_.empty()) context->AddMetadata("authorization", "Bearer " + api_key_);
  if (!session.empty()) context->AddMetadata("x-jamba-session", SessionName(session));
  if (timeout_seconds_ > 0) {
    context->set_deadline(std::chrono::system_clock::now() +
                          std::chrono::microseconds(static_cast<int64_t>(timeout_seconds_ * 1e6)));
  }
  return context;
}

absl::Status FromGrpc(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  const auto code = static_cast<absl::StatusCode>(status.error_code());
  std::string message = absl::StrCat(absl::StatusCodeToString(code), ": ", status.error_message());
  // The typed details jambad sends (docs/api.md, Errors): the reason to match on, and the fields
  // of a bad request, say more than the message alone.
  google::rpc::Status details;
  std::vector<std::string> notes;
  if (!status.error_details().empty() && details.ParseFromString(status.error_details())) {
    for (const google::protobuf::Any& any : details.details()) {
      google::rpc::ErrorInfo info;
      google::rpc::BadRequest bad_request;
      google::rpc::RetryInfo retry;
      if (any.UnpackTo(&info)) {
        notes.push_back(absl::StrCat("reason ", info.reason()));
      } else if (any.UnpackTo(&bad_request)) {
        for (const auto& violation : bad_request.field_violations()) {
          notes.push_back(absl::StrCat("field ", violation.field()));
        }
      } else if (any.UnpackTo(&retry)) {
        notes.push_back(
            absl::StrFormat("retry after %.1f s",
                            retry.retry_delay().seconds() + retry.retry_delay().nanos() / 1e9));
      }
    }
  }
  if (!notes.empty()) absl::StrAppend(&message, " (", absl::StrJoin(notes, "; "), ")");
  return absl::Status(code, message);
}

int ExitCode(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return 0;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
      return 2;
    case absl::StatusCode::kNotFound:
      return 3;
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kPermissionDenied:
      return 4;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
      return 5;
    default:
      return 1;
  }
}

int Fail(const std::string& command, const absl::Status& status) {
  std::cerr << "jamba " << command << ": " << status.message() << "\n";
  return ExitCode(status.code());
}

std::string SessionName(const std::string& id) {
  return absl::StartsWith(id, "sessions/") ? id : absl::StrCat("sessions/", id);
}

std::string SessionId(const std::string& name) {
  return std::string(absl::StripPrefix(name, "sessions/"));
}

absl::Status ApplySamplingFlags(const Flags& flags, v1::GenerateRequest& request) {
  v1::SamplingParams& sampling = *request.mutable_sampling();
  if (flags.Has("max-tokens")) {
    JAMBA_ASSIGN_OR_RETURN(const int64_t n, flags.GetInt("max-tokens", 0));
    if (n < 1 || n > INT32_MAX) return absl::InvalidArgumentError("--max-tokens must be >= 1");
    request.set_max_tokens(static_cast<int32_t>(n));
  }
  if (flags.Has("temperature")) {
    JAMBA_ASSIGN_OR_RETURN(const double v, flags.GetDouble("temperature", 1));
    sampling.set_temperature(static_cast<float>(v));
  }
  if (flags.Has("top-p")) {
    JAMBA_ASSIGN_OR_RETURN(const double v, flags.GetDouble("top-p", 1));
    sampling.set_top_p(static_cast<float>(v));
  }
  if (flags.Has("top-k")) {
    JAMBA_ASSIGN_OR_RETURN(const int64_t v, flags.GetInt("top-k", 0));
    sampling.set_top_k(static_cast<int32_t>(v));
  }
  if (flags.Has("min-p")) {
    JAMBA_ASSIGN_OR_RETURN(const double v, flags.GetDouble("min-p", 0));
    sampling.set_min_p(static_cast<float>(v));
  }
  if (flags.Has("repetition-penalty")) {
    JAMBA_ASSIGN_OR_RETURN(const double v, flags.GetDouble("repetition-penalty", 1));
    sampling.set_repetition_penalty(static_cast<float>(v));
  }
  if (flags.Has("seed")) {
    JAMBA_ASSIGN_OR_RETURN(const int64_t v, flags.GetInt("seed", 0));
    if (v < 0) return absl::InvalidArgumentError("--seed must not be negative");
    sampling.set_seed(static_cast<uint64_t>(v));
  }
  if (auto stop = flags.Get("stop")) request.mutable_stop()->add_stop_strings(*stop);
  if (flags.GetBool("ignore-eos")) request.mutable_stop()->set_ignore_eos(true);
  return absl::OkStatus();
}

std::string FinishReasonName(v1::FinishReason reason) {
  return absl::AsciiStrToLower(absl::StripPrefix(v1::FinishReason_Name(reason), "FINISH_REASON_"));
}

absl::StatusOr<StreamResult> StreamGenerate(
    const Connection& connection, const v1::GenerateRequest& request,
    const std::function<void(const v1::GenerateResponse&)>& on_response) {
  StreamResult result;
  const std::unique_ptr<grpc::ClientContext> context =
      connection.NewContext(request.has_session() ? request.session().session() : "");
  const Clock::time_point start = Clock::now();
  std::unique_ptr<grpc::ClientReader<v1::GenerateResponse>> reader =
      connection.generation().Generate(context.get(), request);
  v1::GenerateResponse response;
  bool first = true;
  while (reader->Read(&response)) {
    if (first && response.token_ids_size() > 0) {
      result.first_token_seconds = std::chrono::duration<double>(Clock::now() - start).count();
      first = false;
    }
    result.tokens.insert(result.tokens.end(), response.token_ids().begin(),
                         response.token_ids().end());
    if (on_response) on_response(response);
    result.last = response;
  }
  JAMBA_RETURN_IF_ERROR(FromGrpc(reader->Finish()));
  result.total_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return result;
}

std::string StreamSummary(const StreamResult& result) {
  const v1::Usage& usage = result.last.usage();
  const double decode_seconds = result.total_seconds - result.first_token_seconds;
  const int64_t decode_tokens = std::max(0, usage.completion_tokens() - 1);
  std::string line = absl::StrFormat(
      "prompt %d tokens (%d restored, %d computed), generated %d; first token after %.3f s, "
      "then %.1f tok/s; finish: %s",
      usage.prompt_tokens(), usage.restored_tokens(), usage.recomputed_tokens(),
      usage.completion_tokens(), result.first_token_seconds,
      decode_seconds > 0 ? decode_tokens / decode_seconds : 0.0,
      FinishReasonName(result.last.finish_reason()));
  if (result.last.has_seed()) absl::StrAppend(&line, "; seed ", result.last.seed());
  return line;
}

}  // namespace jamba::cli::remote
