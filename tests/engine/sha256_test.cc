// Tests of engine/sha256 against the FIPS 180-2 test vectors.
#include "engine/sha256.h"

#include <string>

#include "gtest/gtest.h"

namespace jamba::engine {
namespace {

std::string HexOf(const std::string& bytes) {
  Sha256 hash;
  hash.Update(bytes);
  auto hex = hash.HexDigest();
  EXPECT_TRUE(hex.ok()) << hex.status();
  return hex.value_or("");
}

TEST(Sha256Test, MatchesKnownVectors) {
  EXPECT_EQ(HexOf(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(HexOf("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Sha256Test, IncrementalUpdatesEqualOneUpdate) {
  const std::string text = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  Sha256 hash;
  hash.Update(text.substr(0, 7));
  hash.Update("");
  hash.Update(text.substr(7));
  auto hex = hash.HexDigest();
  ASSERT_TRUE(hex.ok()) << hex.status();
  EXPECT_EQ(*hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(*hex, HexOf(text));
}

TEST(Sha256Test, ASecondDigestIsAnError) {
  Sha256 hash;
  ASSERT_TRUE(hash.HexDigest().ok());
  EXPECT_FALSE(hash.HexDigest().ok());
}

}  // namespace
}  // namespace jamba::engine
