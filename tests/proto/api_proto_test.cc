// Checks the generated jamba.v1 API: the services keep the methods and streaming shapes clients
// are generated against, the google.rpc copies pack and unpack as error details, and a binary can
// link jamba_proto together with gRPC's reflection library (a duplicate descriptor would abort it
// at start-up, before any test ran).
#include <memory>
#include <string>
#include <vector>

#include "google/protobuf/descriptor.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "jamba/v1/generation_service.grpc.pb.h"
#include "jamba/v1/model_service.grpc.pb.h"
#include "jamba/v1/session_service.grpc.pb.h"

namespace jamba {
namespace {

using google::protobuf::DescriptorPool;
using google::protobuf::MethodDescriptor;

struct Rpc {
  std::string name, input, output;
  bool client_streaming, server_streaming;
};

void ExpectService(const std::string& service, const std::vector<Rpc>& rpcs) {
  const auto* s = DescriptorPool::generated_pool()->FindServiceByName(service);
  ASSERT_NE(s, nullptr) << service;
  ASSERT_EQ(s->method_count(), static_cast<int>(rpcs.size())) << service;
  for (const Rpc& rpc : rpcs) {
    const MethodDescriptor* m = s->FindMethodByName(rpc.name);
    ASSERT_NE(m, nullptr) << service << "." << rpc.name;
    EXPECT_EQ(m->input_type()->full_name(), rpc.input) << rpc.name;
    EXPECT_EQ(m->output_type()->full_name(), rpc.output) << rpc.name;
    EXPECT_EQ(m->client_streaming(), rpc.client_streaming) << rpc.name;
    EXPECT_EQ(m->server_streaming(), rpc.server_streaming) << rpc.name;
  }
}

TEST(ApiProtoTest, ServicesHaveTheirMethods) {
  ExpectService(
      "jamba.v1.SessionService",
      {{"CreateSession", "jamba.v1.CreateSessionRequest", "jamba.v1.Session", false, false},
       {"GetSession", "jamba.v1.GetSessionRequest", "jamba.v1.Session", false, false},
       {"ListSessions", "jamba.v1.ListSessionsRequest", "jamba.v1.ListSessionsResponse", false,
        false},
       {"DeleteSession", "jamba.v1.DeleteSessionRequest", "google.protobuf.Empty", false, false},
       {"AppendToSession", "jamba.v1.AppendToSessionRequest", "jamba.v1.AppendToSessionResponse",
        true, true},
       {"ForkSession", "jamba.v1.ForkSessionRequest", "jamba.v1.Session", false, false},
       {"ListCheckpoints", "jamba.v1.ListCheckpointsRequest", "jamba.v1.ListCheckpointsResponse",
        false, false},
       {"RewindSession", "jamba.v1.RewindSessionRequest", "jamba.v1.Session", false, false}});
  ExpectService("jamba.v1.GenerationService", {{"Generate", "jamba.v1.GenerateRequest",
                                                "jamba.v1.GenerateResponse", false, true}});
  ExpectService(
      "jamba.v1.ModelService",
      {{"GetModelInfo", "jamba.v1.GetModelInfoRequest", "jamba.v1.ModelInfo", false, false},
       {"Tokenize", "jamba.v1.TokenizeRequest", "jamba.v1.TokenizeResponse", false, false},
       {"Detokenize", "jamba.v1.DetokenizeRequest", "jamba.v1.DetokenizeResponse", false, false}});
}

TEST(ApiProtoTest, GenerateRequestOneofAndOptionalFields) {
  v1::GenerateRequest req;
  req.mutable_session()->set_session("sessions/doc");
  req.mutable_session()->mutable_messages()->add_messages()->set_role(v1::ChatMessage::USER);
  req.mutable_session()->set_commit(true);
  EXPECT_FALSE(req.has_max_tokens());
  EXPECT_FALSE(req.sampling().has_temperature());
  req.mutable_sampling()->set_temperature(0.0f);  // explicit greedy, distinguishable from unset

  v1::GenerateRequest back;
  ASSERT_TRUE(back.ParseFromString(req.SerializeAsString()));
  EXPECT_EQ(back.input_case(), v1::GenerateRequest::kSession);
  EXPECT_EQ(back.session().content_case(), v1::SessionInput::kMessages);
  EXPECT_TRUE(back.sampling().has_temperature());
  EXPECT_FALSE(back.has_max_tokens());
}

TEST(ApiProtoTest, ErrorDetailsRoundTripThroughStatus) {
  google::rpc::BadRequest bad;
  auto* v = bad.add_field_violations();
  v->set_field("sampling.top_p");
  v->set_description("must be in (0, 1]");
  google::rpc::ErrorInfo info;
  info.set_reason("INVALID_FIELD");
  info.set_domain("jamba.ai");

  google::rpc::Status status;
  status.set_code(static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
  status.add_details()->PackFrom(info);
  status.add_details()->PackFrom(bad);

  google::rpc::Status back;
  ASSERT_TRUE(back.ParseFromString(status.SerializeAsString()));
  ASSERT_EQ(back.details_size(), 2);
  EXPECT_EQ(back.details(1).type_url(), "type.googleapis.com/google.rpc.BadRequest");
  google::rpc::BadRequest bad_back;
  ASSERT_TRUE(back.details(1).UnpackTo(&bad_back));
  EXPECT_EQ(bad_back.field_violations(0).field(), "sampling.top_p");
}

// A server with reflection and every jamba.v1 service registered starts, and reflection-visible
// services include ours (what jambad will do).
TEST(ApiProtoTest, ServerWithReflectionStarts) {
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  v1::SessionService::CallbackService sessions;
  v1::GenerationService::CallbackService generation;
  v1::ModelService::CallbackService model;
  grpc::ServerBuilder builder;
  builder.RegisterService(&sessions).RegisterService(&generation).RegisterService(&model);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);

  // Unimplemented handlers answer UNIMPLEMENTED over an in-process channel.
  auto stub = v1::ModelService::NewStub(server->InProcessChannel(grpc::ChannelArguments()));
  grpc::ClientContext ctx;
  v1::ModelInfo info;
  EXPECT_EQ(stub->GetModelInfo(&ctx, v1::GetModelInfoRequest(), &info).error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
  server->Shutdown();
}

}  // namespace
}  // namespace jamba
