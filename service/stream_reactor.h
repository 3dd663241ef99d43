// The server side of a streaming RPC whose responses are produced on a worker thread: the worker
// Send()s responses and finally Complete()s; the reactor writes them with at most one write in
// flight (gRPC's flow control: the next write starts in OnWriteDone). While a write is in flight,
// newer responses are merged into one pending response instead of queueing, so a slow client
// costs one message of memory and never blocks the worker (which would hold a batch slot).
//
// Lifetime: gRPC hands the reactor its own ownership; it deletes itself in OnDone, which runs only
// after Finish, which runs only after Complete, which is the worker's last touch of the reactor.
// (The accepted exception to "no raw new/delete".)
#ifndef JAMBA_SERVICE_STREAM_REACTOR_H_
#define JAMBA_SERVICE_STREAM_REACTOR_H_

#include <atomic>
#include <optional>
#include <string_view>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/server_callback.h"
#include "service/call.h"
#include "service/validation.h"

namespace jamba::service {

// `Base` is grpc::ServerWriteReactor<grpc::ByteBuffer> or
// grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>.
template <typename Base, typename Response>
class StreamReactor : public Base {
 public:
  StreamReactor(const ServiceContext& ctx, grpc::CallbackServerContext* context,
                absl::string_view method)
      : ctx_(ctx), context_(context), record_(ctx, context, method) {}

  void OnDone() override { delete this; }
  void OnCancel() override { cancelled_.store(true, std::memory_order_relaxed); }

  void OnWriteDone(bool ok) override {
    std::optional<grpc::Status> finish;
    bool write_next = false;
    {
      absl::MutexLock lock(&mu_);
      if (!ok) {
        // The stream is broken (the client went away): nothing more can be written.
        cancelled_.store(true, std::memory_order_relaxed);
        pending_.reset();
      }
      if (pending_.has_value()) {
        in_flight_ = SerializeResponse(*pending_);
        pending_.reset();
        write_next = true;
      } else {
        writing_ = false;
        if (final_.has_value() && !finished_) {
          finished_ = true;
          finish = *final_;
        }
      }
    }
    if (write_next) {
      this->StartWrite(&in_flight_);
    } else if (finish.has_value()) {
      this->Finish(*std::move(finish));
    }
  }

 protected:
  ~StreamReactor() override = default;

  // Combines `next` into `pending`, neither written yet (a delta stream concatenates; a progress
  // stream keeps the newer).
  virtual void Merge(Response& pending, Response&& next) const = 0;

  const ServiceContext& ctx() const { return ctx_; }
  grpc::CallbackServerContext* context() const { return context_; }
  GrpcCallRecord& record() { return record_; }
  const GrpcCallRecord& record() const { return record_; }
  // True once the client cancelled, its deadline passed, or the stream broke.
  bool cancelled() const {
    return cancelled_.load(std::memory_order_relaxed) || context_->IsCancelled();
  }

  // From any thread, before Complete.
  void Send(Response response) {
    {
      absl::MutexLock lock(&mu_);
      if (final_.has_value() || cancelled_.load(std::memory_order_relaxed)) return;
      if (writing_) {
        if (pending_.has_value()) {
          Merge(*pending_, std::move(response));
        } else {
          pending_.emplace(std::move(response));
        }
        return;
      }
      writing_ = true;
      in_flight_ = SerializeResponse(response);
    }
    this->StartWrite(&in_flight_);
  }

  // From any thread, once: ends the call with `status` after what was sent is written (on error,
  // responses not yet written are dropped). Must be the caller's last use of the reactor.
  void Complete(const absl::Status& status) {
    grpc::Status grpc_status = record_.FinishGrpc(status);
    bool finish_now = false;
    {
      absl::MutexLock lock(&mu_);
      if (!status.ok()) pending_.reset();
      final_ = grpc_status;
      if (!writing_ && !finished_) {
        finished_ = true;
        finish_now = true;
      }
    }
    if (finish_now) this->Finish(std::move(grpc_status));
  }

 private:
  const ServiceContext& ctx_;
  grpc::CallbackServerContext* const context_;
  GrpcCallRecord record_;
  std::atomic<bool> cancelled_{false};

  absl::Mutex mu_;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;  // a write is in flight
  std::optional<Response> pending_ ABSL_GUARDED_BY(mu_);
  std::optional<grpc::Status> final_ ABSL_GUARDED_BY(mu_);
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  // The message of the write in flight. Only the thread that set writing_ (or OnWriteDone, which
  // gRPC runs after that write) touches it, so it needs no lock.
  grpc::ByteBuffer in_flight_;
};

}  // namespace jamba::service

#endif  // JAMBA_SERVICE_STREAM_REACTOR_H_
