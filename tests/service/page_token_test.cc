// page_token: opaque, bound to tenant, method and parent.
#include "service/page_token.h"

#include "gtest/gtest.h"

namespace jamba::service {
namespace {

TEST(PageTokenTest, RoundTripsTheKeyForTheSameScope) {
  const PageScope scope{"ListSessions", "acme", ""};
  const std::string token = EncodePageToken(scope, "MTcwMDAwOmRvYw");
  EXPECT_EQ(token.find('='), std::string::npos);  // no padding
  EXPECT_EQ(*DecodePageToken(scope, token), "MTcwMDAwOmRvYw");
}

TEST(PageTokenTest, AnotherTenantMethodOrParentIsRefused) {
  const std::string token = EncodePageToken({"ListCheckpoints", "acme", "sessions/a"}, "42");
  EXPECT_EQ(DecodePageToken({"ListCheckpoints", "globex", "sessions/a"}, token).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(DecodePageToken({"ListSessions", "acme", "sessions/a"}, token).ok());
  EXPECT_FALSE(DecodePageToken({"ListCheckpoints", "acme", "sessions/b"}, token).ok());
  EXPECT_TRUE(DecodePageToken({"ListCheckpoints", "acme", "sessions/a"}, token).ok());
}

TEST(PageTokenTest, GarbageIsRefused) {
  const PageScope scope{"ListSessions", "acme", ""};
  EXPECT_FALSE(DecodePageToken(scope, "not base64!").ok());
  EXPECT_FALSE(DecodePageToken(scope, "aGVsbG8").ok());  // "hello"
}

}  // namespace
}  // namespace jamba::service
