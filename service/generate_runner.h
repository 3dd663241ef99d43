// The generation core every transport runs: a checked jamba.v1 GenerateRequest (from a gRPC
// Generate call, or translated from an OpenAI-compatible HTTP request) is tokenized, run through
// the engine (stateless with prefix reuse, or on a session with its commit rule) and streamed to a
// GenerateSink as GenerateResponse deltas, ending with the last response (finish reason, usage,
// seed, the committed session). The transports differ only in how they admit a call, where the
// responses go and how they learn that the client has gone.
#ifndef JAMBA_SERVICE_GENERATE_RUNNER_H_
#define JAMBA_SERVICE_GENERATE_RUNNER_H_

#include "absl/status/status.h"
#include "jamba/v1/generation_service.pb.h"
#include "service/call_record.h"

namespace jamba::service {

// Where one generation's responses go. Called on the worker thread that runs the generation.
class GenerateSink {
 public:
  virtual ~GenerateSink() = default;
  // Each delta (text, token ids, logprobs), then the last response.
  virtual void Send(v1::GenerateResponse response) = 0;
  // True once the client cancelled or went away; the engine stops within one step.
  virtual bool Cancelled() const = 0;
};

// The checks a transport makes before it queues a generation: the request's fields
// (ValidateGenerateRequest against the server's limits) and, for a session input, that the
// server has sessions.
absl::Status CheckGenerateRequest(const ServiceContext& ctx, const v1::GenerateRequest& request);

// Runs a checked request to its end on the calling thread (a stream worker), sending its
// responses to `sink` and accounting its tokens and latencies on `record` and the metrics. The
// client's deadline is `record.deadline()`; a committing session input commits only while
// ServiceContext::commit_margin is left before it. Returns the status the call ends with.
absl::Status RunGenerate(const ServiceContext& ctx, const v1::GenerateRequest& request,
                         CallRecord& record, GenerateSink& sink);

// Combines `next` into `pending`, neither delivered yet: texts, token ids and logprobs
// concatenate; the last response's fields are taken from `next`. For transports that merge the
// deltas a slow client has not read yet into one message.
void MergeGenerateResponse(v1::GenerateResponse& pending, v1::GenerateResponse&& next);

}  // namespace jamba::service

#endif  // JAMBA_SERVICE_GENERATE_RUNNER_H_
