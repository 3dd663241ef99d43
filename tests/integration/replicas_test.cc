// Several jambad processes sharing one session directory, as replicas behind a load balancer do:
// a replica stopped (SIGSTOP) in the middle of an append while it owns the session has its lease
// taken over once it expires, and when it is continued its late commit is refused and the newer
// state survives (token count and a seeded continuation equal to a replica that never shared);
// and two replicas racing to create, append to and delete the same session names never have two
// owners of a session at once (every append that succeeded is in the final state, where it said
// it was) and never leave a torn session (every one loads, checked, with the logits of computing
// its tokens from scratch).
#include <signal.h>

#include <atomic>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "engine/forward_workspace.h"
#include "engine/jamba_model.h"
#include "engine/model_fingerprint.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sdk/backend_factory.h"
#include "sdk/store/session_store.h"
#include "tests/integration/jambad_process.h"

namespace jamba::testing {
namespace {

using ::testing::AnyOf;

// Flags of every replica here: exact precision (fp32 KV, so the checks can recompute the states
// bit for bit), short leases so that takeovers happen within the test.
std::vector<std::string> ReplicaFlags(const std::string& replica_id,
                                      std::vector<std::string> more = {}) {
  std::vector<std::string> flags = {"--precision",  "exact",    "--session-lease-ttl",   "1s",
                                    "--replica-id", replica_id, "--checkpoint-interval", "64"};
  flags.insert(flags.end(), more.begin(), more.end());
  return flags;
}

std::vector<int32_t> Document(int n, int seed) {
  std::vector<int32_t> ids;
  uint32_t x = static_cast<uint32_t>(seed) * 2654435761u + 1;
  for (int i = 0; i < n; ++i) {
    x = x * 1664525u + 1013904223u;
    ids.push_back(3 + static_cast<int32_t>(x % 500));
  }
  return ids;
}

grpc::Status CreateSession(v1::SessionService::Stub& stub, const std::string& id,
                           v1::Session* session = nullptr) {
  grpc::ClientContext context;
  v1::CreateSessionRequest request;
  request.set_session_id(id);
  v1::Session ignored;
  return stub.CreateSession(&context, request, session != nullptr ? session : &ignored);
}

grpc::Status DeleteSession(v1::SessionService::Stub& stub, const std::string& id) {
  grpc::ClientContext context;
  v1::DeleteSessionRequest request;
  request.set_name("sessions/" + id);
  google::protobuf::Empty ignored;
  return stub.DeleteSession(&context, request, &ignored);
}

// Appends `tokens`; the committed session (from the last response) in `session`.
grpc::Status AppendTokens(v1::SessionService::Stub& stub, const std::string& id,
                          const std::vector<int32_t>& tokens, v1::Session* session = nullptr) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
  auto stream = stub.AppendToSession(&context);
  v1::AppendToSessionRequest config;
  config.mutable_config()->set_session("sessions/" + id);
  stream->Write(config);
  v1::AppendToSessionRequest chunk;
  for (int32_t t : tokens) chunk.mutable_token_ids()->add_ids(t);
  stream->Write(chunk);
  stream->WritesDone();
  v1::AppendToSessionResponse response;
  while (stream->Read(&response)) {
    if (session != nullptr && response.has_session()) *session = response.session();
  }
  return stream->Finish();
}

absl::StatusOr<v1::Session> GetSession(v1::SessionService::Stub& stub, const std::string& id) {
  grpc::ClientContext context;
  v1::GetSessionRequest request;
  request.set_name("sessions/" + id);
  v1::Session session;
  grpc::Status status = stub.GetSession(&context, request, &session);
  if (!status.ok())
    return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
  return session;
}

// A seeded (sampled, not greedy) continuation of a session, which changes nothing.
GenerateOutcome Continue(v1::GenerationService::Stub& stub, const std::string& id) {
  v1::GenerateRequest request;
  request.mutable_session()->set_session("sessions/" + id);
  request.set_max_tokens(12);
  request.mutable_sampling()->set_temperature(0.9);
  request.mutable_sampling()->set_seed(1234);
  request.mutable_stop()->set_ignore_eos(true);
  return Generate(stub, request, "", absl::Seconds(60));
}

// Retries `call` while it answers UNAVAILABLE, waiting what its RetryInfo says (as clients do).
template <typename Call>
grpc::Status RetryWhileUnavailable(Call call, absl::Duration give_up_after = absl::Seconds(20)) {
  const absl::Time give_up = absl::Now() + give_up_after;
  for (;;) {
    grpc::Status status = call();
    if (status.error_code() != grpc::StatusCode::UNAVAILABLE || absl::Now() > give_up) {
      return status;
    }
    std::optional<google::rpc::RetryInfo> retry = RetryInfo(status);
    absl::Duration delay = absl::Milliseconds(100);
    if (retry.has_value()) {
      delay = absl::Seconds(retry->retry_delay().seconds()) +
              absl::Nanoseconds(retry->retry_delay().nanos());
    }
    absl::SleepFor(std::min(delay, absl::Seconds(2)));
  }
}

// The golden model in this process, to check what the replicas stored.
class StoredSessions {
 public:
  explicit StoredSessions(const std::string& session_dir) {
    auto backend = sdk::CreateBackend({.device = "cpu", .threads = 2});
    EXPECT_TRUE(backend.ok());
    backend_ = *std::move(backend);
    auto model = engine::JambaModel::Load(GoldenModelDir(), *backend_, {});
    EXPECT_TRUE(model.ok()) << model.status();
    model_ = *std::move(model);
    workspace_ = std::make_unique<engine::ForwardWorkspace>(*backend_);
    auto store = sdk::SessionStore::Open({.root = session_dir,
                                          .model_fingerprint = engine::ComputeModelFingerprint(
                                              model_->config(), model_->checkpoint(), ""),
                                          .owner_id = "checker"});
    EXPECT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }
  // The session's tokens, after loading it with every checksum checked and comparing its
  // next-token logits with computing those tokens from scratch.
  absl::StatusOr<std::vector<int32_t>> LoadChecked(const std::string& id) {
    auto manifest = store_->Get("default", id);
    if (!manifest.ok()) return manifest.status();
    auto state = model_->NewSequence();
    if (!state.ok()) return state.status();
    if (manifest->length > 0) {
      absl::Status loaded =
          store_->Load(*manifest, manifest->length, *state, {}, sdk::KvVerification::kNow);
      if (!loaded.ok()) return loaded;
      auto fresh = model_->NewSequence();
      absl::Status prefilled = model_->Prefill(*fresh, state->tokens(), *workspace_, 512);
      if (!prefilled.ok()) return prefilled;
      const std::vector<float>& a = state->last_logits();
      const std::vector<float>& b = fresh->last_logits();
      if (a.size() != b.size() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) != 0) {
        return absl::DataLossError(id + ": stored state differs from its tokens' state");
      }
    }
    return state->tokens();
  }

 private:
  std::unique_ptr<kernels::Backend> backend_;
  std::unique_ptr<engine::JambaModel> model_;
  std::unique_ptr<engine::ForwardWorkspace> workspace_;
  std::unique_ptr<sdk::SessionStore> store_;
};

TEST(ReplicasIntegrationTest, AStoppedOwnersLateCommitIsRefusedAndTheTakeoverStateSurvives) {
  TempDir shared;
  const std::vector<std::string> slow = {"--prefill-chunk", "16", "--max-batch-tokens", "16"};
  auto a = JambadProcess::Start({.model_dir = GoldenModelDir(),
                                 .session_dir = shared.path(),
                                 .flags = ReplicaFlags("a", slow)});
  ASSERT_TRUE(a.ok()) << a.status();
  auto b = JambadProcess::Start(
      {.model_dir = GoldenModelDir(), .session_dir = shared.path(), .flags = ReplicaFlags("b")});
  ASSERT_TRUE(b.ok()) << b.status();
  auto a_sessions = v1::SessionService::NewStub((*a)->Channel());
  auto b_sessions = v1::SessionService::NewStub((*b)->Channel());
  auto b_generation = v1::GenerationService::NewStub((*b)->Channel());

  const std::vector<int32_t> doc = Document(30, 1);
  ASSERT_TRUE(CreateSession(*a_sessions, "fenced").ok());
  ASSERT_TRUE(AppendTokens(*a_sessions, "fenced", doc).ok());
  // While replica a owns the session, b is told so, with the owner and when to retry.
  grpc::Status owned = AppendTokens(*b_sessions, "fenced", {5});
  EXPECT_EQ(owned.error_code(), grpc::StatusCode::UNAVAILABLE) << owned.error_message();
  EXPECT_EQ(ErrorReason(owned), "SESSION_OWNED_ELSEWHERE");
  google::rpc::Status details = ErrorDetails(owned);
  bool names_owner = false;
  for (const auto& any : details.details()) {
    google::rpc::ErrorInfo info;
    if (any.UnpackTo(&info))
      names_owner = info.metadata().count("owner") && info.metadata().at("owner") == "a";
  }
  EXPECT_TRUE(names_owner);
  ASSERT_TRUE(RetryInfo(owned).has_value());

  // A long append on a; once a reports progress it is stopped (its lease stops being renewed).
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
  auto stream = a_sessions->AppendToSession(&context);
  v1::AppendToSessionRequest config;
  config.mutable_config()->set_session("sessions/fenced");
  config.mutable_config()->set_progress_interval_tokens(128);
  ASSERT_TRUE(stream->Write(config));
  v1::AppendToSessionRequest chunk;
  for (int32_t t : Document(1500, 2)) chunk.mutable_token_ids()->add_ids(t);
  ASSERT_TRUE(stream->Write(chunk));
  stream->WritesDone();
  v1::AppendToSessionResponse response;
  while (stream->Read(&response)) {
    if (response.progress().tokens_processed() > 0) break;
  }
  (*a)->Signal(SIGSTOP);
  const absl::Time stopped = absl::Now();

  // b takes the session over once a's lease expires, and commits a turn.
  const std::vector<int32_t> turn = Document(5, 3);
  v1::Session after_turn;
  ASSERT_TRUE(RetryWhileUnavailable([&] {
                return AppendTokens(*b_sessions, "fenced", turn, &after_turn);
              }).ok());
  RecordProperty("takeover_ms", static_cast<int>(absl::ToInt64Milliseconds(absl::Now() - stopped)));
  EXPECT_EQ(after_turn.token_count(), 36);  // BOS, the document, the turn

  // a goes on with its append, and its commit is refused: nothing of it is stored.
  (*a)->Signal(SIGCONT);
  while (stream->Read(&response)) {
    EXPECT_FALSE(response.has_session()) << "the stopped replica's append was committed";
  }
  const grpc::Status late = stream->Finish();
  EXPECT_THAT(late.error_code(), AnyOf(grpc::StatusCode::UNAVAILABLE, grpc::StatusCode::ABORTED))
      << late.error_message();

  // The session holds b's state, seen from both replicas, and continues like a session that was
  // only ever on one replica.
  auto from_a = GetSession(*a_sessions, "fenced");
  ASSERT_TRUE(from_a.ok()) << from_a.status();
  EXPECT_EQ(from_a->token_count(), 36);
  auto from_b = GetSession(*b_sessions, "fenced");
  ASSERT_TRUE(from_b.ok());
  EXPECT_EQ(from_b->token_count(), 36);
  GenerateOutcome continued = Continue(*b_generation, "fenced");
  ASSERT_TRUE(continued.status.ok()) << continued.status.error_message();

  auto reference =
      JambadProcess::Start({.model_dir = GoldenModelDir(), .flags = ReplicaFlags("reference")});
  ASSERT_TRUE(reference.ok()) << reference.status();
  auto ref_sessions = v1::SessionService::NewStub((*reference)->Channel());
  auto ref_generation = v1::GenerationService::NewStub((*reference)->Channel());
  ASSERT_TRUE(CreateSession(*ref_sessions, "fenced").ok());
  ASSERT_TRUE(AppendTokens(*ref_sessions, "fenced", doc).ok());
  ASSERT_TRUE(AppendTokens(*ref_sessions, "fenced", turn).ok());
  GenerateOutcome expected = Continue(*ref_generation, "fenced");
  ASSERT_TRUE(expected.status.ok());
  EXPECT_EQ(continued.tokens, expected.tokens);

  // a serves the session again once b lets go of it (b released it after a lease's idle time).
  v1::Session again;
  ASSERT_TRUE(RetryWhileUnavailable([&] {
                return AppendTokens(*a_sessions, "fenced", {7, 8}, &again);
              }).ok());
  EXPECT_EQ(again.token_count(), 38);
}

// One operation of the race, as a client saw it.
struct Outcome {
  std::string id;
  std::string op;  // "create", "append", "delete"
  grpc::StatusCode code = grpc::StatusCode::OK;
  std::vector<int32_t> tokens;  // appended
  int64_t token_count = 0;      // the session after a successful append
  int64_t create_time_us = 0;   // which incarnation of the session it changed
};

TEST(ReplicasIntegrationTest, TwoReplicasRacingOnTheSameSessionsNeverShareOneOrTearOne) {
  TempDir shared;
  // A memory budget of one byte drops every state right after its operation, and with it the
  // lease: the sessions change hands between the replicas all the time.
  std::vector<std::unique_ptr<JambadProcess>> replicas;
  for (const char* id : {"r1", "r2"}) {
    auto replica = JambadProcess::Start({.model_dir = GoldenModelDir(),
                                         .session_dir = shared.path(),
                                         .flags = ReplicaFlags(id, {"--session-memory", "1"})});
    ASSERT_TRUE(replica.ok()) << replica.status();
    replicas.push_back(*std::move(replica));
  }
  const std::vector<std::string> names = {"x", "y", "z"};
  constexpr int kThreadsPerReplica = 2;
  const absl::Time end = absl::Now() + absl::Seconds(5);
  absl::Mutex mu;
  std::vector<Outcome> outcomes;
  std::atomic<int> next_op{0};
  std::vector<std::thread> threads;
  for (size_t r = 0; r < replicas.size(); ++r) {
    for (int t = 0; t < kThreadsPerReplica; ++t) {
      threads.emplace_back([&, r, t] {
        auto stub = v1::SessionService::NewStub(replicas[r]->Channel());
        std::mt19937 rng(static_cast<uint32_t>(r * 100 + t));
        while (absl::Now() < end) {
          Outcome outcome;
          outcome.id = names[rng() % names.size()];
          const int dice = static_cast<int>(rng() % 100);
          grpc::Status status;
          if (dice < 15) {
            outcome.op = "create";
            v1::Session session;
            status = CreateSession(*stub, outcome.id, &session);
          } else if (dice < 25) {
            outcome.op = "delete";
            status = DeleteSession(*stub, outcome.id);
          } else {
            outcome.op = "append";
            // Each append's tokens start with a marker unique to it, so the final states show
            // which appends they hold, and where.
            const int op = next_op++;
            outcome.tokens = {3 + op / 400, 100 + op % 400};
            for (int32_t x : Document(1 + static_cast<int>(rng() % 3), op)) {
              outcome.tokens.push_back(x % 3);  // never a marker's first token beyond 2
            }
            v1::Session session;
            status = AppendTokens(*stub, outcome.id, outcome.tokens, &session);
            outcome.token_count = session.token_count();
            outcome.create_time_us =
                session.create_time().seconds() * 1000000 + session.create_time().nanos() / 1000;
          }
          outcome.code = status.error_code();
          absl::MutexLock lock(&mu);
          outcomes.push_back(std::move(outcome));
        }
      });
    }
  }
  for (std::thread& t : threads) t.join();

  std::map<std::string, int> counts;
  for (const Outcome& o : outcomes) {
    ++counts[o.op + " " + std::to_string(static_cast<int>(o.code))];
    // Every failure is one of the answers a contended session may give.
    EXPECT_THAT(o.code, AnyOf(grpc::StatusCode::OK, grpc::StatusCode::UNAVAILABLE,
                              grpc::StatusCode::ABORTED, grpc::StatusCode::NOT_FOUND,
                              grpc::StatusCode::ALREADY_EXISTS))
        << o.op << " " << o.id;
  }
  for (const auto& [what, n] : counts) {
    RecordProperty(what, n);
    std::cout << what << ": " << n << "\n";
  }
  EXPECT_GT(counts["append 0"], 10);
  EXPECT_GT(counts["create 0"], 0);
  EXPECT_GT(counts["delete 0"], 0);
  EXPECT_GT(counts["append 14"], 0);  // UNAVAILABLE: held by the other replica

  // The replicas drain (releasing their leases); the store is checked from here.
  std::map<std::string, int64_t> final_create_time;
  for (const std::string& id : names) {
    auto session = GetSession(*v1::SessionService::NewStub(replicas[0]->Channel()), id);
    if (session.ok()) {
      final_create_time[id] =
          session->create_time().seconds() * 1000000 + session->create_time().nanos() / 1000;
    }
  }
  for (auto& replica : replicas) {
    replica->Signal(SIGTERM);
    EXPECT_EQ(replica->Wait(), 0);
  }
  StoredSessions stored(shared.path());
  int checked_appends = 0;
  for (const std::string& id : names) {
    SCOPED_TRACE(id);
    auto tokens = stored.LoadChecked(id);
    if (!final_create_time.count(id)) {
      EXPECT_EQ(tokens.status().code(), absl::StatusCode::kNotFound) << tokens.status();
      continue;
    }
    ASSERT_TRUE(tokens.ok()) << tokens.status();
    // Every append that succeeded on the session's final incarnation is in it, exactly where its
    // reply said; together they are all of it.
    int64_t total = 0;
    for (const Outcome& o : outcomes) {
      if (o.op != "append" || o.code != grpc::StatusCode::OK || o.id != id ||
          o.create_time_us != final_create_time[id]) {
        continue;
      }
      ++checked_appends;
      total += static_cast<int64_t>(o.tokens.size());
      const int64_t begin = o.token_count - static_cast<int64_t>(o.tokens.size());
      ASSERT_GE(begin, 0);
      ASSERT_LE(o.token_count, static_cast<int64_t>(tokens->size()));
      EXPECT_EQ(std::vector<int32_t>(tokens->begin() + begin, tokens->begin() + o.token_count),
                o.tokens)
          << "an append that succeeded is not where its reply said";
    }
    // (The first append to a session puts BOS first.)
    EXPECT_EQ(total + (total > 0 ? 1 : 0), static_cast<int64_t>(tokens->size()))
        << "the session holds other tokens than its successful appends";
  }
  EXPECT_GT(checked_appends, 0);
}

}  // namespace
}  // namespace jamba::testing
