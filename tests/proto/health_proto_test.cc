// Checks that our client-side copy of grpc.health.v1 (target jamba_health_proto) talks to gRPC's
// built-in health service, which is what jambad serves.
#include <memory>

#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/generic/async_generic_service.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"

namespace jamba {
namespace {

using grpc::health::v1::Health;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

TEST(HealthProtoTest, TalksToTheBuiltInHealthService) {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::CallbackGenericService unused;  // a server needs at least one service of its own
  grpc::ServerBuilder builder;
  builder.RegisterCallbackGenericService(&unused);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  server->GetHealthCheckService()->SetServingStatus("jamba.v1.GenerationService", false);
  auto stub = Health::NewStub(server->InProcessChannel(grpc::ChannelArguments()));

  HealthCheckRequest req;
  HealthCheckResponse resp;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub->Check(&ctx, req, &resp).ok());
    EXPECT_EQ(resp.status(), HealthCheckResponse::SERVING);
  }
  {
    req.set_service("jamba.v1.GenerationService");
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub->Check(&ctx, req, &resp).ok());
    EXPECT_EQ(resp.status(), HealthCheckResponse::NOT_SERVING);
  }
  {
    req.set_service("no.such.Service");
    grpc::ClientContext ctx;
    EXPECT_EQ(stub->Check(&ctx, req, &resp).error_code(), grpc::StatusCode::NOT_FOUND);
  }
  server->Shutdown();
  grpc::EnableDefaultHealthCheckService(false);
}

}  // namespace
}  // namespace jamba
