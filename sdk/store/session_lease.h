// Session leases, the records: which replica may change a session until when, and the fencing
// number that orders its owners. A lease is a small sealed file LEASE.<fencing> in the session
// directory; the highest-numbered one is current. SessionStore takes, renews and releases them;
// this file holds the record format, who "this process" is, and the UNAVAILABLE status a session
// held elsewhere answers with. The protocol is in docs/session-format.md ("Sharing a store").
#ifndef JAMBA_SDK_STORE_SESSION_LEASE_H_
#define JAMBA_SDK_STORE_SESSION_LEASE_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "sdk/store/sealed_file.h"

namespace jamba::sdk {

struct LeaseRecord {
  std::string owner;        // the replica id of the store that took it
  uint64_t fencing = 0;     // the N of LEASE.<N>
  int64_t expiry_ms = 0;    // wall clock (Unix milliseconds); 0: released by its owner
  int64_t acquired_ms = 0;  // when it was taken
  int64_t last_use_ms = 0;  // the owner's last use of the session, as of the last write
  std::string host;         // the owner's machine and pid namespace (LocalHostKey), or ""
  int64_t pid = 0;          // the owner's process id in that namespace

  bool released() const { return expiry_ms == 0; }
};

// A sealed file of kind kLease (checksummed; encrypted with the store's key).
absl::StatusOr<std::string> EncodeLease(const LeaseRecord& lease, const EncryptionKey& key);
// DATA_LOSS when damaged, as every sealed file. `name` is used in messages.
absl::StatusOr<LeaseRecord> DecodeLease(std::string_view bytes, const EncryptionKey& key,
                                        const std::string& name);

// This machine's boot id and this process's pid namespace ("" when /proc does not say): two
// processes with the same key see each other's process ids.
std::string LocalHostKey();
// Whether `lease` was taken by a process of this machine and pid namespace that has exited, so
// that it can be taken over before it expires (a restarted replica takes its sessions back at
// once). False whenever that cannot be known.
bool OwnerHasExited(const LeaseRecord& lease);
// "<hostname>:<pid>:<random>": unique among processes, on any number of hosts.
std::string DefaultOwnerId();

// UNAVAILABLE: another replica (`owner`) holds the lease of `session` for `retry_after` more.
// Nothing was done, so the call can be retried as it is, after `retry_after` or elsewhere.
absl::Status OwnedElsewhere(const std::string& session, const std::string& owner,
                            absl::Duration retry_after);
struct LeaseOwner {
  std::string owner;
  absl::Duration retry_after;
};
// The owner and retry delay of an OwnedElsewhere status; none for any other status.
std::optional<LeaseOwner> OwnedElsewhereOf(const absl::Status& status);

}  // namespace jamba::sdk

#endif  // JAMBA_SDK_STORE_SESSION_LEASE_H_
