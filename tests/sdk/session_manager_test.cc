// SessionManager through the Engine API on the golden MoE model: calls on different sessions run
// at the same time, calls on one session are serialized (hammered from two threads, every result
// matches a state the session really had), with a tiny memory budget the least recently used
// states leave memory and come back from disk with identical results, and two engines sharing a
// session directory take turns on a session (UNAVAILABLE naming the owner meanwhile) without ever
// using a state in memory that the other one changed on disk.
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "engine/jamba_model.h"
#include "engine/model_fingerprint.h"
#include "gtest/gtest.h"
#include "jamba/engine.h"
#include "sdk/backend_factory.h"
#include "sdk/store/session_store.h"
#include "tests/util/test_util.h"

namespace jamba {
namespace {

constexpr char kTenant[] = "t";

std::vector<int32_t> Doc(int n, int seed) {
  std::vector<int32_t> ids;
  uint32_t x = static_cast<uint32_t>(seed) * 2654435761u + 7;
  for (int i = 0; i < n; ++i) {
    x = x * 1664525u + 1013904223u;
    ids.push_back(3 + static_cast<int32_t>((x >> 8) % 500));
  }
  return ids;
}

GenerateOptions Greedy(int max_tokens) {
  GenerateOptions options;
  options.sampling.temperature = 0;
  options.stop.max_tokens = max_tokens;
  options.stop.ignore_eos = true;
  options.tenant = "reference-only";  // never reuse a session prefix for reference runs
  return options;
}

// Waits until `parties` threads have arrived. False if they did not all arrive in time, which
// means the calls that should run together were serialized.
class Rendezvous {
 public:
  explicit Rendezvous(int parties) : parties_(parties) {}
  bool ArriveAndWait() {
    absl::MutexLock lock(&mu_);
    ++arrived_;
    return mu_.AwaitWithTimeout(absl::Condition(this, &Rendezvous::AllHere), absl::Seconds(60));
  }

 private:
  bool AllHere() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return arrived_ >= parties_; }
  absl::Mutex mu_;
  int arrived_ ABSL_GUARDED_BY(mu_) = 0;
  const int parties_;
};

class SessionManagerTest : public ::testing::Test {
 protected:
  std::string ModelDir() const { return testing::GoldenDir("hybrid8_moe_f32_sharded"); }
  std::unique_ptr<Engine> Open(int64_t memory_bytes = 8LL << 30, const std::string& owner = "",
                               absl::Duration lease_ttl = absl::Seconds(10)) {
    EngineOptions options;
    options.session_owner_id = owner;
    options.session_lease_ttl = lease_ttl;
    options.threads = 2;
    options.precision = "exact";  // as the store StoredTokens opens, and Reference's engine
    options.session_dir = dir_.path();
    options.checkpoint_interval = 16;
    options.session_memory_bytes = memory_bytes;
    auto engine = Engine::Open(ModelDir(), options);
    EXPECT_TRUE(engine.ok()) << engine.status();
    return engine.ok() ? *std::move(engine) : nullptr;
  }
  // What a run that never used sessions generates after `tokens`.
  std::vector<int32_t> Reference(const std::vector<int32_t>& tokens, int max_tokens) {
    if (reference_ == nullptr) {
      auto engine = Engine::Open(ModelDir(), {.threads = 2, .precision = "exact"});
      EXPECT_TRUE(engine.ok());
      reference_ = *std::move(engine);
    }
    auto result = reference_->Generate(Input::Tokens(tokens), Greedy(max_tokens));
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? result->tokens : std::vector<int32_t>{};
  }
  // The tokens a session holds on disk (the Engine must be closed: it holds the store).
  std::vector<int32_t> StoredTokens(const std::string& id) {
    auto backend = sdk::CreateBackend({.device = "cpu", .threads = 1});
    auto model = engine::JambaModel::Load(ModelDir(), **backend, {});
    EXPECT_TRUE(model.ok());
    auto store = sdk::SessionStore::Open({.root = dir_.path(),
                                          .model_fingerprint = engine::ComputeModelFingerprint(
                                              (*model)->config(), (*model)->checkpoint(), "")});
    EXPECT_TRUE(store.ok()) << store.status();
    auto manifest = (*store)->Get(kTenant, id);
    EXPECT_TRUE(manifest.ok());
    auto state = (*model)->NewSequence();
    EXPECT_TRUE((*store)->Load(*manifest, manifest->length, *state).ok());
    return state->tokens();
  }

  testing::TempDir dir_;
  std::unique_ptr<Engine> reference_;
};

TEST_F(SessionManagerTest, CallsOnDifferentSessionsRunAtTheSameTime) {
  auto engine = Open();
  const std::vector<int32_t> doc_a = Doc(120, 1), doc_b = Doc(120, 2), doc_c = Doc(40, 3);
  for (const char* id : {"a", "b", "c"})
    ASSERT_TRUE(engine->CreateSession(kTenant, {.id = id}).ok());
  ASSERT_TRUE(engine->AppendToSession(kTenant, "c", Input::Tokens(doc_c)).ok());

  // Each call waits inside its own callback until the other two are in flight too: if calls on
  // different sessions were serialized, nobody would get past the rendezvous.
  Rendezvous all_three(3);
  std::atomic<bool> together{true};
  auto append = [&](const std::string& id, const std::vector<int32_t>& doc) {
    bool waited = false;
    AppendOptions options;
    options.on_progress = [&](int64_t, int64_t) {
      if (!waited) together = all_three.ArriveAndWait() && together;
      waited = true;
      return true;
    };
    auto result = engine->AppendToSession(kTenant, id, Input::Tokens(doc), options);
    EXPECT_TRUE(result.ok()) << result.status();
  };
  std::vector<int32_t> generated_c;
  auto generate = [&]() {
    bool waited = false;
    auto result = engine->GenerateFromSession(kTenant, "c", std::nullopt, Greedy(8), false,
                                              [&](const GenerateChunk&) {
                                                if (!waited) {
                                                  together = all_three.ArriveAndWait() && together;
                                                }
                                                waited = true;
                                                return true;
                                              });
    ASSERT_TRUE(result.ok()) << result.status();
    generated_c = result->tokens;
  };
  std::thread ta(append, "a", doc_a), tb(append, "b", doc_b), tc(generate);
  ta.join();
  tb.join();
  tc.join();
  EXPECT_TRUE(together) << "calls on different sessions did not run concurrently";

  // Batched together, each computed exactly what it computes alone.
  EXPECT_EQ(generated_c, Reference(doc_c, 8));
  for (const auto& [id, doc] : {std::pair{"a", doc_a}, std::pair{"b", doc_b}}) {
    auto info = engine->GetSession(kTenant, id);
    ASSERT_TRUE(info.ok());
    EXPECT_EQ(info->token_count, 120);
    auto next = engine->GenerateFromSession(kTenant, id, std::nullopt, Greedy(6), false);
    ASSERT_TRUE(next.ok());
    EXPECT_EQ(next->tokens, Reference(doc, 6)) << id;
  }
}

TEST_F(SessionManagerTest, CallsOnOneSessionAreSerialized) {
  constexpr int kChunks = 8;
  constexpr int kChunkTokens = 5;
  std::vector<std::vector<int32_t>> chunks[2];
  for (int t = 0; t < 2; ++t) {
    for (int i = 0; i < kChunks; ++i) chunks[t].push_back(Doc(kChunkTokens, 100 * (t + 1) + i));
  }
  struct Observation {
    int64_t length;  // the session length the generation started from
    std::vector<int32_t> tokens;
  };
  std::vector<Observation> observations[2];
  {
    auto engine = Open();
    ASSERT_TRUE(engine->CreateSession(kTenant, {.id = "shared"}).ok());
    ASSERT_TRUE(engine->AppendToSession(kTenant, "shared", Input::Tokens(Doc(20, 9))).ok());
    // Two threads interleave appends and uncommitted generations on the same session.
    auto hammer = [&](int t) {
      for (int i = 0; i < kChunks; ++i) {
        auto appended = engine->AppendToSession(kTenant, "shared", Input::Tokens(chunks[t][i]));
        ASSERT_TRUE(appended.ok()) << appended.status();
        auto generated =
            engine->GenerateFromSession(kTenant, "shared", std::nullopt, Greedy(4), false);
        ASSERT_TRUE(generated.ok()) << generated.status();
        observations[t].push_back({generated->usage.restored_tokens, generated->tokens});
      }
    };
    std::thread t0(hammer, 0), t1(hammer, 1);
    t0.join();
    t1.join();
    auto info = engine->GetSession(kTenant, "shared");
    ASSERT_TRUE(info.ok());
    EXPECT_EQ(info->token_count, 20 + 2 * kChunks * kChunkTokens);
  }
  // The session holds the base and then whole chunks, each thread's in its own order: no append
  // was torn or interleaved with another.
  const std::vector<int32_t> stored = StoredTokens("shared");
  ASSERT_EQ(stored.size(), static_cast<size_t>(20 + 2 * kChunks * kChunkTokens));
  EXPECT_EQ(std::vector<int32_t>(stored.begin(), stored.begin() + 20), Doc(20, 9));
  size_t next[2] = {0, 0};
  for (size_t pos = 20; pos < stored.size(); pos += kChunkTokens) {
    const std::vector<int32_t> piece(stored.begin() + pos, stored.begin() + pos + kChunkTokens);
    const int t = next[0] < kChunks && piece == chunks[0][next[0]] ? 0 : 1;
    ASSERT_LT(next[t], static_cast<size_t>(kChunks));
    ASSERT_EQ(piece, chunks[t][next[t]]) << "torn append at " << pos;
    ++next[t];
  }
  // Every generation saw a committed state of the session and computed exactly from it.
  for (int t = 0; t < 2; ++t) {
    for (const Observation& o : observations[t]) {
      ASSERT_EQ((o.length - 20) % kChunkTokens, 0) << "generated from a half-applied append";
      EXPECT_EQ(o.tokens,
                Reference(std::vector<int32_t>(stored.begin(), stored.begin() + o.length), 4))
          << "from length " << o.length;
    }
  }
}

// Regression: Fork pinned only its source, so a fork and a create of the same new id could both
// pass the store's "does it exist" check; both reported success and one silently replaced the
// other (or removed its directory half-way).
TEST_F(SessionManagerTest, ForkAndCreateRacingForOneIdLetExactlyOneWin) {
  auto engine = Open();
  const std::vector<int32_t> doc = Doc(32, 31);
  ASSERT_TRUE(engine->CreateSession(kTenant, {.id = "src"}).ok());
  ASSERT_TRUE(engine->AppendToSession(kTenant, "src", Input::Tokens(doc)).ok());
  for (int round = 0; round < 20; ++round) {
    const std::string id = "race-" + std::to_string(round);
    Rendezvous start(2);
    absl::Status created, forked;
    std::thread creator([&] {
      start.ArriveAndWait();
      created = engine->CreateSession(kTenant, {.id = id}).status();
    });
    std::thread forker([&] {
      start.ArriveAndWait();
      forked = engine->ForkSession(kTenant, "src", id).status();
    });
    creator.join();
    forker.join();
    ASSERT_NE(created.ok(), forked.ok())
        << "round " << round << ": create " << created << ", fork " << forked;
    const absl::Status& lost = created.ok() ? forked : created;
    EXPECT_EQ(lost.code(), absl::StatusCode::kAlreadyExists) << lost;
    auto info = engine->GetSession(kTenant, id);
    ASSERT_TRUE(info.ok()) << info.status();
    EXPECT_EQ(info->token_count, created.ok() ? 0 : 32);
  }
}

TEST_F(SessionManagerTest, TinyMemoryBudgetDropsLeastRecentlyUsedStatesAndReloadsThemExactly) {
  // Room for about one state of this model (Mamba states ~58 KiB plus the KV cache's first page
  // of 128 rows, 64 KiB).
  auto engine = Open(/*memory_bytes=*/130 << 10);
  const std::vector<int32_t> docs[] = {Doc(40, 21), Doc(40, 22), Doc(40, 23)};
  const char* ids[] = {"a", "b", "c"};
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(engine->CreateSession(kTenant, {.id = ids[i]}).ok());
    auto appended = engine->AppendToSession(kTenant, ids[i], Input::Tokens(docs[i]));
    ASSERT_TRUE(appended.ok()) << appended.status();
  }
  auto in_memory = [&](const char* id) {
    auto info = engine->GetSession(kTenant, id);
    EXPECT_TRUE(info.ok());
    return info.ok() && info->in_memory;
  };
  // Only the most recently used state stayed.
  EXPECT_FALSE(in_memory("a"));
  EXPECT_FALSE(in_memory("b"));
  EXPECT_TRUE(in_memory("c"));

  // Using "a" brings it back from disk (and pushes "c" out); results are those of a run that
  // never left memory.
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < 3; ++i) {
      auto generated = engine->GenerateFromSession(kTenant, ids[i], std::nullopt, Greedy(6), false);
      ASSERT_TRUE(generated.ok()) << generated.status();
      EXPECT_EQ(generated->tokens, Reference(docs[i], 6)) << ids[i];
      EXPECT_TRUE(in_memory(ids[i]));
      EXPECT_FALSE(in_memory(ids[(i + 2) % 3]));
    }
  }
  // A committed generation on a reloaded state continues from it exactly.
  auto committed = engine->GenerateFromSession(kTenant, "b", std::nullopt, Greedy(5), true);
  ASSERT_TRUE(committed.ok());
  EXPECT_FALSE(in_memory("a"));
  std::vector<int32_t> b_tokens = docs[1];
  b_tokens.insert(b_tokens.end(), committed->tokens.begin(), committed->tokens.end());
  ASSERT_TRUE(engine->GenerateFromSession(kTenant, "a", std::nullopt, Greedy(1), false).ok());
  EXPECT_FALSE(in_memory("b"));
  auto after = engine->GenerateFromSession(kTenant, "b", std::nullopt, Greedy(6), false);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->tokens, Reference(b_tokens, 6));

  engine->EvictAllSessionsFromMemory();
  for (const char* id : ids) EXPECT_FALSE(in_memory(id)) << id;
}

TEST_F(SessionManagerTest, EnginesSharingADirectoryTakeTurnsAndNeverUseAStaleState) {
  auto a = Open(8LL << 30, "engine-a", absl::Milliseconds(300));
  auto b = Open(8LL << 30, "engine-b", absl::Milliseconds(300));
  const std::vector<int32_t> doc = Doc(40, 31);
  ASSERT_TRUE(a->CreateSession(kTenant, {.id = "shared"}).ok());
  ASSERT_TRUE(a->AppendToSession(kTenant, "shared", Input::Tokens(doc)).ok());
  ASSERT_TRUE(a->GetSession(kTenant, "shared")->in_memory);

  // While a holds the session, b is told who does; it still reads the committed state.
  const std::vector<int32_t> turn = Doc(4, 32);
  auto refused = b->AppendToSession(kTenant, "shared", Input::Tokens(turn));
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kUnavailable) << refused.status();
  const std::optional<SessionOwner> owner = SessionOwnerOf(refused.status());
  ASSERT_TRUE(owner.has_value());
  EXPECT_EQ(owner->owner, "engine-a");
  EXPECT_GT(owner->retry_after, absl::ZeroDuration());
  EXPECT_EQ(
      b->GenerateFromSession(kTenant, "shared", std::nullopt, Greedy(2), false).status().code(),
      absl::StatusCode::kUnavailable);
  auto seen = b->GetSession(kTenant, "shared");
  ASSERT_TRUE(seen.ok()) << seen.status();
  EXPECT_EQ(seen->token_count, a->GetSession(kTenant, "shared")->token_count);
  EXPECT_FALSE(seen->in_memory);

  // Unused for a lease TTL, a lets go; b changes the session.
  absl::StatusOr<AppendResult> appended = refused.status();
  for (int i = 0; i < 60 && !appended.ok(); ++i) {
    absl::SleepFor(absl::Milliseconds(100));
    appended = b->AppendToSession(kTenant, "shared", Input::Tokens(turn));
  }
  ASSERT_TRUE(appended.ok()) << appended.status();

  // a still has its state of before b's turn in memory; it must start from b's state instead.
  std::vector<int32_t> all = doc;
  all.insert(all.end(), turn.begin(), turn.end());
  absl::StatusOr<GenerateResult> generated = absl::UnavailableError("not yet");
  for (int i = 0; i < 60 && !generated.ok(); ++i) {
    absl::SleepFor(absl::Milliseconds(100));
    generated = a->GenerateFromSession(kTenant, "shared", std::nullopt, Greedy(6), false);
  }
  ASSERT_TRUE(generated.ok()) << generated.status();
  EXPECT_EQ(generated->tokens, Reference(all, 6));
}

}  // namespace
}  // namespace jamba
