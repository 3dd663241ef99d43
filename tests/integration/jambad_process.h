// Integration-test support: starts the real jambad binary on 127.0.0.1 with port 0 for gRPC, the
// HTTP API and metrics (reading the bound ports from its "listening" line), a temporary session
// directory and an empty config file, and gives tests gRPC channels to it plus helpers to read the
// google.rpc error details.
#ifndef JAMBA_TESTS_INTEGRATION_JAMBAD_PROCESS_H_
#define JAMBA_TESTS_INTEGRATION_JAMBAD_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "grpcpp/grpcpp.h"
#include "jamba/v1/generation_service.grpc.pb.h"
#include "jamba/v1/model_service.grpc.pb.h"
#include "jamba/v1/session_service.grpc.pb.h"
#include "tests/util/test_util.h"

namespace jamba::testing {

// Models built or stored for the tests.
std::string DemoModelDir();  // the demo_model target's output: tokenizer, chat template
// demo_model_reasoning's: the reasoning-3b preset (tokenizer.json, ChatML with tools and think)
std::string ReasoningDemoModelDir();
std::string GoldenModelDir();  // hybrid8_moe_f32_sharded: token ids only

struct JambadOptions {
  std::string model_dir;
  std::string session_dir;  // "" -> a fresh temporary directory owned by the process object
  // More flags, as "--key", "value" pairs (they override the defaults below).
  std::vector<std::string> flags;
};

class JambadProcess {
  struct PrivateTag {
    explicit PrivateTag() = default;
  };

 public:
  explicit JambadProcess(PrivateTag) {}
  // Starts jambad with --threads 2, loopback port 0, metrics and HTTP on port 0 and the given
  // options, and waits for it to listen. Fails with its stderr if it exits first.
  static absl::StatusOr<std::unique_ptr<JambadProcess>> Start(const JambadOptions& options);
  ~JambadProcess();  // SIGKILLs it if it is still running
  JambadProcess(const JambadProcess&) = delete;
  JambadProcess& operator=(const JambadProcess&) = delete;

  int port() const { return port_; }
  int metrics_port() const { return metrics_port_; }
  int http_port() const { return http_port_; }  // the OpenAI-compatible HTTP API
  std::string address() const;
  const std::string& session_dir() const { return session_dir_; }
  pid_t pid() const { return pid_; }

  std::shared_ptr<grpc::Channel> Channel() const;  // plaintext
  std::shared_ptr<grpc::Channel> Channel(
      const std::shared_ptr<grpc::ChannelCredentials>& credentials) const;

  void Signal(int signal) const;
  // Waits for the process to exit: its exit status, or 128 + the signal that killed it.
  int Wait();
  // Its stderr (JSON-lines logs) so far.
  std::string Log() const;
  // GET http://127.0.0.1:<metrics port><path>.
  std::string HttpGet(const std::string& path) const;

 private:
  std::unique_ptr<TempDir> dir_;
  std::string session_dir_;
  pid_t pid_ = -1;
  bool exited_ = false;
  int exit_code_ = 0;
  int port_ = 0;
  int metrics_port_ = 0;
  int http_port_ = 0;
};

// `authorization: Bearer <key>` on a context (no-op for an empty key).
void Authorize(grpc::ClientContext& context, const std::string& key);

// The details of an error status.
google::rpc::Status ErrorDetails(const grpc::Status& status);
std::vector<std::string> BadRequestFields(const grpc::Status& status);
std::string ErrorReason(const grpc::Status& status);  // ErrorInfo.reason ("" if none)
std::optional<google::rpc::ResourceInfo> ResourceInfo(const grpc::Status& status);
std::optional<google::rpc::RetryInfo> RetryInfo(const grpc::Status& status);

// A whole Generate stream.
struct GenerateOutcome {
  grpc::Status status;
  std::vector<v1::GenerateResponse> responses;
  std::string text;             // every response's text, concatenated
  std::vector<int32_t> tokens;  // every response's token_ids, concatenated
  v1::GenerateResponse last;    // the last response (finish_reason, usage, ...)
};
GenerateOutcome Generate(v1::GenerationService::Stub& stub, const v1::GenerateRequest& request,
                         const std::string& key = "",
                         std::optional<absl::Duration> timeout = std::nullopt);

// A tiny PKI made with the openssl CLI: a CA, a server certificate for 127.0.0.1/localhost, and a
// client certificate; files in `dir` (ca.pem, server.pem, server.key, client.pem, client.key).
absl::Status MakeCertificates(const std::string& dir);

}  // namespace jamba::testing

#endif  // JAMBA_TESTS_INTEGRATION_JAMBAD_PROCESS_H_
