// Unit tests of the C++ client (jamba_client) against an in-process fake jambad: TLS and mutual
// TLS connections, the API key header, gRPC errors mapped to absl::Status with their
// google.rpc details, paging, chunked appends with progress, and generation streams.
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "google/protobuf/duration.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "jamba/client/client.h"
#include "tests/integration/jambad_process.h"

namespace jamba::client {
namespace {

using ::jamba::testing::MakeCertificates;
using ::jamba::testing::TempDir;
using ::jamba::testing::WriteFile;
using ::testing::ElementsAre;
using ::testing::Pair;

constexpr char kApiKey[] = "test-key-1";

// A grpc::Status carrying a google.rpc.Status with these details.
template <typename... Details>
grpc::Status RichError(grpc::StatusCode code, const std::string& message,
                       const Details&... details) {
  google::rpc::Status status;
  status.set_code(code);
  status.set_message(message);
  (status.add_details()->PackFrom(details), ...);
  return grpc::Status(code, message, status.SerializeAsString());
}

google::rpc::ErrorInfo Reason(const std::string& reason) {
  google::rpc::ErrorInfo info;
  info.set_reason(reason);
  info.set_domain("jamba.ai");
  return info;
}

grpc::Status CheckKey(grpc::ServerContext* context) {
  const auto& metadata = context->client_metadata();
  auto found = metadata.find("authorization");
  if (found == metadata.end()) {
    return RichError(grpc::StatusCode::UNAUTHENTICATED, "no key", Reason("API_KEY_MISSING"));
  }
  if (std::string(found->second.data(), found->second.size()) != std::string("Bearer ") + kApiKey) {
    return RichError(grpc::StatusCode::UNAUTHENTICATED, "bad key", Reason("API_KEY_INVALID"));
  }
  return grpc::Status::OK;
}

// Offset paging with the offset as the token (the real server's tokens are opaque).
template <typename Item, typename Response>
void Page(const std::vector<Item>& items, int page_size, const std::string& token,
          google::protobuf::RepeatedPtrField<Item>* out, Response* response) {
  const size_t start = token.empty() ? 0 : std::stoul(token);
  const size_t end = std::min(items.size(), start + (page_size > 0 ? page_size : 100));
  for (size_t i = start; i < end; ++i) *out->Add() = items[i];
  if (end < items.size()) response->set_next_page_token(std::to_string(end));
}

class FakeSessions final : public v1::SessionService::Service {
 public:
  grpc::Status CreateSession(grpc::ServerContext* context, const v1::CreateSessionRequest* request,
                             v1::Session* session) override {
    if (grpc::Status key = CheckKey(context); !key.ok()) return key;
    session->set_name("sessions/" + request->session_id());
    return grpc::Status::OK;
  }

  grpc::Status GetSession(grpc::ServerContext* context, const v1::GetSessionRequest* request,
                          v1::Session*) override {
    if (grpc::Status key = CheckKey(context); !key.ok()) return key;
    google::rpc::ResourceInfo resource;
    resource.set_resource_type("jamba.v1.Session");
    resource.set_resource_name(request->name());
    return RichError(grpc::StatusCode::NOT_FOUND, "no such session", Reason("SESSION_NOT_FOUND"),
                     resource);
  }

  grpc::Status ListSessions(grpc::ServerContext* context, const v1::ListSessionsRequest* request,
                            v1::ListSessionsResponse* response) override {
    if (grpc::Status key = CheckKey(context); !key.ok()) return key;
    if (request->page_size() < 0) {
      google::rpc::BadRequest bad_request;
      auto* violation = bad_request.add_field_violations();
      violation->set_field("page_size");
      violation->set_description("must not be negative");
      return RichError(grpc::StatusCode::INVALID_ARGUMENT, "page_size", bad_request,
                       Reason("INVALID_FIELD"));
    }
    std::vector<v1::Session> sessions(5);
    for (int i = 0; i < 5; ++i) sessions[i].set_name("sessions/s" + std::to_string(i));
    Page(sessions, request->page_size(), request->page_token(), response->mutable_sessions(),
         response);
    return grpc::Status::OK;
  }

  grpc::Status ListCheckpoints(grpc::ServerContext* context,
                               const v1::ListCheckpointsRequest* request,
                               v1::ListCheckpointsResponse* response) override {
    if (grpc::Status key = CheckKey(context); !key.ok()) return key;
    std::vector<v1::Checkpoint> checkpoints;
    for (int position : {1, 16, 32}) {
      v1::Checkpoint& checkpoint = checkpoints.emplace_back();
      checkpoint.set_name(CheckpointName(request->parent(), position));
      checkpoint.set_token_count(position);
    }
    Page(checkpoints, request->page_size(), request->page_token(), response->mutable_checkpoints(),
         response);
    return grpc::Status::OK;
  }

  grpc::Status AppendToSession(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<v1::AppendToSessionResponse, v1::AppendToSessionRequest>* stream)
      override {
    if (grpc::Status key = CheckKey(context); !key.ok()) return key;
    v1::AppendToSessionRequest request;
    if (!stream->Read(&request) || !request.has_config()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "config first");
    }
    const std::string session = request.config().session();
    v1::AppendToSessionResponse response;
    v1::AppendProgress* progress = response.mutable_progress();
    while (stream->Read(&request)) {
      std::lock_guard<std::mutex> lock(mutex_);
      chunks_.push_back(request.text());
      progress->set_chunks_received(progress->chunks_received() + 1);
      progress->set_bytes_received(progress->bytes_received() +
                                   static_cast<int64_t>(request.text().size()));
      stream->Write(response);
    }
    response.mutable_session()->set_name(session);
    response.mutable_session()->set_token_count(static_cast<int32_t>(progress->bytes_received()));
    stream->Write(response);
    return grpc::Status::OK;
  }

  std::vector<std::string> chunks() {
    std::lock_guard<std::mutex> lock(mutex_);
    return chunks_;
  }

 private:
  std::mutex mutex_;
  std::vector<std::string> chunks_;
};

class FakeGeneration final : public v1::GenerationService::Service {
 public:
  grpc::Status Generate(grpc::ServerContext* context, const v1::GenerateRequest* request,
                        grpc::ServerWriter<v1::GenerateResponse>* writer) override {
    if (grpc::Status key = CheckKey(context); !key.ok()) return key;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      last_request_ = *request;
    }
    v1::GenerateResponse response;
    response.set_text("Hel");
    response.add_token_ids(5);
    response.add_token_ids(6);
    writer->Write(response);
    if (request->prompt() == "fail midway") {
      google::rpc::RetryInfo retry;
      retry.mutable_retry_delay()->set_seconds(2);
      return RichError(grpc::StatusCode::RESOURCE_EXHAUSTED, "queue full", retry);
    }
    response.Clear();
    response.set_text("lo");
    response.add_token_ids(7);
    response.set_finish_reason(v1::FINISH_REASON_MAX_TOKENS);
    response.mutable_usage()->set_prompt_tokens(10);
    response.mutable_usage()->set_restored_tokens(8);
    response.mutable_usage()->set_recomputed_tokens(2);
    response.mutable_usage()->set_completion_tokens(3);
    response.set_seed(42);
    writer->Write(response);
    return grpc::Status::OK;
  }

  v1::GenerateRequest last_request() {
    std::lock_guard<std::mutex> lock(mutex_);
    return last_request_;
  }

 private:
  std::mutex mutex_;
  v1::GenerateRequest last_request_;
};

// The fake services on 127.0.0.1, with the given server credentials.
class FakeServer {
 public:
  explicit FakeServer(
      std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials()) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", credentials, &port_);
    builder.RegisterService(&sessions_);
    builder.RegisterService(&generation_);
    server_ = builder.BuildAndStart();
  }
  ~FakeServer() { server_->Shutdown(); }

  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }
  FakeSessions& sessions() { return sessions_; }
  FakeGeneration& generation() { return generation_; }

 private:
  FakeSessions sessions_;
  FakeGeneration generation_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

std::unique_ptr<Client> Connect(const ClientOptions& options) {
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Connect(options);
  EXPECT_TRUE(client.ok()) << client.status();
  return client.ok() ? *std::move(client) : nullptr;
}

class ClientTest : public ::testing::Test {
 protected:
  ClientTest()
      : client_(Connect(
            {.target = server_.address(), .api_key = kApiKey, .timeout = absl::Seconds(10)})) {}

  FakeServer server_;
  std::unique_ptr<Client> client_;
};

TEST_F(ClientTest, SendsTheApiKeyAndAMissingOneIsUnauthenticated) {
  absl::StatusOr<v1::Session> session = client_->CreateSession("doc");
  ASSERT_TRUE(session.ok()) << session.status();
  EXPECT_EQ(session->name(), "sessions/doc");

  std::unique_ptr<Client> anonymous = Connect({.target = server_.address()});
  absl::StatusOr<v1::Session> refused = anonymous->CreateSession("doc");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(ErrorReason(refused.status()), "API_KEY_MISSING");
  std::unique_ptr<Client> wrong = Connect({.target = server_.address(), .api_key = "wrong"});
  EXPECT_EQ(ErrorReason(wrong->GetSession("doc").status()), "API_KEY_INVALID");
}

TEST_F(ClientTest, ErrorsKeepTheCodeAndTheDetails) {
  absl::Status missing = client_->GetSession("missing").status();
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(missing.message(), "no such session");
  EXPECT_EQ(ErrorReason(missing), "SESSION_NOT_FOUND");
  std::optional<google::rpc::ErrorInfo> info = GetErrorDetail<google::rpc::ErrorInfo>(missing);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->domain(), "jamba.ai");
  std::optional<google::rpc::ResourceInfo> resource =
      GetErrorDetail<google::rpc::ResourceInfo>(missing);
  ASSERT_TRUE(resource.has_value());
  EXPECT_EQ(resource->resource_name(), "sessions/missing");
  EXPECT_EQ(resource->resource_type(), "jamba.v1.Session");

  absl::Status bad = client_->ListSessions(-1).status();
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(FieldViolations(bad), ElementsAre(Pair("page_size", "must not be negative")));
  EXPECT_EQ(ErrorReason(bad), "INVALID_FIELD");
  EXPECT_FALSE(GetErrorDetail<google::rpc::RetryInfo>(bad).has_value());
}

TEST_F(ClientTest, ListingsFetchEveryPage) {
  absl::StatusOr<Listing<v1::Session>> sessions = client_->ListSessions(2);
  ASSERT_TRUE(sessions.ok()) << sessions.status();
  EXPECT_EQ(sessions->pages, 3);
  ASSERT_EQ(sessions->items.size(), 5u);
  EXPECT_EQ(sessions->items[0].name(), "sessions/s0");
  EXPECT_EQ(sessions->items[4].name(), "sessions/s4");
  EXPECT_EQ(client_->ListSessions()->pages, 1);

  absl::StatusOr<v1::ListSessionsResponse> first = client_->ListSessionsPage(2);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->next_page_token(), "2");
  EXPECT_EQ(client_->ListSessionsPage(2, first->next_page_token())->sessions(0).name(),
            "sessions/s2");

  absl::StatusOr<Listing<v1::Checkpoint>> checkpoints = client_->ListCheckpoints("doc", 1);
  ASSERT_TRUE(checkpoints.ok()) << checkpoints.status();
  EXPECT_EQ(checkpoints->pages, 3);
  ASSERT_EQ(checkpoints->items.size(), 3u);
  EXPECT_EQ(checkpoints->items[1].name(), "sessions/doc/checkpoints/16");
}

TEST_F(ClientTest, AppendFileStreamsUtf8ChunksWithProgress) {
  std::string text;
  for (int i = 0; i < 40; ++i) text += "Jamba: \xC3\xBCn\xC3\xAF \xE2\x82\xAC \xF0\x9F\x98\x80 ";
  TempDir dir;
  WriteFile(dir.File("doc.txt"), text);
  std::vector<int64_t> progress;
  AppendOptions options;
  options.chunk_bytes = 7;
  options.on_progress = [&](const v1::AppendProgress& p) {
    progress.push_back(p.bytes_received());
  };
  absl::StatusOr<v1::Session> session = client_->AppendFile("doc", dir.File("doc.txt"), options);
  ASSERT_TRUE(session.ok()) << session.status();
  EXPECT_EQ(session->name(), "sessions/doc");
  EXPECT_EQ(session->token_count(), static_cast<int32_t>(text.size()));
  std::string joined;
  for (const std::string& chunk : server_.sessions().chunks()) {
    EXPECT_GT(chunk.size(), 0u);
    EXPECT_LE(chunk.size(), 7u);
    joined += chunk;
  }
  EXPECT_EQ(joined, text);
  ASSERT_FALSE(progress.empty());
  EXPECT_EQ(progress.back(), static_cast<int64_t>(text.size()));

  EXPECT_EQ(client_->AppendFile("doc", dir.File("absent.txt")).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(ClientTest, AppendReturnsALocalFailureAndCancels) {
  int calls = 0;
  absl::StatusOr<v1::Session> result =
      client_->Append("doc", [&](v1::AppendToSessionRequest& request) -> absl::StatusOr<bool> {
        if (++calls > 2) return absl::DataLossError("disk gone");
        request.set_text("fine");
        return true;
      });
  EXPECT_EQ(result.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(result.status().message(), "disk gone");
}

TEST(SplitUtf8Test, NeverCutsACharacter) {
  std::string text;
  for (int i = 0; i < 100; ++i) text += "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80";
  for (size_t size : {4u, 5u, 6u, 7u, 64u}) {
    std::string joined;
    for (absl::string_view piece : SplitUtf8(text, size)) {
      EXPECT_LE(piece.size(), size);
      const size_t end = joined.size() + piece.size();
      if (end < text.size()) {
        EXPECT_NE(static_cast<unsigned char>(text[end]) & 0xC0, 0x80);  // not mid-character
      }
      joined.append(piece.data(), piece.size());
    }
    EXPECT_EQ(joined, text);
  }
}

TEST(NamesTest, SessionAndCheckpointNames) {
  EXPECT_EQ(SessionName("doc"), "sessions/doc");
  EXPECT_EQ(SessionName("sessions/doc"), "sessions/doc");
  EXPECT_EQ(SessionId("sessions/doc"), "doc");
  EXPECT_EQ(CheckpointName("doc", 4096), "sessions/doc/checkpoints/4096");
}

TEST_F(ClientTest, GenerateStreamsDeltasInAReaderLoop) {
  v1::GenerateRequest request;
  request.mutable_session()->set_session("sessions/doc");
  request.mutable_session()->set_text("Q?");
  request.mutable_sampling()->set_temperature(0);
  std::unique_ptr<GenerateStream> stream = client_->StartGenerate(request);
  std::vector<std::string> deltas;
  v1::GenerateResponse delta;
  while (stream->Read(&delta)) deltas.push_back(delta.text());
  ASSERT_TRUE(stream->Finish().ok());
  EXPECT_THAT(deltas, ElementsAre("Hel", "lo"));
  EXPECT_EQ(stream->result().text, "Hello");
  EXPECT_THAT(stream->result().token_ids, ElementsAre(5, 6, 7));
  EXPECT_EQ(stream->result().finish_reason, v1::FINISH_REASON_MAX_TOKENS);
  EXPECT_EQ(stream->result().usage.restored_tokens(), 8);
  EXPECT_EQ(stream->result().seed, 42u);
  EXPECT_TRUE(server_.generation().last_request().sampling().has_temperature());

  int callbacks = 0;
  absl::StatusOr<GenerateResult> result =
      client_->Generate(request, [&](const v1::GenerateResponse&) { ++callbacks; });
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(callbacks, 2);
  EXPECT_EQ(result->text, "Hello");
}

TEST_F(ClientTest, GenerateReportsTheStreamsError) {
  v1::GenerateRequest request;
  request.set_prompt("fail midway");
  std::unique_ptr<GenerateStream> stream = client_->StartGenerate(request);
  v1::GenerateResponse delta;
  int deltas = 0;
  while (stream->Read(&delta)) ++deltas;
  EXPECT_EQ(deltas, 1);
  absl::Status status = stream->Finish();
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  std::optional<google::rpc::RetryInfo> retry = GetErrorDetail<google::rpc::RetryInfo>(status);
  ASSERT_TRUE(retry.has_value());
  EXPECT_EQ(retry->retry_delay().seconds(), 2);
  EXPECT_EQ(client_->Generate(request).status().code(), absl::StatusCode::kResourceExhausted);
}

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    absl::Status made = MakeCertificates(dir_->path());
    ASSERT_TRUE(made.ok()) << made;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }

  static std::string Pem(const std::string& name) { return *ReadFile(dir_->File(name)); }

  static std::shared_ptr<grpc::ServerCredentials> ServerCredentials(bool require_client_cert) {
    grpc::SslServerCredentialsOptions options(
        require_client_cert ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                            : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
    options.pem_key_cert_pairs.push_back({Pem("server.key"), Pem("server.pem")});
    if (require_client_cert) options.pem_root_certs = Pem("ca.pem");
    return grpc::SslServerCredentials(options);
  }

  static absl::Status CreateWith(const FakeServer& server, std::optional<TlsOptions> tls) {
    std::unique_ptr<Client> client = Connect({.target = server.address(),
                                              .api_key = kApiKey,
                                              .tls = std::move(tls),
                                              .timeout = absl::Seconds(10)});
    return client->CreateSession("doc").status();
  }

  static TempDir* dir_;
};

TempDir* TlsTest::dir_ = nullptr;

TEST_F(TlsTest, TlsVerifiesTheServer) {
  FakeServer server(ServerCredentials(/*require_client_cert=*/false));
  EXPECT_TRUE(CreateWith(server, TlsOptions{.root_certificates = Pem("ca.pem")}).ok());
  // The certificate names localhost too; and the name to verify can be overridden.
  std::unique_ptr<Client> by_name =
      Connect({.target = "localhost:" + std::to_string(server.port()),
               .api_key = kApiKey,
               .tls = TlsOptions{.root_certificates = Pem("ca.pem")}});
  EXPECT_TRUE(by_name->CreateSession("doc").ok());
  EXPECT_TRUE(
      CreateWith(server, TlsOptions{.root_certificates = Pem("ca.pem"), .server_name = "localhost"})
          .ok());
  // A CA that did not sign the server's certificate, or plaintext: no connection.
  EXPECT_EQ(CreateWith(server, TlsOptions{.root_certificates = Pem("client.pem")}).code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(CreateWith(server, std::nullopt).code(), absl::StatusCode::kUnavailable);
}

TEST_F(TlsTest, MutualTlsNeedsTheClientCertificate) {
  FakeServer server(ServerCredentials(/*require_client_cert=*/true));
  TlsOptions mutual{.root_certificates = Pem("ca.pem"),
                    .certificate_chain = Pem("client.pem"),
                    .private_key = Pem("client.key")};
  EXPECT_TRUE(CreateWith(server, mutual).ok());
  EXPECT_EQ(CreateWith(server, TlsOptions{.root_certificates = Pem("ca.pem")}).code(),
            absl::StatusCode::kUnavailable);
  // Half a client identity is refused before connecting.
  EXPECT_EQ(Client::Connect({.target = server.address(),
                             .tls = TlsOptions{.certificate_chain = Pem("client.pem")}})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace jamba::client
