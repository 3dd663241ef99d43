// Prometheus metrics: counters and histograms the services update as calls run, gauges read at
// scrape time (the engine's queue and batch, the worker pools, session memory and disk), and a
// small HTTP server (cpp-httplib) serving them in the text exposition format at /metrics on its
// own port, so scraping never competes with gRPC traffic.
#ifndef JAMBA_SERVICE_METRICS_H_
#define JAMBA_SERVICE_METRICS_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "jamba/types.h"

namespace httplib {
class Server;
}  // namespace httplib

namespace jamba::service {

// Figures read when /metrics is scraped.
struct GaugeSnapshot {
  EngineStats engine;
  int64_t worker_queue = 0;   // stream RPCs waiting for a worker thread
  int64_t workers_busy = 0;   // stream RPCs running
  int64_t session_queue = 0;  // unary session RPCs waiting
  int64_t in_flight_calls = 0;
};

class Metrics {
 public:
  Metrics();

  // Every finished RPC: method is "jamba.v1.GenerationService/Generate"; code "OK", ...
  void CountRequest(absl::string_view method, absl::string_view code, double seconds);
  // Prompt tokens fed to the model (in) and tokens generated (out).
  void AddTokens(int64_t in, int64_t out);
  // Of the prompt tokens: restored from a stored state vs run through the model.
  void AddPromptTokens(int64_t restored, int64_t recomputed);
  void ObserveTimeToFirstToken(double seconds);
  void ObserveInterTokenLatency(double seconds);
  // A lookup of stored model state: result "hit" or "miss", with why ("memory", "disk",
  // "prefix", "no_prefix").
  void CountSessionLookup(absl::string_view result, absl::string_view reason);

  std::string Render(const GaugeSnapshot& gauges) const;

 private:
  struct Histogram {
    explicit Histogram(std::vector<double> upper_bounds)
        : bounds(std::move(upper_bounds)), counts(bounds.size() + 1, 0) {}
    void Observe(double value);
    std::vector<double> bounds;
    std::vector<uint64_t> counts;  // per bucket (not cumulative); the last is +Inf
    double sum = 0;
    uint64_t count = 0;
  };
  static void RenderHistogram(std::string& out, absl::string_view name, absl::string_view help,
                              const Histogram& histogram);

  mutable absl::Mutex mu_;
  std::map<std::pair<std::string, std::string>, uint64_t> requests_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, double> request_seconds_ ABSL_GUARDED_BY(mu_);
  int64_t tokens_in_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t tokens_out_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t restored_tokens_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t recomputed_tokens_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::pair<std::string, std::string>, uint64_t> session_lookups_ ABSL_GUARDED_BY(mu_);
  Histogram time_to_first_token_ ABSL_GUARDED_BY(mu_);
  Histogram inter_token_latency_ ABSL_GUARDED_BY(mu_);
};

// Serves GET /metrics (and GET /healthz: "ok") on its own thread.
class MetricsHttpServer {
 public:
  explicit MetricsHttpServer(std::function<std::string()> render);
  ~MetricsHttpServer();  // Stop()s
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  // Binds `address` (host:port; port 0 picks a free one) and starts serving. Returns the port.
  absl::StatusOr<int> Start(const std::string& address);
  void Stop();

 private:
  std::function<std::string()> render_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
};

// "host:port" -> (host, port); [v6]:port is accepted. Port 0 is allowed.
absl::StatusOr<std::pair<std::string, int>> SplitHostPort(absl::string_view address);

}  // namespace jamba::service

#endif  // JAMBA_SERVICE_METRICS_H_
