// jamba.v1.GenerationService: Generate as a server-streaming reactor. The blocking Engine call runs
// on the stream worker pool; each streamed chunk becomes a GenerateResponse handed to the reactor
// (see stream_reactor.h); cancellation and the client's deadline stop the engine within one step.
#ifndef JAMBA_SERVICE_GENERATION_SERVICE_H_
#define JAMBA_SERVICE_GENERATION_SERVICE_H_

#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/server_callback.h"
#include "jamba/v1/generation_service.grpc.pb.h"
#include "service/call.h"

namespace jamba::service {

// Raw (ByteBuffer) method so that invalid UTF-8 in a request is INVALID_ARGUMENT naming the field
// (protobuf's parser would fail and gRPC would answer INTERNAL).
class GenerationService final
    : public v1::GenerationService::WithRawCallbackMethod_Generate<v1::GenerationService::Service> {
 public:
  explicit GenerationService(const ServiceContext& ctx) : ctx_(ctx) {}

  grpc::ServerWriteReactor<grpc::ByteBuffer>* Generate(grpc::CallbackServerContext* context,
                                                       const grpc::ByteBuffer* request) override;

 private:
  const ServiceContext& ctx_;
};

}  // namespace jamba::service

#endif  // JAMBA_SERVICE_GENERATION_SERVICE_H_
