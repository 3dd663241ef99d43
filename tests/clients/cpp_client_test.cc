// Unit tests of the C++ client (jamba_client) against an in-process fake jambad: TLS and mutual
// TLS connections, the API key header, gRPC errors mapped to absl::Status with their
// google.rpc details, paging, chunked appends with progress, generation streams with reasoning
// and tool calls, the chat builders, the x-jamba-session routing metadata, and retries of calls
// the server refused (UNAVAILABLE with RetryInfo); and, against a real draining jambad, the
// retries and their bound.
#include <signal.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "google/protobuf/duration.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "jamba/client/client.h"
#include "tests/integration/jambad_process.h"

namespace jamba::client {
namespace {

using ::jamba::testing::DemoModelDir;
using ::jamba::testing::JambadProcess;
using ::jamba::testing::MakeCertificates;
using ::jamba::testing::TempDir;
using ::jamba::testing::WriteFile;
using ::testing::ElementsAre;
using ::testing::Pair;

constexpr char kApiKey[] = "test-key-1";
constexpr absl::Duration kRetryDelay = absl::Milliseconds(50);  // the fake server's RetryInfo

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

// What the fake services saw of each call (method and x-jamba-session), and the calls they
// refuse as a draining jambad does: UNAVAILABLE with RetryInfo, before doing anything.
class Recorder {
 public:
  // OK to go on, or the refusal to return.
  grpc::Status Enter(const std::string& method, grpc::ServerContext* context) {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto& metadata = context->client_metadata();
    auto found = metadata.find(kSessionMetadataKey);
    sessions_[method].push_back(found == metadata.end()
                                    ? "(none)"
                                    : std::string(found->second.data(), found->second.size()));
    if (refuse_[method] > 0) {
      --refuse_[method];
      return RefusalLocked();
    }
    return grpc::Status::OK;
  }

  grpc::Status Refusal() {
    std::lock_guard<std::mutex> lock(mutex_);
    return RefusalLocked();
  }

  void Refuse(const std::string& method, int times, bool with_retry_info = true) {
    std::lock_guard<std::mutex> lock(mutex_);
    refuse_[method] = times;
    with_retry_info_ = with_retry_info;
  }
  std::vector<std::string> Sessions(const std::string& method) {
    std::lock_guard<std::mutex> lock(mutex_);
    return sessions_[method];
  }
  int Count(const std::string& method) { return static_cast<int>(Sessions(method).size()); }

  std::atomic<int> refuse_appends_after_a_chunk{0};

 private:
  grpc::Status RefusalLocked() const {
    google::rpc::Status status;
    status.set_code(grpc::StatusCode::UNAVAILABLE);
    status.set_message("draining");
    google::rpc::ErrorInfo info;
    info.set_reason("SERVER_UNAVAILABLE");
    status.add_details()->PackFrom(info);
    if (with_retry_info_) {
      google::rpc::RetryInfo retry;
      retry.mutable_retry_delay()->set_nanos(
          static_cast<int32_t>(absl::ToInt64Nanoseconds(kRetryDelay)));
      status.add_details()->PackFrom(retry);
    }
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "draining", status.SerializeAsString());
  }

  std::mutex mutex_;
  std::map<std::string, std::vector<std::string>> sessions_;
  std::map<std::string, int> refuse_;
  bool with_retry_info_ = true;
};

// The key check, then the recorder's: OK to go on, or the error to return.
grpc::Status Admit(Recorder& recorder, const std::string& method, grpc::ServerContext* context) {
  if (grpc::Status key = CheckKey(context); !key.ok()) return key;
  return recorder.Enter(method, context);
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
  explicit FakeSessions(Recorder& recorder) : recorder_(recorder) {}

  grpc::Status CreateSession(grpc::ServerContext* context, const v1::CreateSessionRequest* request,
                             v1::Session* session) override {
    if (grpc::Status admitted = Admit(recorder_, "CreateSession", context); !admitted.ok()) {
      return admitted;
    }
    session->set_name("sessions/" + request->session_id());
    return grpc::Status::OK;
  }

  grpc::Status DeleteSession(grpc::ServerContext* context, const v1::DeleteSessionRequest*,
                             google::protobuf::Empty*) override {
    if (grpc::Status admitted = Admit(recorder_, "DeleteSession", context); !admitted.ok()) {
      return admitted;
    }
    return grpc::Status::OK;
  }

  grpc::Status ForkSession(grpc::ServerContext* context, const v1::ForkSessionRequest* request,
                           v1::Session* fork) override {
    if (grpc::Status admitted = Admit(recorder_, "ForkSession", context); !admitted.ok()) {
      return admitted;
    }
    fork->set_name("sessions/" + request->session_id());
    return grpc::Status::OK;
  }

  grpc::Status RewindSession(grpc::ServerContext* context, const v1::RewindSessionRequest* request,
                             v1::Session* session) override {
    if (grpc::Status admitted = Admit(recorder_, "RewindSession", context); !admitted.ok()) {
      return admitted;
    }
    session->set_name(request->name());
    return grpc::Status::OK;
  }

  grpc::Status GetSession(grpc::ServerContext* context, const v1::GetSessionRequest* request,
                          v1::Session*) override {
    if (grpc::Status admitted = Admit(recorder_, "GetSession", context); !admitted.ok()) {
      return admitted;
    }
    google::rpc::ResourceInfo resource;
    resource.set_resource_type("jamba.v1.Session");
    resource.set_resource_name(request->name());
    return RichError(grpc::StatusCode::NOT_FOUND, "no such session", Reason("SESSION_NOT_FOUND"),
                     resource);
  }

  grpc::Status ListSessions(grpc::ServerContext* context, const v1::ListSessionsRequest* request,
                            v1::ListSessionsResponse* response) override {
    if (grpc::Status admitted = Admit(recorder_, "ListSessions", context); !admitted.ok()) {
      return admitted;
    }
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
    if (grpc::Status admitted = Admit(recorder_, "ListCheckpoints", context); !admitted.ok()) {
      return admitted;
    }
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
    if (grpc::Status admitted = Admit(recorder_, "AppendToSession", context); !admitted.ok()) {
      return admitted;
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      chunks_.clear();  // what this call received
    }
    v1::AppendToSessionRequest request;
    if (!stream->Read(&request) || !request.has_config()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "config first");
    }
    if (recorder_.refuse_appends_after_a_chunk > 0) {
      --recorder_.refuse_appends_after_a_chunk;
      stream->Read(&request);  // a chunk: the client has taken some of its content
      return recorder_.Refusal();
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
  Recorder& recorder_;
  std::mutex mutex_;
  std::vector<std::string> chunks_;
};

class FakeGeneration final : public v1::GenerationService::Service {
 public:
  explicit FakeGeneration(Recorder& recorder) : recorder_(recorder) {}

  grpc::Status Generate(grpc::ServerContext* context, const v1::GenerateRequest* request,
                        grpc::ServerWriter<v1::GenerateResponse>* writer) override {
    if (grpc::Status admitted = Admit(recorder_, "Generate", context); !admitted.ok()) {
      return admitted;
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      last_request_ = *request;
    }
    if (request->has_messages()) return ChatReply(*request, writer);
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
    if (request->prompt() == "unavailable midway") {
      google::rpc::RetryInfo retry;
      retry.mutable_retry_delay()->set_nanos(1000);
      return RichError(grpc::StatusCode::UNAVAILABLE, "gone", retry);
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
  // A reply as jambad streams one: reasoning first, a tool call once its markup is complete,
  // then the answer; the last response says how it ended.
  static grpc::Status ChatReply(const v1::GenerateRequest& request,
                                grpc::ServerWriter<v1::GenerateResponse>* writer) {
    v1::GenerateResponse response;
    response.set_reasoning("The user wants ");
    response.add_token_ids(1);
    writer->Write(response);
    response.set_reasoning("the weather.");
    writer->Write(response);
    response.Clear();
    v1::ToolCall* call = response.add_tool_calls();
    call->set_id("call_1");
    call->set_name("get_weather");
    call->set_arguments(R"({"city": "Paris"})");
    response.add_token_ids(2);
    writer->Write(response);
    response.Clear();
    response.set_text("Checking.");
    writer->Write(response);
    response.Clear();
    response.add_token_ids(3);
    response.set_finish_reason(v1::FINISH_REASON_TOOL_CALLS);
    response.set_malformed_tool_call(request.messages().messages().rbegin()->content() ==
                                     "malformed");
    writer->Write(response);
    return grpc::Status::OK;
  }

  Recorder& recorder_;
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
  Recorder& recorder() { return recorder_; }

 private:
  Recorder recorder_;
  FakeSessions sessions_{recorder_};
  FakeGeneration generation_{recorder_};
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

TEST_F(ClientTest, AChatRequestCarriesToolsDocumentsVariablesAndTheToolChoice) {
  absl::StatusOr<v1::Tool> weather =
      MakeTool("get_weather", "The weather in a city", R"({"type": "object"})");
  ASSERT_TRUE(weather.ok()) << weather.status();
  v1::GenerateRequest request =
      ChatRequest(Chat({SystemMessage("Be brief."), UserMessage("Paris?")}, {*weather},
                       {MakeDocument("Revenue grew.", "Q3", {{"author", "Finance"}})},
                       R"({"enable_thinking": false})"));
  *request.mutable_tool_choice() = ForceTool("get_weather");
  ASSERT_TRUE(client_->Generate(request).ok());
  const v1::GenerateRequest sent = server_.generation().last_request();
  ASSERT_EQ(sent.messages().messages_size(), 2);
  EXPECT_EQ(sent.messages().messages(0).role(), v1::ChatMessage::SYSTEM);
  EXPECT_EQ(sent.messages().tools(0).parameters(), R"({"type": "object"})");
  EXPECT_EQ(sent.messages().documents(0).title(), "Q3");
  EXPECT_EQ(sent.messages().documents(0).metadata().at("author"), "Finance");
  EXPECT_EQ(sent.messages().template_variables(), R"({"enable_thinking": false})");
  EXPECT_EQ(sent.tool_choice().mode(), v1::ToolChoice::FUNCTION);
  EXPECT_EQ(sent.tool_choice().function(), "get_weather");

  v1::GenerateRequest session =
      SessionChatRequest("agent", Chat({UserMessage("x")}, {*weather}), /*commit=*/true);
  EXPECT_EQ(session.session().session(), "sessions/agent");
  EXPECT_EQ(session.session().messages().tools(0).name(), "get_weather");
  EXPECT_TRUE(session.session().commit());
}

TEST_F(ClientTest, TheResultKeepsReasoningToolCallsAndAnswerApart) {
  v1::GenerateRequest request = ChatRequest(Chat({UserMessage("Weather in Paris?")}));
  std::unique_ptr<GenerateStream> stream = client_->StartGenerate(request);
  std::vector<std::string> reasoning;
  v1::GenerateResponse delta;
  while (stream->Read(&delta)) {
    if (!delta.reasoning().empty()) reasoning.push_back(delta.reasoning());
  }
  ASSERT_TRUE(stream->Finish().ok());
  EXPECT_THAT(reasoning, ElementsAre("The user wants ", "the weather."));
  const GenerateResult& result = stream->result();
  EXPECT_EQ(result.reasoning, "The user wants the weather.");
  EXPECT_EQ(result.text, "Checking.");
  ASSERT_EQ(result.tool_calls.size(), 1u);
  EXPECT_EQ(result.tool_calls[0].id(), "call_1");
  EXPECT_EQ(result.tool_calls[0].arguments(), R"({"city": "Paris"})");
  EXPECT_EQ(result.finish_reason, v1::FINISH_REASON_TOOL_CALLS);
  EXPECT_FALSE(result.malformed_tool_call);

  // The reply goes back as the assistant turn, then the tool's result.
  v1::ChatMessage reply = result.AssistantMessage();
  EXPECT_EQ(reply.role(), v1::ChatMessage::ASSISTANT);
  EXPECT_EQ(reply.content(), "Checking.");
  EXPECT_EQ(reply.reasoning(), "The user wants the weather.");
  ASSERT_EQ(reply.tool_calls_size(), 1);
  v1::ChatMessage tool = ToolResultMessage(result.tool_calls[0], "22 degrees");
  EXPECT_EQ(tool.role(), v1::ChatMessage::TOOL);
  EXPECT_EQ(tool.tool_call_id(), "call_1");
  EXPECT_EQ(tool.name(), "get_weather");

  absl::StatusOr<GenerateResult> malformed =
      client_->Generate(ChatRequest(Chat({UserMessage("malformed")})));
  ASSERT_TRUE(malformed.ok());
  EXPECT_TRUE(malformed->malformed_tool_call);
}

TEST(ChatBuildersTest, RefuseBadInputClearly) {
  EXPECT_EQ(MakeTool("f", "", "[1, 2]").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(MakeTool("f", "", "{type: object}").status().message()),
              ::testing::HasSubstr("the parameters of tool f must be a JSON object"));
  EXPECT_EQ(MakeTool("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(MakeTool("f").ok());
  EXPECT_EQ(ParseToolChoice("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseToolChoice("Required")->mode(), v1::ToolChoice::REQUIRED);
  EXPECT_EQ(ParseToolChoice("get_weather")->function(), "get_weather");
  EXPECT_FALSE(CheckJsonObject(R"("text")", "x").ok());
  EXPECT_TRUE(CheckJsonObject(R"({"a": [1]})", "x").ok());
}

TEST_F(ClientTest, SessionCallsNameTheirSessionInTheMetadata) {
  ASSERT_TRUE(client_->CreateSession("doc").ok());
  ASSERT_TRUE(client_->CreateSession().ok());  // the server picks the id: nothing to route by
  EXPECT_EQ(client_->GetSession("sessions/doc").status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(client_->DeleteSession("doc").ok());
  ASSERT_TRUE(client_->ListCheckpoints("doc", 2).ok());
  ASSERT_TRUE(client_->ForkSession("doc", "draft").ok());
  ASSERT_TRUE(client_->RewindSession("draft", "sessions/draft/checkpoints/16").ok());
  ASSERT_TRUE(client_->AppendText("doc", "some text").ok());
  v1::GenerateRequest from_session;
  from_session.mutable_session()->set_session("sessions/doc");
  ASSERT_TRUE(client_->Generate(from_session).ok());
  v1::GenerateRequest stateless;
  stateless.set_prompt("hi");
  ASSERT_TRUE(client_->Generate(stateless).ok());
  ASSERT_TRUE(client_->ListSessions().ok());
  Recorder& recorder = server_.recorder();
  EXPECT_THAT(recorder.Sessions("CreateSession"), ElementsAre("sessions/doc", "(none)"));
  for (const char* method : {"GetSession", "DeleteSession", "AppendToSession", "ForkSession"}) {
    EXPECT_THAT(recorder.Sessions(method), ElementsAre("sessions/doc")) << method;
  }
  EXPECT_THAT(recorder.Sessions("ListCheckpoints"), ElementsAre("sessions/doc", "sessions/doc"));
  EXPECT_THAT(recorder.Sessions("RewindSession"), ElementsAre("sessions/draft"));
  EXPECT_THAT(recorder.Sessions("Generate"), ElementsAre("sessions/doc", "(none)"));
  EXPECT_THAT(recorder.Sessions("ListSessions"), ElementsAre("(none)"));
}

TEST_F(ClientTest, ARefusedCallIsRetriedAfterTheDelay) {
  server_.recorder().Refuse("ForkSession", 2);
  const absl::Time start = absl::Now();
  absl::StatusOr<v1::Session> fork = client_->ForkSession("doc", "draft");
  ASSERT_TRUE(fork.ok()) << fork.status();
  EXPECT_EQ(fork->name(), "sessions/draft");
  EXPECT_EQ(server_.recorder().Count("ForkSession"), 3);
  EXPECT_GE(absl::Now() - start, 2 * kRetryDelay);
}

TEST_F(ClientTest, RetriesAreBounded) {
  server_.recorder().Refuse("GetSession", 10);
  absl::Status refused = client_->GetSession("doc").status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ErrorReason(refused), "SERVER_UNAVAILABLE");
  EXPECT_EQ(server_.recorder().Count("GetSession"), 1 + kDefaultMaxRetries);
  std::unique_ptr<Client> once =
      Connect({.target = server_.address(), .api_key = kApiKey, .max_retries = 0});
  EXPECT_EQ(once->GetSession("doc").status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(server_.recorder().Count("GetSession"), 2 + kDefaultMaxRetries);
  EXPECT_EQ(Client::Connect({.target = server_.address(), .max_retries = -1}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(ClientTest, OnlyUnavailableWithRetryInfoIsRetried) {
  server_.recorder().Refuse("GetSession", 2, /*with_retry_info=*/false);
  EXPECT_EQ(client_->GetSession("doc").status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(server_.recorder().Count("GetSession"), 1);
  v1::GenerateRequest request;
  request.set_prompt("fail midway");  // RESOURCE_EXHAUSTED with RetryInfo
  EXPECT_EQ(client_->Generate(request).status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(server_.recorder().Count("Generate"), 1);
}

TEST_F(ClientTest, NoRetryPastTheDeadline) {
  std::unique_ptr<Client> hurried =
      Connect({.target = server_.address(), .api_key = kApiKey, .timeout = kRetryDelay / 2});
  ASSERT_TRUE(hurried->WaitForConnected(absl::Seconds(10)).ok());
  server_.recorder().Refuse("GetSession", 1);
  EXPECT_EQ(hurried->GetSession("doc").status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(server_.recorder().Count("GetSession"), 1);
}

TEST_F(ClientTest, AGenerationIsRetriedOnlyBeforeItsFirstResponse) {
  server_.recorder().Refuse("Generate", 2);
  v1::GenerateRequest request;
  request.mutable_session()->set_session("sessions/doc");
  request.mutable_session()->set_commit(true);
  absl::StatusOr<GenerateResult> result = client_->Generate(request);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->text, "Hello");
  EXPECT_EQ(server_.recorder().Count("Generate"), 3);
  request.set_prompt("unavailable midway");
  EXPECT_EQ(client_->Generate(request).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(server_.recorder().Count("Generate"), 4);
}

TEST_F(ClientTest, ARefusedAppendIsSentAgainFromTheStart) {
  std::string text;
  for (int i = 0; i < 20; ++i) text += "\xC3\xBCn\xC3\xAF text ";
  server_.recorder().Refuse("AppendToSession", 2);
  AppendOptions options;
  options.chunk_bytes = 16;
  absl::StatusOr<v1::Session> session = client_->AppendText("doc", text, options);
  ASSERT_TRUE(session.ok()) << session.status();
  EXPECT_EQ(absl::StrJoin(server_.sessions().chunks(), ""), text);
  EXPECT_EQ(server_.recorder().Count("AppendToSession"), 3);

  TempDir dir;
  WriteFile(dir.File("doc.txt"), text);
  server_.recorder().refuse_appends_after_a_chunk = 1;  // refused once a chunk was sent
  ASSERT_TRUE(client_->AppendFile("doc", dir.File("doc.txt"), options).ok());
  EXPECT_EQ(absl::StrJoin(server_.sessions().chunks(), ""), text);
  EXPECT_EQ(server_.recorder().Count("AppendToSession"), 5);

  // A one-shot source some content was taken from is not sent again.
  server_.recorder().refuse_appends_after_a_chunk = 1;
  int taken = 0;
  absl::StatusOr<v1::Session> once =
      client_->Append("doc", [&](v1::AppendToSessionRequest& request) -> absl::StatusOr<bool> {
        if (taken == 2) return false;
        request.set_text(taken++ == 0 ? "one" : "two");
        return true;
      });
  EXPECT_EQ(once.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(server_.recorder().Count("AppendToSession"), 6);
}

// Against a real jambad that drains: new calls are refused with UNAVAILABLE and RetryInfo, which
// the client sends again max_retries times, retry_delay apart.
TEST(DrainingJambadTest, CallsRefusedWhileDrainingAreRetriedThenReported) {
  auto server = JambadProcess::Start(
      {.model_dir = DemoModelDir(), .flags = {"--retry_delay", "200ms", "--drain_timeout", "30s"}});
  ASSERT_TRUE(server.ok()) << server.status();
  Client client((*server)->Channel(), "", absl::Seconds(20), /*max_retries=*/2);
  ASSERT_TRUE(client.CreateSession("held").ok());
  // An append held open (accepted, never half-closed) keeps the draining server up.
  auto stub = v1::SessionService::NewStub((*server)->Channel());
  grpc::ClientContext context;
  auto held = stub->AppendToSession(&context);
  v1::AppendToSessionRequest request;
  request.mutable_config()->set_session("sessions/held");
  ASSERT_TRUE(held->Write(request));
  held->WaitForInitialMetadata();
  request.set_text("held open");
  ASSERT_TRUE(held->Write(request));
  (*server)->Signal(SIGTERM);
  while (!absl::StrContains((*server)->Log(), R"("event":"draining")")) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  const absl::Time start = absl::Now();
  absl::Status refused = client.GetSession("held").status();
  const absl::Duration elapsed = absl::Now() - start;
  held->WritesDone();
  v1::AppendToSessionResponse response;
  while (held->Read(&response)) {
  }
  EXPECT_TRUE(held->Finish().ok());
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ErrorReason(refused), "SERVER_UNAVAILABLE");
  int refusals = 0;
  for (absl::string_view line : absl::StrSplit((*server)->Log(), '\n')) {
    if (absl::StrContains(line, R"("method":"jamba.v1.SessionService/GetSession")") &&
        absl::StrContains(line, R"("code":"UNAVAILABLE")")) {
      ++refusals;
    }
  }
  EXPECT_EQ(refusals, 3);  // the call and its 2 retries
  EXPECT_GE(elapsed, absl::Milliseconds(400));
  EXPECT_EQ((*server)->Wait(), 0);
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
