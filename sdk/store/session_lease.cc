// Lease records, the local-process liveness check and the owned-elsewhere status.
#include "sdk/store/session_lease.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <fstream>
#include <random>
#include <sstream>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "nlohmann/json.hpp"

namespace jamba::sdk {
namespace {

using Json = nlohmann::json;

constexpr char kOwnerPayloadKey[] = "jamba.ai/session-owner";

std::string ReadSmallFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return std::string(absl::StripAsciiWhitespace(text.str()));
}

}  // namespace

absl::StatusOr<std::string> EncodeLease(const LeaseRecord& lease, const EncryptionKey& key) {
  const Json meta = {{"owner", lease.owner},
                     {"fencing", lease.fencing},
                     {"expiry_ms", lease.expiry_ms},
                     {"acquired_ms", lease.acquired_ms},
                     {"last_use_ms", lease.last_use_ms},
                     {"host", lease.host},
                     {"pid", lease.pid}};
  return EncodeSealedFile(FileKind::kLease, {{SectionTag::kMeta, 0, meta.dump()}}, key);
}

absl::StatusOr<LeaseRecord> DecodeLease(std::string_view bytes, const EncryptionKey& key,
                                        const std::string& name) {
  absl::StatusOr<std::vector<Section>> sections =
      DecodeSealedFile(bytes, FileKind::kLease, key, name);
  if (!sections.ok()) return sections.status();
  if (sections->empty() || (*sections)[0].tag != SectionTag::kMeta) {
    return absl::DataLossError(absl::StrCat(name, ": missing META section"));
  }
  const Json meta = Json::parse((*sections)[0].payload, nullptr, /*allow_exceptions=*/false);
  if (meta.is_discarded() || !meta.is_object()) {
    return absl::DataLossError(absl::StrCat(name, ": META is not a JSON object"));
  }
  LeaseRecord lease;
  try {
    lease.owner = meta.at("owner").get<std::string>();
    lease.fencing = meta.at("fencing").get<uint64_t>();
    lease.expiry_ms = meta.at("expiry_ms").get<int64_t>();
    lease.acquired_ms = meta.at("acquired_ms").get<int64_t>();
    lease.last_use_ms = meta.at("last_use_ms").get<int64_t>();
    lease.host = meta.at("host").get<std::string>();
    lease.pid = meta.at("pid").get<int64_t>();
  } catch (const Json::exception& e) {
    return absl::DataLossError(
        absl::StrCat(name, ": lease field missing or of the wrong type: ", e.what()));
  }
  return lease;
}

std::string LocalHostKey() {
  const std::string boot_id = ReadSmallFile("/proc/sys/kernel/random/boot_id");
  char link[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/ns/pid", link, sizeof(link) - 1);
  if (boot_id.empty() || n <= 0) return "";
  return absl::StrCat(boot_id, "/", absl::string_view(link, static_cast<size_t>(n)));
}

bool OwnerHasExited(const LeaseRecord& lease) {
  if (lease.host.empty() || lease.pid <= 0 || lease.pid > INT_MAX) return false;
  if (lease.pid == ::getpid() || lease.host != LocalHostKey()) return false;
  // A stopped process still exists; only one that is gone is dead. A reused pid reads as alive,
  // which only means waiting for the lease to expire.
  return ::kill(static_cast<pid_t>(lease.pid), 0) != 0 && errno == ESRCH;
}

std::string DefaultOwnerId() {
  char host[256] = {};
  const std::string name =
      ::gethostname(host, sizeof(host) - 1) == 0 && host[0] != '\0' ? host : "host";
  std::random_device random;
  return absl::StrFormat("%s:%d:%08x", name, ::getpid(), random());
}

absl::Status OwnedElsewhere(const std::string& session, const std::string& owner,
                            absl::Duration retry_after) {
  absl::Status status = absl::UnavailableError(
      absl::StrCat("session \"", session, "\" is in use by replica ", owner,
                   " (it holds the session's lease); nothing was done: retry in ",
                   absl::FormatDuration(absl::Ceil(retry_after, absl::Milliseconds(1))),
                   ", or send the session's calls to that replica"));
  status.SetPayload(kOwnerPayloadKey,
                    absl::Cord(absl::StrCat(absl::ToInt64Milliseconds(retry_after), " ", owner)));
  return status;
}

std::optional<LeaseOwner> OwnedElsewhereOf(const absl::Status& status) {
  if (status.code() != absl::StatusCode::kUnavailable) return std::nullopt;
  const auto payload = status.GetPayload(kOwnerPayloadKey);
  if (!payload.has_value()) return std::nullopt;
  const std::string text(*payload);
  const size_t space = text.find(' ');
  int64_t ms = 0;
  if (space == std::string::npos || !absl::SimpleAtoi(text.substr(0, space), &ms)) {
    return std::nullopt;
  }
  return LeaseOwner{text.substr(space + 1), absl::Milliseconds(ms)};
}

}  // namespace jamba::sdk
