// jamba.v1.SessionService: the unary session methods run on the session worker pool (they wait
// on disk and on the session's lock); AppendToSession is a bidirectional reactor that takes the
// config and the content chunks, and after the client half-closes runs the append on a stream
// worker, streaming progress and finally the committed Session.
#ifndef JAMBA_SERVICE_SESSION_SERVICE_H_
#define JAMBA_SERVICE_SESSION_SERVICE_H_

#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/server_callback.h"
#include "jamba/v1/session_service.grpc.pb.h"
#include "service/call.h"

namespace jamba::service {

// Every method raw (ByteBuffer), so that invalid UTF-8 is INVALID_ARGUMENT naming the field.
using SessionServiceBase = v1::SessionService::WithRawCallbackMethod_CreateSession<
    v1::SessionService::WithRawCallbackMethod_GetSession<
        v1::SessionService::WithRawCallbackMethod_ListSessions<
            v1::SessionService::WithRawCallbackMethod_DeleteSession<
                v1::SessionService::WithRawCallbackMethod_AppendToSession<
                    v1::SessionService::WithRawCallbackMethod_ForkSession<
                        v1::SessionService::WithRawCallbackMethod_ListCheckpoints<
                            v1::SessionService::WithRawCallbackMethod_RewindSession<
                                v1::SessionService::Service>>>>>>>>;

class SessionService final : public SessionServiceBase {
 public:
  explicit SessionService(const ServiceContext& ctx) : ctx_(ctx) {}

  grpc::ServerUnaryReactor* CreateSession(grpc::CallbackServerContext* context,
                                          const grpc::ByteBuffer* request,
                                          grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* GetSession(grpc::CallbackServerContext* context,
                                       const grpc::ByteBuffer* request,
                                       grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ListSessions(grpc::CallbackServerContext* context,
                                         const grpc::ByteBuffer* request,
                                         grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* DeleteSession(grpc::CallbackServerContext* context,
                                          const grpc::ByteBuffer* request,
                                          grpc::ByteBuffer* response) override;
  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* AppendToSession(
      grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* ForkSession(grpc::CallbackServerContext* context,
                                        const grpc::ByteBuffer* request,
                                        grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ListCheckpoints(grpc::CallbackServerContext* context,
                                            const grpc::ByteBuffer* request,
                                            grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* RewindSession(grpc::CallbackServerContext* context,
                                          const grpc::ByteBuffer* request,
                                          grpc::ByteBuffer* response) override;

 private:
  const ServiceContext& ctx_;
};

}  // namespace jamba::service

#endif  // JAMBA_SERVICE_SESSION_SERVICE_H_
