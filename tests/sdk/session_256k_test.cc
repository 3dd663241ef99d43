// A 256K-token session on the demo model, end to end through the public API with the default
// precision: ingest 262128 tokens of text ids into a session (persisted in 64 segments), generate
// 16 more tokens from the live state (the uninterrupted run, 262144 tokens of context in all),
// then close the engine, open a new one on the same store, resume the session (its KV segments
// mapped in place) and generate again: the same tokens with the same log-probabilities, bit for
// bit.
//
// It takes long (the ingest is a 256K-token prefill: 1805 s on this project's shared 2-core VM
// under load, with the default precision, fast), so it is labelled `long` and skips unless
// JAMBA_RUN_LONG_TESTS is set:
//   JAMBA_RUN_LONG_TESTS=1 ctest --test-dir build -L long --output-on-failure
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "jamba/engine.h"
#include "tests/util/test_util.h"

namespace jamba {
namespace {

constexpr int64_t kContext = 262144;
constexpr int64_t kGenerated = 16;

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

struct Trace {
  std::vector<int32_t> tokens;
  std::vector<float> logprobs;
};

TEST(Session256kTest, ResumedAfterARestartGeneratesWhatTheUninterruptedRunDid) {
  if (std::getenv("JAMBA_RUN_LONG_TESTS") == nullptr)
    GTEST_SKIP() << "a 256K-token ingest takes minutes: set JAMBA_RUN_LONG_TESTS=1 to run it";
  testing::TempDir dir;
  EngineOptions options;
  options.threads = 2;
  options.session_dir = dir.path();
  options.max_prompt_tokens = kContext;
  options.max_context_tokens = kContext;
  options.prefill_chunk = 1024;
  options.max_batch_tokens = 1024;
  const std::string model = testing::BinaryDir() + "/demo-model";
  GenerateOptions greedy;
  greedy.sampling.temperature = 0;
  greedy.stop.max_tokens = kGenerated;
  greedy.stop.ignore_eos = true;
  greedy.logprobs = true;
  auto record = [](Trace& trace) {
    return [&trace](const GenerateChunk& chunk) {
      for (const GeneratedToken& t : chunk.tokens) {
        trace.tokens.push_back(t.token);
        trace.logprobs.push_back(t.logprob);
      }
      return true;
    };
  };

  Trace uninterrupted;
  {
    auto engine = Engine::Open(model, options);
    ASSERT_TRUE(engine.ok()) << engine.status();
    // Text ids from the demo corpus, repeated to length: what the model was trained to read.
    const std::string corpus =
        testing::ReadFile(testing::TestDataDir() + "/../../tools/demo_corpus.txt");
    auto piece = (*engine)->Tokenize(corpus, /*add_bos=*/false);
    ASSERT_TRUE(piece.ok()) << piece.status();
    std::vector<int32_t> doc = {(*engine)->model_info().bos_token_id};
    while (static_cast<int64_t>(doc.size()) < kContext - kGenerated)
      doc.insert(doc.end(), piece->begin(), piece->end());
    doc.resize(static_cast<size_t>(kContext - kGenerated));
    ASSERT_TRUE((*engine)->CreateSession("default", {.id = "long"}).ok());
    const auto start = std::chrono::steady_clock::now();
    auto appended = (*engine)->AppendToSession("default", "long", Input::Tokens(doc));
    ASSERT_TRUE(appended.ok()) << appended.status();
    std::printf("ingested %lld tokens in %.1f s (%s, kv_dtype %s): %lld bytes on disk\n",
                static_cast<long long>(appended->session.token_count), SecondsSince(start),
                (*engine)->model_info().precision.c_str(), (*engine)->model_info().kv_dtype.c_str(),
                static_cast<long long>(appended->session.disk_bytes));
    ASSERT_EQ(appended->session.token_count, kContext - kGenerated);
    auto live = (*engine)->GenerateFromSession("default", "long", std::nullopt, greedy, false,
                                               record(uninterrupted));
    ASSERT_TRUE(live.ok()) << live.status();
  }
  ASSERT_EQ(static_cast<int64_t>(uninterrupted.tokens.size()), kGenerated);

  auto engine = Engine::Open(model, options);  // a restart: the session is on disk only
  ASSERT_TRUE(engine.ok()) << engine.status();
  Trace resumed;
  const auto start = std::chrono::steady_clock::now();
  auto result = (*engine)->GenerateFromSession("default", "long", std::nullopt, greedy, false,
                                               record(resumed));
  ASSERT_TRUE(result.ok()) << result.status();
  std::printf("resumed and generated %lld tokens in %.2f s\n",
              static_cast<long long>(resumed.tokens.size()), SecondsSince(start));
  EXPECT_EQ(result->usage.restored_tokens, kContext - kGenerated);
  EXPECT_EQ(resumed.tokens, uninterrupted.tokens);
  EXPECT_EQ(resumed.logprobs, uninterrupted.logprobs);
}

}  // namespace
}  // namespace jamba
