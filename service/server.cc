// Server assembly: options -> grpc::ServerBuilder, the services and their shared context, health
// and reflection, the metrics endpoint, and the drain sequence.
#include "service/server.h"

#include <algorithm>
#include <climits>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "service/generation_service.h"
#include "service/model_service.h"
#include "service/proto_mapping.h"
#include "service/session_service.h"

namespace jamba::service {
namespace {

// The services whose health is reported by name (besides "", the whole server).
constexpr const char* kServiceNames[] = {"jamba.v1.GenerationService", "jamba.v1.SessionService",
                                         "jamba.v1.ModelService"};

absl::StatusOr<std::string> ReadPem(const std::string& path, absl::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(what, " ", path, ": cannot be read"));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> Credentials(
    const ServerOptions::Tls& tls) {
  if (!tls.enabled()) return grpc::InsecureServerCredentials();
  absl::StatusOr<std::string> cert = ReadPem(tls.cert_file, "tls_cert");
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = ReadPem(tls.key_file, "tls_key");
  if (!key.ok()) return key.status();
  grpc_ssl_client_certificate_request_type request = GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE;
  grpc::SslServerCredentialsOptions ssl(request);
  if (!tls.client_ca_file.empty()) {
    absl::StatusOr<std::string> ca = ReadPem(tls.client_ca_file, "tls_client_ca");
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = *std::move(ca);
    ssl.client_certificate_request =
        tls.require_client_cert ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                                : GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  ssl.pem_key_cert_pairs.push_back({*std::move(key), *std::move(cert)});
  return grpc::SslServerCredentials(ssl);
}

int Milliseconds(absl::Duration d) {
  return static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(d), INT32_MAX));
}

}  // namespace

ServerOptions ServerOptionsFromConfig(const JambadConfig& config) {
  ServerOptions options;
  options.socket.listen_address = config.listen;
  options.socket.max_receive_message_bytes = config.max_request_bytes;
  options.socket.max_send_message_bytes = config.max_response_bytes;
  options.tls.cert_file = config.tls_cert;
  options.tls.key_file = config.tls_key;
  options.tls.client_ca_file = config.tls_client_ca;
  options.tls.require_client_cert = config.tls_require_client_cert;
  options.keepalive.time = config.keepalive_time;
  options.keepalive.timeout = config.keepalive_timeout;
  options.keepalive.min_client_interval = config.keepalive_min_client_interval;
  options.threads.stream_workers = config.worker_threads;
  options.threads.stream_queue = config.worker_queue;
  options.threads.session_workers = config.session_threads;
  options.threads.session_queue = config.session_queue;
  options.retry_delay = config.retry_delay;
  options.metrics_address = config.metrics_listen;
  options.http.address = config.http_listen;
  options.http.threads = config.http_threads;
  options.http.keepalive_timeout = config.http_keepalive_timeout;
  options.http.io_timeout = config.http_timeout;
  options.http.max_request_bytes = config.max_request_bytes;
  options.http.cert_file = config.tls_cert;
  options.http.key_file = config.tls_key;
  options.http.client_ca_file = config.tls_client_ca;
  options.http.require_client_cert = config.tls_require_client_cert;
  return options;
}

absl::StatusOr<std::unique_ptr<JambaServer>> JambaServer::Start(Engine& engine,
                                                                const JambadConfig& config,
                                                                const Authenticator& auth,
                                                                const Logger& logger) {
  const ServerOptions options = ServerOptionsFromConfig(config);
  const ModelInfo& info = engine.model_info();
  auto server = std::make_unique<JambaServer>(PrivateTag());
  server->engine_ = &engine;
  server->tokens_ = BuildTokenTable(engine);
  server->stream_pool_ =
      std::make_unique<WorkerPool>(options.threads.stream_workers, options.threads.stream_queue);
  server->session_pool_ =
      std::make_unique<WorkerPool>(options.threads.session_workers, options.threads.session_queue);

  ServiceContext& ctx = server->ctx_;
  ctx.engine = &engine;
  ctx.auth = &auth;
  ctx.metrics = &server->metrics_;
  ctx.logger = &logger;
  ctx.stream_pool = server->stream_pool_.get();
  ctx.session_pool = server->session_pool_.get();
  ctx.calls = &server->calls_;
  ctx.session_locks = &server->session_locks_;
  ctx.tokens = &server->tokens_;
  ctx.limits.vocab_size = info.vocab_size;
  ctx.limits.max_context_tokens = info.max_context_tokens;
  ctx.limits.max_prompt_tokens = config.max_prompt_tokens > 0
                                     ? std::min(config.max_prompt_tokens, info.max_context_tokens)
                                     : info.max_context_tokens;
  ctx.limits.max_completion_tokens = config.max_completion_tokens;
  ctx.limits.default_max_tokens = config.default_max_tokens;
  ctx.model_id = !config.model_id.empty()
                     ? config.model_id
                     : std::filesystem::path(config.model).lexically_normal().filename().string();
  if (ctx.model_id.empty()) {  // a directory given with a trailing slash
    ctx.model_id =
        std::filesystem::path(config.model).lexically_normal().parent_path().filename().string();
  }
  ctx.sessions_enabled = !config.session_dir.empty();
  ctx.retry_delay = options.retry_delay;
  ctx.commit_margin = config.commit_margin;
  for (const auto& [path, key] :
       {std::pair{config.session_dir, "<session_dir>"}, std::pair{config.model, "<model>"}}) {
    if (path.empty()) continue;
    ctx.private_paths.emplace_back(path, key);
    std::error_code error;
    const std::filesystem::path resolved = std::filesystem::weakly_canonical(path, error);
    if (!error && resolved.string() != path) ctx.private_paths.emplace_back(resolved.string(), key);
  }
  // Longest first, so a path inside another is replaced before its parent.
  std::sort(ctx.private_paths.begin(), ctx.private_paths.end(),
            [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });

  ServerLimitsInfo limits;
  limits.max_context_tokens = ctx.limits.max_context_tokens;
  limits.max_prompt_tokens = ctx.limits.max_prompt_tokens;
  limits.max_completion_tokens = ctx.limits.max_completion_tokens;
  limits.default_max_tokens = ctx.limits.default_max_tokens;
  limits.checkpoint_interval_tokens = config.checkpoint_interval_tokens;
  limits.max_request_bytes = config.max_request_bytes;
  server->generation_service_ = std::make_unique<GenerationService>(ctx);
  server->session_service_ = std::make_unique<SessionService>(ctx);
  server->model_service_ = std::make_unique<ModelService>(
      ctx, ToProtoModelInfo(info, ctx.model_id, limits, JAMBA_VERSION));

  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials = Credentials(options.tls);
  if (!credentials.ok()) return credentials.status();
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.socket.listen_address, *credentials, &server->port_);
  builder.SetMaxReceiveMessageSize(static_cast<int>(options.socket.max_receive_message_bytes));
  builder.SetMaxSendMessageSize(static_cast<int>(options.socket.max_send_message_bytes));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, Milliseconds(options.keepalive.time));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
                             Milliseconds(options.keepalive.timeout));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                             Milliseconds(options.keepalive.min_client_interval));
  builder.RegisterService(server->generation_service_.get());
  builder.RegisterService(server->session_service_.get());
  builder.RegisterService(server->model_service_.get());
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options.socket.listen_address,
                     " (address in use, or not an address of this machine?)"));
  }
  grpc::HealthCheckServiceInterface* health = server->server_->GetHealthCheckService();
  health->SetServingStatus("", true);
  for (const char* name : kServiceNames) health->SetServingStatus(name, true);

  if (!options.http.address.empty()) {
    HttpModel model;
    model.id = ctx.model_id;
    model.fingerprint = info.fingerprint;
    model.created = absl::ToUnixSeconds(absl::Now());
    model.max_model_len = ctx.limits.max_context_tokens;
    server->http_server_ = std::make_unique<HttpServer>(ctx, std::move(model));
    absl::StatusOr<int> port = server->http_server_->Start(options.http);
    if (!port.ok()) {
      server->Drain(absl::ZeroDuration());
      return port.status();
    }
    server->http_port_ = *port;
  }

  if (!options.metrics_address.empty()) {
    JambaServer* self = server.get();
    server->metrics_server_ =
        std::make_unique<MetricsHttpServer>([self] { return self->RenderMetrics(); });
    absl::StatusOr<int> port = server->metrics_server_->Start(options.metrics_address);
    if (!port.ok()) {
      server->Drain(absl::ZeroDuration());
      return port.status();
    }
    server->metrics_port_ = *port;
  }
  return server;
}

JambaServer::JambaServer(PrivateTag) {}

JambaServer::~JambaServer() { Drain(absl::ZeroDuration()); }

std::string JambaServer::RenderMetrics() const {
  GaugeSnapshot gauges;
  gauges.engine = engine_->stats();
  gauges.worker_queue = stream_pool_->queued();
  gauges.workers_busy = stream_pool_->active();
  gauges.session_queue = session_pool_->queued();
  gauges.in_flight_calls = calls_.in_flight();
  return metrics_.Render(gauges);
}

void JambaServer::Drain(absl::Duration timeout) {
  if (stopped_) return;
  stopped_ = true;
  calls_.StartDraining();
  // Shutdown() turns every service NOT_SERVING and keeps it so; health checks are still
  // answered until the server itself shuts down below.
  server_->GetHealthCheckService()->Shutdown();
  calls_.WaitIdle(absl::Now() + timeout);
  // Cancels whatever is still running (their workers see the cancellation within one engine
  // step) and waits for every call to finish: gRPC's, then the HTTP connections' (whose
  // handlers return once their generations have ended).
  if (http_server_ != nullptr) http_server_->CancelAll();
  server_->Shutdown(std::chrono::system_clock::now());
  server_->Wait();
  if (http_server_ != nullptr) http_server_->Stop();
  if (metrics_server_ != nullptr) metrics_server_->Stop();
  stream_pool_.reset();
  session_pool_.reset();
}

}  // namespace jamba::service
