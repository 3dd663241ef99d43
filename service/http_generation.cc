// The completion endpoints: admission, translation, the worker's run, and the reply (one JSON
// object, or server-sent events written as the worker produces them).
#include "service/http_generation.h"

#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "httplib.h"
#include "service/http_connection.h"
#include "service/openai_response.h"
#include "service/session_support.h"
#include "service/status_mapping.h"

namespace jamba::service {
namespace {

// How often a waiting connection thread looks whether its client is still there.
constexpr absl::Duration kWatchInterval = absl::Milliseconds(50);

const char* MethodName(OpenAiEndpoint endpoint) {
  return endpoint == OpenAiEndpoint::kChatCompletions ? "POST /v1/chat/completions"
                                                      : "POST /v1/completions";
}

ConnectionEnds EndsOf(const httplib::Request& request) {
  return {request.local_addr, request.local_port, request.remote_addr, request.remote_port};
}

// On the stream worker: the session first when the client asked to create it, then the core.
void RunOnWorker(const ServiceContext& ctx, const OpenAiRequest& request, HttpGeneration& call) {
  absl::Status status;
  if (request.session.has_value() && request.session->create && !call.Cancelled()) {
    absl::StatusOr<std::string> id = ParseSessionName(request.session->name, "session.session");
    status = id.ok() ? CreateSessionIfMissing(ctx, call.record().tenant(), *id) : id.status();
  }
  if (status.ok()) status = RunGenerate(ctx, request.generate, call.record(), call);
  call.Complete(status);
}

// The worker's next progress (`until_done`: its outcome, with every response merged) while the
// client stays connected; empty once the client has gone (the generation is then cancelled).
HttpGeneration::Progress WaitForProgress(HttpGeneration& call, const ClientConnection& client,
                                         bool until_done) {
  for (;;) {
    HttpGeneration::Progress progress = call.Take(kWatchInterval, until_done);
    if (!progress.empty()) return progress;
    if (client.Closed()) {
      call.Cancel();
      return {};
    }
  }
}

// A streamed reply: cpp-httplib calls Write on the connection thread until it ends the stream
// (sink.done) or fails; Release when the response is gone, however it ended.
class EventStream {
 public:
  EventStream(std::shared_ptr<HttpGeneration> call, std::shared_ptr<const OpenAiRequest> request,
              OpenAiResponseInfo info, HttpGeneration::Progress first, ClientConnection client)
      : call_(std::move(call)),
        request_(std::move(request)),
        responder_(*request_, std::move(info)),
        first_(std::move(first)),
        client_(client) {}

  bool Write(httplib::DataSink& sink) {
    HttpGeneration::Progress progress;
    if (first_.has_value()) {
      progress = *std::exchange(first_, std::nullopt);
    } else {
      progress = call_->Take(kWatchInterval, /*until_done=*/false);
    }
    if (progress.empty()) {
      if (!client_.Closed()) return true;
      call_->Cancel();
      return false;
    }
    std::string events;
    if (progress.response.has_value()) events = responder_.Events(*progress.response);
    if (progress.outcome.has_value()) {
      // An error after the stream began can only be told in the stream (OpenAI's SDKs raise it).
      events += progress.outcome->ok()
                    ? responder_.End()
                    : ErrorEvent(ToHttpError(*progress.outcome, [this](absl::string_view path) {
                        return request_->ParamName(path);
                      }));
    }
    // (An empty write would end cpp-httplib's stream: write only what there is.)
    if (!events.empty() && !sink.write(events.data(), events.size())) {
      call_->Cancel();
      return false;
    }
    if (progress.outcome.has_value()) {
      done_ = true;
      sink.done();
    }
    return true;
  }

  // The client went away, the write timed out, or the server stopped before the end.
  void Release() {
    if (!done_) call_->Cancel();
  }

 private:
  const std::shared_ptr<HttpGeneration> call_;
  const std::shared_ptr<const OpenAiRequest> request_;
  OpenAiResponder responder_;
  std::optional<HttpGeneration::Progress> first_;
  const ClientConnection client_;
  bool done_ = false;
};

}  // namespace

HttpGeneration::HttpGeneration(const ServiceContext& ctx, absl::string_view method,
                               CallOrigin origin, const std::atomic<bool>& shutting_down)
    : record_(ctx, method, std::move(origin)), shutting_down_(shutting_down) {}

void HttpGeneration::Send(v1::GenerateResponse response) {
  absl::MutexLock lock(&mu_);
  if (pending_.has_value()) {
    MergeGenerateResponse(*pending_, std::move(response));
  } else {
    pending_.emplace(std::move(response));
  }
}

bool HttpGeneration::Cancelled() const { return client_gone_.load() || shutting_down_.load(); }

void HttpGeneration::Complete(const absl::Status& status) {
  absl::Status outcome = status;
  if (absl::IsCancelled(status) && shutting_down_.load() && !client_gone_.load()) {
    outcome = WithReason(absl::UnavailableError("the server shut down (its drain_timeout passed) "
                                                "before the generation finished"),
                         kReasonUnavailable);
  }
  absl::Status visible = record_.Finish(outcome);
  absl::MutexLock lock(&mu_);
  outcome_ = std::move(visible);
}

HttpGeneration::Progress HttpGeneration::Take(absl::Duration timeout, bool until_done) {
  absl::MutexLock lock(&mu_);
  auto ready = [this, until_done]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return outcome_.has_value() || (!until_done && pending_.has_value());
  };
  mu_.AwaitWithTimeout(absl::Condition(&ready), timeout);
  Progress progress;
  if (until_done && !outcome_.has_value()) return progress;
  progress.response = std::exchange(pending_, std::nullopt);
  progress.outcome = outcome_;
  return progress;
}

void ServeGeneration(const ServiceContext& ctx, const HttpModel& model,
                     const std::atomic<bool>& shutting_down, OpenAiEndpoint endpoint,
                     const httplib::Request& http_request, absl::string_view body,
                     httplib::Response& http_response) {
  absl::StatusOr<CallOrigin> origin = HttpCallOrigin(http_request);
  auto call = std::make_shared<HttpGeneration>(ctx, MethodName(endpoint),
                                               origin.ok() ? *origin : CallOrigin(), shutting_down);
  CallRecord& record = call->record();
  http_response.set_header("X-Request-Id", record.request_id());
  record.AddRequestBytes(static_cast<int64_t>(body.size()));

  auto request = std::make_shared<OpenAiRequest>();
  auto param_name = [&request](absl::string_view path) { return request->ParamName(path); };
  absl::Status status = record.Admit();
  if (status.ok()) status = origin.status();
  if (status.ok()) {
    absl::StatusOr<OpenAiRequest> parsed =
        ParseOpenAiRequest(endpoint, body, HttpExtensionHeaders(http_request));
    if (parsed.ok()) {
      *request = *std::move(parsed);
    } else {
      status = parsed.status();
    }
  }
  if (status.ok() && !request->model.empty() && request->model != model.id) {
    status = ModelNotFound(request->model, model.id);
  }
  if (status.ok()) status = CheckGenerateRequest(ctx, request->generate);
  if (!status.ok()) {
    ReplyError(record, status, param_name, http_response);
    return;
  }
  // The worker holds the call and the request until it is done, whatever happens to the
  // connection.
  if (!ctx.stream_pool->TrySubmit(record.tenant(),
                                  [&ctx, call, request] { RunOnWorker(ctx, *request, *call); })) {
    ReplyError(record,
               QueueFull("every generation worker is busy and their queue is full; retry later",
                         ctx.retry_delay),
               http_response);
    return;
  }

  const ClientConnection client(EndsOf(http_request));
  // Streamed: the first response decides between a stream and an error status. Not streamed:
  // the whole outcome.
  HttpGeneration::Progress progress = WaitForProgress(*call, client, !request->stream);
  if (progress.empty()) {
    http_response.status = 499;  // (nobody reads it: the client has gone)
    return;
  }
  const bool chat = endpoint == OpenAiEndpoint::kChatCompletions;
  OpenAiResponseInfo info;
  info.id = absl::StrCat(chat ? "chatcmpl-" : "cmpl-", record.request_id());
  info.created = absl::ToUnixSeconds(absl::Now());
  info.model = model.id;
  info.fingerprint = model.fingerprint;

  // Errors before the first token (a missing session, a prompt over the limit, a full engine
  // queue) still get their own status, streamed or not.
  if (!progress.response.has_value() && progress.outcome.has_value() && !progress.outcome->ok()) {
    ReplyError(ToHttpError(*progress.outcome, param_name), http_response);
    return;
  }
  if (request->stream) {
    auto stream =
        std::make_shared<EventStream>(call, request, std::move(info), std::move(progress), client);
    http_response.set_header("Cache-Control", "no-cache");
    http_response.set_header("X-Accel-Buffering", "no");  // proxies: pass events on at once
    http_response.set_chunked_content_provider(
        "text/event-stream",
        [stream](size_t /*offset*/, httplib::DataSink& sink) { return stream->Write(sink); },
        [stream](bool /*success*/) { stream->Release(); });
    return;
  }
  if (!progress.outcome->ok()) {
    ReplyError(ToHttpError(*progress.outcome, param_name), http_response);
    return;
  }
  OpenAiResponder responder(*request, std::move(info));
  http_response.set_content(
      JsonText(responder.Completion(progress.response.value_or(v1::GenerateResponse()))),
      "application/json");
}

}  // namespace jamba::service
