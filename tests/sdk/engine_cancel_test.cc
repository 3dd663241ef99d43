// Cancelling a generation from its stream callback: the call answers CANCELLED and delivers no
// chunk after the one that cancelled, even when the engine had already produced every token by
// the time the callback said stop (the last chunk).
#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "jamba/engine.h"
#include "tests/util/demo_engine_suite.h"

namespace jamba {
namespace {

class EngineCancelTest : public testing::DemoEngineSuite {
 protected:
  // Generates kTokens greedy tokens, cancelling in the callback of chunk `cancel_on` (1-based).
  static absl::StatusOr<GenerateResult> GenerateCancellingOn(int cancel_on, int* chunks) {
    GenerateOptions options;
    options.sampling.temperature = 0;
    options.stop.max_tokens = kTokens;
    options.stop.ignore_eos = true;
    return engine_->Generate(Input::Text("Long documents stay cheap because"), options,
                             [&](const GenerateChunk&) { return ++*chunks < cancel_on; });
  }

  static constexpr int kTokens = 6;
};

TEST_F(EngineCancelTest, CancellingOnAnEarlyChunkStopsTheStream) {
  int chunks = 0;
  auto result = GenerateCancellingOn(2, &chunks);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kCancelled) << result.status();
  EXPECT_EQ(chunks, 2);
}

TEST_F(EngineCancelTest, CancellingOnTheLastChunkStillAnswersCancelled) {
  // By the last chunk the scheduler has finished the request; the caller's answer must not
  // depend on that race.
  for (int attempt = 0; attempt < 5; ++attempt) {
    int chunks = 0;
    auto result = GenerateCancellingOn(kTokens, &chunks);
    ASSERT_FALSE(result.ok()) << "attempt " << attempt;
    EXPECT_EQ(result.status().code(), absl::StatusCode::kCancelled) << result.status();
    EXPECT_EQ(chunks, kTokens);
  }
}

TEST_F(EngineCancelTest, ACallbackThatNeverCancelsGetsEveryToken) {
  int chunks = 0;
  auto result = GenerateCancellingOn(kTokens + 1, &chunks);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->tokens.size(), static_cast<size_t>(kTokens));
  EXPECT_EQ(chunks, kTokens);
}

}  // namespace
}  // namespace jamba
