// Page tokens of the list methods: base64url (no padding) of a small cursor holding the method, a
// hash of the tenant (and of the parent, for ListCheckpoints) and the sort key of the last item
// returned. A token marks a position, not an offset, so items created or deleted between pages
// cause no repeats; it never expires, and one from another tenant, method or parent is rejected.
#ifndef JAMBA_SERVICE_PAGE_TOKEN_H_
#define JAMBA_SERVICE_PAGE_TOKEN_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace jamba::service {

struct PageScope {
  absl::string_view method;  // "ListSessions", "ListCheckpoints"
  absl::string_view tenant;
  absl::string_view parent;  // "" for ListSessions
};

std::string EncodePageToken(const PageScope& scope, absl::string_view key);
// The key of a token made by EncodePageToken for the same scope; INVALID_ARGUMENT naming
// `page_token` otherwise.
absl::StatusOr<std::string> DecodePageToken(const PageScope& scope, absl::string_view token);

}  // namespace jamba::service

#endif  // JAMBA_SERVICE_PAGE_TOKEN_H_
