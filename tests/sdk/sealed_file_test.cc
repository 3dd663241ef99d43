// The sealed container of every session file: sections survive a round trip, and every kind of
// damage (a flipped bit anywhere, truncation, trailing bytes, a file of another kind or format
// version, a wrong or missing key) is reported with the code and section the format promises.
#include "sdk/store/sealed_file.h"

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sdk/store/crc32c.h"
#include "tests/sdk/sealed_layout.h"
#include "tests/util/test_util.h"

namespace jamba::sdk {
namespace {

using ::testing::HasSubstr;

constexpr size_t kHeaderSize = 24;

std::string KeyA() { return std::string(32, 'a'); }
std::string KeyB() { return std::string(32, 'b'); }

std::string Floats(int n, float base) {
  std::string bytes;
  for (int i = 0; i < n; ++i) {
    const float v = base + 0.25f * static_cast<float>(i);
    bytes.append(reinterpret_cast<const char*>(&v), sizeof(v));
  }
  return bytes;
}

// The sections each file kind holds in the store, with realistic payloads.
std::vector<Section> SectionsOf(FileKind kind) {
  switch (kind) {
    case FileKind::kStoreMarker:
      return {{SectionTag::kMeta, 0, R"({"format":"jamba-session-store"})"}};
    case FileKind::kManifest:
      return {{SectionTag::kMeta, 0, R"({"version":1,"id":"doc"})"}};
    case FileKind::kSegment:
      return {{SectionTag::kMeta, 0, R"({"begin":0,"end":3})"},
              {SectionTag::kTokens, 0, std::string("\x01\0\0\0\x07\0\0\0\x09\0\0\0", 12)},
              {SectionTag::kKeys, 2, Floats(12, 1.0f)},
              {SectionTag::kValues, 2, Floats(12, -1.0f)},
              {SectionTag::kKeys, 6, Floats(12, 2.0f)},
              {SectionTag::kValues, 6, Floats(12, -2.0f)}};
    case FileKind::kCheckpoint:
      return {
          {SectionTag::kMeta, 0, R"({"position":3})"}, {SectionTag::kConv, 0, Floats(6, 0.5f)},
          {SectionTag::kSsm, 0, Floats(8, 1.5f)},      {SectionTag::kConv, 1, Floats(6, 3.5f)},
          {SectionTag::kSsm, 1, Floats(8, 4.5f)},      {SectionTag::kLogits, 0, Floats(16, -3.0f)}};
    case FileKind::kLease:
      return {{SectionTag::kMeta, 0, R"({"owner":"host:1:ab","fencing":2,"expiry_ms":1})"}};
  }
  return {};
}

const FileKind kAllKinds[] = {FileKind::kStoreMarker, FileKind::kManifest, FileKind::kSegment,
                              FileKind::kCheckpoint, FileKind::kLease};

std::string Encode(FileKind kind, const EncryptionKey& key) {
  auto bytes = EncodeSealedFile(kind, SectionsOf(kind), key);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return bytes.ok() ? *bytes : std::string();
}

void ExpectSameSections(const std::vector<Section>& actual, const std::vector<Section>& expected) {
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < actual.size(); ++i) {
    EXPECT_EQ(actual[i].tag, expected[i].tag) << "section " << i;
    EXPECT_EQ(actual[i].index, expected[i].index) << "section " << i;
    EXPECT_EQ(actual[i].payload, expected[i].payload) << "section " << i;
  }
}

TEST(Crc32cTest, MatchesTheCastagnoliCheckValue) {
  EXPECT_EQ(Crc32c("123456789", 9), 0xe3069283u);
  // Extending in pieces gives the same checksum as one pass.
  EXPECT_EQ(Crc32c("6789", 4, Crc32c("12345", 5)), 0xe3069283u);
}

TEST(SealedFileTest, PlaintextRoundTripKeepsEverySection) {
  for (FileKind kind : kAllKinds) {
    const std::string bytes = Encode(kind, std::nullopt);
    auto decoded = DecodeSealedFile(bytes, kind, std::nullopt, "f");
    ASSERT_TRUE(decoded.ok()) << FileKindName(kind) << ": " << decoded.status();
    ExpectSameSections(*decoded, SectionsOf(kind));
  }
}

TEST(SealedFileTest, EncryptedRoundTripKeepsEverySectionAndHidesThePayload) {
  for (FileKind kind : kAllKinds) {
    const std::string bytes = Encode(kind, KeyA());
    auto decoded = DecodeSealedFile(bytes, kind, KeyA(), "f");
    ASSERT_TRUE(decoded.ok()) << FileKindName(kind) << ": " << decoded.status();
    ExpectSameSections(*decoded, SectionsOf(kind));
    // The META JSON must not appear in clear text.
    EXPECT_EQ(bytes.find(SectionsOf(kind)[0].payload), std::string::npos);
    // A fresh nonce per file: the same content encrypts differently each time.
    EXPECT_NE(Encode(kind, KeyA()), bytes);
  }
}

TEST(SealedFileTest, EmptyAndLargePayloadsRoundTrip) {
  const std::vector<Section> sections = {{SectionTag::kMeta, 0, ""},
                                         {SectionTag::kKeys, 7, std::string(1 << 20, '\x5a')}};
  for (const EncryptionKey& key : {EncryptionKey(), EncryptionKey(KeyA())}) {
    auto bytes = EncodeSealedFile(FileKind::kSegment, sections, key);
    ASSERT_TRUE(bytes.ok()) << bytes.status();
    auto decoded = DecodeSealedFile(*bytes, FileKind::kSegment, key, "big");
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    ExpectSameSections(*decoded, sections);
  }
}

TEST(SealedFileTest, FlippedBitInEachSectionOfEachFileKindIsDataLossNamingTheSection) {
  for (FileKind kind : kAllKinds) {
    const std::string good = Encode(kind, std::nullopt);
    const std::vector<testing::SectionSpan> layout = testing::SealedLayout(good);
    ASSERT_EQ(layout.size(), SectionsOf(kind).size() + 1);  // + END
    for (const testing::SectionSpan& s : layout) {
      std::string bad = good;
      bad[s.InteriorByte()] ^= 0x10;
      auto decoded = DecodeSealedFile(bad, kind, std::nullopt, "victim.file");
      ASSERT_FALSE(decoded.ok()) << FileKindName(kind) << " " << s.name();
      EXPECT_EQ(decoded.status().code(), absl::StatusCode::kDataLoss) << decoded.status();
      EXPECT_THAT(decoded.status().message(), HasSubstr("victim.file"));
      EXPECT_THAT(decoded.status().message(),
                  HasSubstr("checksum mismatch in section " + s.name()));
    }
  }
}

TEST(SealedFileTest, EveryPossibleSingleBitFlipIsDataLoss) {
  for (FileKind kind : {FileKind::kSegment, FileKind::kCheckpoint}) {
    for (const EncryptionKey& key : {EncryptionKey(), EncryptionKey(KeyA())}) {
      const std::string good = Encode(kind, key);
      for (size_t byte = 0; byte < good.size(); ++byte) {
        for (int bit = 0; bit < 8; ++bit) {
          std::string bad = good;
          bad[byte] ^= static_cast<char>(1 << bit);
          auto decoded = DecodeSealedFile(bad, kind, key, "f");
          ASSERT_FALSE(decoded.ok()) << "byte " << byte << " bit " << bit;
          ASSERT_EQ(decoded.status().code(), absl::StatusCode::kDataLoss)
              << "byte " << byte << " bit " << bit << ": " << decoded.status();
        }
      }
    }
  }
}

TEST(SealedFileTest, FlippedHeaderBitIsHeaderChecksumMismatch) {
  const std::string good = Encode(FileKind::kCheckpoint, std::nullopt);
  for (size_t byte = 8; byte < kHeaderSize; ++byte) {  // version, kind, flags, checksum
    std::string bad = good;
    bad[byte] ^= 0x01;
    auto decoded = DecodeSealedFile(bad, FileKind::kCheckpoint, std::nullopt, "f");
    EXPECT_EQ(decoded.status().code(), absl::StatusCode::kDataLoss) << "byte " << byte;
    EXPECT_THAT(decoded.status().message(), HasSubstr("header checksum mismatch"));
  }
}

TEST(SealedFileTest, TruncationAtEverySectionBoundaryIsDataLoss) {
  const std::string good = Encode(FileKind::kSegment, std::nullopt);
  for (const testing::SectionSpan& s : testing::SealedLayout(good)) {
    auto decoded = DecodeSealedFile(std::string_view(good).substr(0, s.header), FileKind::kSegment,
                                    std::nullopt, "seg");
    EXPECT_EQ(decoded.status().code(), absl::StatusCode::kDataLoss) << "cut before " << s.name();
    EXPECT_THAT(decoded.status().message(), HasSubstr("truncated"));
  }
}

TEST(SealedFileTest, TruncationInsideASectionIsDataLossNamingIt) {
  const std::string good = Encode(FileKind::kCheckpoint, std::nullopt);
  for (const testing::SectionSpan& s : testing::SealedLayout(good)) {
    if (s.length == 0) continue;
    auto decoded = DecodeSealedFile(std::string_view(good).substr(0, s.payload + s.length / 2),
                                    FileKind::kCheckpoint, std::nullopt, "ckpt");
    EXPECT_EQ(decoded.status().code(), absl::StatusCode::kDataLoss) << s.name();
    EXPECT_THAT(decoded.status().message(), HasSubstr("truncated inside section " + s.name()));
  }
}

TEST(SealedFileTest, TruncationAtAnyLengthIsDataLoss) {
  for (const EncryptionKey& key : {EncryptionKey(), EncryptionKey(KeyA())}) {
    const std::string good = Encode(FileKind::kCheckpoint, key);
    for (size_t cut = 0; cut < good.size(); ++cut) {
      auto decoded = DecodeSealedFile(std::string_view(good).substr(0, cut), FileKind::kCheckpoint,
                                      key, "ckpt");
      ASSERT_EQ(decoded.status().code(), absl::StatusCode::kDataLoss)
          << "cut at " << cut << ": " << decoded.status();
    }
  }
}

TEST(SealedFileTest, BytesAfterEndAreDataLoss) {
  const std::string good = Encode(FileKind::kManifest, std::nullopt);
  auto decoded = DecodeSealedFile(good + "x", FileKind::kManifest, std::nullopt, "MANIFEST");
  EXPECT_EQ(decoded.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(decoded.status().message(), HasSubstr("unexpected bytes after the END section"));
  // Encrypted: the appended byte breaks authentication.
  const std::string sealed = Encode(FileKind::kManifest, KeyA());
  decoded = DecodeSealedFile(sealed + "x", FileKind::kManifest, KeyA(), "MANIFEST");
  EXPECT_EQ(decoded.status().code(), absl::StatusCode::kDataLoss);
}

TEST(SealedFileTest, FileOfAnotherKindIsDataLossNamingBothKinds) {
  const std::string segment = Encode(FileKind::kSegment, std::nullopt);
  auto decoded = DecodeSealedFile(segment, FileKind::kCheckpoint, std::nullopt, "ckpt-2.state");
  EXPECT_EQ(decoded.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(decoded.status().message(),
              HasSubstr("ckpt-2.state: is a KV segment file, expected a checkpoint"));
}

TEST(SealedFileTest, BadMagicIsDataLoss) {
  std::string bad = Encode(FileKind::kManifest, std::nullopt);
  bad[0] = 'X';
  auto decoded = DecodeSealedFile(bad, FileKind::kManifest, std::nullopt, "MANIFEST");
  EXPECT_EQ(decoded.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(decoded.status().message(), HasSubstr("bad magic"));
}

TEST(SealedFileTest, UnknownFormatVersionIsFailedPrecondition) {
  std::string future = Encode(FileKind::kManifest, std::nullopt);
  future[8] = 4;  // version 4, with a header checksum that matches it
  const uint32_t crc = Crc32c(future.data(), 20);
  for (int i = 0; i < 4; ++i) future[20 + i] = static_cast<char>((crc >> (8 * i)) & 0xff);
  auto decoded = DecodeSealedFile(future, FileKind::kManifest, std::nullopt, "MANIFEST");
  EXPECT_EQ(decoded.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(decoded.status().message(), HasSubstr("format version 4 is not supported"));
  EXPECT_THAT(decoded.status().message(), HasSubstr("versions 1 to 3"));
}

TEST(SealedFileTest, WrongKeyIsDataLossAuthenticationFailure) {
  const std::string bytes = Encode(FileKind::kCheckpoint, KeyA());
  auto decoded = DecodeSealedFile(bytes, FileKind::kCheckpoint, KeyB(), "ckpt");
  EXPECT_EQ(decoded.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(decoded.status().message(), HasSubstr("authentication failed"));
}

TEST(SealedFileTest, EncryptedFileWithoutKeyIsFailedPrecondition) {
  const std::string bytes = Encode(FileKind::kSegment, KeyA());
  auto decoded = DecodeSealedFile(bytes, FileKind::kSegment, std::nullopt, "seg");
  EXPECT_EQ(decoded.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(decoded.status().message(), HasSubstr("no encryption key"));
}

TEST(SealedFileTest, PlaintextFileWithKeyIsFailedPrecondition) {
  const std::string bytes = Encode(FileKind::kSegment, std::nullopt);
  auto decoded = DecodeSealedFile(bytes, FileKind::kSegment, KeyA(), "seg");
  EXPECT_EQ(decoded.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(decoded.status().message(), HasSubstr("not encrypted"));
}

TEST(SealedFileTest, KeyOfTheWrongSizeIsInvalidArgument) {
  const EncryptionKey short_key = std::string(16, 'k');
  auto encoded = EncodeSealedFile(FileKind::kManifest, SectionsOf(FileKind::kManifest), short_key);
  EXPECT_EQ(encoded.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string sealed = Encode(FileKind::kManifest, KeyA());
  auto decoded = DecodeSealedFile(sealed, FileKind::kManifest, short_key, "MANIFEST");
  EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(SealedFileTest, KeyFileHoldsRawBytesOrHex) {
  testing::TempDir dir;
  testing::WriteFile(dir.File("raw"), KeyA());
  auto raw = LoadEncryptionKey(dir.File("raw"));
  ASSERT_TRUE(raw.ok()) << raw.status();
  EXPECT_EQ(*raw, KeyA());
  testing::WriteFile(dir.File("hex"),
                     "  000102030405060708090a0b0c0d0e0f101112131415161718191A1B1C1D1E1F\n");
  auto hex = LoadEncryptionKey(dir.File("hex"));
  ASSERT_TRUE(hex.ok()) << hex.status();
  ASSERT_EQ(hex->size(), 32u);
  for (int i = 0; i < 32; ++i) EXPECT_EQ(static_cast<uint8_t>((*hex)[i]), i);
  testing::WriteFile(dir.File("short"), "abc");
  EXPECT_EQ(LoadEncryptionKey(dir.File("short")).status().code(),
            absl::StatusCode::kInvalidArgument);
  testing::WriteFile(dir.File("nothex"), std::string(64, 'z'));
  EXPECT_EQ(LoadEncryptionKey(dir.File("nothex")).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LoadEncryptionKey(dir.File("missing")).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace jamba::sdk
