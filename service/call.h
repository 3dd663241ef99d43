// What every jamba.v1 RPC shares on top of the transport-neutral call bookkeeping
// (call_record.h): the CallRecord of a gRPC call, and the unary-call reactor that runs a handler
// inline or on a worker pool.
#ifndef JAMBA_SERVICE_CALL_H_
#define JAMBA_SERVICE_CALL_H_

#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/server_callback.h"
#include "service/call_record.h"
#include "service/status_mapping.h"
#include "service/validation.h"
#include "service/worker_pool.h"

namespace jamba::service {

// A CallRecord for a gRPC call: its origin read from the client's metadata and deadline, its
// request id echoed in the response's initial metadata, and its status mapped to gRPC's.
class GrpcCallRecord : public CallRecord {
 public:
  GrpcCallRecord(const ServiceContext& ctx, grpc::CallbackServerContext* context,
                 absl::string_view method);
  bool client_cancelled() const { return context_->IsCancelled(); }
  // CallRecord::Finish, as the gRPC status the call ends with (through ToGrpcStatus).
  grpc::Status FinishGrpc(const absl::Status& status) { return ToGrpcStatus(Finish(status)); }

 private:
  grpc::CallbackServerContext* const context_;
};

// A unary RPC. Deletes itself in OnDone: the gRPC callback API hands reactor ownership to the
// reactor itself, which is the accepted exception to "no raw new/delete".
class UnaryCall final : public grpc::ServerUnaryReactor {
 public:
  UnaryCall(const ServiceContext& ctx, grpc::CallbackServerContext* context,
            absl::string_view method, grpc::ByteBuffer* response)
      : record_(ctx, context, method), response_(response) {}
  GrpcCallRecord& record() { return record_; }
  void Reply(const absl::Status& status) { Finish(record_.FinishGrpc(status)); }
  void Reply(const google::protobuf::Message& response) {
    *response_ = SerializeResponse(response);
    Finish(record_.FinishGrpc(absl::OkStatus()));
  }
  void OnDone() override { delete this; }

 private:
  GrpcCallRecord record_;
  grpc::ByteBuffer* const response_;
};

template <typename Request, typename Response>
using UnaryHandler = absl::AnyInvocable<absl::StatusOr<Response>(const Request&, CallRecord&)>;

// Admits and parses the call, then runs `handler` on `pool` (or inline when null: for cheap
// methods that never block) and replies. A full pool answers QUEUE_FULL at once.
template <typename Request, typename Response>
grpc::ServerUnaryReactor* ServeUnary(const ServiceContext& ctx,
                                     grpc::CallbackServerContext* context, absl::string_view method,
                                     const grpc::ByteBuffer* request_bytes,
                                     grpc::ByteBuffer* response_bytes, WorkerPool* pool,
                                     UnaryHandler<Request, Response> handler) {
  // Finish before returning only records the status: gRPC binds the reactor after this returns,
  // so OnDone (and the delete) cannot run before the caller has the pointer.
  auto* call = new UnaryCall(ctx, context, method, response_bytes);
  Request request;
  absl::Status admitted = call->record().Admit();
  call->record().AddRequestBytes(static_cast<int64_t>(request_bytes->Length()));
  if (admitted.ok()) admitted = ParseRequest(*request_bytes, request);
  if (!admitted.ok()) {
    call->Reply(admitted);
    return call;
  }
  auto run = [call, request = std::move(request), handler = std::move(handler)]() mutable {
    if (call->record().client_cancelled()) {
      call->Reply(absl::CancelledError("the client cancelled the call"));
      return;
    }
    absl::StatusOr<Response> response = handler(request, call->record());
    if (response.ok()) {
      call->Reply(*response);
    } else {
      call->Reply(response.status());
    }
  };
  if (pool == nullptr) {
    run();
  } else if (!pool->TrySubmit(call->record().tenant(), std::move(run))) {
    call->Reply(QueueFull("too many session calls are waiting; retry later", ctx.retry_delay));
  }
  return call;
}

}  // namespace jamba::service

#endif  // JAMBA_SERVICE_CALL_H_
