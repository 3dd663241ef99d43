// Sessions through the public Engine API on the golden MoE model (token ids, no tokenizer):
// persisting and resuming gives bit-identical logits and tokens to never stopping.
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "jamba/engine.h"
#include "tests/util/test_util.h"

namespace jamba {
namespace {

std::vector<int32_t> Document(int n, int seed) {
  std::vector<int32_t> ids;
  uint32_t x = static_cast<uint32_t>(seed) * 2654435761u + 1;
  for (int i = 0; i < n; ++i) {
    x = x * 1664525u + 1013904223u;
    ids.push_back(3 + static_cast<int32_t>(x % 500));
  }
  return ids;
}

GenerateOptions Greedy(int max_tokens) {
  GenerateOptions options;
  options.sampling.temperature = 0;
  options.stop.max_tokens = max_tokens;
  options.stop.ignore_eos = true;
  return options;
}

class EngineSessionsTest : public ::testing::Test {
 protected:
  std::unique_ptr<Engine> Open(int64_t checkpoint_interval = 16) {
    EngineOptions options;
    options.threads = 2;
    options.session_dir = dir_.path();
    options.checkpoint_interval = checkpoint_interval;
    auto engine = Engine::Open(testing::GoldenDir("hybrid8_moe_f32_sharded"), options);
    EXPECT_TRUE(engine.ok()) << engine.status();
    return engine.ok() ? *std::move(engine) : nullptr;
  }
  testing::TempDir dir_;
};

TEST_F(EngineSessionsTest, ResumedSessionGeneratesExactlyWhatAnUninterruptedOneDoes) {
  const std::vector<int32_t> doc = Document(70, 1);
  std::vector<int32_t> expected;
  {
    auto engine = Open();
    auto plain = engine->Generate(Input::Tokens(doc), Greedy(12));
    ASSERT_TRUE(plain.ok()) << plain.status();
    expected = plain->tokens;
    auto created = engine->CreateSession("default", {.id = "doc"});
    ASSERT_TRUE(created.ok()) << created.status();
    auto appended = engine->AppendToSession("default", "doc", Input::Tokens(doc));
    ASSERT_TRUE(appended.ok()) << appended.status();
    EXPECT_EQ(appended->session.token_count, 70);
    // 16-token interval: checkpoints at 16, 32, 48, 64 and the end (70).
    EXPECT_EQ(appended->session.checkpoint_count, 5);
  }
  auto engine = Open();  // a new engine over the same store: nothing in memory
  auto resumed =
      engine->GenerateFromSession("default", "doc", std::nullopt, Greedy(12), /*commit=*/false);
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_EQ(resumed->tokens, expected);
  EXPECT_EQ(resumed->usage.restored_tokens, 70);
  EXPECT_EQ(resumed->usage.recomputed_tokens, 0);
  // Not committed: the session is unchanged and generating again gives the same tokens.
  auto again = engine->GenerateFromSession("default", "doc", std::nullopt, Greedy(12), false);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->tokens, expected);
}

TEST_F(EngineSessionsTest, StatelessPromptReusesThePersistedPrefix) {
  auto engine = Open();
  const std::vector<int32_t> doc = Document(64, 2);
  ASSERT_TRUE(engine->CreateSession("default", {.id = "base"}).ok());
  ASSERT_TRUE(engine->AppendToSession("default", "base", Input::Tokens(doc)).ok());
  std::vector<int32_t> prompt = doc;
  prompt.push_back(7);
  prompt.push_back(8);
  auto reused = engine->Generate(Input::Tokens(prompt), Greedy(6));
  ASSERT_TRUE(reused.ok()) << reused.status();
  EXPECT_EQ(reused->usage.restored_tokens, 64);
  EXPECT_EQ(reused->usage.recomputed_tokens, 2);
  GenerateOptions other_tenant = Greedy(6);
  other_tenant.tenant = "other";
  auto fresh = engine->Generate(Input::Tokens(prompt), other_tenant);
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(fresh->usage.restored_tokens, 0);
  EXPECT_EQ(fresh->tokens, reused->tokens);
}

TEST_F(EngineSessionsTest, ForkAndRewindResumeExactly) {
  auto engine = Open();
  const std::vector<int32_t> doc = Document(40, 3);
  ASSERT_TRUE(engine->CreateSession("default", {.id = "a"}).ok());
  ASSERT_TRUE(engine->AppendToSession("default", "a", Input::Tokens(doc)).ok());
  auto base = engine->GenerateFromSession("default", "a", std::nullopt, Greedy(5), false);
  ASSERT_TRUE(base.ok());
  auto forked = engine->ForkSession("default", "a", "b");
  ASSERT_TRUE(forked.ok()) << forked.status();
  auto committed =
      engine->GenerateFromSession("default", "a", std::nullopt, Greedy(5), /*commit=*/true);
  ASSERT_TRUE(committed.ok());
  EXPECT_EQ(committed->tokens, base->tokens);
  auto info = engine->GetSession("default", "a");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->token_count, 45);
  engine->EvictAllSessionsFromMemory();
  auto from_fork = engine->GenerateFromSession("default", "b", std::nullopt, Greedy(5), false);
  ASSERT_TRUE(from_fork.ok()) << from_fork.status();
  EXPECT_EQ(from_fork->tokens, base->tokens);
  auto rewound = engine->RewindSession("default", "a", 40);
  ASSERT_TRUE(rewound.ok()) << rewound.status();
  EXPECT_EQ(rewound->token_count, 40);
  auto after_rewind = engine->GenerateFromSession("default", "a", std::nullopt, Greedy(5), false);
  ASSERT_TRUE(after_rewind.ok());
  EXPECT_EQ(after_rewind->tokens, base->tokens);
}

// A committing generation decides its commit once, at the last moment before the atomic switch:
// whatever the deadline, OK means the turn is stored and an error means the session is unchanged.
TEST_F(EngineSessionsTest, ACommittingGenerationsOutcomeAlwaysMatchesTheSession) {
  auto engine = Open(/*checkpoint_interval=*/4096);
  ASSERT_TRUE(engine->CreateSession("default", {.id = "turns"}).ok());
  ASSERT_TRUE(engine->AppendToSession("default", "turns", Input::Tokens(Document(500, 3))).ok());
  auto count = [&] { return engine->GetSession("default", "turns")->token_count; };
  absl::Duration duration = absl::InfiniteDuration();
  for (int i = 0; i < 3; ++i) {
    const absl::Time start = absl::Now();
    ASSERT_TRUE(engine
                    ->GenerateFromSession("default", "turns", Input::Tokens({5}), Greedy(16),
                                          /*commit=*/true)
                    .ok());
    duration = std::min(duration, absl::Now() - start);
  }
  int committed = 0, expired = 0;
  for (int i = 0; i < 40; ++i) {
    GenerateOptions options = Greedy(16);
    // From a tenth of the duration to well past it: the first ones cannot make it even when a
    // later turn runs faster than the measured ones, the last ones have time to spare even on a
    // busy machine, and the ones between land on either side of the commit point.
    const double fraction = i < 5 ? 0.1 : 0.5 + 2.0 * i / 40;
    options.deadline =
        absl::Now() + duration * fraction + (i >= 35 ? absl::Seconds(5) : absl::ZeroDuration());
    const int64_t before = count();
    auto result = engine->GenerateFromSession("default", "turns", Input::Tokens({5}), options,
                                              /*commit=*/true);
    const int64_t after = count();
    if (result.ok()) {
      ++committed;
      EXPECT_EQ(after, before + 17);
      ASSERT_TRUE(result->session.has_value());
      EXPECT_EQ(result->session->token_count, after);
    } else {
      ++expired;
      EXPECT_EQ(result.status().code(), absl::StatusCode::kDeadlineExceeded) << result.status();
      EXPECT_EQ(after, before) << result.status();
    }
  }
  EXPECT_GT(committed, 0);
  EXPECT_GT(expired, 0);

  // The commit point also honours a margin before the deadline and a cancellation.
  GenerateOptions margin = Greedy(4);
  margin.commit_by = absl::Now();  // already past: generation runs, nothing is committed
  const int64_t before = count();
  auto late = engine->GenerateFromSession("default", "turns", Input::Tokens({5}), margin, true);
  EXPECT_EQ(late.status().code(), absl::StatusCode::kDeadlineExceeded);
  GenerateOptions cancelled = Greedy(4);
  cancelled.cancelled = [] { return true; };
  auto gone = engine->GenerateFromSession("default", "turns", Input::Tokens({5}), cancelled, true);
  EXPECT_EQ(gone.status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(count(), before);
}

TEST_F(EngineSessionsTest, ABusySessionIsAbortedWhenTheEngineMustNotWait) {
  EngineOptions options;
  options.threads = 2;
  options.session_dir = dir_.path();
  options.wait_for_busy_sessions = false;
  auto engine = Engine::Open(testing::GoldenDir("hybrid8_moe_f32_sharded"), options);
  ASSERT_TRUE(engine.ok()) << engine.status();
  ASSERT_TRUE((*engine)->CreateSession("default", {.id = "doc"}).ok());
  ASSERT_TRUE((*engine)->AppendToSession("default", "doc", Input::Tokens(Document(40, 2))).ok());
  // While a generation streams from the session (its callback holds it open), every other
  // operation on it is ABORTED at once.
  absl::Notification generating, release;
  std::thread generation([&] {
    GenerateOptions long_run = Greedy(64);
    auto result = (*engine)->GenerateFromSession("default", "doc", std::nullopt, long_run, false,
                                                 [&](const GenerateChunk&) {
                                                   if (!generating.HasBeenNotified())
                                                     generating.Notify();
                                                   release.WaitForNotification();
                                                   return false;
                                                 });
    EXPECT_EQ(result.status().code(), absl::StatusCode::kCancelled);
  });
  generating.WaitForNotification();
  EXPECT_EQ((*engine)->ForkSession("default", "doc", "copy").status().code(),
            absl::StatusCode::kAborted);
  EXPECT_EQ((*engine)->RewindSession("default", "doc", 0).status().code(),
            absl::StatusCode::kAborted);
  EXPECT_EQ((*engine)->DeleteSession("default", "doc").code(), absl::StatusCode::kAborted);
  EXPECT_EQ((*engine)->AppendToSession("default", "doc", Input::Tokens({7})).status().code(),
            absl::StatusCode::kAborted);
  release.Notify();
  generation.join();
  EXPECT_TRUE((*engine)->ForkSession("default", "doc", "copy").ok());
}

TEST_F(EngineSessionsTest, AnotherTenantsSessionIsNotFound) {
  auto engine = Open();
  ASSERT_TRUE(engine->CreateSession("acme", {.id = "secret"}).ok());
  EXPECT_EQ(engine->GetSession("evil", "secret").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(engine->DeleteSession("evil", "secret").code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(engine->GetSession("acme", "secret").ok());
}

}  // namespace
}  // namespace jamba
