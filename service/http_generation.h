// POST /v1/chat/completions and /v1/completions: one OpenAI request translated to a v1
// GenerateRequest, run by the generation core on the stream worker pool (the same pool, per-tenant
// fairness and queue limit as gRPC's Generate), and answered as one JSON object or as server-sent
// events. The connection thread (one of cpp-httplib's) waits for the worker's responses; it
// notices a client that has gone (a failed write, or its connection closed while it waits) and
// cancels the generation, which the engine drops within one step, freeing its worker at once.
#ifndef JAMBA_SERVICE_HTTP_GENERATION_H_
#define JAMBA_SERVICE_HTTP_GENERATION_H_

#include <atomic>
#include <optional>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "service/call_record.h"
#include "service/generate_runner.h"
#include "service/http_call.h"
#include "service/openai_request.h"

namespace httplib {
struct Request;
struct Response;
}  // namespace httplib

namespace jamba::service {

// One generation served over HTTP: the GenerateSink its worker feeds and its connection thread
// drains. Both hold it (std::shared_ptr); whichever lets go last destroys it, and with it the
// CallRecord, which writes the call's log line and counts it: a call is in flight (and drain waits
// for it) until its worker is done and its response is written.
class HttpGeneration final : public GenerateSink {
 public:
  // `shutting_down`: the server's flag, set when drain_timeout has passed and every generation
  // still running must end.
  HttpGeneration(const ServiceContext& ctx, absl::string_view method, CallOrigin origin,
                 const std::atomic<bool>& shutting_down);

  CallRecord& record() { return record_; }

  // GenerateSink, on the worker thread.
  void Send(v1::GenerateResponse response) override;
  bool Cancelled() const override;
  // On the worker thread, last: the call's outcome.
  void Complete(const absl::Status& status);

  // On the connection thread: the client has gone.
  void Cancel() { client_gone_.store(true); }

  // What the worker produced since the last call, waiting up to `timeout` for something (with
  // `until_done`, for the outcome): the responses merged, and the outcome (as the client may see
  // it) once the worker is done. With `until_done`, empty until then.
  struct Progress {
    std::optional<v1::GenerateResponse> response;
    std::optional<absl::Status> outcome;
    bool empty() const { return !response.has_value() && !outcome.has_value(); }
  };
  Progress Take(absl::Duration timeout, bool until_done);

 private:
  CallRecord record_;
  const std::atomic<bool>& shutting_down_;
  std::atomic<bool> client_gone_{false};

  absl::Mutex mu_;
  std::optional<v1::GenerateResponse> pending_ ABSL_GUARDED_BY(mu_);
  std::optional<absl::Status> outcome_ ABSL_GUARDED_BY(mu_);
};

// Serves one completion request, whose body has been read, on the calling connection thread.
void ServeGeneration(const ServiceContext& ctx, const HttpModel& model,
                     const std::atomic<bool>& shutting_down, OpenAiEndpoint endpoint,
                     const httplib::Request& request, absl::string_view body,
                     httplib::Response& response);

}  // namespace jamba::service

#endif  // JAMBA_SERVICE_HTTP_GENERATION_H_
