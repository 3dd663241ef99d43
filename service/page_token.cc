// Page token encoding: "p1|<method>|<scope hash>|<key>", base64url without padding.
#include "service/page_token.h"

#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "service/auth.h"
#include "service/status_mapping.h"

namespace jamba::service {
namespace {

constexpr char kVersion[] = "p1";

// 16 hex digits of SHA-256 over tenant and parent: enough to tell scopes apart, and names nobody.
std::string ScopeHash(const PageScope& scope) {
  return Sha256Hex(absl::StrCat(scope.tenant, "\n", scope.parent)).substr(0, 16);
}

}  // namespace

std::string EncodePageToken(const PageScope& scope, absl::string_view key) {
  return absl::WebSafeBase64Escape(
      absl::StrCat(kVersion, "|", scope.method, "|", ScopeHash(scope), "|", key));
}

absl::StatusOr<std::string> DecodePageToken(const PageScope& scope, absl::string_view token) {
  std::string cursor;
  if (!absl::WebSafeBase64Unescape(token, &cursor)) {
    return InvalidField("page_token", "not a page token returned by this method");
  }
  std::vector<std::string> parts = absl::StrSplit(cursor, absl::MaxSplits('|', 3));
  if (parts.size() != 4 || parts[0] != kVersion || parts[1] != scope.method || parts[3].empty()) {
    return InvalidField("page_token", "not a page token returned by this method");
  }
  if (parts[2] != ScopeHash(scope)) {
    return InvalidField("page_token", "this page token belongs to another caller or another list");
  }
  return parts[3];
}

}  // namespace jamba::service
