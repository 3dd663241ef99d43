// jambad's servers: the three jamba.v1 gRPC services over one Engine, gRPC's health service and
// server reflection, TLS (optionally mutual), keepalive and message-size settings, the worker
// pools, the OpenAI-compatible HTTP API over the same context, the metrics endpoint, and graceful
// drain of both APIs.
#ifndef JAMBA_SERVICE_SERVER_H_
#define JAMBA_SERVICE_SERVER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/server.h"
#include "jamba/engine.h"
#include "service/auth.h"
#include "service/call.h"
#include "service/config.h"
#include "service/http_server.h"
#include "service/logging.h"
#include "service/metrics.h"
#include "service/worker_pool.h"

namespace jamba::service {

class GenerationService;
class ModelService;
class SessionService;

struct ServerOptions {
  struct Socket {
    // Loopback unless told otherwise: exposing the server is a deliberate act (with TLS).
    std::string listen_address = "127.0.0.1:50051";  // port 0: any free port (see port())
    int64_t max_receive_message_bytes = 4 << 20;
    int64_t max_send_message_bytes = 16 << 20;
  } socket;
  struct Tls {
    std::string cert_file;             // PEM chain; TLS is on when set
    std::string key_file;              // PEM private key
    std::string client_ca_file;        // PEM CAs that client certificates must chain to
    bool require_client_cert = false;  // mutual TLS: refuse clients without a valid certificate
    bool enabled() const { return !cert_file.empty(); }
  } tls;
  struct Keepalive {
    absl::Duration time = absl::Seconds(60);     // ping an idle connection this often
    absl::Duration timeout = absl::Seconds(20);  // close it when a ping is not acked in time
    absl::Duration min_client_interval = absl::Seconds(10);  // tolerate client pings this often
  } keepalive;
  struct Threads {
    int stream_workers = 64;  // Generate and AppendToSession streams running engine calls
    int stream_queue = 64;
    int session_workers = 8;  // unary session methods
    int session_queue = 256;
  } threads;
  // The OpenAI-compatible HTTP API ("" address: off); its TLS settings are `tls`.
  HttpServerOptions http;
  absl::Duration retry_delay = absl::Seconds(1);
  std::string metrics_address = "127.0.0.1:9464";  // "" turns /metrics off
};

ServerOptions ServerOptionsFromConfig(const JambadConfig& config);

class JambaServer {
  // Lets Start use std::make_unique while nobody else can construct a JambaServer.
  struct PrivateTag {
    explicit PrivateTag() = default;
  };

 public:
  explicit JambaServer(PrivateTag);
  // Starts serving `engine` (which must outlive the server).
  static absl::StatusOr<std::unique_ptr<JambaServer>> Start(Engine& engine,
                                                            const JambadConfig& config,
                                                            const Authenticator& auth,
                                                            const Logger& logger);
  ~JambaServer();
  JambaServer(const JambaServer&) = delete;
  JambaServer& operator=(const JambaServer&) = delete;

  int port() const { return port_; }
  int metrics_port() const { return metrics_port_; }  // 0 when off
  int http_port() const { return http_port_; }        // 0 when off

  // Graceful drain: health turns NOT_SERVING (HTTP: 503) and new calls are refused (UNAVAILABLE
  // with RetryInfo; HTTP: 503 with Retry-After) while the calls in flight, gRPC and HTTP streams
  // alike, finish; those still running after `timeout` are cancelled. Returns when the servers
  // have stopped. Sessions need nothing more: every commit is already durable.
  void Drain(absl::Duration timeout);

 private:
  std::string RenderMetrics() const;

  Engine* engine_ = nullptr;
  ServiceContext ctx_;
  Metrics metrics_;
  CallTracker calls_;
  SessionLocks session_locks_;
  TokenTable tokens_;
  std::unique_ptr<WorkerPool> stream_pool_;
  std::unique_ptr<WorkerPool> session_pool_;
  std::unique_ptr<GenerationService> generation_service_;
  std::unique_ptr<SessionService> session_service_;
  std::unique_ptr<ModelService> model_service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<HttpServer> http_server_;
  std::unique_ptr<MetricsHttpServer> metrics_server_;
  int port_ = 0;
  int metrics_port_ = 0;
  int http_port_ = 0;
  bool stopped_ = false;
};

}  // namespace jamba::service

#endif  // JAMBA_SERVICE_SERVER_H_
