// jambad's request validation over the wire: every documented check answers INVALID_ARGUMENT with
// a BadRequest naming the field (reason INVALID_FIELD, or CONTEXT_LENGTH_EXCEEDED for length),
// including invalid UTF-8, which protobuf's parser alone would have turned into INTERNAL.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/jambad_process.h"

namespace jamba::testing {
namespace {

using ::testing::ElementsAre;

class ValidationIntegrationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto server = JambadProcess::Start(
        {.model_dir = DemoModelDir(),
         .flags = {"--max-context-tokens", "256", "--max-prompt-tokens", "64",
                   "--max-completion-tokens", "64", "--default-max-tokens", "8"}});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }
  static void TearDownTestSuite() { server_.reset(); }

  void SetUp() override {
    ASSERT_NE(server_, nullptr);
    channel_ = server_->Channel();
    generation_ = v1::GenerationService::NewStub(channel_);
    sessions_ = v1::SessionService::NewStub(channel_);
    model_ = v1::ModelService::NewStub(channel_);
  }

  // The status of Generate(request), which must fail before streaming anything.
  grpc::Status GenerateStatus(const v1::GenerateRequest& request) {
    GenerateOutcome outcome = Generate(*generation_, request);
    EXPECT_TRUE(outcome.responses.empty());
    return outcome.status;
  }

  // A valid request changed by `change`: it must be refused naming exactly `fields`.
  void ExpectRejected(const std::function<void(v1::GenerateRequest&)>& change,
                      const std::vector<std::string>& fields,
                      const std::string& reason = "INVALID_FIELD") {
    v1::GenerateRequest request;
    request.set_prompt("Hello");
    request.set_max_tokens(4);
    change(request);
    grpc::Status status = GenerateStatus(request);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << request.DebugString();
    EXPECT_EQ(BadRequestFields(status), fields) << request.DebugString();
    EXPECT_EQ(ErrorReason(status), reason) << request.DebugString();
  }

  inline static std::unique_ptr<JambadProcess> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::GenerationService::Stub> generation_;
  std::unique_ptr<v1::SessionService::Stub> sessions_;
  std::unique_ptr<v1::ModelService::Stub> model_;
};

TEST_F(ValidationIntegrationTest, GenerateInputs) {
  ExpectRejected([](auto& r) { r.clear_prompt(); }, {"input"});
  ExpectRejected([](auto& r) { r.set_prompt(""); }, {"prompt"});
  ExpectRejected(
      [](auto& r) {
        r.mutable_prompt_token_ids()->add_ids(5);
        r.mutable_prompt_token_ids()->add_ids(999999);
      },
      {"prompt_token_ids.ids[1]"});
  ExpectRejected([](auto& r) { r.mutable_messages()->add_messages()->set_content("hi"); },
                 {"messages.messages[0].role"});
  ExpectRejected([](auto& r) { r.mutable_session()->set_session("session/typo"); },
                 {"session.session"});
}

TEST_F(ValidationIntegrationTest, PromptsOverTheConfiguredLimitAreContextLengthErrors) {
  std::string long_prompt;
  for (int i = 0; i < 100; ++i) long_prompt += "the quick brown fox ";
  ExpectRejected([&](auto& r) { r.set_prompt(long_prompt); }, {"prompt"},
                 "CONTEXT_LENGTH_EXCEEDED");
  ExpectRejected(
      [](auto& r) {
        for (int i = 0; i < 65; ++i) r.mutable_prompt_token_ids()->add_ids(5);
      },
      {"prompt_token_ids.ids"}, "CONTEXT_LENGTH_EXCEEDED");
}

TEST_F(ValidationIntegrationTest, GenerateRanges) {
  ExpectRejected([](auto& r) { r.set_max_tokens(0); }, {"max_tokens"});
  ExpectRejected([](auto& r) { r.set_max_tokens(65); }, {"max_tokens"});
  ExpectRejected([](auto& r) { r.mutable_sampling()->set_temperature(2.01f); },
                 {"sampling.temperature"});
  ExpectRejected([](auto& r) { r.mutable_sampling()->set_temperature(-0.5f); },
                 {"sampling.temperature"});
  ExpectRejected([](auto& r) { r.mutable_sampling()->set_top_p(0.0f); }, {"sampling.top_p"});
  ExpectRejected([](auto& r) { r.mutable_sampling()->set_top_p(1.5f); }, {"sampling.top_p"});
  ExpectRejected([](auto& r) { r.mutable_sampling()->set_top_k(-1); }, {"sampling.top_k"});
  ExpectRejected([](auto& r) { r.mutable_sampling()->set_min_p(1.0f); }, {"sampling.min_p"});
  ExpectRejected([](auto& r) { r.mutable_sampling()->set_repetition_penalty(0.0f); },
                 {"sampling.repetition_penalty"});
  ExpectRejected([](auto& r) { r.mutable_sampling()->set_presence_penalty(-2.5f); },
                 {"sampling.presence_penalty"});
  ExpectRejected([](auto& r) { r.set_top_logprobs(21); }, {"top_logprobs"});
  ExpectRejected([](auto& r) { r.set_top_logprobs(2); }, {"top_logprobs"});
  // Several bad fields are all named at once.
  ExpectRejected(
      [](auto& r) {
        r.set_max_tokens(0);
        r.mutable_sampling()->set_top_p(2.0f);
      },
      {"max_tokens", "sampling.top_p"});
}

TEST_F(ValidationIntegrationTest, StopConditions) {
  ExpectRejected(
      [](auto& r) {
        for (int i = 0; i < 17; ++i) r.mutable_stop()->add_stop_strings("x");
      },
      {"stop.stop_strings"});
  ExpectRejected(
      [](auto& r) {
        r.mutable_stop()->add_stop_strings("ok");
        r.mutable_stop()->add_stop_strings(std::string(257, 'a'));
        r.mutable_stop()->add_stop_strings("");
      },
      {"stop.stop_strings[1]", "stop.stop_strings[2]"});
  ExpectRejected([](auto& r) { r.mutable_stop()->add_stop_token_ids(-3); },
                 {"stop.stop_token_ids[0]"});
}

TEST_F(ValidationIntegrationTest, InvalidUtf8IsInvalidArgumentNamingTheField) {
  // The C++ client serializes invalid UTF-8 (logging a complaint); most clients refuse to.
  ExpectRejected([](auto& r) { r.set_prompt("caf\xC3"); }, {"prompt"});
  ExpectRejected([](auto& r) { r.mutable_stop()->add_stop_strings("\xFF\xFE"); },
                 {"stop.stop_strings[0]"});
  ExpectRejected(
      [](auto& r) {
        auto* m = r.mutable_session()->mutable_messages()->add_messages();
        m->set_role(v1::ChatMessage::USER);
        m->set_content("bad \x80 byte");
        r.mutable_session()->set_session("sessions/x");
      },
      {"session.messages.messages[0].content"});

  grpc::ClientContext context;
  v1::CreateSessionRequest create;
  create.mutable_session()->set_display_name("\xC0\xAF");
  v1::Session session;
  grpc::Status status = sessions_->CreateSession(&context, create, &session);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(BadRequestFields(status), ElementsAre("session.display_name"));

  grpc::ClientContext tokenize_context;
  v1::TokenizeRequest tokenize;
  tokenize.set_text("\xE2\x82");
  v1::TokenizeResponse tokens;
  status = model_->Tokenize(&tokenize_context, tokenize, &tokens);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(BadRequestFields(status), ElementsAre("text"));
}

TEST_F(ValidationIntegrationTest, SessionNamesIdsAndDisplayNames) {
  {
    grpc::ClientContext context;
    v1::GetSessionRequest request;
    request.set_name("sessions/Has_Upper");
    v1::Session session;
    grpc::Status status = sessions_->GetSession(&context, request, &session);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(BadRequestFields(status), ElementsAre("name"));
  }
  {
    grpc::ClientContext context;
    v1::CreateSessionRequest request;
    request.set_session_id("-leading-hyphen");
    request.mutable_session()->set_display_name(std::string(257, 'n'));
    v1::Session session;
    grpc::Status status = sessions_->CreateSession(&context, request, &session);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(BadRequestFields(status), ElementsAre("session_id", "session.display_name"));
  }
  {
    grpc::ClientContext context;
    v1::DeleteSessionRequest request;
    google::protobuf::Empty empty;
    grpc::Status status = sessions_->DeleteSession(&context, request, &empty);
    EXPECT_THAT(BadRequestFields(status), ElementsAre("name"));
  }
}

TEST_F(ValidationIntegrationTest, PageSizesAndPageTokens) {
  for (int i = 0; i < 3; ++i) {
    grpc::ClientContext context;
    v1::CreateSessionRequest request;
    request.set_session_id("page-" + std::to_string(i));
    v1::Session session;
    ASSERT_TRUE(sessions_->CreateSession(&context, request, &session).ok());
  }
  auto list = [&](int page_size, const std::string& token, v1::ListSessionsResponse* out) {
    grpc::ClientContext context;
    v1::ListSessionsRequest request;
    request.set_page_size(page_size);
    request.set_page_token(token);
    return sessions_->ListSessions(&context, request, out);
  };
  v1::ListSessionsResponse response;
  grpc::Status negative = list(-1, "", &response);
  EXPECT_EQ(negative.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(BadRequestFields(negative), ElementsAre("page_size"));
  grpc::Status garbage = list(2, "not-a-token", &response);
  EXPECT_THAT(BadRequestFields(garbage), ElementsAre("page_token"));

  // A ListSessions token is not valid for ListCheckpoints.
  ASSERT_TRUE(list(1, "", &response).ok());
  ASSERT_FALSE(response.next_page_token().empty());
  grpc::ClientContext wrong_method_context;
  v1::ListCheckpointsRequest checkpoints_request;
  checkpoints_request.set_parent("sessions/page-0");
  checkpoints_request.set_page_token(response.next_page_token());
  v1::ListCheckpointsResponse ignored;
  grpc::Status wrong_method =
      sessions_->ListCheckpoints(&wrong_method_context, checkpoints_request, &ignored);
  EXPECT_EQ(wrong_method.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(BadRequestFields(wrong_method), ElementsAre("page_token"));
}

TEST_F(ValidationIntegrationTest, ForkAndRewindCheckpointNames) {
  for (const char* id : {"fork-a", "fork-b"}) {
    grpc::ClientContext context;
    v1::CreateSessionRequest request;
    request.set_session_id(id);
    v1::Session session;
    ASSERT_TRUE(sessions_->CreateSession(&context, request, &session).ok());
  }
  grpc::ClientContext fork_context;
  v1::ForkSessionRequest fork;
  fork.set_name("sessions/fork-a");
  fork.set_checkpoint("sessions/fork-b/checkpoints/1");  // another session's checkpoint
  v1::Session session;
  grpc::Status status = sessions_->ForkSession(&fork_context, fork, &session);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(BadRequestFields(status), ElementsAre("checkpoint"));

  grpc::ClientContext rewind_context;
  v1::RewindSessionRequest rewind;
  rewind.set_name("sessions/fork-a");
  status = sessions_->RewindSession(&rewind_context, rewind, &session);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(BadRequestFields(status), ElementsAre("checkpoint"));

  grpc::ClientContext missing_context;
  rewind.set_checkpoint("sessions/fork-a/checkpoints/77");
  status = sessions_->RewindSession(&missing_context, rewind, &session);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(ErrorReason(status), "CHECKPOINT_NOT_FOUND");
  ASSERT_TRUE(ResourceInfo(status).has_value());
  EXPECT_EQ(ResourceInfo(status)->resource_type(), "jamba.v1.Checkpoint");
}

// Runs one AppendToSession stream of `messages` (written in order, then half-close).
grpc::Status Append(v1::SessionService::Stub& stub,
                    const std::vector<v1::AppendToSessionRequest>& messages) {
  grpc::ClientContext context;
  auto stream = stub.AppendToSession(&context);
  for (const auto& message : messages) {
    if (!stream->Write(message)) break;
  }
  stream->WritesDone();
  v1::AppendToSessionResponse response;
  while (stream->Read(&response)) {
  }
  return stream->Finish();
}

v1::AppendToSessionRequest Config(const std::string& session) {
  v1::AppendToSessionRequest request;
  request.mutable_config()->set_session(session);
  return request;
}

v1::AppendToSessionRequest Text(const std::string& text) {
  v1::AppendToSessionRequest request;
  request.set_text(text);
  return request;
}

TEST_F(ValidationIntegrationTest, AppendStreams) {
  {
    grpc::ClientContext context;
    v1::CreateSessionRequest request;
    request.set_session_id("append");
    v1::Session session;
    ASSERT_TRUE(sessions_->CreateSession(&context, request, &session).ok());
  }
  grpc::Status status = Append(*sessions_, {Text("no config first")});
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(BadRequestFields(status), ElementsAre("config"));

  status = Append(*sessions_, {Config("sessions/append"), Config("sessions/append")});
  EXPECT_THAT(BadRequestFields(status), ElementsAre("config"));

  status = Append(*sessions_, {Config("sessions/append"), Text("fine"), Text("")});
  EXPECT_THAT(BadRequestFields(status), ElementsAre("text"));

  status = Append(*sessions_, {Config("sessions/append"), Text("fine"), Text("\xF0\x28\x8C\x28")});
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(BadRequestFields(status), ElementsAre("text"));

  v1::AppendToSessionRequest interval = Config("sessions/append");
  interval.mutable_config()->set_progress_interval_tokens(5);
  status = Append(*sessions_, {interval, Text("x")});
  EXPECT_THAT(BadRequestFields(status), ElementsAre("config.progress_interval_tokens"));

  v1::AppendToSessionRequest ids;
  ids.mutable_token_ids()->add_ids(1 << 30);
  status = Append(*sessions_, {Config("sessions/append"), ids});
  EXPECT_THAT(BadRequestFields(status), ElementsAre("token_ids.ids[0]"));

  std::string too_long;
  for (int i = 0; i < 300; ++i) too_long += "word ";
  status = Append(*sessions_, {Config("sessions/append"), Text(too_long)});
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(ErrorReason(status), "CONTEXT_LENGTH_EXCEEDED");

  // None of these changed the session.
  grpc::ClientContext context;
  v1::GetSessionRequest get;
  get.set_name("sessions/append");
  v1::Session session;
  ASSERT_TRUE(sessions_->GetSession(&context, get, &session).ok());
  EXPECT_EQ(session.token_count(), 1);  // only BOS
}

TEST_F(ValidationIntegrationTest, DetokenizeNamesTheBadId) {
  grpc::ClientContext context;
  v1::DetokenizeRequest request;
  request.add_token_ids(5);
  request.add_token_ids(-1);
  v1::DetokenizeResponse response;
  grpc::Status status = model_->Detokenize(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(BadRequestFields(status), ElementsAre("token_ids[1]"));
}

TEST_F(ValidationIntegrationTest, EveryErrorCarriesAnErrorInfoInTheJambaDomain) {
  v1::GenerateRequest request;
  request.set_prompt("");
  grpc::Status status = GenerateStatus(request);
  const google::rpc::Status details = ErrorDetails(status);
  EXPECT_EQ(details.code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
  google::rpc::ErrorInfo info;
  ASSERT_GT(details.details_size(), 0);
  ASSERT_TRUE(details.details(0).UnpackTo(&info));
  EXPECT_EQ(info.domain(), "jamba.ai");
  EXPECT_EQ(info.reason(), "INVALID_FIELD");
}

}  // namespace
}  // namespace jamba::testing
