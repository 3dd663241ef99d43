// jambad's Generate over loopback against the in-process Engine: the same request with the same
// seed streams exactly the tokens (and text) that Engine::Generate returns, alone or with 15
// other streams batched beside it.
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "jamba/engine.h"
#include "tests/integration/jambad_process.h"

namespace jamba::testing {
namespace {

std::unique_ptr<Engine> OpenInProcess(const std::string& model_dir) {
  EngineOptions options;
  options.threads = 2;
  auto engine = Engine::Open(model_dir, options);
  EXPECT_TRUE(engine.ok()) << engine.status();
  return engine.ok() ? *std::move(engine) : nullptr;
}

GenerateOptions Sampled(uint64_t seed, int max_tokens) {
  GenerateOptions options;
  options.sampling.temperature = 0.8f;
  options.sampling.top_p = 0.95f;
  options.sampling.seed = seed;
  options.stop.max_tokens = max_tokens;
  options.stop.ignore_eos = true;
  return options;
}

v1::GenerateRequest SampledRequest(uint64_t seed, int max_tokens) {
  v1::GenerateRequest request;
  request.set_max_tokens(max_tokens);
  request.mutable_sampling()->set_temperature(0.8f);
  request.mutable_sampling()->set_top_p(0.95f);
  request.mutable_sampling()->set_seed(seed);
  request.mutable_stop()->set_ignore_eos(true);
  return request;
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

TEST(GenerationIntegrationTest, StreamedTextAndTokensEqualInProcessGenerate) {
  auto server = JambadProcess::Start({.model_dir = DemoModelDir()});
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = v1::GenerationService::NewStub((*server)->Channel());
  auto engine = OpenInProcess(DemoModelDir());
  ASSERT_NE(engine, nullptr);

  const std::string prompt = "The quick brown fox jumps over the lazy dog because";
  auto expected = engine->Generate(Input::Text(prompt), Sampled(1234, 24));
  ASSERT_TRUE(expected.ok()) << expected.status();

  v1::GenerateRequest request = SampledRequest(1234, 24);
  request.set_prompt(prompt);
  GenerateOutcome outcome = Generate(*stub, request);
  ASSERT_TRUE(outcome.status.ok()) << outcome.status.error_message();
  EXPECT_EQ(outcome.tokens, expected->sampled_tokens);
  EXPECT_EQ(outcome.text, expected->text);
  EXPECT_GT(outcome.responses.size(), 1u);  // streamed, not one final message
  EXPECT_EQ(outcome.last.finish_reason(), v1::FINISH_REASON_MAX_TOKENS);
  EXPECT_EQ(outcome.last.usage().completion_tokens(), 24);
  EXPECT_EQ(outcome.last.usage().prompt_tokens(), expected->usage.prompt_tokens);
  EXPECT_EQ(outcome.last.usage().prompt_tokens(),
            outcome.last.usage().restored_tokens() + outcome.last.usage().recomputed_tokens());
  EXPECT_EQ(outcome.last.seed(), 1234u);
}

TEST(GenerationIntegrationTest, ChatMessagesGenerateLikeTheInProcessChatInput) {
  auto server = JambadProcess::Start({.model_dir = DemoModelDir()});
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = v1::GenerationService::NewStub((*server)->Channel());
  auto engine = OpenInProcess(DemoModelDir());
  ASSERT_NE(engine, nullptr);

  GenerateOptions greedy;
  greedy.sampling.temperature = 0;
  greedy.stop.max_tokens = 12;
  auto expected = engine->Generate(
      Input::Chat({{"system", "Answer briefly."}, {"user", "What is a fox?"}}), greedy);
  ASSERT_TRUE(expected.ok()) << expected.status();

  v1::GenerateRequest request;
  auto* messages = request.mutable_messages();
  auto* system = messages->add_messages();
  system->set_role(v1::ChatMessage::SYSTEM);
  system->set_content("Answer briefly.");
  auto* user = messages->add_messages();
  user->set_role(v1::ChatMessage::USER);
  user->set_content("What is a fox?");
  request.set_max_tokens(12);
  request.mutable_sampling()->set_temperature(0);
  GenerateOutcome outcome = Generate(*stub, request);
  ASSERT_TRUE(outcome.status.ok()) << outcome.status.error_message();
  EXPECT_EQ(outcome.tokens, expected->sampled_tokens);
  EXPECT_EQ(outcome.text, expected->text);
  EXPECT_FALSE(outcome.last.has_seed());  // greedy decoding has no seed
}

TEST(GenerationIntegrationTest, LogprobsCarryTheChosenTokenAndAlternatives) {
  auto server = JambadProcess::Start({.model_dir = DemoModelDir()});
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = v1::GenerationService::NewStub((*server)->Channel());
  v1::GenerateRequest request = SampledRequest(7, 6);
  request.set_prompt("Hello there");
  request.set_include_logprobs(true);
  request.set_top_logprobs(3);
  GenerateOutcome outcome = Generate(*stub, request);
  ASSERT_TRUE(outcome.status.ok()) << outcome.status.error_message();
  int with_logprobs = 0;
  for (const v1::GenerateResponse& response : outcome.responses) {
    ASSERT_EQ(response.logprobs_size(), response.token_ids_size());
    for (int i = 0; i < response.logprobs_size(); ++i) {
      const v1::TokenLogprob& logprob = response.logprobs(i);
      EXPECT_EQ(logprob.chosen().token_id(), response.token_ids(i));
      EXPECT_LE(logprob.chosen().logprob(), 0.0f);
      ASSERT_EQ(logprob.top_size(), 3);
      EXPECT_GE(logprob.top(0).logprob(), logprob.top(1).logprob());
      ++with_logprobs;
    }
  }
  EXPECT_EQ(with_logprobs, 6);
}

TEST(GenerationIntegrationTest, SixteenConcurrentStreamsMatchTheSameRequestsOneAtATime) {
  auto server = JambadProcess::Start({.model_dir = GoldenModelDir()});
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = v1::GenerationService::NewStub((*server)->Channel());
  constexpr int kStreams = 16;
  std::vector<v1::GenerateRequest> requests;
  for (int i = 0; i < kStreams; ++i) {
    v1::GenerateRequest request = SampledRequest(100 + i, 20);
    for (int32_t id : Document(10 + i, i)) request.mutable_prompt_token_ids()->add_ids(id);
    requests.push_back(request);
  }
  std::vector<std::vector<int32_t>> one_at_a_time;
  for (const v1::GenerateRequest& request : requests) {
    GenerateOutcome outcome = Generate(*stub, request);
    ASSERT_TRUE(outcome.status.ok()) << outcome.status.error_message();
    ASSERT_EQ(outcome.tokens.size(), 20u);
    one_at_a_time.push_back(outcome.tokens);
  }
  std::vector<std::future<GenerateOutcome>> concurrent;
  for (const v1::GenerateRequest& request : requests) {
    concurrent.push_back(
        std::async(std::launch::async, [&stub, request] { return Generate(*stub, request); }));
  }
  for (int i = 0; i < kStreams; ++i) {
    GenerateOutcome outcome = concurrent[i].get();
    ASSERT_TRUE(outcome.status.ok()) << outcome.status.error_message();
    EXPECT_EQ(outcome.tokens, one_at_a_time[i]) << "stream " << i;
  }
  // Different seeds and prompts give different streams: the comparison above is not vacuous.
  EXPECT_NE(one_at_a_time[0], one_at_a_time[1]);
}

TEST(GenerationIntegrationTest, TokenIdPromptsEqualInProcessGenerateOnTheGoldenModel) {
  auto server = JambadProcess::Start({.model_dir = GoldenModelDir()});
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = v1::GenerationService::NewStub((*server)->Channel());
  auto engine = OpenInProcess(GoldenModelDir());
  ASSERT_NE(engine, nullptr);
  const std::vector<int32_t> prompt = Document(30, 9);
  auto expected = engine->Generate(Input::Tokens(prompt), Sampled(99, 16));
  ASSERT_TRUE(expected.ok()) << expected.status();
  v1::GenerateRequest request = SampledRequest(99, 16);
  for (int32_t id : prompt) request.mutable_prompt_token_ids()->add_ids(id);
  GenerateOutcome outcome = Generate(*stub, request);
  ASSERT_TRUE(outcome.status.ok()) << outcome.status.error_message();
  EXPECT_EQ(outcome.tokens, expected->sampled_tokens);
  EXPECT_EQ(outcome.last.usage().prompt_tokens(), 30);
}

TEST(GenerationIntegrationTest, ModelInfoReportsTheModelTokenizerAndConfiguredLimits) {
  auto server = JambadProcess::Start(
      {.model_dir = DemoModelDir(),
       .flags = {"--max-context-tokens", "2048", "--max-completion-tokens", "300",
                 "--default-max-tokens", "30", "--checkpoint-interval", "512"}});
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = v1::ModelService::NewStub((*server)->Channel());
  auto engine = OpenInProcess(DemoModelDir());
  ASSERT_NE(engine, nullptr);
  grpc::ClientContext context;
  v1::GetModelInfoRequest request;
  v1::ModelInfo info;
  ASSERT_TRUE(stub->GetModelInfo(&context, request, &info).ok());
  EXPECT_EQ(info.model_id(), "demo-model");
  EXPECT_EQ(info.fingerprint(), engine->model_info().fingerprint);
  EXPECT_EQ(info.architecture().model_type(), "jamba");
  EXPECT_EQ(info.architecture().num_layers(), engine->model_info().num_layers);
  EXPECT_EQ(info.architecture().layers_size(), engine->model_info().num_layers);
  EXPECT_EQ(info.architecture().num_attention_layers() + info.architecture().num_mamba_layers(),
            info.architecture().num_layers());
  EXPECT_EQ(info.tokenizer().vocab_size(), engine->model_info().vocab_size);
  EXPECT_EQ(info.tokenizer().bos_token_id(), engine->model_info().bos_token_id);
  EXPECT_TRUE(info.tokenizer().has_chat_template());
  EXPECT_FALSE(info.tokenizer().eos_token_ids().empty());
  EXPECT_EQ(info.backend().kind(), v1::Backend::CPU);
  EXPECT_EQ(info.limits().max_context_tokens(), 2048);
  EXPECT_EQ(info.limits().max_prompt_tokens(), 2048);
  EXPECT_EQ(info.limits().max_completion_tokens(), 300);
  EXPECT_EQ(info.limits().default_max_tokens(), 30);
  EXPECT_EQ(info.limits().checkpoint_interval_tokens(), 512);
  EXPECT_EQ(info.limits().max_stop_strings(), 16);
  EXPECT_EQ(info.limits().max_page_size(), 1000);
  EXPECT_EQ(info.server_version(), "0.1.0");
}

TEST(GenerationIntegrationTest, TokenizeGivesExactlyTheTokensGenerateFeeds) {
  auto server = JambadProcess::Start({.model_dir = DemoModelDir()});
  ASSERT_TRUE(server.ok()) << server.status();
  auto model = v1::ModelService::NewStub((*server)->Channel());
  auto generation = v1::GenerationService::NewStub((*server)->Channel());
  v1::ChatMessages chat;
  auto* user = chat.add_messages();
  user->set_role(v1::ChatMessage::USER);
  user->set_content("Summarize the contract.");

  grpc::ClientContext context;
  v1::TokenizeRequest tokenize;
  *tokenize.mutable_messages() = chat;
  tokenize.set_include_pieces(true);
  v1::TokenizeResponse tokens;
  ASSERT_TRUE(model->Tokenize(&context, tokenize, &tokens).ok());
  ASSERT_EQ(tokens.pieces_size(), tokens.token_ids_size());

  v1::GenerateRequest from_messages;
  *from_messages.mutable_messages() = chat;
  from_messages.set_max_tokens(6);
  from_messages.mutable_sampling()->set_temperature(0);
  v1::GenerateRequest from_ids = from_messages;
  *from_ids.mutable_prompt_token_ids()->mutable_ids() = tokens.token_ids();
  GenerateOutcome a = Generate(*generation, from_messages);
  GenerateOutcome b = Generate(*generation, from_ids);
  ASSERT_TRUE(a.status.ok() && b.status.ok());
  EXPECT_EQ(a.tokens, b.tokens);
  EXPECT_EQ(a.last.usage().prompt_tokens(), tokens.token_ids_size());

  grpc::ClientContext detokenize_context;
  v1::DetokenizeRequest detokenize;
  *detokenize.mutable_token_ids() = tokens.token_ids();
  detokenize.set_skip_special_tokens(true);
  v1::DetokenizeResponse text;
  ASSERT_TRUE(model->Detokenize(&detokenize_context, detokenize, &text).ok());
  EXPECT_THAT(text.text(), ::testing::HasSubstr("Summarize the contract."));
}

}  // namespace
}  // namespace jamba::testing
