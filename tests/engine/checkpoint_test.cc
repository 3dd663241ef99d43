// Checkpoint directories: single-file and sharded layouts, every way an index can be wrong, legacy
// (remote-code) tensor names, shape checks, and whole models loaded from renamed or incomplete
// copies of the golden checkpoints.
#include "engine/checkpoint.h"

#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "engine/forward_workspace.h"
#include "engine/jamba_model.h"
#include "engine/model_config.h"
#include "engine/npy.h"
#include "engine/safetensors.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/cpu/cpu_backend.h"
#include "nlohmann/json.hpp"
#include "tests/util/test_util.h"

namespace jamba::engine {
namespace {

using kernels::DType;
using ::testing::HasSubstr;

std::string Floats(const std::vector<float>& values) {
  std::string out(values.size() * sizeof(float), '\0');
  std::memcpy(out.data(), values.data(), out.size());
  return out;
}

TensorToWrite F32(const std::string& name, std::vector<int64_t> shape, float first = 0.0f) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  std::vector<float> values(static_cast<size_t>(n));
  for (size_t i = 0; i < values.size(); ++i) values[i] = first + static_cast<float>(i);
  return {name, DType::kF32, std::move(shape), Floats(values)};
}

std::string Index(const std::map<std::string, std::string>& weight_map) {
  nlohmann::json j;
  j["metadata"] = {{"total_size", 0}};
  j["weight_map"] = weight_map;
  return j.dump(2);
}

std::string Message(const absl::Status& status) { return std::string(status.message()); }

float FirstFloat(const TensorView& view) {
  float v = 0;
  std::memcpy(&v, view.data, sizeof(v));
  return v;
}

class CheckpointTest : public ::testing::Test {
 protected:
  // Two shards: "a" [2,3] in shard 1, "b" [4] in shard 2, with a matching index.
  void WriteTwoShards() {
    ASSERT_TRUE(
        WriteSafetensors(dir_.File("model-00001-of-00002.safetensors"), {F32("a", {2, 3}, 10.0f)})
            .ok());
    ASSERT_TRUE(
        WriteSafetensors(dir_.File("model-00002-of-00002.safetensors"), {F32("b", {4}, 20.0f)})
            .ok());
    testing::WriteFile(dir_.File("model.safetensors.index.json"),
                       Index({{"a", "model-00001-of-00002.safetensors"},
                              {"b", "model-00002-of-00002.safetensors"}}));
  }

  testing::TempDir dir_;
};

TEST_F(CheckpointTest, OpensValidTwoShardIndex) {
  WriteTwoShards();
  auto checkpoint = Checkpoint::Open(dir_.path());
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  EXPECT_EQ((*checkpoint)->files().size(), 2u);
  EXPECT_EQ((*checkpoint)->total_bytes(), 6u * 4 + 4u * 4);
  auto a = (*checkpoint)->Get("a", {2, 3});
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->dtype, DType::kF32);
  EXPECT_EQ(a->bytes(), 24u);
  EXPECT_EQ(FirstFloat(*a), 10.0f);
  EXPECT_THAT(a->file, HasSubstr("model-00001-of-00002.safetensors"));
  auto b = (*checkpoint)->Get("b", {4});
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(FirstFloat(*b), 20.0f);
  EXPECT_THAT(b->file, HasSubstr("model-00002-of-00002.safetensors"));
  EXPECT_TRUE((*checkpoint)->Contains("a"));
  EXPECT_FALSE((*checkpoint)->Contains("c"));
}

TEST_F(CheckpointTest, IndexTakesPrecedenceOverSingleFile) {
  WriteTwoShards();
  ASSERT_TRUE(WriteSafetensors(dir_.File("model.safetensors"), {F32("only_single", {1})}).ok());
  auto checkpoint = Checkpoint::Open(dir_.path());
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  EXPECT_TRUE((*checkpoint)->Contains("a"));
  EXPECT_FALSE((*checkpoint)->Contains("only_single"));
}

TEST_F(CheckpointTest, MissingShardIsNotFoundNamingTheShard) {
  WriteTwoShards();
  ASSERT_EQ(std::remove(dir_.File("model-00002-of-00002.safetensors").c_str()), 0);
  auto checkpoint = Checkpoint::Open(dir_.path());
  ASSERT_FALSE(checkpoint.ok());
  EXPECT_EQ(checkpoint.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(checkpoint.status()), HasSubstr("model-00002-of-00002.safetensors"));
  EXPECT_THAT(Message(checkpoint.status()), HasSubstr("model.safetensors.index.json"));
}

TEST_F(CheckpointTest, CorruptShardErrorNamesTheShard) {
  WriteTwoShards();
  testing::WriteFile(dir_.File("model-00002-of-00002.safetensors"), "garbage");
  auto checkpoint = Checkpoint::Open(dir_.path());
  ASSERT_FALSE(checkpoint.ok());
  EXPECT_EQ(checkpoint.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(Message(checkpoint.status()), HasSubstr("model-00002-of-00002.safetensors"));
}

TEST_F(CheckpointTest, IndexListingTensorAbsentFromItsShardIsDataLoss) {
  WriteTwoShards();
  testing::WriteFile(dir_.File("model.safetensors.index.json"),
                     Index({{"a", "model-00001-of-00002.safetensors"},
                            {"b", "model-00002-of-00002.safetensors"},
                            {"ghost", "model-00001-of-00002.safetensors"}}));
  auto checkpoint = Checkpoint::Open(dir_.path());
  ASSERT_FALSE(checkpoint.ok());
  EXPECT_EQ(checkpoint.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(Message(checkpoint.status()), HasSubstr("'ghost'"));
  EXPECT_THAT(Message(checkpoint.status()), HasSubstr("model-00001-of-00002.safetensors"));
}

TEST_F(CheckpointTest, IndexPointingTensorAtTheWrongShardIsDataLoss) {
  WriteTwoShards();
  testing::WriteFile(dir_.File("model.safetensors.index.json"),
                     Index({{"a", "model-00002-of-00002.safetensors"},
                            {"b", "model-00002-of-00002.safetensors"}}));
  auto checkpoint = Checkpoint::Open(dir_.path());
  ASSERT_FALSE(checkpoint.ok());
  EXPECT_EQ(checkpoint.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(Message(checkpoint.status()), HasSubstr("'a'"));
}

TEST_F(CheckpointTest, MalformedIndexIsDataLossNamingTheIndex) {
  WriteTwoShards();
  for (const char* text : {"{\"weight_map\": {", "[]", "{}", "{\"weight_map\": []}",
                           "{\"weight_map\": {}}", "{\"weight_map\": {\"a\": 3}}",
                           "{\"metadata\": {\"total_size\": 1e400}, \"weight_map\": {}}"}) {
    SCOPED_TRACE(text);
    testing::WriteFile(dir_.File("model.safetensors.index.json"), text);
    auto checkpoint = Checkpoint::Open(dir_.path());
    ASSERT_FALSE(checkpoint.ok());
    EXPECT_EQ(checkpoint.status().code(), absl::StatusCode::kDataLoss);
    EXPECT_THAT(Message(checkpoint.status()), HasSubstr("model.safetensors.index.json"));
  }
}

TEST_F(CheckpointTest, WeightMapPointingOutsideTheDirectoryIsRejected) {
  // A real file outside the model directory that must never be opened.
  testing::TempDir outside;
  ASSERT_TRUE(WriteSafetensors(outside.File("x.safetensors"), {F32("a", {1})}).ok());
  const std::string relative_escape =
      "../" + outside.path().substr(outside.path().rfind('/') + 1) + "/x.safetensors";
  for (const std::string& target :
       {std::string("../x.safetensors"), std::string("/etc/passwd"), relative_escape,
        outside.File("x.safetensors"), std::string(".."), std::string("."), std::string("")}) {
    SCOPED_TRACE(target);
    testing::WriteFile(dir_.File("model.safetensors.index.json"), Index({{"a", target}}));
    auto checkpoint = Checkpoint::Open(dir_.path());
    ASSERT_FALSE(checkpoint.ok());
    EXPECT_EQ(checkpoint.status().code(), absl::StatusCode::kDataLoss);
    EXPECT_THAT(Message(checkpoint.status()), HasSubstr("'a'"));
    EXPECT_THAT(Message(checkpoint.status()),
                HasSubstr("must be a file name in the model directory"));
  }
}

TEST_F(CheckpointTest, DirectoryWithoutWeightsIsNotFound) {
  testing::WriteFile(dir_.File("config.json"), "{}");
  auto checkpoint = Checkpoint::Open(dir_.path());
  ASSERT_FALSE(checkpoint.ok());
  EXPECT_EQ(checkpoint.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(checkpoint.status()), HasSubstr(dir_.path()));
  EXPECT_THAT(Message(checkpoint.status()), HasSubstr("model.safetensors"));
}

TEST_F(CheckpointTest, GetOfAbsentTensorIsNotFoundNamingIt) {
  ASSERT_TRUE(WriteSafetensors(dir_.File("model.safetensors"), {F32("a", {1})}).ok());
  auto checkpoint = Checkpoint::Open(dir_.path());
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  auto missing = (*checkpoint)->Get("model.layers.0.mamba.D", {4});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(missing.status()), HasSubstr("'model.layers.0.mamba.D'"));
  EXPECT_THAT(Message(missing.status()), HasSubstr("model.safetensors"));
}

TEST_F(CheckpointTest, WrongShapeIsFailedPreconditionNamingTensorAndBothShapes) {
  ASSERT_TRUE(WriteSafetensors(dir_.File("model.safetensors"), {F32("w", {2, 3})}).ok());
  auto checkpoint = Checkpoint::Open(dir_.path());
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  for (const std::vector<int64_t>& wanted :
       {std::vector<int64_t>{3, 2}, std::vector<int64_t>{6}, std::vector<int64_t>{2, 4},
        std::vector<int64_t>{2, 3, 2}}) {
    auto view = (*checkpoint)->Get("w", wanted);
    ASSERT_FALSE(view.ok());
    EXPECT_EQ(view.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(Message(view.status()), HasSubstr("'w'"));
    EXPECT_THAT(Message(view.status()), HasSubstr("[2, 3]"));
    std::string want_text = "[";
    for (size_t i = 0; i < wanted.size(); ++i) {
      want_text += (i ? ", " : "") + std::to_string(wanted[i]);
    }
    EXPECT_THAT(Message(view.status()), HasSubstr(want_text + "]"));
  }
}

TEST_F(CheckpointTest, ConvWeightMayBeStoredWithoutItsUnitDimension) {
  ASSERT_TRUE(WriteSafetensors(dir_.File("model.safetensors"),
                               {F32("model.layers.0.mamba.conv1d.weight", {8, 4})})
                  .ok());
  auto checkpoint = Checkpoint::Open(dir_.path());
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  auto view = (*checkpoint)->Get("model.layers.0.mamba.conv1d.weight", {8, 1, 4});
  ASSERT_TRUE(view.ok()) << view.status();
  EXPECT_EQ(view->shape, (std::vector<int64_t>{8, 1, 4}));
  EXPECT_EQ(view->num_elements(), 32);
}

// Spec section 3.2: every legacy spelling resolves to its transformers name.
TEST_F(CheckpointTest, ResolvesLegacyTensorNames) {
  const std::vector<std::pair<std::string, std::string>> legacy_to_hf = {
      {"model.layers.0.mamba.B_layernorm.weight", "model.layers.0.mamba.b_layernorm.weight"},
      {"model.layers.0.mamba.C_layernorm.weight", "model.layers.0.mamba.c_layernorm.weight"},
      {"model.layers.0.pre_moe_layernorm.weight", "model.layers.0.pre_ff_layernorm.weight"},
      {"model.layers.1.moe.router.weight", "model.layers.1.feed_forward.router.weight"},
      {"model.layers.1.moe.experts.3.gate_proj.weight",
       "model.layers.1.feed_forward.experts.3.gate_proj.weight"},
      {"model.layers.1.moe.experts.12.down_proj.weight",
       "model.layers.1.feed_forward.experts.12.down_proj.weight"},
      {"model.layers.0.moe.experts.0.gate_proj.weight",
       "model.layers.0.feed_forward.gate_proj.weight"},
      {"model.layers.0.moe.experts.0.up_proj.weight", "model.layers.0.feed_forward.up_proj.weight"},
      {"model.layers.2.moe.experts.0.down_proj.weight",
       "model.layers.2.feed_forward.down_proj.weight"},
  };
  std::vector<TensorToWrite> tensors;
  float first = 0.0f;
  for (const auto& [legacy, hf] : legacy_to_hf) tensors.push_back(F32(legacy, {2}, first += 10.0f));
  ASSERT_TRUE(WriteSafetensors(dir_.File("model.safetensors"), tensors).ok());
  auto checkpoint = Checkpoint::Open(dir_.path());
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  first = 0.0f;
  for (const auto& [legacy, hf] : legacy_to_hf) {
    SCOPED_TRACE(hf);
    EXPECT_TRUE((*checkpoint)->Contains(hf));
    auto view = (*checkpoint)->Get(hf, {2});
    ASSERT_TRUE(view.ok()) << view.status();
    EXPECT_EQ(view->name, legacy);
    EXPECT_EQ(FirstFloat(*view), first += 10.0f);
  }
  // Expert 0 of a real MoE layer is also stored as moe.experts.0 and resolves as such.
  auto expert0 = (*checkpoint)->Get("model.layers.0.feed_forward.experts.0.gate_proj.weight", {2});
  ASSERT_TRUE(expert0.ok()) << expert0.status();
  EXPECT_EQ(expert0->name, "model.layers.0.moe.experts.0.gate_proj.weight");
}

TEST_F(CheckpointTest, PrefersTransformersNameOverLegacySpelling) {
  ASSERT_TRUE(WriteSafetensors(dir_.File("model.safetensors"),
                               {F32("model.layers.0.pre_moe_layernorm.weight", {2}, 1.0f),
                                F32("model.layers.0.pre_ff_layernorm.weight", {2}, 2.0f)})
                  .ok());
  auto checkpoint = Checkpoint::Open(dir_.path());
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  auto view = (*checkpoint)->Get("model.layers.0.pre_ff_layernorm.weight", {2});
  ASSERT_TRUE(view.ok()) << view.status();
  EXPECT_EQ(view->name, "model.layers.0.pre_ff_layernorm.weight");
  EXPECT_EQ(FirstFloat(*view), 2.0f);
}

TEST(LegacyTensorNamesTest, ListsNoCandidatesForNamesWithoutLegacySpelling) {
  EXPECT_TRUE(LegacyTensorNames("model.embed_tokens.weight").empty());
  EXPECT_TRUE(LegacyTensorNames("model.layers.2.self_attn.q_proj.weight").empty());
  EXPECT_THAT(LegacyTensorNames("model.layers.5.feed_forward.up_proj.weight"),
              ::testing::Contains("model.layers.5.moe.experts.0.up_proj.weight"));
}

// ---------------------------------------------------------------------------------------------
// Whole models built from the golden checkpoints.

// Every tensor of a golden case, read into memory.
std::vector<TensorToWrite> ReadAllTensors(const std::string& model_dir) {
  std::vector<TensorToWrite> out;
  auto checkpoint = Checkpoint::Open(model_dir);
  EXPECT_TRUE(checkpoint.ok()) << checkpoint.status();
  if (!checkpoint.ok()) return out;
  for (const auto& file : (*checkpoint)->files()) {
    for (const TensorInfo& t : file->tensors()) {
      out.push_back({t.name, t.dtype, t.shape,
                     std::string(static_cast<const char*>(file->Data(t)), t.end - t.begin)});
    }
  }
  return out;
}

// The legacy (remote-code) name of a transformers tensor name, given the layer kinds.
std::string ToLegacyName(const std::string& name, const ModelConfig& config) {
  std::string legacy = absl::StrReplaceAll(name, {{".mamba.b_layernorm.", ".mamba.B_layernorm."},
                                                  {".mamba.c_layernorm.", ".mamba.C_layernorm."},
                                                  {".pre_ff_layernorm.", ".pre_moe_layernorm."},
                                                  {".feed_forward.router.", ".moe.router."},
                                                  {".feed_forward.experts.", ".moe.experts."}});
  for (size_t layer = 0; layer < config.layers.size(); ++layer) {
    if (config.layers[layer].ffn != FfnKind::kDense) continue;
    const std::string prefix = absl::StrCat("model.layers.", layer, ".feed_forward.");
    if (legacy.rfind(prefix, 0) == 0) {
      legacy =
          absl::StrCat("model.layers.", layer, ".moe.experts.0.", legacy.substr(prefix.size()));
    }
  }
  return legacy;
}

class ModelDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto backend = kernels::cpu::CpuBackend::Create({.num_threads = 2});
    ASSERT_TRUE(backend.ok()) << backend.status();
    backend_ = *std::move(backend);
  }

  // Uses the prompt of golden case `golden_case` for the following Logits() calls.
  void UsePromptOf(const std::string& golden_case) {
    auto ids = ReadNpy(testing::GoldenDir(golden_case) + "/input_ids.npy");
    ASSERT_TRUE(ids.ok()) << ids.status();
    auto values = ids->AsInts();
    ASSERT_TRUE(values.ok()) << values.status();
    input_ids_.assign(values->begin(), values->end());
  }

  absl::StatusOr<std::vector<float>> Logits(const std::string& model_dir) {
    auto model = JambaModel::Load(model_dir, *backend_, {});
    if (!model.ok()) return model.status();
    auto state = (*model)->NewSequence();
    if (!state.ok()) return state.status();
    ForwardWorkspace ws(*backend_);
    std::vector<float> logits;
    const absl::Status status = (*model)->Prefill(*state, input_ids_, ws, 64, &logits);
    if (!status.ok()) return status;
    return logits;
  }

  void CopyConfig(const std::string& golden_case) {
    testing::WriteFile(dir_.File("config.json"),
                       testing::ReadFile(testing::GoldenDir(golden_case) + "/config.json"));
  }

  std::unique_ptr<kernels::cpu::CpuBackend> backend_;
  std::vector<int32_t> input_ids_;
  testing::TempDir dir_;
};

TEST_F(ModelDirTest, LegacyNamedCheckpointGivesBitIdenticalLogits) {
  const std::string golden = testing::GoldenDir("hybrid8_moe_f32_sharded");
  UsePromptOf("hybrid8_moe_f32_sharded");
  auto config = LoadModelConfig(golden);
  ASSERT_TRUE(config.ok()) << config.status();
  std::vector<TensorToWrite> tensors = ReadAllTensors(golden);
  ASSERT_FALSE(tensors.empty());
  // Write two shards with legacy names, split like the original, plus a legacy-named index.
  std::map<std::string, std::string> weight_map;
  std::vector<TensorToWrite> shard[2];
  std::set<std::string> renamed;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const std::string legacy = ToLegacyName(tensors[i].name, *config);
    if (legacy != tensors[i].name) renamed.insert(tensors[i].name);
    tensors[i].name = legacy;
    const int s = i < tensors.size() / 2 ? 0 : 1;
    weight_map[legacy] = absl::StrCat("legacy-", s, ".safetensors");
    shard[s].push_back(tensors[i]);
  }
  // Every kind of legacy rename was exercised (b/c norms, pre_moe, router, experts, dense MLP).
  EXPECT_TRUE(renamed.count("model.layers.0.mamba.b_layernorm.weight"));
  EXPECT_TRUE(renamed.count("model.layers.0.mamba.c_layernorm.weight"));
  EXPECT_TRUE(renamed.count("model.layers.2.pre_ff_layernorm.weight"));
  EXPECT_TRUE(renamed.count("model.layers.1.feed_forward.router.weight"));
  EXPECT_TRUE(renamed.count("model.layers.3.feed_forward.experts.2.up_proj.weight"));
  EXPECT_TRUE(renamed.count("model.layers.0.feed_forward.gate_proj.weight"));
  EXPECT_TRUE(renamed.count("model.layers.2.feed_forward.down_proj.weight"));
  for (int s = 0; s < 2; ++s) {
    ASSERT_TRUE(
        WriteSafetensors(dir_.File(absl::StrCat("legacy-", s, ".safetensors")), shard[s]).ok());
  }
  testing::WriteFile(dir_.File("model.safetensors.index.json"), Index(weight_map));
  CopyConfig("hybrid8_moe_f32_sharded");

  auto original = Logits(golden);
  ASSERT_TRUE(original.ok()) << original.status();
  auto legacy = Logits(dir_.path());
  ASSERT_TRUE(legacy.ok()) << legacy.status();
  ASSERT_EQ(legacy->size(), input_ids_.size() * config->vocab_size);
  // The same bytes through the same kernels: bit-identical, not merely close.
  EXPECT_EQ(*legacy, *original);
}

TEST_F(ModelDirTest, MissingRequiredTensorIsReportedByName) {
  const std::string golden = testing::GoldenDir("hybrid4_dense_f32");
  UsePromptOf("hybrid4_dense_f32");
  for (const std::string& dropped :
       {std::string("model.layers.2.self_attn.k_proj.weight"),
        std::string("model.layers.1.mamba.A_log"), std::string("model.final_layernorm.weight"),
        std::string("model.layers.3.feed_forward.down_proj.weight"),
        std::string("lm_head.weight")}) {
    SCOPED_TRACE(dropped);
    std::vector<TensorToWrite> tensors = ReadAllTensors(golden);
    const size_t before = tensors.size();
    std::erase_if(tensors, [&](const TensorToWrite& t) { return t.name == dropped; });
    ASSERT_EQ(tensors.size(), before - 1);
    ASSERT_TRUE(WriteSafetensors(dir_.File("model.safetensors"), tensors).ok());
    CopyConfig("hybrid4_dense_f32");
    auto logits = Logits(dir_.path());
    ASSERT_FALSE(logits.ok());
    EXPECT_EQ(logits.status().code(), absl::StatusCode::kNotFound);
    EXPECT_THAT(Message(logits.status()), HasSubstr("'" + dropped + "'"));
  }
}

TEST_F(ModelDirTest, TiedEmbeddingsLoadWithoutLmHead) {
  const std::string golden = testing::GoldenDir("hybrid4_tied_f32");
  UsePromptOf("hybrid4_tied_f32");
  auto config = LoadModelConfig(golden);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->tie_word_embeddings);
  auto checkpoint = Checkpoint::Open(golden);
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  EXPECT_FALSE((*checkpoint)->Contains("lm_head.weight"));
  auto logits = Logits(golden);
  ASSERT_TRUE(logits.ok()) << logits.status();
  auto expected = ReadNpy(golden + "/logits_full.npy");
  ASSERT_TRUE(expected.ok()) << expected.status();
  auto expected_floats = expected->AsFloats();
  ASSERT_TRUE(expected_floats.ok());
  EXPECT_TRUE(testing::AllClose(*logits, *expected_floats, 1e-4));
}

TEST_F(ModelDirTest, UntiedConfigWithoutLmHeadIsAnError) {
  // The tied checkpoint has no lm_head; declaring it untied must fail naming the tensor.
  const std::string golden = testing::GoldenDir("hybrid4_tied_f32");
  UsePromptOf("hybrid4_tied_f32");
  ASSERT_TRUE(WriteSafetensors(dir_.File("model.safetensors"), ReadAllTensors(golden)).ok());
  std::string config = testing::ReadFile(golden + "/config.json");
  config = absl::StrReplaceAll(
      config, {{"\"tie_word_embeddings\": true", "\"tie_word_embeddings\": false"}});
  ASSERT_THAT(config, HasSubstr("\"tie_word_embeddings\": false"));
  testing::WriteFile(dir_.File("config.json"), config);
  auto logits = Logits(dir_.path());
  ASSERT_FALSE(logits.ok());
  EXPECT_EQ(logits.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(logits.status()), HasSubstr("'lm_head.weight'"));
}

TEST_F(ModelDirTest, ConfigShapeMismatchNamesTensorAndShapes) {
  // Weights of a 64-wide model under a config that claims intermediate_size 96.
  const std::string golden = testing::GoldenDir("hybrid4_dense_f32");
  UsePromptOf("hybrid4_dense_f32");
  ASSERT_TRUE(WriteSafetensors(dir_.File("model.safetensors"), ReadAllTensors(golden)).ok());
  std::string config = testing::ReadFile(golden + "/config.json");
  config =
      absl::StrReplaceAll(config, {{"\"intermediate_size\": 128", "\"intermediate_size\": 96"}});
  ASSERT_THAT(config, HasSubstr("\"intermediate_size\": 96"));
  testing::WriteFile(dir_.File("config.json"), config);
  auto logits = Logits(dir_.path());
  ASSERT_FALSE(logits.ok());
  EXPECT_EQ(logits.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Message(logits.status()), HasSubstr("feed_forward.gate_proj.weight"));
  EXPECT_THAT(Message(logits.status()), HasSubstr("[128, 64]"));
  EXPECT_THAT(Message(logits.status()), HasSubstr("[96, 64]"));
}

}  // namespace
}  // namespace jamba::engine
