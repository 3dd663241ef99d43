// Engine::stats(): the load figures jambad exports as metrics, on the golden MoE model.
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "jamba/engine.h"
#include "tests/util/test_util.h"

namespace jamba {
namespace {

TEST(EngineStatsTest, ReportsTheLastBatchAndTheSessionBytesOnDisk) {
  testing::TempDir dir;
  EngineOptions options;
  options.threads = 2;
  options.session_dir = dir.path();
  auto engine = Engine::Open(testing::GoldenDir("hybrid8_moe_f32_sharded"), options);
  ASSERT_TRUE(engine.ok()) << engine.status();

  const EngineStats fresh = (*engine)->stats();
  EXPECT_EQ(fresh.steps, 0);
  EXPECT_EQ(fresh.queued_requests, 0);
  EXPECT_EQ(fresh.session_memory_bytes, 0);

  GenerateOptions greedy;
  greedy.sampling.temperature = 0;
  greedy.stop.max_tokens = 4;
  greedy.stop.ignore_eos = true;
  auto generated = (*engine)->Generate(Input::Tokens({5, 6, 7, 8, 9}), greedy);
  ASSERT_TRUE(generated.ok()) << generated.status();
  const EngineStats after_generate = (*engine)->stats();
  // One prefill step that samples the first token, then three decode steps of one token each
  // (the last sampled token is not fed).
  EXPECT_EQ(after_generate.steps, 4);
  EXPECT_EQ(after_generate.last_batch_sequences, 1);
  EXPECT_EQ(after_generate.last_batch_tokens, 1);
  EXPECT_EQ(after_generate.queued_requests, 0);

  ASSERT_TRUE((*engine)->CreateSession("default", {.id = "doc"}).ok());
  const int64_t empty_session_bytes = (*engine)->stats().session_disk_bytes;
  std::vector<int32_t> doc;
  for (int i = 0; i < 40; ++i) doc.push_back(3 + i);
  ASSERT_TRUE((*engine)->AppendToSession("default", "doc", Input::Tokens(doc)).ok());
  const EngineStats after_append = (*engine)->stats();
  EXPECT_GT(empty_session_bytes, 0);
  EXPECT_GT(after_append.session_disk_bytes, empty_session_bytes);
  EXPECT_GT(after_append.session_memory_bytes, 0);
}

}  // namespace
}  // namespace jamba
