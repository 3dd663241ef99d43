// auth: the hashed API key file and `authorization: Bearer` handling.
#include "service/auth.h"

#include "gtest/gtest.h"
#include "service/status_mapping.h"

namespace jamba::service {
namespace {

TEST(AuthTest, Sha256HexIsTheStandardDigest) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(AuthTest, KeyFileLinesMapKeysToTenants) {
  const std::string text = "# jambad keys\n\n" + KeyFileLine("alpha-key", "acme") + "\n" +
                           KeyFileLine("beta-key", "globex") + "  # ops\n";
  auto auth = Authenticator::FromKeyFileText(text, "keys");
  ASSERT_TRUE(auth.ok()) << auth.status();
  EXPECT_TRUE(auth->enabled());
  EXPECT_EQ(auth->key_count(), 2u);
  EXPECT_EQ(*auth->Authenticate("Bearer alpha-key"), "acme");
  EXPECT_EQ(*auth->Authenticate("bearer beta-key"), "globex");
}

TEST(AuthTest, MissingAndUnknownKeysAreUnauthenticatedWithTheirReasons) {
  auto auth = Authenticator::FromKeyFileText(KeyFileLine("alpha-key", "acme"), "keys");
  ASSERT_TRUE(auth.ok());
  auto missing = auth->Authenticate(std::nullopt);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(ReasonOf(missing.status()), "API_KEY_MISSING");
  auto wrong = auth->Authenticate("Bearer nope");
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(ReasonOf(wrong.status()), "API_KEY_INVALID");
  EXPECT_EQ(auth->Authenticate("Basic alpha-key").status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST(AuthTest, AKeyWithWhitespaceAroundItIsNotTheKey) {
  auto auth = Authenticator::FromKeyFileText(KeyFileLine("alpha-key", "acme"), "keys");
  ASSERT_TRUE(auth.ok());
  for (const char* value : {"Bearer alpha-key ", "Bearer  alpha-key", "Bearer alpha-key\t",
                            " Bearer alpha-key", "Bearer alpha-key\n"}) {
    auto tenant = auth->Authenticate(value);
    EXPECT_EQ(tenant.status().code(), absl::StatusCode::kUnauthenticated) << value;
    EXPECT_EQ(ReasonOf(tenant.status()), "API_KEY_INVALID") << value;
  }
  EXPECT_EQ(*auth->Authenticate("Bearer alpha-key"), "acme");
}

TEST(AuthTest, WithoutAKeyFileEveryoneIsTheDefaultTenant) {
  Authenticator off;
  EXPECT_FALSE(off.enabled());
  EXPECT_EQ(*off.Authenticate(std::nullopt), "default");
  EXPECT_EQ(*off.Authenticate("Bearer anything"), "default");
}

TEST(AuthTest, BadLinesAreReportedWithTheirLineNumber) {
  const std::string good = KeyFileLine("k", "acme");
  auto short_hash = Authenticator::FromKeyFileText("# c\nabc acme\n", "keys.txt");
  EXPECT_EQ(short_hash.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(short_hash.status().message().find("keys.txt:2"), std::string::npos);
  auto bad_tenant = Authenticator::FromKeyFileText(good.substr(0, 64) + " ../etc\n", "k");
  EXPECT_NE(bad_tenant.status().message().find("k:1"), std::string::npos);
  auto repeated = Authenticator::FromKeyFileText(good + "\n" + good + "\n", "k");
  EXPECT_NE(repeated.status().message().find("k:2"), std::string::npos);
  auto extra = Authenticator::FromKeyFileText(good + " more\n", "k");
  EXPECT_EQ(extra.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(AuthTest, TenantNamesAreSafeDirectoryNames) {
  EXPECT_TRUE(IsValidTenant("acme-corp_1.eu"));
  EXPECT_FALSE(IsValidTenant(""));
  EXPECT_FALSE(IsValidTenant(".."));
  EXPECT_FALSE(IsValidTenant("a/b"));
  EXPECT_FALSE(IsValidTenant(std::string(65, 'a')));
}

}  // namespace
}  // namespace jamba::service
