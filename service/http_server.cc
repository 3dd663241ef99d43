// The HTTP listener: cpp-httplib's server (or its TLS server) configured from jambad's settings,
// the routes, the model and health endpoints, and errors in OpenAI's shape for what cpp-httplib
// answers itself (no route, a body over the limit, a malformed request).
#include "service/http_server.h"

#include <sys/socket.h>

#include <chrono>
#include <functional>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "httplib.h"
#include "openssl/ssl.h"
#include "service/http_connection.h"
#include "service/http_generation.h"
#include "service/openai_response.h"
#include "service/status_mapping.h"

namespace jamba::service {
namespace {

using Json = nlohmann::json;

// cpp-httplib keeps its listening socket protected; this gives access to it for one purpose:
// Debian built the library with a listen backlog of 5 (CPPHTTPLIB_LISTEN_BACKLOG), so a burst of
// clients connecting at once would see SYNs dropped and retried a second later. Calling listen()
// again on a listening socket only changes its backlog.
template <typename Base>
class Listener final : public Base {
 public:
  using Base::Base;
  void RaiseBacklog() { ::listen(this->svr_sock_.load(), SOMAXCONN); }
};

bool SetUpTls(SSL_CTX& ctx, const HttpServerOptions& options) {
  SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(&ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  if (SSL_CTX_use_certificate_chain_file(&ctx, options.cert_file.c_str()) != 1 ||
      SSL_CTX_use_PrivateKey_file(&ctx, options.key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(&ctx) != 1) {
    return false;
  }
  if (options.client_ca_file.empty()) return true;
  if (SSL_CTX_load_verify_locations(&ctx, options.client_ca_file.c_str(), nullptr) != 1) {
    return false;
  }
  // The CAs offered to clients in the handshake (the context owns the list).
  if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(options.client_ca_file.c_str())) {
    SSL_CTX_set_client_CA_list(&ctx, names);
  }
  SSL_CTX_set_verify(
      &ctx, SSL_VERIFY_PEER | (options.require_client_cert ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
      nullptr);
  return true;
}

std::string SamePath(absl::string_view path) { return std::string(path); }

// The body of an error cpp-httplib answers itself (its status set, no body yet).
HttpError LibraryError(const httplib::Request& request, int status, int64_t max_request_bytes) {
  switch (status) {
    case 404:
      return ToHttpError(WithReason(absl::NotFoundError(absl::StrCat(
                                        "no such endpoint: ", QuoteValue(request.method), " ",
                                        QuoteValue(request.path))),
                                    kReasonNotFound),
                         SamePath);
    case 413:
      return ToHttpError(WithReason(absl::ResourceExhaustedError(absl::StrCat(
                                        "the request body is larger than max_request_bytes (",
                                        max_request_bytes, " bytes)")),
                                    kReasonRequestTooLarge),
                         SamePath);
    default:
      break;
  }
  HttpError error;
  error.status = status;
  error.type = status >= 500 ? "server_error" : "invalid_request_error";
  error.code = status >= 500 ? "internal" : "bad_request";
  error.message = absl::StrCat("the HTTP request cannot be served (status ", status, ")");
  return error;
}

// Reads a request's body with `reader`. False after replying: a multipart body (415), a body over
// the limit (413), a body that did not arrive whole (400).
bool ReadBody(const httplib::Request& request, const httplib::ContentReader& reader,
              int64_t max_request_bytes, std::string& body, httplib::Response& response) {
  if (request.is_multipart_form_data()) {
    HttpError error;
    error.status = 415;
    error.type = "invalid_request_error";
    error.code = "unsupported_media_type";
    error.message = "send the request as a JSON body (application/json)";
    response.set_header("Connection", "close");  // (its body was not read)
    ReplyError(error, response);
    return false;
  }
  if (reader([&body](const char* data, size_t length) {
        body.append(data, length);
        return true;
      })) {
    return true;
  }
  ReplyError(LibraryError(request, response.status == 413 ? 413 : 400, max_request_bytes),
             response);
  return false;
}

void MethodNotAllowed(const char* allowed, httplib::Response& response) {
  HttpError error;
  error.status = 405;
  error.type = "invalid_request_error";
  error.code = "method_not_allowed";
  error.message = absl::StrCat("this endpoint takes ", allowed);
  response.set_header("Allow", allowed);
  ReplyError(error, response);
}

}  // namespace

HttpServer::HttpServer(const ServiceContext& ctx, HttpModel model)
    : ctx_(ctx), model_(std::move(model)) {}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Route() {
  httplib::Server& server = *server_;
  // The completion routes read their bodies themselves: cpp-httplib, reading a body for a
  // handler, would parse one sent as application/x-www-form-urlencoded (curl -d's default) as a
  // form and refuse it over 8 KiB. The body is JSON whatever its declared type.
  for (const auto& [path, endpoint] :
       {std::pair{"/v1/chat/completions", OpenAiEndpoint::kChatCompletions},
        std::pair{"/v1/completions", OpenAiEndpoint::kCompletions}}) {
    server.Post(path, [this, endpoint = endpoint](const httplib::Request& request,
                                                  httplib::Response& response,
                                                  const httplib::ContentReader& reader) {
      std::string body;
      if (ReadBody(request, reader, max_request_bytes_, body, response)) {
        ServeGeneration(ctx_, model_, shutting_down_, endpoint, request, body, response);
      }
    });
  }
  auto models = [this](const httplib::Request& request, httplib::Response& response) {
    const bool one = request.matches.size() > 1;
    absl::StatusOr<CallOrigin> origin = HttpCallOrigin(request);
    CallRecord record(ctx_, one ? "GET /v1/models/{model}" : "GET /v1/models",
                      origin.ok() ? *origin : CallOrigin());
    response.set_header("X-Request-Id", record.request_id());
    absl::Status status = record.Admit();
    if (status.ok()) status = origin.status();
    if (status.ok() && one && request.matches[1] != model_.id) {
      status = ModelNotFound(request.matches[1].str(), model_.id);
    }
    if (!status.ok()) {
      ReplyError(record, status, response);
      return;
    }
    record.Finish(absl::OkStatus()).IgnoreError();  // (OK: nothing for the client to see)
    Json model = ModelObject(model_.id, model_.created, model_.max_model_len);
    if (!one) model = {{"object", "list"}, {"data", Json::array({std::move(model)})}};
    response.set_content(JsonText(model), "application/json");
  };
  server.Get("/v1/models", models);
  server.Get(R"(/v1/models/(.+))", models);
  // Health needs no key, like gRPC's: 200 while serving, 503 while draining.
  auto health = [this](const httplib::Request&, httplib::Response& response) {
    if (ctx_.calls->draining()) {
      response.status = 503;
      response.set_content("draining\n", "text/plain");
    } else {
      response.set_content("ok\n", "text/plain");
    }
  };
  server.Get("/health", health);
  server.Get("/healthz", health);
  for (const char* path : {"/v1/chat/completions", "/v1/completions"}) {
    server.Get(path, [](const httplib::Request&, httplib::Response& response) {
      MethodNotAllowed("POST", response);
    });
  }
  server.Post(R"(/v1/models(/.*)?)", [](const httplib::Request&, httplib::Response& response) {
    MethodNotAllowed("GET", response);
  });
}

absl::StatusOr<int> HttpServer::Start(const HttpServerOptions& options) {
  absl::StatusOr<std::pair<std::string, int>> host_port = SplitHostPort(options.address);
  if (!host_port.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("http_listen: ", host_port.status().message()));
  }
  std::function<void()> raise_backlog;
  if (!options.cert_file.empty()) {
    auto server = std::make_unique<Listener<httplib::SSLServer>>(
        [&options](SSL_CTX& ctx) { return SetUpTls(ctx, options); });
    if (!server->is_valid()) {
      return absl::InvalidArgumentError(
          "http: cannot use tls_cert, tls_key or tls_client_ca (unreadable, not PEM, or a key "
          "that does not match the certificate)");
    }
    raise_backlog = [server = server.get()] { server->RaiseBacklog(); };
    server_ = std::move(server);
  } else {
    auto server = std::make_unique<Listener<httplib::Server>>();
    raise_backlog = [server = server.get()] { server->RaiseBacklog(); };
    server_ = std::move(server);
  }
  httplib::Server& server = *server_;
  const int threads = options.threads;
  // cpp-httplib takes ownership of the queue it is given (its API's raw pointer).
  server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server.set_keep_alive_timeout(absl::ToInt64Seconds(options.keepalive_timeout));
  server.set_keep_alive_max_count(1000);
  const int64_t io_ms = absl::ToInt64Milliseconds(options.io_timeout);
  server.set_read_timeout(io_ms / 1000, (io_ms % 1000) * 1000);
  server.set_write_timeout(io_ms / 1000, (io_ms % 1000) * 1000);
  server.set_payload_max_length(static_cast<size_t>(options.max_request_bytes));
  // SO_REUSEADDR only: cpp-httplib's default adds SO_REUSEPORT, with which a second server on the
  // same port would start and silently take half of the connections.
  server.set_socket_options([](int socket) {
    const int yes = 1;
    setsockopt(socket, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  // Each event of a stream is one small write: without this, Nagle's algorithm holds one back
  // until the client acknowledges the previous (delayed acknowledgements: up to 40 ms).
  server.set_tcp_nodelay(true);
  const int64_t max_request_bytes = options.max_request_bytes;
  max_request_bytes_ = max_request_bytes;
  server.set_error_handler(httplib::Server::HandlerWithResponse(
      [max_request_bytes](const httplib::Request& request, httplib::Response& response) {
        if (!response.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        ReplyError(LibraryError(request, response.status, max_request_bytes), response);
        return httplib::Server::HandlerResponse::Handled;
      }));
  server.set_exception_handler(
      [](const httplib::Request&, httplib::Response& response, std::exception_ptr) {
        HttpError error;
        error.status = 500;
        error.type = "server_error";
        error.code = "internal";
        error.message = "internal error";
        ReplyError(error, response);
      });
  Route();

  const auto& [host, requested_port] = *host_port;
  int port = requested_port;
  if (port == 0) {
    port = server.bind_to_any_port(host);
  } else if (!server.bind_to_port(host, port)) {
    port = -1;
  }
  if (port <= 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options.address,
                     " for HTTP (address in use, or not an address of this machine?)"));
  }
  raise_backlog();
  port_ = port;
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  // stop() does nothing until the server runs: wait for it, so that Stop always stops it.
  while (!server_->is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return port;
}

void HttpServer::Stop() {
  if (!thread_.joinable()) return;
  shutting_down_.store(true);
  server_->stop();
  // Threads waiting for a keep-alive connection's next request would wait out its timeout.
  ShutDownConnections(port_);
  thread_.join();
}

}  // namespace jamba::service
