// Tests of tokenizer.json support apart from the oracle: the demo tokenizer's two files agree,
// the facade's choice of file, errors that name the path and component, the BPE merge queue
// against a rescan per merge, exact cuts of long words, the token limit, streaming.
#include "engine/text/tokenizer_json.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "engine/file_util.h"
#include "engine/model_config.h"
#include "engine/text/bpe_model.h"
#include "engine/text/stream_decoder.h"
#include "engine/text/tokenizer.h"
#include "engine/text/tokenizer_json_encoder.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/util/demo_tokenizer.h"

namespace jamba::testing {
namespace {

using engine::Tokenizer;
using Json = nlohmann::json;
using ::testing::HasSubstr;

// Random text over corpus fragments, whitespace runs, emoji, CJK, accents, special-token
// strings and characters outside the corpus.
std::string RandomText(std::mt19937& rng, int fragments) {
  static const std::vector<std::string> lines = DemoCorpusLines();
  static const std::vector<std::string> extras = {
      " ", "  ",   "\n", "\t", "🦜",    "東京", "é",      "<|eom|>", "<|startoftext|>",
      "▁", "\r\n", "ü",  "🇯🇵", "x\u0301", "𝔸",    "<0x41>", "  \n ",   "中文字"};
  std::string text;
  for (int i = 0; i < fragments; ++i) {
    if (rng() % 2 == 0) {
      const std::string& line = lines[rng() % lines.size()];
      size_t begin = rng() % line.size();
      while (begin > 0 && (static_cast<unsigned char>(line[begin]) & 0xC0) == 0x80) --begin;
      size_t end = std::min(line.size(), begin + 1 + rng() % 40);
      while (end < line.size() && (static_cast<unsigned char>(line[end]) & 0xC0) == 0x80) ++end;
      text += line.substr(begin, end - begin);
    } else {
      text += extras[rng() % extras.size()];
    }
  }
  return text;
}

class TokenizerJsonTest : public DemoTokenizerTest {
 protected:
  static std::string DemoJsonText() { return ReadFile(json_tokenizer_dir() + "/tokenizer.json"); }
  // The demo file in the old Llama style: a Prepend + Replace normalizer, no pre-tokenizer.
  static nlohmann::json LegacyJson() {
    nlohmann::json json = nlohmann::json::parse(DemoJsonText());
    json["normalizer"] = {
        {"type", "Sequence"},
        {"normalizers", nlohmann::json::array({{{"type", "Prepend"}, {"prepend", "\xE2\x96\x81"}},
                                               {{"type", "Replace"},
                                                {"pattern", {{"String", " "}}},
                                                {"content", "\xE2\x96\x81"}}})}};
    json["pre_tokenizer"] = nullptr;
    return json;
  }
  // Loads a directory holding only `json` as tokenizer.json.
  static absl::StatusOr<std::unique_ptr<Tokenizer>> LoadJson(const TempDir& dir,
                                                             const std::string& json) {
    WriteFile(dir.File("tokenizer.json"), json);
    return Tokenizer::Load(dir.path(), engine::ModelConfig());
  }
};

TEST_F(TokenizerJsonTest, DemoTokenizerJsonEncodesPlainTextExactlyLikeItsSentencePieceModel) {
  std::vector<std::string> texts = DemoCorpusLines();
  std::mt19937 rng(5);
  for (int i = 0; i < 3000; ++i) texts.push_back(RandomText(rng, 1 + i % 30));
  texts.push_back("");
  for (const std::string& text : texts) {
    // The demo file pre-tokenizes with Metaspace "first", which adds no second space marker to a
    // text that starts with a space (or a literal U+2581), where SentencePiece's dummy prefix
    // does (checked below).
    if (text.starts_with(' ') || text.starts_with("\xE2\x96\x81")) continue;
    auto spm = tokenizer().Encode(text, {.add_bos = true});
    auto json = json_tokenizer().Encode(text, {.add_bos = true});
    ASSERT_TRUE(spm.ok() && json.ok()) << spm.status() << json.status();
    ASSERT_EQ(*json, *spm) << text;
    EXPECT_EQ(json_tokenizer().Decode(*json, true), tokenizer().Decode(*spm, true)) << text;
    // Both decode a literal U+2581 in the text as a space.
    if (text.find("\xE2\x96\x81") == std::string::npos) {
      EXPECT_EQ(json_tokenizer().Decode(*json, true), text);
    }
  }
  EXPECT_EQ(json_tokenizer().Encode(" leading space", {})->size() + 1,
            tokenizer().Encode(" leading space", {})->size());
  EXPECT_EQ(json_tokenizer().num_pieces(), tokenizer().num_pieces());
  EXPECT_EQ(json_tokenizer().bos_id(), tokenizer().bos_id());
  EXPECT_EQ(json_tokenizer().eos_ids(), tokenizer().eos_ids());
  EXPECT_EQ(json_tokenizer().pad_id(), tokenizer().pad_id());
  EXPECT_TRUE(json_tokenizer().adds_space_prefix());
  for (int32_t id = 0; id < tokenizer().num_pieces(); ++id) {
    ASSERT_EQ(json_tokenizer().IdToPiece(id), tokenizer().IdToPiece(id));
    ASSERT_EQ(json_tokenizer().IsSpecial(id), tokenizer().IsSpecial(id)) << id;
  }
}

TEST_F(TokenizerJsonTest, LegacyNormalizerPrefixesEveryPieceBetweenSpecialTokens) {
  // Hugging Face's legacy Llama files run the Prepend normalizer on each piece of text between
  // special tokens: the text after <|user|> gets a space marker of its own, which SentencePiece
  // (one dummy prefix per text) and the Metaspace "first" file do not add.
  TempDir dir;
  auto legacy = LoadJson(dir, LegacyJson().dump());
  ASSERT_TRUE(legacy.ok()) << legacy.status();
  auto json = (*legacy)->Encode("<|user|>Hi", {.parse_special = true});
  auto metaspace = json_tokenizer().Encode("<|user|>Hi", {.parse_special = true});
  auto spm = tokenizer().Encode("<|user|>Hi", {.parse_special = true});
  ASSERT_TRUE(json.ok() && spm.ok() && metaspace.ok());
  EXPECT_EQ(json->front(), Id("<|user|>"));
  EXPECT_EQ((*legacy)->Decode(*json, false), "<|user|> Hi");
  EXPECT_EQ(tokenizer().Decode(*spm, false), "<|user|>Hi");
  EXPECT_EQ(*metaspace, *spm);
}

TEST_F(TokenizerJsonTest, DirectoryWithBothFilesUsesTokenizerJson) {
  auto both = Tokenizer::Load(trained_dir(), engine::ModelConfig());
  ASSERT_TRUE(both.ok()) << both.status();
  EXPECT_EQ((*both)->kind(), "tokenizer.json");
  EXPECT_EQ((*both)->ContentHash(), json_tokenizer().ContentHash());
  EXPECT_EQ(tokenizer().kind(), "sentencepiece");
  EXPECT_NE(json_tokenizer().ContentHash(), tokenizer().ContentHash());
  EXPECT_EQ(json_tokenizer().ContentHash().size(), 64u);
}

TEST_F(TokenizerJsonTest, AddBosAddsWhatThePostProcessorAdds) {
  auto ids = json_tokenizer().Encode("Hello", {.add_bos = true});
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(ids->front(), 1);
  // Without a post-processor, add_bos falls back to the BOS id.
  Json json = Json::parse(DemoJsonText());
  json["post_processor"] = nullptr;
  TempDir dir;
  auto loaded = LoadJson(dir, json.dump());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  auto again = (*loaded)->Encode("Hello", {.add_bos = true});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *ids);
  // A template with a suffix adds it after the text.
  json["post_processor"] = {
      {"type", "TemplateProcessing"},
      {"single", {{{"Sequence", {{"id", "A"}}}}, {{"SpecialToken", {{"id", "E"}}}}}},
      {"special_tokens", {{"E", {{"id", "E"}, {"ids", {2}}}}}}};
  loaded = LoadJson(dir, json.dump());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  auto suffixed = (*loaded)->Encode("Hello", {.add_bos = true});
  ASSERT_TRUE(suffixed.ok());
  EXPECT_EQ(suffixed->back(), 2);
  EXPECT_EQ(std::vector<int32_t>(suffixed->begin(), suffixed->end() - 1),
            std::vector<int32_t>(ids->begin() + 1, ids->end()));
}

TEST_F(TokenizerJsonTest, SideFileTokensBeyondTheFileAreMatchedOnlyWhereSpecialTokensAreParsed) {
  TempDir dir;
  for (const char* name : {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"}) {
    WriteFile(dir.File(name), ReadFile(json_tokenizer_dir() + "/" + name));
  }
  Json config = Json::parse(ReadFile(dir.File("tokenizer_config.json")));
  const int32_t tool = static_cast<int32_t>(json_tokenizer().num_pieces());
  config["added_tokens_decoder"][std::to_string(tool)] = {{"content", "<|tool|>"},
                                                          {"special", true}};
  WriteFile(dir.File("tokenizer_config.json"), config.dump());
  auto loaded = Tokenizer::Load(dir.path(), engine::ModelConfig());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ((*loaded)->PieceToId("<|tool|>"), tool);
  auto parsed = (*loaded)->Encode("a<|tool|>b", {.parse_special = true});
  auto plain = (*loaded)->Encode("a<|tool|>b", {});
  ASSERT_TRUE(parsed.ok() && plain.ok());
  EXPECT_THAT(*parsed, ::testing::Contains(tool));
  EXPECT_THAT(*plain, ::testing::Not(::testing::Contains(tool)));
  EXPECT_EQ((*loaded)->Decode(*plain, true), "a<|tool|>b");
}

TEST_F(TokenizerJsonTest, UnsupportedOrMalformedFilesNameThePathAndComponent) {
  const Json demo = LegacyJson();
  struct Case {
    const char* pointer;
    Json value;
    const char* message;
  };
  const Case cases[] = {
      {"/pre_tokenizer",
       {{"type", "ByteLevel"}},
       "pre_tokenizer.type \"ByteLevel\" is not supported"},
      {"/normalizer", {{"type", "NFC"}}, "normalizer.type \"NFC\" is not supported"},
      {"/normalizer/normalizers/1/pattern",
       {{"Regex", "\\s"}},
       "normalizer.normalizers[1].pattern.Regex"},
      {"/model/dropout", 0.1, "model.dropout must be null"},
      {"/model/type", "WordPiece", "model.type \"WordPiece\" is not supported"},
      {"/model/merges/0", "no such", "model.merges[0]"},
      {"/model/continuing_subword_prefix", "##", "model.continuing_subword_prefix"},
      {"/decoder", {{"type", "ByteLevel"}}, "decoder.type \"ByteLevel\" is not supported"},
      {"/decoder/decoders/3/start", 2, "decoder.decoders[3] cannot be decoded piece by piece"},
      {"/post_processor",
       {{"type", "RobertaProcessing"}},
       "post_processor.type \"RobertaProcessing\""},
      {"/added_tokens/0/id", 5, "added_tokens[0] \"<|pad|>\" has id 5"},
      {"/model/vocab", Json::array(), "model.vocab must be an object"},
      {"/added_tokens/0/special", "yes", "added_tokens[0].special must be true or false"},
  };
  for (const Case& c : cases) {
    Json edited = demo;
    edited[Json::json_pointer(c.pointer)] = c.value;
    TempDir dir;
    auto loaded = LoadJson(dir, edited.dump());
    ASSERT_FALSE(loaded.ok()) << c.pointer;
    EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument) << c.pointer;
    EXPECT_THAT(std::string(loaded.status().message()), HasSubstr(c.message)) << c.pointer;
    EXPECT_THAT(std::string(loaded.status().message()), HasSubstr("tokenizer.json: "));
  }
  TempDir dir;
  auto loaded = LoadJson(dir, "{\"model\": ");
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(std::string(loaded.status().message()), HasSubstr("tokenizer.json: malformed JSON"));
}

// A BPE reference that rescans every pair after each merge: lowest rank first, leftmost on ties.
std::vector<int32_t> ReferenceBpe(const engine::BpeModelSpec& spec, const std::string& word) {
  std::map<std::string, int32_t> vocab(spec.vocab.begin(), spec.vocab.end());
  std::map<std::pair<std::string, std::string>, size_t> ranks;
  for (size_t i = 0; i < spec.merges.size(); ++i) ranks.emplace(spec.merges[i], i);
  std::vector<std::string> symbols;
  for (size_t pos = 0; pos < word.size();) {
    size_t length = 1;
    while (pos + length < word.size() &&
           (static_cast<unsigned char>(word[pos + length]) & 0xC0) == 0x80) {
      ++length;
    }
    const std::string c = word.substr(pos, length);
    if (vocab.contains(c)) {
      symbols.push_back(c);
    } else {
      for (char byte : c) {
        char piece[8];
        std::snprintf(piece, sizeof(piece), "<0x%02X>", static_cast<unsigned char>(byte));
        symbols.push_back(piece);
      }
    }
    pos += length;
  }
  while (true) {
    size_t best = symbols.size(), best_rank = 0;
    for (size_t i = 0; i + 1 < symbols.size(); ++i) {
      auto it = ranks.find({symbols[i], symbols[i + 1]});
      if (it != ranks.end() && (best == symbols.size() || it->second < best_rank)) {
        best = i;
        best_rank = it->second;
      }
    }
    if (best == symbols.size()) break;
    symbols[best] += symbols[best + 1];
    symbols.erase(symbols.begin() + best + 1);
  }
  std::vector<int32_t> ids;
  for (const std::string& s : symbols) ids.push_back(vocab.at(s));
  return ids;
}

TEST_F(TokenizerJsonTest, MergeQueueGivesWhatARescanPerMergeGives) {
  auto spec = engine::ParseTokenizerJson(DemoJsonText(), "tokenizer.json");
  ASSERT_TRUE(spec.ok()) << spec.status();
  auto model = engine::BpeModel::Create(spec->model, "tokenizer.json");
  ASSERT_TRUE(model.ok()) << model.status();
  (*model)->SetCuttingForTesting(/*exact_cuts=*/false, 1 << 30);
  std::mt19937 rng(3);
  engine::BpeModel::Scratch scratch;
  for (int i = 0; i < 400; ++i) {
    std::string word = "\xE2\x96\x81" + RandomText(rng, 1 + i % 6);
    std::replace(word.begin(), word.end(), ' ', '_');
    std::vector<int32_t> ids;
    (*model)->Tokenize(word, static_cast<size_t>(-1), scratch, ids);
    ASSERT_EQ(ids, ReferenceBpe(spec->model, word)) << word;
  }
}

TEST_F(TokenizerJsonTest, LongWordsCutAtExactPlacesEncodeAsAWhole) {
  auto spec = engine::ParseTokenizerJson(DemoJsonText(), "tokenizer.json");
  ASSERT_TRUE(spec.ok()) << spec.status();
  auto cut = engine::TokenizerJsonEncoder::Create(*spec, spec->added_tokens, "tokenizer.json");
  auto whole = engine::TokenizerJsonEncoder::Create(*spec, spec->added_tokens, "tokenizer.json");
  ASSERT_TRUE(cut.ok() && whole.ok());
  (*whole)->model_for_testing().SetCuttingForTesting(/*exact_cuts=*/false, 1 << 30);
  std::mt19937 rng(9);
  for (int i = 0; i < 30; ++i) {
    const std::string text = RandomText(rng, 100 + 40 * i);
    const engine::TextSegment segment{text, i % 2 == 0};
    std::vector<int32_t> a, b;
    ASSERT_TRUE((*cut)->Encode({&segment, 1}, -1, a).ok());
    ASSERT_TRUE((*whole)->Encode({&segment, 1}, -1, b).ok());
    ASSERT_EQ(a, b) << text;
  }
}

TEST_F(TokenizerJsonTest, AnOverLongTextStopsEncodingJustPastTheLimit) {
  std::string text;
  for (int i = 0; i < (1 << 21); ++i) text += "x ";
  auto ids = json_tokenizer().Encode(text, {.add_bos = true, .max_tokens = 1000});
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_GT(ids->size(), 1000u);
  EXPECT_LE(ids->size(), 1010u);  // one word (part) past the limit at most
  auto whole = json_tokenizer().Encode("a short text", {.max_tokens = 1000});
  EXPECT_EQ(*whole, *json_tokenizer().Encode("a short text", {}));
}

TEST_F(TokenizerJsonTest, StreamingDecodeEqualsDecodeOnRandomIds) {
  std::mt19937 rng(17);
  for (bool skip : {true, false}) {
    for (int trial = 0; trial < 500; ++trial) {
      std::vector<int32_t> ids(1 + rng() % 20);
      for (int32_t& id : ids) id = static_cast<int32_t>(rng() % json_tokenizer().num_pieces());
      engine::StreamDecoder stream(json_tokenizer(), skip);
      std::string streamed;
      for (int32_t id : ids) streamed += stream.Push(id);
      streamed += stream.Finish();
      ASSERT_EQ(streamed, json_tokenizer().Decode(ids, skip));
    }
  }
}

}  // namespace
}  // namespace jamba::testing
