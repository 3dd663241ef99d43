// jambad's OpenAI-compatible HTTP listener (cpp-httplib, optionally TLS or mutual TLS with the
// gRPC listener's certificates): POST /v1/chat/completions and /v1/completions (http_generation.h),
// GET /v1/models and /v1/models/{id}, and GET /health, all over the same ServiceContext as the
// gRPC services: the same API keys and tenants, worker pools, limits, metrics and drain.
//
// cpp-httplib serves each connection on one thread of its pool for the connection's whole life
// (a stream, and the keep-alive wait between requests): `threads` bounds the connections served
// at once; more wait, accepted, until a thread is free. docs/jambad.md has the limits. The process
// must ignore SIGPIPE (jambad's main does): cpp-httplib writes to clients that may have gone.
#ifndef JAMBA_SERVICE_HTTP_SERVER_H_
#define JAMBA_SERVICE_HTTP_SERVER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "service/call_record.h"
#include "service/http_call.h"

namespace httplib {
class Server;
}  // namespace httplib

namespace jamba::service {

struct HttpServerOptions {
  std::string address = "127.0.0.1:8000";               // host:port; port 0: any free port
  int threads = 128;                                    // connections served at once
  absl::Duration keepalive_timeout = absl::Seconds(5);  // an idle connection keeps its thread
  absl::Duration io_timeout = absl::Seconds(30);        // a read or write may stall this long
  int64_t max_request_bytes = 4 << 20;                  // larger bodies: 413
  // TLS: on when cert_file is set; client certificates verified against client_ca_file.
  std::string cert_file;
  std::string key_file;
  std::string client_ca_file;
  bool require_client_cert = false;
};

class HttpServer {
 public:
  HttpServer(const ServiceContext& ctx, HttpModel model);
  ~HttpServer();  // Stop()s
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and starts serving on its own thread. Returns the bound port.
  absl::StatusOr<int> Start(const HttpServerOptions& options);
  // Drain: the generations still running end now (their clients get 503, or an error event in
  // their stream). New calls are already refused by CallTracker's draining flag.
  void CancelAll() { shutting_down_.store(true); }
  // Stops listening, ends the idle connections and joins the threads (after the handlers
  // return).
  void Stop();

 private:
  void Route();

  const ServiceContext& ctx_;
  const HttpModel model_;
  std::atomic<bool> shutting_down_{false};
  std::unique_ptr<httplib::Server> server_;
  int64_t max_request_bytes_ = 0;
  int port_ = 0;
  std::thread thread_;
};

}  // namespace jamba::service

#endif  // JAMBA_SERVICE_HTTP_SERVER_H_
