// Oracle test: our tokenizer.json support against Hugging Face's own tokenizers. The expected ids
// and decodes were written by tests/oracles/tokenizer_oracle.mjs (tokenizers' Rust library through
// its Node binding) for the 10,535 strings of tests/data/tokenizers/oracle_strings.json (English,
// code, CJK, emoji, whitespace runs, special-token strings inside text, random Unicode with astral
// planes and combining marks, long texts), for two Llama-style files with Jamba-like special
// tokens: the old Prepend/Replace normalizer (4,096 pieces) and the newer Metaspace pre-tokenizer
// (65,536 pieces); and two variants of the first for the other supported components. The ctest
// tokenizer_oracle_fresh reruns the script and diffs it with the committed files.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/model_config.h"
#include "engine/text/stream_decoder.h"
#include "engine/text/tokenizer.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/util/test_util.h"

namespace jamba::testing {
namespace {

using engine::Tokenizer;
using Json = nlohmann::json;

std::string DataFile(const std::string& name) {
  return std::string(JAMBA_TEST_DATA_DIR) + "/tokenizers/" + name;
}

std::string Show(const std::vector<int32_t>& ids) {
  std::string text = "[";
  for (size_t i = 0; i < ids.size(); ++i) text += (i ? "," : "") + std::to_string(ids[i]);
  return text + "]";
}

class TokenizerJsonOracleTest : public ::testing::TestWithParam<const char*> {};

TEST_P(TokenizerJsonOracleTest, IdsAndDecodesAreIdenticalToHuggingFaceTokenizers) {
  const std::string name = GetParam();
  TempDir dir;
  std::filesystem::copy_file(DataFile(name + ".json"), dir.File("tokenizer.json"));
  auto loaded = Tokenizer::Load(dir.path(), engine::ModelConfig());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const Tokenizer& tokenizer = **loaded;
  ASSERT_EQ(tokenizer.kind(), "tokenizer.json");

  const Json expected = Json::parse(ReadFile(DataFile("expected_" + name + ".json")));
  ASSERT_EQ(expected["tokenizer"], name + ".json");
  const Json strings = Json::parse(ReadFile(DataFile(expected["strings"].get<std::string>())));
  const Json& cases = expected["cases"];
  ASSERT_EQ(cases.size(), strings.size());
  ASSERT_GE(strings.size(), name.starts_with("variant_") ? 2000u : 10000u);

  int mismatches = 0, compared = 0, streamed = 0;
  auto report = [&](size_t i, const std::string& what, const std::string& ours,
                    const std::string& theirs) {
    if (++mismatches <= 10) {
      ADD_FAILURE() << name << " string " << i << " (" << strings[i].dump() << "): " << what
                    << "\n  ours:   " << ours << "\n  theirs: " << theirs;
    }
  };
  for (size_t i = 0; i < strings.size(); ++i) {
    const std::string text = strings[i].get<std::string>();
    const Json& c = cases[i];
    const auto plain_expected = c["plain"].get<std::vector<int32_t>>();
    const auto special_expected =
        c["special"].is_null() ? plain_expected : c["special"].get<std::vector<int32_t>>();
    auto plain = tokenizer.Encode(text, {});
    auto special = tokenizer.Encode(text, {.parse_special = true});
    ASSERT_TRUE(plain.ok() && special.ok()) << plain.status() << special.status();
    ++compared;
    if (*plain != plain_expected) report(i, "plain ids", Show(*plain), Show(plain_expected));
    if (*special != special_expected) {
      report(i, "parse-special ids", Show(*special), Show(special_expected));
    }
    if (c.contains("bos")) {
      auto bos = tokenizer.Encode(text, {.add_bos = true});
      ASSERT_TRUE(bos.ok()) << bos.status();
      const auto bos_expected = c["bos"].get<std::vector<int32_t>>();
      if (*bos != bos_expected) report(i, "add_bos ids", Show(*bos), Show(bos_expected));
    }
    const struct {
      const char* what;
      const std::vector<int32_t>& ids;
      bool skip;
      const Json& expected;
    } decodes[] = {{"decode(special, skip)", special_expected, true, c["skip"]},
                   {"decode(special, keep)", special_expected, false, c["keep"]},
                   {"decode(plain, keep)", plain_expected, false, c["plain_text"]}};
    for (const auto& d : decodes) {
      const std::string theirs = d.expected.is_null() ? text : d.expected.get<std::string>();
      const std::string ours = tokenizer.Decode(d.ids, d.skip);
      if (ours != theirs) report(i, d.what, Json(ours).dump(), Json(theirs).dump());
    }
    if (i % 7 == 0) {  // streaming gives the same text, token by token
      engine::StreamDecoder stream(tokenizer, /*skip_special_tokens=*/false);
      std::string text_streamed;
      for (int32_t id : special_expected) text_streamed += stream.Push(id);
      text_streamed += stream.Finish();
      EXPECT_EQ(text_streamed, tokenizer.Decode(special_expected, false)) << i;
      ++streamed;
    }
  }
  EXPECT_EQ(mismatches, 0) << name << ": " << mismatches << " mismatches";
  std::cout << name << ": " << compared << " strings, " << mismatches << " differences from "
            << expected["oracle"].get<std::string>() << " (" << streamed << " also streamed)\n";
}

INSTANTIATE_TEST_SUITE_P(LlamaStyleFiles, TokenizerJsonOracleTest,
                         ::testing::Values("llama_legacy_jamba", "metaspace_65536"));
// The components those two do not use (tests/oracles/gen_tokenizer_variants.mjs), on 2,107 of
// the strings: Strip/Replace normalizers, Split behaviours, Metaspace always/split and its
// decoder, ignore_merges, fuse_unk without byte fallback, a BOS+EOS template, single_word.
INSTANTIATE_TEST_SUITE_P(OtherComponents, TokenizerJsonOracleTest,
                         ::testing::Values("variant_metaspace_decoder", "variant_splits"));

}  // namespace
}  // namespace jamba::testing
