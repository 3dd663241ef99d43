// API-key file parsing and request authentication.
#include "service/auth.h"

#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "openssl/evp.h"
#include "service/status_mapping.h"

namespace jamba::service {
namespace {

bool IsLowerHex(absl::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

std::string Sha256Hex(absl::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * length);
  for (unsigned int i = 0; i < length; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 15]);
  }
  return out;
}

bool IsValidTenant(absl::string_view tenant) {
  if (tenant.empty() || tenant.size() > 64 || tenant == "." || tenant == "..") return false;
  for (char c : tenant) {
    if (!(absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-')) {
      return false;
    }
  }
  return true;
}

std::string KeyFileLine(absl::string_view key, absl::string_view tenant) {
  return absl::StrCat(Sha256Hex(key), " ", tenant);
}

absl::StatusOr<Authenticator> Authenticator::FromKeyFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("api key file ", path, ": cannot be read"));
  std::stringstream text;
  text << in.rdbuf();
  return FromKeyFileText(text.str(), path);
}

absl::StatusOr<Authenticator> Authenticator::FromKeyFileText(absl::string_view text,
                                                             absl::string_view source) {
  Authenticator auth;
  auth.enabled_ = true;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    if (size_t hash = line.find('#'); hash != absl::string_view::npos) line = line.substr(0, hash);
    line = absl::StripAsciiWhitespace(line);
    if (line.empty()) continue;
    std::vector<absl::string_view> fields = absl::StrSplit(line, ' ', absl::SkipWhitespace());
    auto fail = [&](absl::string_view why) {
      return absl::InvalidArgumentError(absl::StrCat(source, ":", line_number, ": ", why));
    };
    if (fields.size() != 2) return fail("expected `<sha256-hex-of-key> <tenant>`");
    if (fields[0].size() != 64 || !IsLowerHex(fields[0])) {
      return fail("the key hash must be 64 lower-case hex digits (see `jambad hash-key`)");
    }
    if (!IsValidTenant(fields[1])) {
      return fail("the tenant must be 1-64 of [A-Za-z0-9_.-], not \".\" or \"..\"");
    }
    if (!auth.tenants_.emplace(std::string(fields[0]), std::string(fields[1])).second) {
      return fail("this key hash is listed twice");
    }
  }
  return auth;
}

absl::StatusOr<std::string> Authenticator::Authenticate(
    std::optional<absl::string_view> authorization) const {
  if (!enabled_) return std::string(kDefaultTenant);
  if (!authorization.has_value() || authorization->empty()) {
    return WithReason(
        absl::UnauthenticatedError("missing `authorization: Bearer <api key>` metadata"),
        kReasonApiKeyMissing);
  }
  // Exactly "Bearer <key>": a key with whitespace around it is not the key that was issued
  // (keys never contain whitespace), and accepting it would hide a client's bug.
  const absl::string_view value = *authorization;
  constexpr absl::string_view kScheme = "bearer ";
  if (value.size() <= kScheme.size() ||
      !absl::EqualsIgnoreCase(value.substr(0, kScheme.size()), kScheme)) {
    return WithReason(absl::UnauthenticatedError("authorization must be `Bearer <api key>`"),
                      kReasonApiKeyInvalid);
  }
  const absl::string_view key = value.substr(kScheme.size());
  if (key != absl::StripAsciiWhitespace(key)) {
    return WithReason(absl::UnauthenticatedError(
                          "the API key in `authorization: Bearer <api key>` has whitespace around "
                          "it; send the key exactly"),
                      kReasonApiKeyInvalid);
  }
  // Looked up by hash: the comparison never touches the key itself, so its timing says nothing
  // about stored keys.
  auto it = tenants_.find(Sha256Hex(key));
  if (it == tenants_.end()) {
    return WithReason(absl::UnauthenticatedError("unknown API key"), kReasonApiKeyInvalid);
  }
  return it->second;
}

}  // namespace jamba::service
