// jambad's sessions over the wire: create, append with progress, checkpoints, generate with and
// without commit (equal to the in-process engine), fork, rewind, etags, busy sessions, listing
// and pagination, prefix reuse, and chunked text appended as one chat message.
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "jamba/engine.h"
#include "tests/integration/jambad_process.h"

namespace jamba::testing {
namespace {

using ::testing::ElementsAre;

constexpr int32_t kGoldenBos = 1;  // the golden config's bos_token_id

std::vector<int32_t> Document(int n, int seed) {
  std::vector<int32_t> ids;
  uint32_t x = static_cast<uint32_t>(seed) * 2654435761u + 1;
  for (int i = 0; i < n; ++i) {
    x = x * 1664525u + 1013904223u;
    ids.push_back(3 + static_cast<int32_t>(x % 500));
  }
  return ids;
}

class SessionsIntegrationTest : public ::testing::Test {
 protected:
  void StartServer(const std::string& model_dir) {
    auto server =
        JambadProcess::Start({.model_dir = model_dir, .flags = {"--checkpoint-interval", "16"}});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    sessions_ = v1::SessionService::NewStub(server_->Channel());
    generation_ = v1::GenerationService::NewStub(server_->Channel());
  }

  v1::Session Create(const std::string& id) {
    grpc::ClientContext context;
    v1::CreateSessionRequest request;
    request.set_session_id(id);
    v1::Session session;
    grpc::Status status = sessions_->CreateSession(&context, request, &session);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return session;
  }

  grpc::Status Get(const std::string& name, v1::Session* session) {
    grpc::ClientContext context;
    v1::GetSessionRequest request;
    request.set_name(name);
    return sessions_->GetSession(&context, request, session);
  }

  std::vector<v1::Checkpoint> Checkpoints(const std::string& name) {
    grpc::ClientContext context;
    v1::ListCheckpointsRequest request;
    request.set_parent(name);
    v1::ListCheckpointsResponse response;
    EXPECT_TRUE(sessions_->ListCheckpoints(&context, request, &response).ok());
    return {response.checkpoints().begin(), response.checkpoints().end()};
  }

  // Appends token ids in `chunks` pieces; returns every response.
  std::vector<v1::AppendToSessionResponse> AppendTokens(const std::string& name,
                                                        const std::vector<int32_t>& tokens,
                                                        int chunks, grpc::Status* status) {
    grpc::ClientContext context;
    auto stream = sessions_->AppendToSession(&context);
    v1::AppendToSessionRequest config;
    config.mutable_config()->set_session(name);
    config.mutable_config()->set_progress_interval_tokens(128);
    stream->Write(config);
    const size_t per_chunk = (tokens.size() + chunks - 1) / chunks;
    for (size_t begin = 0; begin < tokens.size(); begin += per_chunk) {
      v1::AppendToSessionRequest chunk;
      for (size_t i = begin; i < std::min(tokens.size(), begin + per_chunk); ++i) {
        chunk.mutable_token_ids()->add_ids(tokens[i]);
      }
      stream->Write(chunk);
    }
    stream->WritesDone();
    std::vector<v1::AppendToSessionResponse> responses;
    v1::AppendToSessionResponse response;
    while (stream->Read(&response)) responses.push_back(response);
    *status = stream->Finish();
    return responses;
  }

  GenerateOutcome GenerateFromSession(const std::string& name, int max_tokens, bool commit,
                                      const std::string& etag = "") {
    v1::GenerateRequest request;
    request.mutable_session()->set_session(name);
    request.mutable_session()->set_commit(commit);
    request.mutable_session()->set_etag(etag);
    request.set_max_tokens(max_tokens);
    request.mutable_sampling()->set_temperature(0);
    request.mutable_stop()->set_ignore_eos(true);
    return Generate(*generation_, request);
  }

  std::unique_ptr<JambadProcess> server_;
  std::unique_ptr<v1::SessionService::Stub> sessions_;
  std::unique_ptr<v1::GenerationService::Stub> generation_;
};

TEST_F(SessionsIntegrationTest, AppendGenerateForkRewindAndDeleteOnTheGoldenModel) {
  StartServer(GoldenModelDir());
  const v1::Session created = Create("doc");
  EXPECT_EQ(created.name(), "sessions/doc");
  EXPECT_EQ(created.token_count(), 1);  // BOS
  EXPECT_FALSE(created.skip_bos());
  EXPECT_EQ(created.model_fingerprint().size(), 64u);
  EXPECT_EQ(created.model(), "hybrid8_moe_f32_sharded");
  ASSERT_EQ(Checkpoints("sessions/doc").size(), 1u);
  EXPECT_EQ(Checkpoints("sessions/doc")[0].name(), "sessions/doc/checkpoints/1");
  EXPECT_EQ(Checkpoints("sessions/doc")[0].trigger(), v1::Checkpoint::CREATE);

  const std::vector<int32_t> doc = Document(40, 1);
  grpc::Status status;
  auto responses = AppendTokens("sessions/doc", doc, 3, &status);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_FALSE(responses.empty());
  const v1::AppendToSessionResponse& last = responses.back();
  ASSERT_TRUE(last.has_session());
  EXPECT_EQ(last.session().token_count(), 41);
  EXPECT_EQ(last.progress().chunks_received(), 3);
  EXPECT_EQ(last.progress().tokens_received(), 41);  // BOS goes in with the first content
  EXPECT_EQ(last.progress().tokens_processed(), 41);
  for (const auto& response : responses) {
    EXPECT_EQ(response.progress().tokens_processed(),
              response.progress().restored_tokens() + response.progress().recomputed_tokens());
    EXPECT_LE(response.progress().tokens_processed(), response.progress().tokens_received());
  }
  std::vector<std::pair<int, v1::Checkpoint::Trigger>> checkpoints;
  for (const auto& c : Checkpoints("sessions/doc"))
    checkpoints.push_back({c.token_count(), c.trigger()});
  EXPECT_THAT(checkpoints, ElementsAre(std::make_pair(1, v1::Checkpoint::CREATE),
                                       std::make_pair(16, v1::Checkpoint::PERIODIC),
                                       std::make_pair(32, v1::Checkpoint::PERIODIC),
                                       std::make_pair(41, v1::Checkpoint::APPEND)));

  // Generating from the session equals generating from its tokens in-process.
  EngineOptions options;
  options.threads = 2;
  auto engine = Engine::Open(GoldenModelDir(), options);
  ASSERT_TRUE(engine.ok()) << engine.status();
  std::vector<int32_t> with_bos = {kGoldenBos};
  with_bos.insert(with_bos.end(), doc.begin(), doc.end());
  GenerateOptions greedy;
  greedy.sampling.temperature = 0;
  greedy.stop.max_tokens = 8;
  greedy.stop.ignore_eos = true;
  auto expected = (*engine)->Generate(Input::Tokens(with_bos), greedy);
  ASSERT_TRUE(expected.ok()) << expected.status();

  GenerateOutcome peek = GenerateFromSession("sessions/doc", 8, /*commit=*/false);
  ASSERT_TRUE(peek.status.ok()) << peek.status.error_message();
  EXPECT_EQ(peek.tokens, expected->sampled_tokens);
  EXPECT_EQ(peek.last.usage().restored_tokens(), 41);
  EXPECT_EQ(peek.last.usage().recomputed_tokens(), 0);
  EXPECT_FALSE(peek.last.has_session());

  v1::Session before_commit;
  ASSERT_TRUE(Get("sessions/doc", &before_commit).ok());
  EXPECT_EQ(before_commit.etag(), last.session().etag());  // not committed: unchanged
  GenerateOutcome committed = GenerateFromSession("sessions/doc", 8, /*commit=*/true);
  ASSERT_TRUE(committed.status.ok()) << committed.status.error_message();
  EXPECT_EQ(committed.tokens, expected->sampled_tokens);
  ASSERT_TRUE(committed.last.has_session());
  EXPECT_EQ(committed.last.session().token_count(), 49);
  EXPECT_NE(committed.last.session().etag(), before_commit.etag());
  EXPECT_EQ(Checkpoints("sessions/doc").back().trigger(), v1::Checkpoint::COMMIT);

  // Fork at the end of the document: the fork continues exactly like the original did.
  grpc::ClientContext fork_context;
  v1::ForkSessionRequest fork;
  fork.set_name("sessions/doc");
  fork.set_checkpoint("sessions/doc/checkpoints/41");
  fork.set_session_id("doc-fork");
  v1::Session forked;
  ASSERT_TRUE(sessions_->ForkSession(&fork_context, fork, &forked).ok());
  EXPECT_EQ(forked.token_count(), 41);
  GenerateOutcome from_fork = GenerateFromSession("sessions/doc-fork", 8, false);
  ASSERT_TRUE(from_fork.status.ok());
  EXPECT_EQ(from_fork.tokens, expected->sampled_tokens);

  // Rewind needs the current etag.
  grpc::ClientContext stale_context;
  v1::RewindSessionRequest rewind;
  rewind.set_name("sessions/doc");
  rewind.set_checkpoint("sessions/doc/checkpoints/41");
  rewind.set_etag(before_commit.etag());
  v1::Session rewound;
  status = sessions_->RewindSession(&stale_context, rewind, &rewound);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ABORTED);
  EXPECT_EQ(ErrorReason(status), "ETAG_MISMATCH");
  grpc::ClientContext rewind_context;
  rewind.set_etag(committed.last.session().etag());
  ASSERT_TRUE(sessions_->RewindSession(&rewind_context, rewind, &rewound).ok());
  EXPECT_EQ(rewound.token_count(), 41);
  EXPECT_EQ(Checkpoints("sessions/doc").back().token_count(), 41);
  GenerateOutcome after_rewind = GenerateFromSession("sessions/doc", 8, false);
  EXPECT_EQ(after_rewind.tokens, expected->sampled_tokens);

  // Rewinding to the creation checkpoint leaves only BOS.
  grpc::ClientContext to_start_context;
  rewind.set_checkpoint("sessions/doc/checkpoints/1");
  rewind.clear_etag();
  ASSERT_TRUE(sessions_->RewindSession(&to_start_context, rewind, &rewound).ok());
  EXPECT_EQ(rewound.token_count(), 1);

  grpc::ClientContext delete_context;
  v1::DeleteSessionRequest remove;
  remove.set_name("sessions/doc");
  google::protobuf::Empty empty;
  ASSERT_TRUE(sessions_->DeleteSession(&delete_context, remove, &empty).ok());
  v1::Session gone;
  status = Get("sessions/doc", &gone);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(ErrorReason(status), "SESSION_NOT_FOUND");
  ASSERT_TRUE(ResourceInfo(status).has_value());
  EXPECT_EQ(ResourceInfo(status)->resource_name(), "sessions/doc");
  EXPECT_TRUE(Get("sessions/doc-fork", &gone).ok());  // forks are not affected
}

TEST_F(SessionsIntegrationTest, ListIsNewestFirstAndPagesNeverRepeat) {
  StartServer(GoldenModelDir());
  for (int i = 0; i < 5; ++i) Create("s" + std::to_string(i));
  auto page = [&](const std::string& token) {
    grpc::ClientContext context;
    v1::ListSessionsRequest request;
    request.set_page_size(2);
    request.set_page_token(token);
    v1::ListSessionsResponse response;
    EXPECT_TRUE(sessions_->ListSessions(&context, request, &response).ok());
    return response;
  };
  auto names = [](const v1::ListSessionsResponse& response) {
    std::vector<std::string> out;
    for (const auto& s : response.sessions()) out.push_back(s.name());
    return out;
  };
  v1::ListSessionsResponse first = page("");
  EXPECT_THAT(names(first), ElementsAre("sessions/s4", "sessions/s3"));
  Create("s5");  // newer than the cursor: not in later pages
  v1::ListSessionsResponse second = page(first.next_page_token());
  EXPECT_THAT(names(second), ElementsAre("sessions/s2", "sessions/s1"));
  v1::ListSessionsResponse third = page(second.next_page_token());
  EXPECT_THAT(names(third), ElementsAre("sessions/s0"));
  EXPECT_TRUE(third.next_page_token().empty());
}

TEST_F(SessionsIntegrationTest, AConcurrentChangeIsAbortedAsBusyAndACancelledAppendChangesNothing) {
  StartServer(GoldenModelDir());
  Create("busy");
  grpc::ClientContext holder_context;
  auto holder = sessions_->AppendToSession(&holder_context);
  v1::AppendToSessionRequest config;
  config.mutable_config()->set_session("sessions/busy");
  ASSERT_TRUE(holder->Write(config));
  v1::AppendToSessionRequest chunk;
  chunk.mutable_token_ids()->add_ids(5);
  ASSERT_TRUE(holder->Write(chunk));

  // The server answers with headers once it has accepted the config (and taken the session).
  holder->WaitForInitialMetadata();
  grpc::Status second;
  AppendTokens("sessions/busy", {6}, 1, &second);
  EXPECT_EQ(second.error_code(), grpc::StatusCode::ABORTED);
  EXPECT_EQ(ErrorReason(second), "SESSION_BUSY");
  ASSERT_TRUE(ResourceInfo(second).has_value());
  EXPECT_EQ(ResourceInfo(second)->resource_name(), "sessions/busy");
  grpc::ClientContext delete_context;
  v1::DeleteSessionRequest remove;
  remove.set_name("sessions/busy");
  google::protobuf::Empty empty;
  EXPECT_EQ(sessions_->DeleteSession(&delete_context, remove, &empty).error_code(),
            grpc::StatusCode::ABORTED);

  holder_context.TryCancel();
  EXPECT_EQ(holder->Finish().error_code(), grpc::StatusCode::CANCELLED);
  v1::Session session;
  ASSERT_TRUE(Get("sessions/busy", &session).ok());
  EXPECT_EQ(session.token_count(), 1);  // the cancelled append left it as it was
}

TEST_F(SessionsIntegrationTest, StatelessPromptsReuseTheLongestCheckpointOfTheTenant) {
  StartServer(GoldenModelDir());
  Create("base");
  const std::vector<int32_t> doc = Document(40, 2);
  grpc::Status status;
  AppendTokens("sessions/base", doc, 1, &status);
  ASSERT_TRUE(status.ok()) << status.error_message();
  v1::GenerateRequest request;
  request.mutable_prompt_token_ids()->add_ids(kGoldenBos);
  for (int i = 0; i < 32; ++i) request.mutable_prompt_token_ids()->add_ids(doc[i]);
  request.mutable_prompt_token_ids()->add_ids(7);
  request.mutable_prompt_token_ids()->add_ids(8);
  request.set_max_tokens(4);
  request.mutable_sampling()->set_temperature(0);
  GenerateOutcome outcome = Generate(*generation_, request);
  ASSERT_TRUE(outcome.status.ok()) << outcome.status.error_message();
  EXPECT_EQ(outcome.last.usage().restored_tokens(), 32);  // the periodic checkpoint at 32
  EXPECT_EQ(outcome.last.usage().recomputed_tokens(), 3);
  EXPECT_EQ(outcome.last.usage().prompt_tokens(), 35);
}

TEST_F(SessionsIntegrationTest, TextChunksFormOneChatMessageAsTheTemplateRendersIt) {
  StartServer(DemoModelDir());
  Create("chat");
  const std::string text = "The contract says: pay within thirty days, or pay twice.";
  grpc::ClientContext context;
  auto stream = sessions_->AppendToSession(&context);
  v1::AppendToSessionRequest config;
  config.mutable_config()->set_session("sessions/chat");
  config.mutable_config()->set_message_role(v1::ChatMessage::USER);
  stream->Write(config);
  // Cut anywhere between characters, even inside words.
  for (const std::string& piece : {text.substr(0, 7), text.substr(7, 20), text.substr(27)}) {
    v1::AppendToSessionRequest chunk;
    chunk.set_text(piece);
    stream->Write(chunk);
  }
  stream->WritesDone();
  v1::AppendToSessionResponse response;
  v1::AppendToSessionResponse last;
  while (stream->Read(&response)) last = response;
  ASSERT_TRUE(stream->Finish().ok());
  EXPECT_EQ(last.progress().bytes_received(), static_cast<int64_t>(text.size()));

  // Session + assistant turn == the same chat as a stateless prompt.
  v1::GenerateRequest from_session;
  from_session.mutable_session()->set_session("sessions/chat");
  from_session.mutable_session()->set_start_assistant_turn(true);
  from_session.set_max_tokens(8);
  from_session.mutable_sampling()->set_temperature(0);
  GenerateOutcome a = Generate(*generation_, from_session);
  ASSERT_TRUE(a.status.ok()) << a.status.error_message();
  v1::GenerateRequest stateless;
  auto* message = stateless.mutable_messages()->add_messages();
  message->set_role(v1::ChatMessage::USER);
  message->set_content(text);
  stateless.set_max_tokens(8);
  stateless.mutable_sampling()->set_temperature(0);
  GenerateOutcome b = Generate(*generation_, stateless);
  ASSERT_TRUE(b.status.ok()) << b.status.error_message();
  EXPECT_EQ(a.tokens, b.tokens);
  EXPECT_EQ(a.text, b.text);
  EXPECT_EQ(a.last.usage().prompt_tokens(), b.last.usage().prompt_tokens());
}

TEST_F(SessionsIntegrationTest, SkipBosSessionsHoldExactlyWhatIsAppended) {
  StartServer(GoldenModelDir());
  grpc::ClientContext context;
  v1::CreateSessionRequest request;
  request.set_session_id("raw");
  request.mutable_session()->set_skip_bos(true);
  request.mutable_session()->set_display_name("raw tokens");
  v1::Session session;
  ASSERT_TRUE(sessions_->CreateSession(&context, request, &session).ok());
  EXPECT_TRUE(session.skip_bos());
  EXPECT_EQ(session.token_count(), 0);
  EXPECT_EQ(session.display_name(), "raw tokens");
  ASSERT_EQ(Checkpoints("sessions/raw").size(), 1u);
  EXPECT_EQ(Checkpoints("sessions/raw")[0].name(), "sessions/raw/checkpoints/0");
  grpc::Status status;
  AppendTokens("sessions/raw", {5, 6, 7}, 1, &status);
  ASSERT_TRUE(status.ok()) << status.error_message();
  v1::Session after;
  ASSERT_TRUE(Get("sessions/raw", &after).ok());
  EXPECT_EQ(after.token_count(), 3);
  EXPECT_TRUE(after.skip_bos());
}

TEST_F(SessionsIntegrationTest, WholeMessageChunksAreRenderedWithTheTemplate) {
  StartServer(DemoModelDir());
  Create("messages");
  grpc::ClientContext context;
  auto stream = sessions_->AppendToSession(&context);
  v1::AppendToSessionRequest config;
  config.mutable_config()->set_session("sessions/messages");
  stream->Write(config);
  v1::AppendToSessionRequest system;
  system.mutable_message()->set_role(v1::ChatMessage::SYSTEM);
  system.mutable_message()->set_content("Be brief.");
  stream->Write(system);
  v1::AppendToSessionRequest user;
  user.mutable_message()->set_role(v1::ChatMessage::USER);
  user.mutable_message()->set_content("Name a fox.");
  stream->Write(user);
  stream->WritesDone();
  v1::AppendToSessionResponse response;
  while (stream->Read(&response)) {
  }
  ASSERT_TRUE(stream->Finish().ok());

  v1::GenerateRequest from_session;
  from_session.mutable_session()->set_session("sessions/messages");
  from_session.mutable_session()->set_start_assistant_turn(true);
  from_session.set_max_tokens(8);
  from_session.mutable_sampling()->set_temperature(0);
  GenerateOutcome a = Generate(*generation_, from_session);
  v1::GenerateRequest stateless;
  *stateless.mutable_messages()->add_messages() = system.message();
  *stateless.mutable_messages()->add_messages() = user.message();
  stateless.set_max_tokens(8);
  stateless.mutable_sampling()->set_temperature(0);
  GenerateOutcome b = Generate(*generation_, stateless);
  ASSERT_TRUE(a.status.ok() && b.status.ok());
  EXPECT_EQ(a.tokens, b.tokens);
  EXPECT_EQ(a.last.usage().prompt_tokens(), b.last.usage().prompt_tokens());
}

}  // namespace
}  // namespace jamba::testing
