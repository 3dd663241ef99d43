// ModelConfig: JambaConfig defaults and aliases (spec section 1.1), the per-layer kind rules
// (section 1.2), Jamba-v0.1's parameter counts (section 3.5), and validation errors that name the
// offending field.
#include "engine/model_config.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/util/test_util.h"

namespace jamba::engine {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::json;

// The fields ParseModelConfig requires, at Jamba-v0.1's values.
Json Minimal() {
  return Json{{"model_type", "jamba"},
              {"vocab_size", 65536},
              {"hidden_size", 4096},
              {"num_hidden_layers", 32},
              {"num_attention_heads", 32}};
}

// ai21labs/Jamba-v0.1's config.json (spec section 5.1), including its legacy-free keys.
Json JambaV01() {
  Json j = Minimal();
  j.update(Json{{"architectures", {"JambaForCausalLM"}},
                {"attention_dropout", 0.0},
                {"attn_layer_offset", 4},
                {"attn_layer_period", 8},
                {"bos_token_id", 1},
                {"eos_token_id", 2},
                {"expert_layer_offset", 1},
                {"expert_layer_period", 2},
                {"hidden_act", "silu"},
                {"initializer_range", 0.02},
                {"intermediate_size", 14336},
                {"mamba_conv_bias", true},
                {"mamba_d_conv", 4},
                {"mamba_d_state", 16},
                {"mamba_dt_rank", 256},
                {"mamba_expand", 2},
                {"mamba_proj_bias", false},
                {"max_position_embeddings", 262144},
                {"num_experts", 16},
                {"num_experts_per_tok", 2},
                {"num_key_value_heads", 8},
                {"num_logits_to_keep", 1},
                {"output_router_logits", false},
                {"pad_token_id", 0},
                {"rms_norm_eps", 1e-06},
                {"router_aux_loss_coef", 0.001},
                {"sliding_window", nullptr},
                {"tie_word_embeddings", false},
                {"torch_dtype", "bfloat16"},
                {"use_cache", true},
                {"use_mamba_kernels", true}});
  return j;
}

absl::StatusOr<ModelConfig> Parse(const Json& j) { return ParseModelConfig(j.dump()); }

// Expects `j` to be rejected as InvalidArgument with a message naming `field`.
void ExpectFieldError(const Json& j, const std::string& field, const std::string& detail = "") {
  auto config = Parse(j);
  ASSERT_FALSE(config.ok()) << "accepted: " << j.dump();
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument) << config.status();
  EXPECT_THAT(std::string(config.status().message()), HasSubstr("'" + field + "'"));
  EXPECT_THAT(std::string(config.status().message()), HasSubstr(detail));
}

TEST(ModelConfigTest, AbsentFieldsTakeJambaConfigDefaults) {
  auto config = Parse(Minimal());
  ASSERT_TRUE(config.ok()) << config.status();
  const ModelConfig& c = *config;
  EXPECT_EQ(c.model_type, "jamba");
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_EQ(c.intermediate_size, 14336);
  EXPECT_EQ(c.num_key_value_heads, 8);
  EXPECT_EQ(c.hidden_act, "silu");
  EXPECT_DOUBLE_EQ(c.initializer_range, 0.02);
  EXPECT_DOUBLE_EQ(c.rms_norm_eps, 1e-6);
  EXPECT_TRUE(c.use_cache);
  EXPECT_EQ(c.num_logits_to_keep, 1);
  EXPECT_FALSE(c.output_router_logits);
  EXPECT_DOUBLE_EQ(c.router_aux_loss_coef, 0.001);
  EXPECT_EQ(c.pad_token_id, 0);
  EXPECT_EQ(c.bos_token_id, 1);
  EXPECT_EQ(c.eos_token_ids, std::vector<int64_t>{2});
  EXPECT_EQ(c.sliding_window, 0);  // None
  EXPECT_EQ(c.max_position_embeddings, 262144);
  EXPECT_DOUBLE_EQ(c.attention_dropout, 0.0);
  EXPECT_EQ(c.num_experts_per_tok, 2);
  EXPECT_EQ(c.num_experts, 16);
  EXPECT_EQ(c.expert_layer_period, 2);
  EXPECT_EQ(c.expert_layer_offset, 1);
  EXPECT_EQ(c.attn_layer_period, 8);
  EXPECT_EQ(c.attn_layer_offset, 4);
  EXPECT_TRUE(c.use_mamba_kernels);
  EXPECT_EQ(c.mamba_d_state, 16);
  EXPECT_EQ(c.mamba_d_conv, 4);
  EXPECT_EQ(c.mamba_expand, 2);
  EXPECT_EQ(c.mamba_dt_rank, 256);  // "auto" = ceil(4096 / 16)
  EXPECT_TRUE(c.mamba_conv_bias);
  EXPECT_FALSE(c.mamba_proj_bias);
  EXPECT_EQ(c.head_dim(), 128);
  EXPECT_EQ(c.mamba_inner(), 8192);
}

TEST(ModelConfigTest, DefaultConstructedConfigMatchesParsedDefaults) {
  ModelConfig defaults;
  ASSERT_TRUE(FinalizeModelConfig(defaults).ok());
  auto parsed = Parse(Minimal());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(defaults.CanonicalString(), parsed->CanonicalString());
  EXPECT_EQ(defaults.vocab_size, 65536);
  EXPECT_EQ(defaults.hidden_size, 4096);
  EXPECT_EQ(defaults.num_hidden_layers, 32);
  EXPECT_EQ(defaults.num_attention_heads, 32);
}

TEST(ModelConfigTest, DtRankAutoIsCeilOfHiddenOver16) {
  for (const auto& [hidden, heads, expected] :
       {std::tuple{4096, 32, 256}, std::tuple{64, 4, 4}, std::tuple{100, 4, 7},
        std::tuple{17, 1, 2}, std::tuple{16, 1, 1}, std::tuple{1, 1, 1}}) {
    Json j = Minimal();
    j["hidden_size"] = hidden;
    j["num_attention_heads"] = heads;
    j["num_key_value_heads"] = heads;
    for (const Json& dt_rank : {Json("auto"), Json(nullptr)}) {
      j["mamba_dt_rank"] = dt_rank;
      auto config = Parse(j);
      ASSERT_TRUE(config.ok()) << config.status();
      EXPECT_EQ(config->mamba_dt_rank, expected) << "hidden " << hidden << " " << dt_rank.dump();
    }
  }
  Json explicit_rank = Minimal();
  explicit_rank["mamba_dt_rank"] = 100;
  auto config = Parse(explicit_rank);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->mamba_dt_rank, 100);

  Json bad = Minimal();
  bad["mamba_dt_rank"] = "big";
  ExpectFieldError(bad, "mamba_dt_rank", "\"auto\"");
}

TEST(ModelConfigTest, EosTokenIdMayBeIntOrList) {
  Json j = Minimal();
  j["eos_token_id"] = 7;
  auto single = Parse(j);
  ASSERT_TRUE(single.ok()) << single.status();
  EXPECT_EQ(single->eos_token_ids, std::vector<int64_t>{7});
  EXPECT_TRUE(single->IsEos(7));
  EXPECT_FALSE(single->IsEos(2));

  j["eos_token_id"] = {2, 518};
  auto list = Parse(j);
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(list->eos_token_ids, (std::vector<int64_t>{2, 518}));
  EXPECT_TRUE(list->IsEos(2));
  EXPECT_TRUE(list->IsEos(518));
  EXPECT_FALSE(list->IsEos(3));

  j["eos_token_id"] = "2";
  ExpectFieldError(j, "eos_token_id");
  j["eos_token_id"] = {2, "x"};
  ExpectFieldError(j, "eos_token_id");
  j["eos_token_id"] = Json::array();
  ExpectFieldError(j, "eos_token_id", "empty");
  j["eos_token_id"] = 65536;
  ExpectFieldError(j, "eos_token_id", "outside the vocabulary");
  j["eos_token_id"] = -1;
  ExpectFieldError(j, "eos_token_id", "outside the vocabulary");
}

TEST(ModelConfigTest, KeyValueHeadsNullMeansAttentionHeadsAndAbsentMeansEight) {
  Json j = Minimal();
  j["num_key_value_heads"] = nullptr;
  auto null_kv = Parse(j);
  ASSERT_TRUE(null_kv.ok()) << null_kv.status();
  EXPECT_EQ(null_kv->num_key_value_heads, 32);

  j.erase("num_key_value_heads");
  auto absent_kv = Parse(j);
  ASSERT_TRUE(absent_kv.ok()) << absent_kv.status();
  EXPECT_EQ(absent_kv->num_key_value_heads, 8);

  j["num_key_value_heads"] = 4;
  auto given = Parse(j);
  ASSERT_TRUE(given.ok()) << given.status();
  EXPECT_EQ(given->num_key_value_heads, 4);
}

TEST(ModelConfigTest, NumLocalExpertsIsAnAliasOfNumExperts) {
  Json j = Minimal();
  j["num_local_experts"] = 4;
  auto config = Parse(j);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->num_experts, 4);
  EXPECT_EQ(config->layers[1].num_experts, 4);
}

TEST(ModelConfigTest, LegacyKeysAreIgnored) {
  Json legacy = JambaV01();
  legacy["auto_map"] = {{"AutoConfig", "configuration_jamba.JambaConfig"},
                        {"AutoModelForCausalLM", "modeling_jamba.JambaForCausalLM"}};
  legacy["n_ctx"] = 262144;
  legacy["calc_logits_for_entire_prompt"] = false;
  legacy["mamba_inner_layernorms"] = true;
  legacy["transformers_version"] = "4.40.0.dev0";
  auto with_legacy = Parse(legacy);
  ASSERT_TRUE(with_legacy.ok()) << with_legacy.status();
  auto plain = Parse(JambaV01());
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(with_legacy->CanonicalString(), plain->CanonicalString());
}

TEST(ModelConfigTest, JambaV01LayerKinds) {
  auto config = Parse(JambaV01());
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_EQ(config->layers.size(), 32u);
  for (int i = 0; i < 32; ++i) {
    SCOPED_TRACE(i);
    const LayerConfig& layer = config->layers[i];
    const bool attention = i == 4 || i == 12 || i == 20 || i == 28;
    EXPECT_EQ(layer.mixer, attention ? MixerKind::kAttention : MixerKind::kMamba);
    EXPECT_EQ(layer.ffn, i % 2 == 1 ? FfnKind::kMoe : FfnKind::kDense);
    EXPECT_EQ(layer.num_experts, i % 2 == 1 ? 16 : 1);
  }
  EXPECT_EQ(config->num_attention_layers(), 4);
  EXPECT_EQ(config->num_mamba_layers(), 28);
}

TEST(ModelConfigTest, GoldenConfigLayerKindsMatchTheReference) {
  for (const char* name :
       {"hybrid4_dense_f32", "hybrid4_tied_f32", "hybrid8_moe_f32_sharded", "hybrid8_moe_bf16"}) {
    SCOPED_TRACE(name);
    auto config = LoadModelConfig(testing::GoldenDir(name));
    ASSERT_TRUE(config.ok()) << config.status();
    const Json reference = Json::parse(testing::ReadFile(testing::GoldenDir(name) + "/case.json"));
    const auto& types = reference["layers_block_type"];
    const auto& experts = reference["layers_num_experts"];
    ASSERT_EQ(config->layers.size(), types.size());
    for (size_t i = 0; i < types.size(); ++i) {
      EXPECT_EQ(config->layers[i].mixer == MixerKind::kAttention, types[i] == "attention") << i;
      EXPECT_EQ(config->layers[i].num_experts, experts[i].get<int>()) << i;
    }
    EXPECT_EQ(config->attn_layer_period, 4);
    EXPECT_EQ(config->attn_layer_offset, 2);
    EXPECT_EQ(config->layers[2].mixer, MixerKind::kAttention);
  }
}

// Spec section 3.5, re-derived from the tensor table of section 3.1:
//   Mamba layer: in_proj 2IH + conv IK+I + x_proj (R+2N)I + dt_proj IR+I + A_log IN + D I
//                + out_proj HI + norms R+2N = 105,308,448
//   attention layer: 2H^2 + 2H(NKV*Dh) = 41,943,040;  MLP 3HF = 176,160,768;  router EH = 65,536
//   28 Mamba + 4 attention + 16 dense MLP + 16 (16 MLP + router) + 2H per layer + H + 2VH.
TEST(ModelConfigTest, JambaV01ParameterCountsMatchSpec) {
  auto config = Parse(JambaV01());
  ASSERT_TRUE(config.ok()) << config.status();
  constexpr int64_t kMamba = 105'308'448, kAttention = 41'943'040, kMlp = 176'160'768;
  constexpr int64_t kRouter = 65'536, kH = 4096, kVocab = 65536;
  constexpr int64_t kTotal = 28 * kMamba + 4 * kAttention + 16 * kMlp + 16 * (16 * kMlp + kRouter) +
                             32 * 2 * kH + kH + 2 * kVocab * kH;
  static_assert(kTotal == 51'570'323'328);
  static_assert(kTotal - 16 * 14 * kMlp == 12'110'311'296);
  EXPECT_EQ(config->TotalParameters(), 51'570'323'328);
  EXPECT_EQ(config->ActiveParameters(), 12'110'311'296);

  // Tying removes exactly one [V, H] matrix.
  Json tied = JambaV01();
  tied["tie_word_embeddings"] = true;
  auto tied_config = Parse(tied);
  ASSERT_TRUE(tied_config.ok());
  EXPECT_EQ(tied_config->TotalParameters(), 51'570'323'328 - kVocab * kH);
}

TEST(ModelConfigTest, GoldenParameterCountMatchesCheckpointSize) {
  // Every F32 golden checkpoint stores exactly TotalParameters() floats.
  for (const auto& [name, bytes] :
       {std::pair<const char*, int64_t>{"hybrid8_moe_f32_sharded", 3143872}}) {
    auto config = LoadModelConfig(testing::GoldenDir(name));
    ASSERT_TRUE(config.ok()) << config.status();
    EXPECT_EQ(config->TotalParameters() * 4, bytes) << name;
  }
}

TEST(ModelConfigTest, StateSizes) {
  auto config = Parse(JambaV01());
  ASSERT_TRUE(config.ok());
  // 4 attention layers * (K + V) * 8 heads * 128 * 4 bytes.
  EXPECT_EQ(config->KvBytesPerToken(), 4 * 2 * 8 * 128 * 4);
  // 28 Mamba layers * I * (K-1 + N) * 4 bytes.
  EXPECT_EQ(config->MambaStateBytes(), int64_t{28} * 8192 * (3 + 16) * 4);
}

TEST(ModelConfigTest, JsonRoundTripKeepsTheMath) {
  Json j = JambaV01();
  j["eos_token_id"] = {2, 518};
  j["num_experts"] = 4;
  j["hidden_size"] = 1000;
  j["num_attention_heads"] = 8;
  j["num_key_value_heads"] = 2;
  j["mamba_dt_rank"] = "auto";
  auto config = Parse(j);
  ASSERT_TRUE(config.ok()) << config.status();
  auto again = ParseModelConfig(ModelConfigToJson(*config));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->CanonicalString(), config->CanonicalString());
  EXPECT_EQ(again->mamba_dt_rank, 63);
}

// ---------------------------------------------------------------------------------------------
// Validation.

TEST(ModelConfigTest, OffsetMustBeBelowPeriod) {
  Json j = Minimal();
  j["attn_layer_offset"] = 8;
  ExpectFieldError(j, "attn_layer_offset", "attn_layer_period=8");
  j["attn_layer_offset"] = 9;
  ExpectFieldError(j, "attn_layer_offset");
  j["attn_layer_offset"] = -1;
  ExpectFieldError(j, "attn_layer_offset");
  j = Minimal();
  j["expert_layer_offset"] = 2;
  ExpectFieldError(j, "expert_layer_offset", "expert_layer_period=2");
  j["expert_layer_period"] = 1;
  j["expert_layer_offset"] = 1;
  ExpectFieldError(j, "expert_layer_offset");
  j["expert_layer_offset"] = 0;  // every layer MoE: valid
  auto all_moe = Parse(j);
  ASSERT_TRUE(all_moe.ok()) << all_moe.status();
  EXPECT_EQ(all_moe->layers[0].ffn, FfnKind::kMoe);
}

TEST(ModelConfigTest, HiddenSizeMustBeDivisibleByHeads) {
  Json j = Minimal();
  j["hidden_size"] = 4095;
  ExpectFieldError(j, "hidden_size", "divisible by num_attention_heads");
}

TEST(ModelConfigTest, HeadsMustBeDivisibleByKeyValueHeads) {
  Json j = Minimal();
  j["num_key_value_heads"] = 5;
  ExpectFieldError(j, "num_attention_heads", "divisible by num_key_value_heads");
}

TEST(ModelConfigTest, ModelTypeMustBeJamba) {
  Json j = Minimal();
  j["model_type"] = "mamba";
  ExpectFieldError(j, "model_type", "\"mamba\"");
  j["model_type"] = 3;
  ExpectFieldError(j, "model_type", "must be a string");
}

TEST(ModelConfigTest, EveryRequiredFieldMustBePresent) {
  for (const char* field :
       {"model_type", "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads"}) {
    SCOPED_TRACE(field);
    Json absent = Minimal();
    absent.erase(field);
    ExpectFieldError(absent, field, "is missing");
    Json null = Minimal();
    null[field] = nullptr;
    ExpectFieldError(null, field, "is missing");
  }
}

TEST(ModelConfigTest, WrongJsonTypesAreRejectedNamingTheField) {
  for (const auto& [field, value] : std::vector<std::pair<std::string, Json>>{
           {"hidden_size", "4096"},
           {"vocab_size", 65536.5},
           {"num_hidden_layers", true},
           {"num_attention_heads", Json::array({32})},
           {"intermediate_size", Json::object()},
           {"num_experts", "16"},
           {"rms_norm_eps", "1e-6"},
           {"tie_word_embeddings", 1},
           {"use_mamba_kernels", "true"},
           {"hidden_act", 1},
           {"mamba_conv_bias", "yes"},
           {"torch_dtype", 16},
       }) {
    SCOPED_TRACE(field);
    Json j = Minimal();
    j[field] = value;
    ExpectFieldError(j, field, "must be");
  }
}

TEST(ModelConfigTest, SizesBeyondWhatTheEngineCanIndexAreRejected) {
  Json j = Minimal();
  j["hidden_size"] = INT64_MAX;  // = 7 * 1317624576693539401; "auto" dt_rank must not overflow
  j["num_attention_heads"] = 7;
  j["num_key_value_heads"] = 7;
  j["mamba_dt_rank"] = "auto";
  ExpectFieldError(j, "hidden_size", "exceeds");

  for (const auto& [field, value] : std::vector<std::pair<std::string, int64_t>>{
           {"vocab_size", int64_t{1} << 31},
           {"intermediate_size", int64_t{1} << 31},
           {"mamba_expand", int64_t{1} << 20},  // 2 * 2^20 * 4096 in_proj rows
           {"mamba_dt_rank", INT32_MAX},        // plus 2 * 16 for x_proj's rows
       }) {
    SCOPED_TRACE(field);
    Json big = Minimal();
    big[field] = value;
    ExpectFieldError(big, field, "exceeds");
  }

  // Each size fits, but together they describe ~10^18 parameters.
  Json huge = Minimal();
  huge["num_experts"] = 100000;
  huge["intermediate_size"] = int64_t{1} << 30;
  auto config = Parse(huge);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(config.status().message()), HasSubstr("parameters"));
}

TEST(ModelConfigTest, IntegralFloatsAreAcceptedForIntegerFields) {
  Json j = Minimal();
  j["hidden_size"] = 4096.0;
  auto config = Parse(j);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->hidden_size, 4096);
}

TEST(ModelConfigTest, OutOfRangeValuesAreRejectedNamingTheField) {
  for (const auto& [field, value] : std::vector<std::pair<std::string, Json>>{
           {"vocab_size", 0},
           {"hidden_size", -64},
           {"num_hidden_layers", 0},
           {"num_attention_heads", 0},
           {"num_key_value_heads", 0},
           {"intermediate_size", -1},
           {"num_experts", 0},
           {"mamba_d_state", 0},
           {"mamba_d_conv", 17},
           {"mamba_expand", 0},
           {"mamba_dt_rank", 0},
           {"attn_layer_period", 0},
           {"expert_layer_period", -2},
           {"num_hidden_layers", int64_t{1} << 40},
           {"num_hidden_layers", 2147483647},  // fits in int, but not in memory
           {"rms_norm_eps", 0.0},
           {"hidden_act", "gelu"},
           {"sliding_window", 4096},
       }) {
    SCOPED_TRACE(field + " = " + value.dump());
    Json j = Minimal();
    j[field] = value;
    if (field == "attn_layer_period" || field == "expert_layer_period") {
      j[field == "attn_layer_period" ? "attn_layer_offset" : "expert_layer_offset"] = 0;
    }
    ExpectFieldError(j, field);
  }
  Json too_many_active = Minimal();
  too_many_active["num_experts_per_tok"] = 17;
  ExpectFieldError(too_many_active, "num_experts_per_tok", "must not exceed num_experts");
}

TEST(ModelConfigTest, InvalidJsonIsRejected) {
  for (const char* text : {"", "{", "{\"model_type\": \"jamba\",}", "not json", "[1, 2]", "42",
                           // A number past double's range: nlohmann throws out_of_range, not
                           // parse_error (found by model_config_fuzzer; it used to terminate).
                           "{\"model_type\": \"jamba\", \"hidden_size\": 3.3E33375}"}) {
    SCOPED_TRACE(text);
    auto config = ParseModelConfig(text);
    ASSERT_FALSE(config.ok());
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(config.status().message()), HasSubstr("config.json"));
  }
}

TEST(ModelConfigTest, LoadModelConfigNamesThePath) {
  testing::TempDir dir;
  auto missing = LoadModelConfig(dir.path());
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr(dir.File("config.json")));

  Json j = Minimal();
  j["hidden_size"] = "wide";
  testing::WriteFile(dir.File("config.json"), j.dump());
  auto bad = LoadModelConfig(dir.path());
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr(dir.File("config.json")));
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("'hidden_size'"));
}

}  // namespace
}  // namespace jamba::engine
