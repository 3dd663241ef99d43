// jambad's security over the wire: API keys (missing or unknown: UNAUTHENTICATED), tenant
// isolation (another tenant's session is NOT_FOUND for every method and never listed; prefix reuse
// stays inside the tenant), TLS, and mutual TLS refusing clients without a certificate.
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/integration/jambad_process.h"

namespace jamba::testing {
namespace {

constexpr char kAcmeKey[] = "acme-secret-key-1";
constexpr char kGlobexKey[] = "globex-secret-key-2";

// Writes the key file with `jambad hash-key`, as an operator would.
std::string MakeKeyFile(const TempDir& dir) {
  const std::string path = dir.File("api-keys");
  const std::string jambad = BinaryDir() + "/service/jambad";
  for (const auto& [tenant, key] : {std::pair{"acme", kAcmeKey}, std::pair{"globex", kGlobexKey}}) {
    const std::string command = "echo '" + std::string(key) + "' | '" + jambad + "' hash-key " +
                                tenant + " >> '" + path + "'";
    EXPECT_EQ(std::system(command.c_str()), 0) << command;
  }
  return path;
}

class SecurityIntegrationTest : public ::testing::Test {
 protected:
  void StartWithKeys() {
    auto server = JambadProcess::Start(
        {.model_dir = GoldenModelDir(), .flags = {"--api-key-file", MakeKeyFile(dir_)}});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    sessions_ = v1::SessionService::NewStub(server_->Channel());
    generation_ = v1::GenerationService::NewStub(server_->Channel());
  }

  grpc::Status CreateSession(const std::string& key, const std::string& id) {
    grpc::ClientContext context;
    Authorize(context, key);
    v1::CreateSessionRequest request;
    request.set_session_id(id);
    v1::Session session;
    return sessions_->CreateSession(&context, request, &session);
  }

  TempDir dir_;
  std::unique_ptr<JambadProcess> server_;
  std::unique_ptr<v1::SessionService::Stub> sessions_;
  std::unique_ptr<v1::GenerationService::Stub> generation_;
};

TEST_F(SecurityIntegrationTest, MissingOrUnknownKeysAreUnauthenticated) {
  StartWithKeys();
  grpc::Status missing = CreateSession("", "a");
  EXPECT_EQ(missing.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(ErrorReason(missing), "API_KEY_MISSING");
  grpc::Status wrong = CreateSession("not-a-key", "a");
  EXPECT_EQ(wrong.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(ErrorReason(wrong), "API_KEY_INVALID");
  v1::GenerateRequest request;
  request.mutable_prompt_token_ids()->add_ids(5);
  EXPECT_EQ(Generate(*generation_, request, "wrong").status.error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(CreateSession(kAcmeKey, "a").ok());

  // Health needs no key.
  auto health = grpc::health::v1::Health::NewStub(server_->Channel());
  grpc::ClientContext context;
  grpc::health::v1::HealthCheckRequest check;
  grpc::health::v1::HealthCheckResponse response;
  ASSERT_TRUE(health->Check(&context, check, &response).ok());
  EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);
}

TEST_F(SecurityIntegrationTest, AnotherTenantsSessionIsNotFoundEverywhereAndNeverListed) {
  StartWithKeys();
  ASSERT_TRUE(CreateSession(kAcmeKey, "secret").ok());
  std::vector<int32_t> doc;
  for (int i = 0; i < 40; ++i) doc.push_back(10 + i);
  {
    grpc::ClientContext context;
    Authorize(context, kAcmeKey);
    auto stream = sessions_->AppendToSession(&context);
    v1::AppendToSessionRequest config;
    config.mutable_config()->set_session("sessions/secret");
    stream->Write(config);
    v1::AppendToSessionRequest chunk;
    for (int32_t id : doc) chunk.mutable_token_ids()->add_ids(id);
    stream->Write(chunk);
    stream->WritesDone();
    v1::AppendToSessionResponse response;
    while (stream->Read(&response)) {
    }
    ASSERT_TRUE(stream->Finish().ok());
  }

  auto expect_not_found = [](const grpc::Status& status, const char* what) {
    EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND) << what;
    EXPECT_EQ(ErrorReason(status), "SESSION_NOT_FOUND") << what;
  };
  {
    grpc::ClientContext context;
    Authorize(context, kGlobexKey);
    v1::GetSessionRequest request;
    request.set_name("sessions/secret");
    v1::Session session;
    expect_not_found(sessions_->GetSession(&context, request, &session), "Get");
  }
  {
    v1::GenerateRequest request;
    request.mutable_session()->set_session("sessions/secret");
    request.set_max_tokens(2);
    expect_not_found(Generate(*generation_, request, kGlobexKey).status, "Generate");
  }
  {
    grpc::ClientContext context;
    Authorize(context, kGlobexKey);
    v1::ForkSessionRequest request;
    request.set_name("sessions/secret");
    request.set_session_id("stolen");
    v1::Session session;
    expect_not_found(sessions_->ForkSession(&context, request, &session), "Fork");
  }
  {
    grpc::ClientContext context;
    Authorize(context, kGlobexKey);
    v1::DeleteSessionRequest request;
    request.set_name("sessions/secret");
    google::protobuf::Empty empty;
    expect_not_found(sessions_->DeleteSession(&context, request, &empty), "Delete");
  }
  {
    grpc::ClientContext context;
    Authorize(context, kGlobexKey);
    v1::ListSessionsRequest request;
    v1::ListSessionsResponse response;
    ASSERT_TRUE(sessions_->ListSessions(&context, request, &response).ok());
    EXPECT_EQ(response.sessions_size(), 0);
  }
  // Ids are per tenant: globex may have its own "secret".
  EXPECT_TRUE(CreateSession(kGlobexKey, "secret").ok());

  // A stateless prompt beginning with acme's document reuses acme's checkpoint only for acme.
  v1::GenerateRequest request;
  request.mutable_prompt_token_ids()->add_ids(1);  // BOS, as the session holds it
  for (int32_t id : doc) request.mutable_prompt_token_ids()->add_ids(id);
  request.mutable_prompt_token_ids()->add_ids(7);
  request.set_max_tokens(3);
  request.mutable_sampling()->set_temperature(0);
  GenerateOutcome acme = Generate(*generation_, request, kAcmeKey);
  GenerateOutcome globex = Generate(*generation_, request, kGlobexKey);
  ASSERT_TRUE(acme.status.ok() && globex.status.ok());
  EXPECT_EQ(acme.last.usage().restored_tokens(), 41);
  EXPECT_EQ(globex.last.usage().restored_tokens(), 0);
  EXPECT_EQ(acme.tokens, globex.tokens);  // reuse changes the cost, not the answer

  // The owner still has it, unchanged.
  grpc::ClientContext context;
  Authorize(context, kAcmeKey);
  v1::GetSessionRequest get;
  get.set_name("sessions/secret");
  v1::Session session;
  ASSERT_TRUE(sessions_->GetSession(&context, get, &session).ok());
  EXPECT_EQ(session.token_count(), 41);
}

class TlsIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(MakeCertificates(dir_.path()).ok()); }

  std::shared_ptr<grpc::ChannelCredentials> Tls(bool with_client_cert) const {
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = ReadFile(dir_.File("ca.pem"));
    if (with_client_cert) {
      options.pem_private_key = ReadFile(dir_.File("client.key"));
      options.pem_cert_chain = ReadFile(dir_.File("client.pem"));
    }
    return grpc::SslCredentials(options);
  }

  // GetModelInfo over `channel`: the status only.
  static grpc::Status Call(const std::shared_ptr<grpc::Channel>& channel) {
    auto stub = v1::ModelService::NewStub(channel);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    v1::GetModelInfoRequest request;
    v1::ModelInfo info;
    return stub->GetModelInfo(&context, request, &info);
  }

  TempDir dir_;
};

TEST_F(TlsIntegrationTest, TlsClientsConnectAndPlaintextOnesDoNot) {
  auto server = JambadProcess::Start(
      {.model_dir = GoldenModelDir(),
       .flags = {"--tls-cert", dir_.File("server.pem"), "--tls-key", dir_.File("server.key")}});
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_TRUE(Call((*server)->Channel(Tls(false))).ok());
  EXPECT_FALSE(Call((*server)->Channel()).ok());
}

TEST_F(TlsIntegrationTest, MutualTlsRefusesClientsWithoutACertificate) {
  auto server = JambadProcess::Start(
      {.model_dir = GoldenModelDir(),
       .flags = {"--tls-cert", dir_.File("server.pem"), "--tls-key", dir_.File("server.key"),
                 "--tls-client-ca", dir_.File("ca.pem"), "--tls-require-client-cert", "true"}});
  ASSERT_TRUE(server.ok()) << server.status();
  grpc::Status with_cert = Call((*server)->Channel(Tls(true)));
  EXPECT_TRUE(with_cert.ok()) << with_cert.error_message();
  grpc::Status without_cert = Call((*server)->Channel(Tls(false)));
  EXPECT_EQ(without_cert.error_code(), grpc::StatusCode::UNAVAILABLE)
      << without_cert.error_message();
}

}  // namespace
}  // namespace jamba::testing
