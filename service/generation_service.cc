// Generate: the gRPC call around the transport-neutral generation core (generate_runner.h):
// admission, parsing and checks on the gRPC thread, the run on a stream worker, and the
// GenerateResponse stream written by the reactor.
#include "service/generation_service.h"

#include <utility>

#include "service/generate_runner.h"
#include "service/status_mapping.h"
#include "service/stream_reactor.h"
#include "service/validation.h"

namespace jamba::service {
namespace {

constexpr char kMethod[] = "jamba.v1.GenerationService/Generate";

class GenerateCall final
    : public StreamReactor<grpc::ServerWriteReactor<grpc::ByteBuffer>, v1::GenerateResponse> {
 public:
  GenerateCall(const ServiceContext& ctx, grpc::CallbackServerContext* context,
               const grpc::ByteBuffer* raw_request)
      : StreamReactor(ctx, context, kMethod), sink_(*this) {
    absl::Status status = record().Admit();
    record().AddRequestBytes(static_cast<int64_t>(raw_request->Length()));
    if (status.ok()) status = ParseRequest(*raw_request, request_);
    if (status.ok()) status = CheckGenerateRequest(ctx, request_);
    if (!status.ok()) {
      Complete(status);
      return;
    }
    // The worker's last act is Complete; until then the reactor cannot be destroyed.
    if (!ctx.stream_pool->TrySubmit(record().tenant(), [this] {
          Complete(RunGenerate(this->ctx(), request_, record(), sink_));
        })) {
      Complete(QueueFull("every generation worker is busy and their queue is full; retry later",
                         ctx.retry_delay));
    }
  }

 private:
  // The generation core's view of this reactor.
  class Sink final : public GenerateSink {
   public:
    explicit Sink(GenerateCall& call) : call_(call) {}
    void Send(v1::GenerateResponse response) override { call_.Send(std::move(response)); }
    bool Cancelled() const override { return call_.cancelled(); }

   private:
    GenerateCall& call_;
  };

  void Merge(v1::GenerateResponse& pending, v1::GenerateResponse&& next) const override {
    MergeGenerateResponse(pending, std::move(next));
  }

  v1::GenerateRequest request_;
  Sink sink_;
};

}  // namespace

grpc::ServerWriteReactor<grpc::ByteBuffer>* GenerationService::Generate(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request) {
  return new GenerateCall(ctx_, context, request);
}

}  // namespace jamba::service
