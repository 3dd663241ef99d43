// Tests of engine/stream_decoder: streamed text equals Decode of the whole sequence, and no chunk
// ever holds a broken UTF-8 sequence, including characters split over byte-fallback tokens.
#include "engine/text/stream_decoder.h"

#include <random>
#include <string>
#include <vector>

#include "engine/text/chat_template.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/util/demo_tokenizer.h"

namespace jamba::testing {
namespace {

using engine::StreamDecoder;
using ::testing::Each;
using ::testing::IsEmpty;

// Written independently of engine/utf8 so the two check each other: decodes each code point and
// rejects overlong forms, surrogates, values past U+10FFFF and truncated sequences.
bool IsWellFormedUtf8(const std::string& text) {
  size_t i = 0;
  while (i < text.size()) {
    const auto byte = static_cast<unsigned char>(text[i]);
    int extra = 0;
    uint32_t code_point = 0;
    uint32_t smallest = 0;
    if (byte < 0x80) {
      ++i;
      continue;
    } else if ((byte & 0xE0) == 0xC0) {
      extra = 1, code_point = byte & 0x1F, smallest = 0x80;
    } else if ((byte & 0xF0) == 0xE0) {
      extra = 2, code_point = byte & 0x0F, smallest = 0x800;
    } else if ((byte & 0xF8) == 0xF0) {
      extra = 3, code_point = byte & 0x07, smallest = 0x10000;
    } else {
      return false;
    }
    if (i + extra >= text.size()) return false;  // truncated
    for (int k = 1; k <= extra; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0) != 0x80) return false;
      code_point = (code_point << 6) | (next & 0x3F);
    }
    if (code_point < smallest || code_point > 0x10FFFF) return false;
    if (code_point >= 0xD800 && code_point <= 0xDFFF) return false;
    i += extra + 1;
  }
  return true;
}

// Every chunk a decoder returns for `ids`, pushed one at a time, then Finish's.
std::vector<std::string> StreamChunks(const engine::Tokenizer& tokenizer,
                                      const std::vector<int32_t>& ids, bool skip_special_tokens) {
  StreamDecoder decoder(tokenizer, skip_special_tokens);
  std::vector<std::string> chunks;
  for (int32_t id : ids) chunks.push_back(decoder.Push(id));
  chunks.push_back(decoder.Finish());
  return chunks;
}

std::string Concatenate(const std::vector<std::string>& chunks) {
  std::string text;
  for (const std::string& chunk : chunks) text += chunk;
  return text;
}

class StreamDecoderTest : public DemoTokenizerTest {};

TEST_F(StreamDecoderTest, TheValidatorInThisTestWorks) {
  EXPECT_TRUE(IsWellFormedUtf8("plain, café, 東京, 🦜"));
  EXPECT_FALSE(IsWellFormedUtf8("\xF0\x9F\xA6"));
  EXPECT_FALSE(IsWellFormedUtf8("\xC0\xAF"));
  EXPECT_FALSE(IsWellFormedUtf8("\xED\xA0\x80"));
  EXPECT_FALSE(IsWellFormedUtf8("\x80"));
}

TEST_F(StreamDecoderTest, StreamedTextEqualsDecodeAndEveryChunkIsValidUtf8) {
  const std::vector<std::string> texts = {
      "Hello world, how are you today?",
      "🦜🦩🪼 three animals the corpus never saw",
      "A family 👨‍👩‍👧‍👦, flags 🇯🇵🇨🇭 and skin tones 👋🏽",
      "東京 and 大阪 and 日本語, then café, naïve, jalapeño",
      "  leading spaces\n\ttabs\nand 🎉 at the end 🎉",
      "Ω≈ç√∫ ασδφ кириллица עִבְרִית العربية 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
      "x",
  };
  for (const std::string& text : texts) {
    auto ids = tokenizer().Encode(text, {.add_bos = true});
    ASSERT_TRUE(ids.ok()) << ids.status();
    for (bool skip : {true, false}) {
      const std::vector<std::string> chunks = StreamChunks(tokenizer(), *ids, skip);
      for (const std::string& chunk : chunks) {
        EXPECT_TRUE(IsWellFormedUtf8(chunk)) << "chunk of '" << text << "'";
      }
      EXPECT_EQ(Concatenate(chunks), tokenizer().Decode(*ids, skip)) << text;
    }
    EXPECT_EQ(Concatenate(StreamChunks(tokenizer(), *ids, true)), text);
  }
}

TEST_F(StreamDecoderTest, StreamsAChatConversationWithItsMarkup) {
  auto chat = engine::ChatTemplate::FromSource(engine::ChatTemplate::BuiltinJambaSource(),
                                               "built-in", tokenizer());
  ASSERT_TRUE(chat.ok()) << chat.status();
  engine::ChatConversation conversation;
  conversation.messages = {{{"role", "system"}, {"content", "Answer with emoji 🙂"}},
                           {{"role", "user"}, {"content", "Weather in 東京?"}},
                           {{"role", "assistant"}, {"content", "☔🌂"}}};
  conversation.add_generation_prompt = false;
  auto ids = (*chat)->Encode(conversation, /*continuation=*/false);
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_EQ(Concatenate(StreamChunks(tokenizer(), *ids, false)),
            (*chat)->Render(conversation)->Text());
  EXPECT_EQ(Concatenate(StreamChunks(tokenizer(), *ids, true)), tokenizer().Decode(*ids, true));
}

TEST_F(StreamDecoderTest, HoldsBackACharacterSplitOverByteTokens) {
  const std::vector<int32_t> ids = Ids("🦜");
  ASSERT_EQ(ids.size(), 5u);  // "▁" then the four bytes F0 9F A6 9C
  const std::vector<std::string> chunks = StreamChunks(tokenizer(), ids, true);
  EXPECT_EQ(chunks, (std::vector<std::string>{"", "", "", "", "🦜", ""}));
}

TEST_F(StreamDecoderTest, FirstWordLosesItsSpaceMarkerLaterWordsKeepIt) {
  StreamDecoder decoder(tokenizer());
  std::string text;
  std::vector<int32_t> ids = {1};  // BOS, skipped, must not count as text
  for (int32_t id : Ids("Hello world")) ids.push_back(id);
  for (int32_t id : ids) text += decoder.Push(id);
  text += decoder.Finish();
  EXPECT_EQ(text, "Hello world");
}

TEST_F(StreamDecoderTest, FinishReplacesADanglingPartialCharacter) {
  // The first two bytes of "€" (E2 82 AC), and then the stream ends.
  const std::vector<int32_t> ids = {Id("<0xE2>"), Id("<0x82>")};
  StreamDecoder decoder(tokenizer());
  EXPECT_EQ(decoder.Push(ids[0]), "");
  EXPECT_EQ(decoder.Push(ids[1]), "");
  const std::string rest = decoder.Finish();
  EXPECT_EQ(rest, "\xEF\xBF\xBD\xEF\xBF\xBD");  // U+FFFD per byte, like SentencePiece
  EXPECT_EQ(rest, tokenizer().Decode(ids, true));
}

TEST_F(StreamDecoderTest, ABrokenSequenceIsReplacedAsSoonAsItCannotComplete) {
  std::vector<int32_t> ids = {Id("<0xE2>")};
  for (int32_t id : Ids("the end")) ids.push_back(id);
  StreamDecoder decoder(tokenizer());
  EXPECT_EQ(decoder.Push(ids[0]), "");
  std::string text;
  for (size_t i = 1; i < ids.size(); ++i) text += decoder.Push(ids[i]);
  EXPECT_TRUE(text.starts_with("\xEF\xBF\xBD")) << text;
  EXPECT_EQ(decoder.Finish(), "");
  EXPECT_EQ(text, tokenizer().Decode(ids, true));
}

TEST_F(StreamDecoderTest, RandomTokenSequencesStreamExactlyLikeDecode) {
  std::vector<int32_t> bytes;
  for (int32_t id = 0; id < tokenizer().num_pieces(); ++id) {
    if (tokenizer().IdToPiece(id).starts_with("<0x")) bytes.push_back(id);
  }
  ASSERT_EQ(bytes.size(), 256u);
  std::mt19937 rng(7);
  const int32_t n = static_cast<int32_t>(tokenizer().num_pieces());
  for (int trial = 0; trial < 3000; ++trial) {
    std::vector<int32_t> ids(1 + rng() % 20);
    for (int32_t& id : ids) {
      // Mostly bytes (to split and break characters), some pieces, specials and non-ids.
      const uint32_t pick = rng() % 10;
      if (pick < 5) {
        id = bytes[rng() % bytes.size()];
      } else if (pick < 9) {
        id = static_cast<int32_t>(rng() % n);
      } else {
        id = static_cast<int32_t>(rng() % 12) - 3 + (rng() % 2 == 0 ? 0 : n);
      }
    }
    for (bool skip : {true, false}) {
      const std::vector<std::string> chunks = StreamChunks(tokenizer(), ids, skip);
      for (const std::string& chunk : chunks) ASSERT_TRUE(IsWellFormedUtf8(chunk));
      ASSERT_EQ(Concatenate(chunks), tokenizer().Decode(ids, skip)) << "trial " << trial;
    }
  }
}

TEST_F(StreamDecoderTest, FinishStartsANewStream) {
  StreamDecoder decoder(tokenizer());
  std::string first, second;
  for (int32_t id : Ids("Hello")) first += decoder.Push(id);
  first += decoder.Finish();
  for (int32_t id : Ids("world")) second += decoder.Push(id);
  second += decoder.Finish();
  EXPECT_EQ(first, "Hello");
  EXPECT_EQ(second, "world");  // no space: a new stream starts a new text
}

TEST_F(StreamDecoderTest, PushingOnlySpecialTokensWhileSkippingYieldsNothing) {
  StreamDecoder decoder(tokenizer());
  std::vector<std::string> chunks;
  for (int32_t id : {1, 4, 7, 5, 2, 0}) chunks.push_back(decoder.Push(id));
  chunks.push_back(decoder.Finish());
  EXPECT_THAT(chunks, Each(IsEmpty()));
}

}  // namespace
}  // namespace jamba::testing
