// Session directory names and listings.
#include "sdk/store/session_files.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "sdk/store/durable_file.h"

namespace jamba::sdk {
namespace {

constexpr absl::string_view kManifestPrefix = "MANIFEST";
constexpr absl::string_view kLeasePrefix = "LEASE.";

// A decimal number without sign or leading zeros (so that each number has one name).
std::optional<uint64_t> Number(absl::string_view text) {
  if (text.empty() || text.size() > 20 || (text.size() > 1 && text[0] == '0')) return std::nullopt;
  if (!std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  uint64_t value = 0;
  if (!absl::SimpleAtoi(text, &value)) return std::nullopt;
  return value;
}

}  // namespace

std::string ManifestFileName(uint64_t generation) {
  if (generation == 0) return std::string(kManifestPrefix);
  return absl::StrCat(kManifestPrefix, ".", generation);
}

std::string LeaseFileName(uint64_t fencing) { return absl::StrCat(kLeasePrefix, fencing); }

std::optional<uint64_t> DataFileNumber(absl::string_view name) {
  if (absl::ConsumePrefix(&name, "seg-")) {
    if (!absl::ConsumeSuffix(&name, ".kv")) return std::nullopt;
  } else if (absl::ConsumePrefix(&name, "ckpt-")) {
    if (!absl::ConsumeSuffix(&name, ".state")) return std::nullopt;
  } else {
    return std::nullopt;
  }
  return Number(name);
}

std::optional<uint64_t> SessionDirListing::current_manifest() const {
  if (manifests.empty()) return std::nullopt;
  return manifests.back();
}

absl::StatusOr<SessionDirListing> ListSessionDir(const std::string& dir) {
  absl::StatusOr<std::vector<std::string>> names = ListDirectory(dir);
  if (!names.ok()) return names.status();
  SessionDirListing listing;
  for (const std::string& name : *names) {
    absl::string_view rest = name;
    if (name == kManifestPrefix) {
      listing.manifests.push_back(0);
    } else if (absl::ConsumePrefix(&rest, kManifestPrefix) && absl::ConsumePrefix(&rest, ".")) {
      std::optional<uint64_t> generation = Number(rest);
      if (generation.has_value() && *generation > 0) listing.manifests.push_back(*generation);
    } else if (absl::ConsumePrefix(&rest, kLeasePrefix)) {
      std::optional<uint64_t> fencing = Number(rest);
      if (fencing.has_value() && *fencing > 0) listing.leases.push_back(*fencing);
    } else if (absl::StartsWith(name, kTempPrefix)) {
      listing.temps.push_back(name);
    } else if (DataFileNumber(name).has_value()) {
      listing.data_files.push_back(name);
    }
  }
  std::sort(listing.manifests.begin(), listing.manifests.end());
  std::sort(listing.leases.begin(), listing.leases.end());
  return listing;
}

}  // namespace jamba::sdk
