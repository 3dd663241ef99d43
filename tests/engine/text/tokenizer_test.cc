// Tests of engine/tokenizer (and the demo tokenizer trainer) on a tokenizer trained from
// tools/demo_corpus.txt: round trips, special tokens, the Hugging Face side files, errors, hashing.
#include "engine/text/tokenizer.h"

#include <algorithm>
#include <climits>
#include <filesystem>
#include <random>
#include <thread>

#include "engine/model_config.h"
#include "engine/text/spm_processor.h"
#include "engine/text/spm_trainer.h"
#include "engine/text/tokenizer_trainer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/util/demo_tokenizer.h"
#include "tests/util/test_util.h"

namespace jamba::testing {
namespace {

using engine::ModelConfig;
using engine::Tokenizer;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Round-trip texts: ASCII, accents, CJK, emoji (some outside the corpus, ZWJ sequences, flags),
// and whitespace that must survive exactly.
const std::vector<std::string>& SampleTexts() {
  static const std::vector<std::string> texts = {
      "Hello, world!",
      "The café on the corner serves crème brûlée; a naïve résumé, a façade in Zürich.",
      "東京と大阪、日本語のテキストです。",
      "Party 🎉 time 🦜🦩, a family 👨‍👩‍👧 and a flag 🇯🇵 ☕",
      "  two leading spaces,  double  spaces\tand a tab\nand new lines\n\n",
      "digits 0123456789, $19.99, 2024-03-15 at 07:45 (+81 6 1234 5678)",
      "Ω≈ç√∫ ασδφ кириллица עִבְרִית العربية",
      "",
  };
  return texts;
}

// Copies the demo tokenizer's files into a fresh directory, for tests that edit them.
class EditableTokenizerDir {
 public:
  explicit EditableTokenizerDir(const std::string& from) {
    for (const auto& entry : std::filesystem::directory_iterator(from)) {
      std::filesystem::copy_file(entry.path(),
                                 dir_.path() + "/" + entry.path().filename().string());
    }
  }
  const std::string& path() const { return dir_.path(); }
  void Write(const std::string& name, const std::string& text) const {
    WriteFile(dir_.File(name), text);
  }
  nlohmann::json ReadJson(const std::string& name) const {
    return nlohmann::json::parse(ReadFile(dir_.File(name)));
  }

 private:
  TempDir dir_;
};

class TokenizerTest : public DemoTokenizerTest {};

TEST_F(TokenizerTest, RoundTripsAsciiAccentedCjkAndEmojiText) {
  for (const std::string& text : SampleTexts()) {
    auto ids = tokenizer().Encode(text, {});
    ASSERT_TRUE(ids.ok()) << ids.status();
    EXPECT_EQ(tokenizer().Decode(*ids, /*skip_special_tokens=*/true), text);
    auto with_bos = tokenizer().Encode(text, {.add_bos = true});
    ASSERT_TRUE(with_bos.ok()) << with_bos.status();
    EXPECT_EQ(tokenizer().Decode(*with_bos, /*skip_special_tokens=*/true), text);
  }
}

TEST_F(TokenizerTest, AddsBosOnlyWhenAsked) {
  auto plain = tokenizer().Encode("Hello", {});
  auto with_bos = tokenizer().Encode("Hello", {.add_bos = true});
  ASSERT_TRUE(plain.ok() && with_bos.ok());
  ASSERT_FALSE(plain->empty());
  EXPECT_NE(plain->front(), 1);
  ASSERT_EQ(with_bos->size(), plain->size() + 1);
  EXPECT_EQ(with_bos->front(), 1);
  EXPECT_TRUE(std::equal(plain->begin(), plain->end(), with_bos->begin() + 1));
}

TEST_F(TokenizerTest, CharactersOutsideTheCorpusFallBackToBytes) {
  std::vector<std::string> pieces;
  for (int32_t id : Ids("🦜")) pieces.push_back(tokenizer().IdToPiece(id));
  // U+1F99C is F0 9F A6 9C in UTF-8; the leading piece is the word-start marker.
  EXPECT_THAT(pieces, ElementsAre("▁", "<0xF0>", "<0x9F>", "<0xA6>", "<0x9C>"));
}

TEST_F(TokenizerTest, SpecialTokenIdsFollowTheDemoLayout) {
  const std::vector<std::string> expected = {"<|pad|>",    "<|startoftext|>", "<|endoftext|>",
                                             "<|unk|>",    "<|bom|>",         "<|eom|>",
                                             "<|system|>", "<|user|>",        "<|assistant|>"};
  for (int32_t id = 0; id < static_cast<int32_t>(expected.size()); ++id) {
    EXPECT_EQ(tokenizer().IdToPiece(id), expected[id]);
    EXPECT_EQ(tokenizer().PieceToId(expected[id]), id);
    EXPECT_TRUE(tokenizer().IsSpecial(id)) << expected[id];
  }
  EXPECT_EQ(tokenizer().bos_id(), 1);
  EXPECT_THAT(tokenizer().eos_ids(), ElementsAre(2));
  EXPECT_TRUE(tokenizer().IsEos(2));
  EXPECT_FALSE(tokenizer().IsEos(1));
  EXPECT_EQ(tokenizer().pad_id(), 0);
  EXPECT_EQ(tokenizer().num_pieces(), kDemoTestVocabSize);
  EXPECT_TRUE(tokenizer().adds_space_prefix());
  for (int32_t id : Ids("hello world")) EXPECT_FALSE(tokenizer().IsSpecial(id));
  EXPECT_FALSE(tokenizer().IsSpecial(-1));
  EXPECT_FALSE(tokenizer().IsSpecial(kDemoTestVocabSize));
}

TEST_F(TokenizerTest, PieceLookupsRejectWhatIsNotInTheVocabulary) {
  EXPECT_EQ(tokenizer().PieceToId("no-such-piece-anywhere"), std::nullopt);
  EXPECT_EQ(tokenizer().PieceToId("<|unk|>"), 3);
  EXPECT_EQ(tokenizer().IdToPiece(-1), "");
  EXPECT_EQ(tokenizer().IdToPiece(kDemoTestVocabSize), "");
}

TEST_F(TokenizerTest, DecodeIgnoresIdsOutsideTheVocabulary) {
  std::vector<int32_t> ids = {-1, INT_MIN};
  for (int32_t id : Ids("hello")) ids.push_back(id);
  ids.push_back(kDemoTestVocabSize);
  ids.push_back(INT_MAX);
  EXPECT_EQ(tokenizer().Decode(ids, true), "hello");
  EXPECT_EQ(tokenizer().Decode(ids, false), "hello");
}

TEST_F(TokenizerTest, DecodeSkipsOrShowsSpecialTokens) {
  std::vector<int32_t> ids = {1};
  for (int32_t id : Ids("Hello there")) ids.push_back(id);
  ids.push_back(2);
  EXPECT_EQ(tokenizer().Decode(ids, true), "Hello there");
  // BOS is a control piece: shown, but the first word still loses its space marker.
  EXPECT_EQ(tokenizer().Decode(ids, false), "<|startoftext|>Hello there<|endoftext|>");

  std::vector<int32_t> turn = {Id("<|bom|>"), Id("<|user|>")};
  for (int32_t id : Ids("Hi")) turn.push_back(id);
  turn.push_back(Id("<|eom|>"));
  EXPECT_EQ(tokenizer().Decode(turn, true), "Hi");
  EXPECT_EQ(tokenizer().Decode(turn, false), "<|bom|><|user|> Hi<|eom|>");
}

TEST_F(TokenizerTest, EosIdsAreTheUnionOfGenerationConfigAndTheTokenizersEos) {
  EditableTokenizerDir dir(tokenizer_dir());
  dir.Write("generation_config.json",
            R"({"bos_token_id": 1, "eos_token_id": [5, 2, 7, 5], "pad_token_id": 0})");
  auto loaded = Tokenizer::Load(dir.path(), ModelConfig());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_THAT((*loaded)->eos_ids(), ElementsAre(5, 2, 7));
  EXPECT_TRUE((*loaded)->IsEos(7));
  EXPECT_TRUE((*loaded)->IsSpecial(7));

  dir.Write("generation_config.json", R"({"eos_token_id": 5})");
  loaded = Tokenizer::Load(dir.path(), ModelConfig());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_THAT((*loaded)->eos_ids(), ElementsAre(5, 2));
}

TEST_F(TokenizerTest, WithoutGenerationConfigIdsComeFromTheModelConfig) {
  ModelConfig config;
  config.bos_token_id = 4;
  config.eos_token_ids = {6};
  config.pad_token_id = 3;
  auto loaded = Tokenizer::Load(tokenizer_dir(), config);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ((*loaded)->bos_id(), 4);
  EXPECT_THAT((*loaded)->eos_ids(), ElementsAre(6, 2));
  EXPECT_EQ((*loaded)->pad_id(), 3);
}

TEST_F(TokenizerTest, GenerationConfigOverridesTheModelConfig) {
  EditableTokenizerDir dir(tokenizer_dir());
  dir.Write("generation_config.json", R"({"bos_token_id": 1, "pad_token_id": 0})");
  ModelConfig config;
  config.bos_token_id = 4;
  config.pad_token_id = 3;
  auto loaded = Tokenizer::Load(dir.path(), config);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ((*loaded)->bos_id(), 1);
  EXPECT_EQ((*loaded)->pad_id(), 0);
}

TEST_F(TokenizerTest, MalformedJsonFilesAreErrorsNamingTheFile) {
  for (const char* name :
       {"tokenizer_config.json", "special_tokens_map.json", "generation_config.json"}) {
    EditableTokenizerDir dir(tokenizer_dir());
    dir.Write(name, R"({"bos_token": )");
    auto loaded = Tokenizer::Load(dir.path(), ModelConfig());
    ASSERT_FALSE(loaded.ok()) << name;
    EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(loaded.status().message()), HasSubstr(name));
  }
}

TEST_F(TokenizerTest, WrongFieldTypesAreErrorsNamingFileAndField) {
  EditableTokenizerDir dir(tokenizer_dir());
  dir.Write("generation_config.json", R"({"eos_token_id": "two"})");
  auto loaded = Tokenizer::Load(dir.path(), ModelConfig());
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(loaded.status().message()), HasSubstr("generation_config.json"));
  EXPECT_THAT(std::string(loaded.status().message()), HasSubstr("eos_token_id"));

  EditableTokenizerDir dir2(tokenizer_dir());
  nlohmann::json config = dir2.ReadJson("tokenizer_config.json");
  config["eos_token"] = 17;
  dir2.Write("tokenizer_config.json", config.dump());
  loaded = Tokenizer::Load(dir2.path(), ModelConfig());
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(std::string(loaded.status().message()), HasSubstr("tokenizer_config.json"));
  EXPECT_THAT(std::string(loaded.status().message()), HasSubstr("eos_token"));
}

TEST_F(TokenizerTest, SpecialTokenThatIsNotAPieceIsAnError) {
  EditableTokenizerDir dir(tokenizer_dir());
  nlohmann::json config = dir.ReadJson("tokenizer_config.json");
  config["eos_token"] = {{"content", "<|no-such-token|>"}};
  dir.Write("tokenizer_config.json", config.dump());
  auto loaded = Tokenizer::Load(dir.path(), ModelConfig());
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(loaded.status().message()), HasSubstr("<|no-such-token|>"));
}

TEST_F(TokenizerTest, EosIdOutsideTheVocabularyIsAnError) {
  EditableTokenizerDir dir(tokenizer_dir());
  dir.Write("generation_config.json", R"({"eos_token_id": [2, 999999]})");
  auto loaded = Tokenizer::Load(dir.path(), ModelConfig());
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(loaded.status().message()), HasSubstr("999999"));
}

TEST_F(TokenizerTest, AddedTokensBeyondTheModelBecomeExtraPieces) {
  EditableTokenizerDir dir(tokenizer_dir());
  nlohmann::json config = dir.ReadJson("tokenizer_config.json");
  const std::string id = std::to_string(kDemoTestVocabSize);
  config["added_tokens_decoder"][id] = {{"content", "<|tool|>"}, {"special", true}};
  dir.Write("tokenizer_config.json", config.dump());
  auto loaded = Tokenizer::Load(dir.path(), ModelConfig());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const Tokenizer& t = **loaded;
  EXPECT_EQ(t.num_pieces(), kDemoTestVocabSize + 1);
  EXPECT_EQ(t.PieceToId("<|tool|>"), kDemoTestVocabSize);
  EXPECT_EQ(t.IdToPiece(kDemoTestVocabSize), "<|tool|>");
  EXPECT_TRUE(t.IsSpecial(kDemoTestVocabSize));
  const std::vector<int32_t> ids = {kDemoTestVocabSize};
  EXPECT_EQ(t.Decode(ids, false), "<|tool|>");
  EXPECT_EQ(t.Decode(ids, true), "");
}

TEST_F(TokenizerTest, AddedTokenThatContradictsTheModelIsAnError) {
  EditableTokenizerDir dir(tokenizer_dir());
  nlohmann::json config = dir.ReadJson("tokenizer_config.json");
  config["added_tokens_decoder"]["5"] = {{"content", "<|not-eom|>"}, {"special", true}};
  dir.Write("tokenizer_config.json", config.dump());
  auto loaded = Tokenizer::Load(dir.path(), ModelConfig());
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(loaded.status().message()), HasSubstr("tokenizer_config.json"));
}

TEST_F(TokenizerTest, MissingTokenizerModelIsNotFound) {
  TempDir empty;
  auto loaded = Tokenizer::Load(empty.path(), ModelConfig());
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(loaded.status().message()), HasSubstr("tokenizer.model"));
}

TEST_F(TokenizerTest, CorruptTokenizerModelIsInvalidArgument) {
  EditableTokenizerDir dir(tokenizer_dir());
  dir.Write("tokenizer.model", "this is not a protobuf \xff\xff\xff\xff");
  auto loaded = Tokenizer::Load(dir.path(), ModelConfig());
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(loaded.status().message()), HasSubstr("tokenizer.model"));
}

TEST_F(TokenizerTest, InvalidUtf8IsRejected) {
  const std::vector<std::string> invalid = {
      "\xff",                   // never valid
      "abc \xE2\x82",           // truncated euro sign
      "\xC0\xAF",               // overlong '/'
      "\xED\xA0\x80",           // UTF-16 surrogate
      "\xF4\x90\x80\x80",       // past U+10FFFF
      std::string("ok\x80ok"),  // lone continuation byte
  };
  for (const std::string& text : invalid) {
    auto ids = tokenizer().Encode(text, {.add_bos = true});
    ASSERT_FALSE(ids.ok());
    EXPECT_EQ(ids.status().code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST_F(TokenizerTest, ContentHashIdentifiesModelAndSpecialTokenSettings) {
  const std::string& hash = tokenizer().ContentHash();
  ASSERT_EQ(hash.size(), 64u);
  EXPECT_EQ(hash.find_first_not_of("0123456789abcdef"), std::string::npos);

  auto again = Tokenizer::Load(tokenizer_dir(), ModelConfig());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)->ContentHash(), hash);

  EditableTokenizerDir dir(tokenizer_dir());
  dir.Write("generation_config.json", R"({"eos_token_id": [2, 5]})");
  auto other_eos = Tokenizer::Load(dir.path(), ModelConfig());
  ASSERT_TRUE(other_eos.ok()) << other_eos.status();
  EXPECT_NE((*other_eos)->ContentHash(), hash);
}

TEST_F(TokenizerTest, ConstMethodsGiveTheSameAnswersFromManyThreads) {
  std::vector<std::vector<int32_t>> expected;
  for (const std::string& text : SampleTexts()) expected.push_back(Ids(text));
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 50; ++round) {
        for (size_t i = 0; i < SampleTexts().size(); ++i) {
          auto ids = tokenizer().Encode(SampleTexts()[i], {});
          if (!ids.ok() || *ids != expected[i] ||
              tokenizer().Decode(*ids, true) != SampleTexts()[i]) {
            ++mismatches[t];
          }
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_THAT(mismatches, ElementsAre(0, 0, 0, 0));
}

// Decode against SentencePiece's own decoder on random sequences of non-special pieces: half of
// them byte pieces (so characters get split and broken), and often starting with whitespace-only
// pieces (where SentencePiece's leading-space rules differ between models).
void ExpectDecodeMatchesSentencePiece(const Tokenizer& tokenizer, const std::string& model_path) {
  std::string error;
  auto spm = engine::SpmProcessor::Load(ReadFile(model_path), error);
  ASSERT_NE(spm, nullptr) << error;
  std::vector<int32_t> ordinary, bytes, whitespace;
  for (int32_t id = 0; id < tokenizer.num_pieces(); ++id) {
    if (tokenizer.IsSpecial(id)) continue;
    const std::string piece = tokenizer.IdToPiece(id);
    if (piece.starts_with("<0x")) {
      bytes.push_back(id);
      continue;
    }
    ordinary.push_back(id);
    bool only_markers = true;
    for (size_t i = 0; i < piece.size(); i += 3) only_markers &= piece.compare(i, 3, "▁") == 0;
    if (only_markers) whitespace.push_back(id);
  }
  ASSERT_FALSE(ordinary.empty());
  std::mt19937 rng(42);
  for (int trial = 0; trial < 3000; ++trial) {
    std::vector<int32_t> ids(1 + rng() % 12);
    for (size_t i = 0; i < ids.size(); ++i) {
      const bool lead_with_whitespace = i < 2 && !whitespace.empty() && rng() % 3 == 0;
      const auto& pool = lead_with_whitespace               ? whitespace
                         : !bytes.empty() && rng() % 2 == 0 ? bytes
                                                            : ordinary;
      ids[i] = pool[rng() % pool.size()];
    }
    std::string pieces;
    for (int32_t id : ids) pieces += "[" + tokenizer.IdToPiece(id) + "]";
    ASSERT_EQ(tokenizer.Decode(ids, true), spm->Decode(ids)) << "trial " << trial << ": " << pieces;
  }
}

// Trains a plain SentencePiece model (no Hugging Face files) with `options` on the demo corpus
// plus some indented lines, and loads it.
std::unique_ptr<Tokenizer> TrainPlainTokenizer(
    const TempDir& dir, std::vector<std::pair<std::string, std::string>> options) {
  std::vector<std::string> sentences = DemoCorpusLines();
  for (int i = 0; i < 50; ++i) {
    sentences.push_back("    if (ready) {        return  value;    }  ");
  }
  options.insert(options.end(), {{"vocab_size", "800"},
                                 {"num_threads", "1"},
                                 {"minloglevel", "1"},
                                 {"hard_vocab_limit", "false"}});
  std::string model, error;
  EXPECT_TRUE(engine::TrainSentencePieceModel(sentences, options, model, error)) << error;
  WriteFile(dir.File("tokenizer.model"), model);
  auto loaded = Tokenizer::Load(dir.path(), ModelConfig());
  EXPECT_TRUE(loaded.ok()) << loaded.status();
  return loaded.ok() ? *std::move(loaded) : nullptr;
}

TEST_F(TokenizerTest, DecodeMatchesSentencePieceOnRandomPieceSequences) {
  ExpectDecodeMatchesSentencePiece(tokenizer(), tokenizer_dir() + "/tokenizer.model");
}

TEST(TokenizerOtherModelsTest, DecodeMatchesSentencePieceForOtherTrainerSettings) {
  const std::vector<std::vector<std::pair<std::string, std::string>>> settings = {
      {},  // SentencePiece's defaults: unigram, NFKC, extra whitespace removed, dummy prefix
      {{"model_type", "bpe"}, {"byte_fallback", "true"}, {"add_dummy_prefix", "false"}},
      {{"model_type", "bpe"},
       {"byte_fallback", "true"},
       {"remove_extra_whitespaces", "false"},
       {"allow_whitespace_only_pieces", "true"},
       {"normalization_rule_name", "identity"}},
      {{"model_type", "bpe"}, {"byte_fallback", "true"}, {"allow_whitespace_only_pieces", "true"}},
  };
  for (size_t i = 0; i < settings.size(); ++i) {
    SCOPED_TRACE(::testing::Message() << "settings " << i);
    TempDir dir;
    std::unique_ptr<Tokenizer> tokenizer = TrainPlainTokenizer(dir, settings[i]);
    ASSERT_NE(tokenizer, nullptr);
    ExpectDecodeMatchesSentencePiece(*tokenizer, dir.File("tokenizer.model"));
  }
}

TEST(TokenizerOtherModelsTest, KnowsWhetherTheModelAddsASpacePrefix) {
  TempDir with_prefix, without_prefix;
  auto adds = TrainPlainTokenizer(with_prefix, {{"model_type", "bpe"}});
  auto does_not =
      TrainPlainTokenizer(without_prefix, {{"model_type", "bpe"}, {"add_dummy_prefix", "false"}});
  ASSERT_NE(adds, nullptr);
  ASSERT_NE(does_not, nullptr);
  EXPECT_TRUE(adds->adds_space_prefix());
  EXPECT_FALSE(does_not->adds_space_prefix());
}

// ---- the demo tokenizer trainer ----

class TokenizerTrainerTest : public ::testing::Test {};

TEST_F(TokenizerTrainerTest, TrainingIsDeterministic) {
  const std::string corpus = DemoCorpusText();
  TempDir first, second;
  ASSERT_TRUE(engine::TrainDemoTokenizer(corpus, kDemoTestVocabSize, first.path()).ok());
  ASSERT_TRUE(engine::TrainDemoTokenizer(corpus, kDemoTestVocabSize, second.path()).ok());
  for (const char* name :
       {"tokenizer.model", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"}) {
    const std::string a = ReadFile(first.File(name));
    ASSERT_FALSE(a.empty()) << name;
    EXPECT_EQ(a, ReadFile(second.File(name))) << name << " differs between two trainings";
  }
}

TEST_F(TokenizerTrainerTest, WritesTheHuggingFaceTokenizerFiles) {
  TempDir dir;
  ASSERT_TRUE(engine::TrainDemoTokenizer(DemoCorpusText(), 1024, dir.path()).ok());
  const auto config = nlohmann::json::parse(ReadFile(dir.File("tokenizer_config.json")));
  EXPECT_EQ(config["tokenizer_class"], "LlamaTokenizer");
  EXPECT_EQ(config["add_bos_token"], true);
  EXPECT_EQ(config["bos_token"], "<|startoftext|>");
  EXPECT_EQ(config["eos_token"], "<|endoftext|>");
  EXPECT_EQ(config["pad_token"], "<|pad|>");
  EXPECT_EQ(config["unk_token"], "<|unk|>");
  EXPECT_EQ(config["added_tokens_decoder"]["4"]["content"], "<|bom|>");
  EXPECT_EQ(config["added_tokens_decoder"]["8"]["content"], "<|assistant|>");
  EXPECT_EQ(config["added_tokens_decoder"]["8"]["special"], true);
  const auto map = nlohmann::json::parse(ReadFile(dir.File("special_tokens_map.json")));
  EXPECT_EQ(map["eos_token"]["content"], "<|endoftext|>");
  EXPECT_EQ(map["additional_special_tokens"].size(), 5u);

  auto loaded = Tokenizer::Load(dir.path(), ModelConfig());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ((*loaded)->num_pieces(), 1024);
  EXPECT_EQ((*loaded)->kind(), "tokenizer.json");  // preferred when both files exist
  const auto json = nlohmann::json::parse(ReadFile(dir.File("tokenizer.json")));
  EXPECT_EQ(json["model"]["type"], "BPE");
  EXPECT_EQ(json["model"]["byte_fallback"], true);
  EXPECT_EQ(json["pre_tokenizer"]["type"], "Metaspace");
  EXPECT_EQ(json["pre_tokenizer"]["prepend_scheme"], "first");
  EXPECT_EQ(json["added_tokens"].size(), 9u);
  EXPECT_EQ(json["post_processor"]["single"][0]["SpecialToken"]["id"], "<|startoftext|>");
}

TEST_F(TokenizerTrainerTest, RejectsUnusableInput) {
  TempDir dir;
  EXPECT_EQ(engine::TrainDemoTokenizer(DemoCorpusText(), 100, dir.path()).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(engine::TrainDemoTokenizer(" \n\n\t\n", 1024, dir.path()).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(engine::TrainDemoTokenizer("bad \xff text\n", 1024, dir.path()).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(std::filesystem::exists(dir.File("tokenizer.model")));
}

}  // namespace
}  // namespace jamba::testing
