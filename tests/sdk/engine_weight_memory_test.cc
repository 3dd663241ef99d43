// EngineOptions::weight_memory: "packed" (the CPU backend's own interleaved copy) and "mapped"
// (computed in place from the mapped checkpoint) generate exactly the same tokens; anything else
// is refused with a message naming the option.
#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "jamba/engine.h"
#include "tests/util/test_util.h"

namespace jamba {
namespace {

absl::StatusOr<std::unique_ptr<Engine>> OpenDemo(const std::string& weight_memory) {
  EngineOptions options;
  options.threads = 2;
  // fp32 activations: with bf16 ones, pair blocks and mapped rows add in different orders.
  options.precision = "exact";
  options.weight_memory = weight_memory;
  return Engine::Open(testing::BinaryDir() + "/demo-model", options);
}

TEST(EngineWeightMemoryTest, PackedAndMappedWeightsGenerateTheSameTokens) {
  GenerateOptions greedy;
  greedy.sampling.temperature = 0;
  greedy.stop.max_tokens = 24;
  greedy.stop.ignore_eos = true;
  std::vector<std::vector<int32_t>> tokens;
  for (const char* memory : {"packed", "mapped"}) {
    auto engine = OpenDemo(memory);
    ASSERT_TRUE(engine.ok()) << memory << ": " << engine.status();
    auto result = (*engine)->Generate(Input::Text("Long documents stay cheap because"), greedy);
    ASSERT_TRUE(result.ok()) << memory << ": " << result.status();
    ASSERT_EQ(result->sampled_tokens.size(), 24u);
    tokens.push_back(result->sampled_tokens);
  }
  EXPECT_EQ(tokens[0], tokens[1]);
}

TEST(EngineWeightMemoryTest, AnUnknownWeightMemoryIsRefusedByName) {
  auto engine = OpenDemo("swap");
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(engine.status().message().find("weight_memory must be \"packed\" or \"mapped\""),
            std::string::npos)
      << engine.status();
}

}  // namespace
}  // namespace jamba
