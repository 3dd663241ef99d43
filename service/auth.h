// API-key authentication. Keys live in a file as SHA-256 hashes, one `<sha256-hex-of-key> <tenant>`
// line each (# starts a comment) (`jambad hash-key` prints such a line), so the file never holds a
// usable key. Clients send `authorization: Bearer <key>`; the key's tenant scopes everything the
// call can see. Without a key file, authentication is off and every caller is the tenant "default".
#ifndef JAMBA_SERVICE_AUTH_H_
#define JAMBA_SERVICE_AUTH_H_

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace jamba::service {

inline constexpr char kDefaultTenant[] = "default";

// Lower-case hex SHA-256.
std::string Sha256Hex(absl::string_view data);
// Tenants are 1-64 of [A-Za-z0-9_.-], not "." or ".." (they name directories of the session store).
bool IsValidTenant(absl::string_view tenant);
// The key-file line for `key` (no newline).
std::string KeyFileLine(absl::string_view key, absl::string_view tenant);

// Immutable once built; safe to use from any thread.
class Authenticator {
 public:
  // Authentication off: every caller is kDefaultTenant.
  Authenticator() = default;
  // Errors name the file and line: a malformed line, a bad tenant, a repeated key.
  static absl::StatusOr<Authenticator> FromKeyFile(const std::string& path);
  static absl::StatusOr<Authenticator> FromKeyFileText(absl::string_view text,
                                                       absl::string_view source);

  bool enabled() const { return enabled_; }
  size_t key_count() const { return tenants_.size(); }

  // The tenant of the value of the `authorization` header (nullopt: header absent).
  // UNAUTHENTICATED with reason API_KEY_MISSING or API_KEY_INVALID.
  absl::StatusOr<std::string> Authenticate(std::optional<absl::string_view> authorization) const;

 private:
  bool enabled_ = false;
  absl::flat_hash_map<std::string, std::string> tenants_;  // sha256 hex of key -> tenant
};

}  // namespace jamba::service

#endif  // JAMBA_SERVICE_AUTH_H_
