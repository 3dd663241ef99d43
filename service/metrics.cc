// Metrics bookkeeping, Prometheus text rendering and the /metrics HTTP endpoint.
#include "service/metrics.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "httplib.h"

namespace jamba::service {
namespace {

std::string Number(double value) { return absl::StrFormat("%.17g", value); }

// Label values are method names, codes and fixed words; escaping keeps any other value legal.
std::string Escape(absl::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

void Header(std::string& out, absl::string_view name, absl::string_view type,
            absl::string_view help) {
  absl::StrAppend(&out, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n");
}

void Gauge(std::string& out, absl::string_view name, absl::string_view help, double value) {
  Header(out, name, "gauge", help);
  absl::StrAppend(&out, name, " ", Number(value), "\n");
}

}  // namespace

void Metrics::Histogram::Observe(double value) {
  size_t bucket = 0;
  while (bucket < bounds.size() && value > bounds[bucket]) ++bucket;
  ++counts[bucket];
  sum += value;
  ++count;
}

Metrics::Metrics()
    : time_to_first_token_({0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}),
      inter_token_latency_({0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}) {}

void Metrics::CountRequest(absl::string_view method, absl::string_view code, double seconds) {
  absl::MutexLock lock(&mu_);
  ++requests_[{std::string(method), std::string(code)}];
  request_seconds_[std::string(method)] += seconds;
}

void Metrics::AddTokens(int64_t in, int64_t out) {
  absl::MutexLock lock(&mu_);
  tokens_in_ += in;
  tokens_out_ += out;
}

void Metrics::AddPromptTokens(int64_t restored, int64_t recomputed) {
  absl::MutexLock lock(&mu_);
  restored_tokens_ += restored;
  recomputed_tokens_ += recomputed;
}

void Metrics::ObserveTimeToFirstToken(double seconds) {
  absl::MutexLock lock(&mu_);
  time_to_first_token_.Observe(seconds);
}

void Metrics::ObserveInterTokenLatency(double seconds) {
  absl::MutexLock lock(&mu_);
  inter_token_latency_.Observe(seconds);
}

void Metrics::CountSessionLookup(absl::string_view result, absl::string_view reason) {
  absl::MutexLock lock(&mu_);
  ++session_lookups_[{std::string(result), std::string(reason)}];
}

void Metrics::RenderHistogram(std::string& out, absl::string_view name, absl::string_view help,
                              const Histogram& h) {
  Header(out, name, "histogram", help);
  uint64_t cumulative = 0;
  for (size_t i = 0; i < h.bounds.size(); ++i) {
    cumulative += h.counts[i];
    absl::StrAppend(&out, name, "_bucket{le=\"", Number(h.bounds[i]), "\"} ", cumulative, "\n");
  }
  absl::StrAppend(&out, name, "_bucket{le=\"+Inf\"} ", h.count, "\n");
  absl::StrAppend(&out, name, "_sum ", Number(h.sum), "\n", name, "_count ", h.count, "\n");
}

std::string Metrics::Render(const GaugeSnapshot& g) const {
  std::string out;
  absl::MutexLock lock(&mu_);
  Header(out, "jambad_requests_total", "counter", "RPCs finished, by method and status code.");
  for (const auto& [key, count] : requests_) {
    absl::StrAppend(&out, "jambad_requests_total{method=\"", Escape(key.first), "\",code=\"",
                    Escape(key.second), "\"} ", count, "\n");
  }
  Header(out, "jambad_request_seconds_total", "counter",
         "Wall time spent in finished RPCs, by method.");
  for (const auto& [method, seconds] : request_seconds_) {
    absl::StrAppend(&out, "jambad_request_seconds_total{method=\"", Escape(method), "\"} ",
                    Number(seconds), "\n");
  }
  Header(out, "jambad_tokens_total", "counter",
         "Tokens of finished requests: prompt tokens in, generated tokens out.");
  absl::StrAppend(&out, "jambad_tokens_total{direction=\"in\"} ", tokens_in_, "\n");
  absl::StrAppend(&out, "jambad_tokens_total{direction=\"out\"} ", tokens_out_, "\n");
  Header(out, "jambad_prompt_tokens_total", "counter",
         "Prompt tokens whose model state was restored from a stored state or recomputed.");
  absl::StrAppend(&out, "jambad_prompt_tokens_total{source=\"restored\"} ", restored_tokens_, "\n");
  absl::StrAppend(&out, "jambad_prompt_tokens_total{source=\"recomputed\"} ", recomputed_tokens_,
                  "\n");
  Header(out, "jambad_session_lookups_total", "counter",
         "Lookups of stored model state: hit (memory, disk, prefix) or miss (no_prefix).");
  for (const auto& [key, count] : session_lookups_) {
    absl::StrAppend(&out, "jambad_session_lookups_total{result=\"", Escape(key.first),
                    "\",reason=\"", Escape(key.second), "\"} ", count, "\n");
  }
  RenderHistogram(out, "jambad_time_to_first_token_seconds",
                  "From the start of a Generate call to its first generated token.",
                  time_to_first_token_);
  RenderHistogram(out, "jambad_inter_token_latency_seconds",
                  "Between consecutive generated tokens of one Generate call.",
                  inter_token_latency_);
  Header(out, "jambad_queue_depth", "gauge",
         "Requests waiting: in the engine, for a stream worker, for a session worker.");
  absl::StrAppend(&out, "jambad_queue_depth{queue=\"engine\"} ", g.engine.queued_requests, "\n");
  absl::StrAppend(&out, "jambad_queue_depth{queue=\"stream_workers\"} ", g.worker_queue, "\n");
  absl::StrAppend(&out, "jambad_queue_depth{queue=\"session_workers\"} ", g.session_queue, "\n");
  Gauge(out, "jambad_running_requests", "Requests the engine is advancing together.",
        static_cast<double>(g.engine.running_requests));
  Gauge(out, "jambad_batch_size", "Sequences in the engine's last step.",
        static_cast<double>(g.engine.last_batch_sequences));
  Gauge(out, "jambad_batch_tokens", "Tokens (decode and prefill) in the engine's last step.",
        static_cast<double>(g.engine.last_batch_tokens));
  Header(out, "jambad_engine_steps_total", "counter", "Forward steps the engine has run.");
  absl::StrAppend(&out, "jambad_engine_steps_total ", g.engine.steps, "\n");
  Gauge(out, "jambad_stream_workers_busy", "Stream RPCs running on a worker thread.",
        static_cast<double>(g.workers_busy));
  Gauge(out, "jambad_in_flight_calls", "RPCs in progress.", static_cast<double>(g.in_flight_calls));
  Gauge(out, "jambad_session_memory_bytes", "Session states held in memory.",
        static_cast<double>(g.engine.session_memory_bytes));
  Gauge(out, "jambad_session_disk_bytes", "Disk space of all sessions (shared files once).",
        static_cast<double>(g.engine.session_disk_bytes));
  return out;
}

absl::StatusOr<std::pair<std::string, int>> SplitHostPort(absl::string_view address) {
  absl::string_view host;
  absl::string_view port;
  if (!address.empty() && address.front() == '[') {
    const size_t close = address.find(']');
    if (close == absl::string_view::npos || close + 1 >= address.size() ||
        address[close + 1] != ':') {
      return absl::InvalidArgumentError(absl::StrCat("\"", address, "\" is not [host]:port"));
    }
    host = address.substr(1, close - 1);
    port = address.substr(close + 2);
  } else {
    const size_t colon = address.rfind(':');
    if (colon == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("\"", address, "\" is not host:port"));
    }
    host = address.substr(0, colon);
    port = address.substr(colon + 1);
  }
  int number = 0;
  if (host.empty() || !absl::SimpleAtoi(port, &number) || number < 0 || number > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("\"", address, "\" is not host:port"));
  }
  return std::make_pair(std::string(host), number);
}

MetricsHttpServer::MetricsHttpServer(std::function<std::string()> render)
    : render_(std::move(render)), server_(std::make_unique<httplib::Server>()) {
  server_->Get("/metrics", [this](const httplib::Request&, httplib::Response& response) {
    response.set_content(render_(), "text/plain; version=0.0.4; charset=utf-8");
  });
  server_->Get("/healthz", [](const httplib::Request&, httplib::Response& response) {
    response.set_content("ok\n", "text/plain");
  });
}

MetricsHttpServer::~MetricsHttpServer() { Stop(); }

absl::StatusOr<int> MetricsHttpServer::Start(const std::string& address) {
  auto host_port = SplitHostPort(address);
  if (!host_port.ok()) return host_port.status();
  auto [host, port] = *host_port;
  if (port == 0) {
    port = server_->bind_to_any_port(host);
    if (port < 0) port = 0;
  } else if (!server_->bind_to_port(host, port)) {
    port = 0;
  }
  if (port == 0) {
    return absl::UnavailableError(absl::StrCat("metrics: cannot listen on ", address));
  }
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  return port;
}

void MetricsHttpServer::Stop() {
  if (!thread_.joinable()) return;
  server_->stop();
  thread_.join();
}

}  // namespace jamba::service
