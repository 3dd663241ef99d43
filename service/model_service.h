// jamba.v1.ModelService: GetModelInfo (built once at start-up), Tokenize and Detokenize. None of
// them waits on the engine's queue, so they run inline on gRPC's callback threads.
#ifndef JAMBA_SERVICE_MODEL_SERVICE_H_
#define JAMBA_SERVICE_MODEL_SERVICE_H_

#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/server_callback.h"
#include "jamba/v1/model.pb.h"
#include "jamba/v1/model_service.grpc.pb.h"
#include "service/call.h"

namespace jamba::service {

// Raw methods, so invalid UTF-8 in Tokenize's text is INVALID_ARGUMENT naming the field.
using ModelServiceBase = v1::ModelService::WithRawCallbackMethod_GetModelInfo<
    v1::ModelService::WithRawCallbackMethod_Tokenize<
        v1::ModelService::WithRawCallbackMethod_Detokenize<v1::ModelService::Service>>>;

class ModelService final : public ModelServiceBase {
 public:
  ModelService(const ServiceContext& ctx, v1::ModelInfo info) : ctx_(ctx), info_(std::move(info)) {}

  grpc::ServerUnaryReactor* GetModelInfo(grpc::CallbackServerContext* context,
                                         const grpc::ByteBuffer* request,
                                         grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* Tokenize(grpc::CallbackServerContext* context,
                                     const grpc::ByteBuffer* request,
                                     grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* Detokenize(grpc::CallbackServerContext* context,
                                       const grpc::ByteBuffer* request,
                                       grpc::ByteBuffer* response) override;

 private:
  const ServiceContext& ctx_;
  const v1::ModelInfo info_;
};

}  // namespace jamba::service

#endif  // JAMBA_SERVICE_MODEL_SERVICE_H_
