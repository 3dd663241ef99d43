// SessionStore: persisted sessions on disk, one directory per session under
// <root>/tenants/<tenant>/sessions/<id>/. KV is written in append-only segments, Mamba state in
// checkpoint files; both are immutable once written. A session changes only by publishing a new
// generation of its manifest (MANIFEST.<generation>, created with link(2) so that exactly one
// publisher of a generation wins), so a crash at any instant leaves the last committed state.
// Sessions are bound to the model fingerprint and record the precision they are computed with
// (KV dtype, activations); every file is checksummed and optionally AES-256-GCM encrypted. A
// plaintext segment's KV rows are page-aligned in the file, so resuming maps them and uses them in
// place; their checksums are checked before their first use.
//
// Several stores (processes, hosts) may open one root on a shared filesystem. Each session has a
// lease (LEASE.<fencing>): the store that holds it is the only one that changes the session;
// every change checks it, and a publication by a store whose lease was taken over (a paused or
// partitioned replica) is refused, never published over a newer state. Reads of the committed
// state (Get, List, Load) need no lease. The on-disk format and the protocol are specified in
// docs/session-format.md.
//
// Thread-safety: calls on different sessions may run concurrently; the caller serializes calls on
// one session (SessionManager does).
#ifndef JAMBA_SDK_STORE_SESSION_STORE_H_
#define JAMBA_SDK_STORE_SESSION_STORE_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "engine/sequence_state.h"
#include "sdk/store/sealed_file.h"
#include "sdk/store/session_lease.h"
#include "sdk/store/session_manifest.h"

namespace jamba::sdk {

struct SessionStoreOptions {
  std::string root;
  std::string model_fingerprint;
  EncryptionKey key;                          // 32 bytes, or none for plaintext
  uint64_t max_bytes = 0;                     // disk quota for the whole store; 0: none
  absl::Duration ttl = absl::ZeroDuration();  // idle sessions older than this are deleted; 0: never
  // Sessions the store must not evict or expire (held by a live operation).
  std::function<bool(const std::string& tenant, const std::string& id)> is_pinned;
  // Told about every session the store deleted on its own (quota or TTL).
  std::function<void(const std::string& tenant, const std::string& id)> on_evicted;
  // What sessions are computed with here. New sessions record it; a session recorded with
  // another KV dtype or other activations is refused (FAILED_PRECONDITION, naming both) instead
  // of being resumed under settings it was not computed with. kv_dtype: fp32, bf16 or int8.
  kernels::KvDType kv_dtype = kernels::KvDType::kF32;
  std::string activations = "fp32";
  std::string precision = "exact";
  // Sharing the root with other stores (docs/session-format.md, "Sharing a store"). This store's
  // replica id, written into the leases it takes: unique among the processes that share the
  // root. "": hostname:pid:random.
  std::string owner_id;
  // How long a lease lasts unless renewed. A lease is renewed every lease_ttl / 3 while its session
  // is in use, released after lease_ttl unused, and taken over by another store lease_ttl after
  // its owner stopped renewing it (at once when the owner was a process of this machine that has
  // exited).
  absl::Duration lease_ttl = absl::Seconds(10);
  // A deleted session leaves a tombstone (its last manifest generation) for this long, so that a
  // late write of a replica that was paused in the middle of it is still refused; then its
  // directory is removed.
  absl::Duration tombstone_age = absl::Hours(1);
};

// When Load checks the KV rows it maps in place.
enum class KvVerification {
  kBeforeFirstUse,  // before the first forward pass reads them (KvCache::Verify): resume costs
                    // what the Mamba state and the token ids cost, not what the KV does
  kNow,             // before Load returns (a damaged segment fails the Load)
};

class SessionStore {
 public:
  // Opens (or initialises) the store; deletes files left by interrupted commits in sessions no
  // other store holds. Fails with FAILED_PRECONDITION when the encryption key does not match the
  // one the store was created with, when a build older than format version 3 has the store open
  // (it takes LOCK exclusively), or when the filesystem cannot make hard links.
  static absl::StatusOr<std::unique_ptr<SessionStore>> Open(SessionStoreOptions options);
  // Releases every lease this store holds.
  ~SessionStore();
  SessionStore(const SessionStore&) = delete;
  SessionStore& operator=(const SessionStore&) = delete;

  // Ids: 1-63 of [a-z0-9-], starting with a letter or digit. Tenants: 1-64 of [A-Za-z0-9_.-], not
  // "." or "..". Never used as paths before validation.
  static absl::Status ValidateSessionId(const std::string& id);
  static absl::Status ValidateTenant(const std::string& tenant);

  // ---- Leases ----
  // A session's lease, held by this store: renewed while the hold lives (the session is "in
  // use") and kept until the session has been unused for lease_ttl, then released. Move-only.
  class LeaseHold {
   public:
    LeaseHold(LeaseHold&& other) noexcept;
    LeaseHold& operator=(LeaseHold&& other) noexcept;
    ~LeaseHold();
    uint64_t fencing() const { return fencing_; }

   private:
    friend class SessionStore;
    struct Entry;  // the in-process state of one session's lease (defined below)
    LeaseHold(SessionStore* store, std::pair<std::string, std::string> key,
              std::shared_ptr<Entry> entry);
    void Reset();
    SessionStore* store_ = nullptr;
    std::pair<std::string, std::string> key_;
    std::shared_ptr<Entry> entry_;
    uint64_t fencing_ = 0;
  };
  // Takes (or confirms, when this store holds it) the lease of an existing session: NOT_FOUND
  // when there is no such session; UNAVAILABLE (OwnedElsewhereOf names the owner and when to
  // retry) when another live store holds it. Taking over a lease that expired without being
  // released publishes a new generation of the manifest first, so that nothing the previous
  // owner still tries to publish can land (so take the lease before reading the manifest a change
  // starts from); the returned hold's fencing number is above every earlier owner's.
  absl::StatusOr<LeaseHold> AcquireLease(const std::string& tenant, const std::string& id);
  // Gives the session's lease up at once (written as released, so another store takes it without
  // waiting) unless a hold on it lives; then it goes when the session has been unused for
  // lease_ttl, as usual.
  void ReleaseLease(const std::string& tenant, const std::string& id);
  // The current lease of a session as written on disk (none: never leased, e.g. format 2).
  absl::StatusOr<std::optional<LeaseRecord>> ReadLease(const std::string& tenant,
                                                       const std::string& id) const;
  const std::string& owner_id() const { return options_.owner_id; }

  // ---- Sessions ----
  // Creates the session and takes its lease (UNAVAILABLE while another store is creating it).
  absl::StatusOr<SessionManifest> Create(const std::string& tenant, const std::string& id,
                                         const std::string& display_name,
                                         const std::map<std::string, std::string>& labels);
  // The committed state (the highest manifest generation); no lease needed. NOT_FOUND (also for
  // a deleted session), DATA_LOSS (corrupted manifest), FAILED_PRECONDITION (another model).
  absl::StatusOr<SessionManifest> Get(const std::string& tenant, const std::string& id) const;
  // Every readable session of the tenant, by id. Unreadable ones are listed in `broken`.
  std::vector<SessionManifest> List(const std::string& tenant,
                                    std::vector<std::string>* broken = nullptr) const;
  // Publishes a tombstone (under the lease), removes the session's files and releases the lease.
  absl::Status Delete(const std::string& tenant, const std::string& id);

  // Writes the tokens [draft.length, state.position()) as a KV segment and a checkpoint at
  // state.position() (with `reason`), durably but invisibly; records them in `draft`. Needs the
  // session's lease (taken if this store does not hold it).
  absl::Status Stage(SessionManifest& draft, const engine::SequenceState& state,
                     const std::string& reason);
  // Publishes `draft` as the generation after the one it was read at, then removes files it no
  // longer references. Needs the session's lease, checked just before the atomic step. May evict
  // other sessions to stay within the quota; RESOURCE_EXHAUSTED (and nothing published) if it
  // cannot. `last_check`, when set, runs just before the atomic step: an error from it publishes
  // nothing and is returned, so the caller decides at the last moment whether the commit happens.
  // Nothing is published, and the error says why, when the lease is held elsewhere (UNAVAILABLE)
  // or a newer generation exists (ABORTED: the session changed since `draft` was read).
  absl::Status Commit(SessionManifest& draft,
                      const std::function<absl::Status()>& last_check = nullptr);
  // Drops the files `draft` staged beyond `committed` (after a cancelled append).
  void Abandon(const SessionManifest& committed, const SessionManifest& draft);

  // Restores a fresh `state` to `position`, which must be a checkpoint of `manifest`. With
  // `expected_tokens`, fails with ABORTED unless the stored tokens are its first `position` tokens.
  // The state's KV dtype must be the session's. Plaintext segments written by this version are
  // mapped and used in place (on a backend with host memory), checked per `verification`;
  // encrypted ones are decrypted once and used where they were decrypted; others are copied.
  absl::Status Load(const SessionManifest& manifest, int64_t position, engine::SequenceState& state,
                    std::span<const int32_t> expected_tokens = {},
                    KvVerification verification = KvVerification::kBeforeFirstUse) const;
  // FAILED_PRECONDITION when `manifest` records other settings than this store's (see
  // SessionStoreOptions); an empty session takes this store's settings at its first append.
  absl::Status CheckCompatible(const SessionManifest& manifest) const;

  absl::StatusOr<SessionManifest> Fork(const std::string& tenant, const std::string& id,
                                       const std::string& new_id, int64_t position);
  absl::StatusOr<SessionManifest> Rewind(const std::string& tenant, const std::string& id,
                                         int64_t position);

  struct PrefixMatch {
    std::string session_id;
    int64_t position = 0;
  };
  // The longest checkpoint (of any session of `tenant`) whose token prefix equals a prefix of
  // `tokens`, by hash; Load with expected_tokens confirms it.
  std::optional<PrefixMatch> FindLongestPrefix(const std::string& tenant,
                                               std::span<const int32_t> tokens) const;

  // Records a use (for LRU and TTL); persisted with the next commit or lease renewal.
  void Touch(const std::string& tenant, const std::string& id);
  // Deletes sessions idle longer than the TTL (not pinned, not held by another store; the last use
  // is read again under the session's lease), then removes the directories of sessions deleted
  // longer than tombstone_age ago. Returns how many sessions it deleted.
  int ExpireIdle();
  // Bytes of all session files (hard links counted once).
  uint64_t TotalBytes() const;
  uint64_t SessionBytes(const std::string& tenant, const std::string& id) const;
  const SessionStoreOptions& options() const { return options_; }

 private:
  using Entry = LeaseHold::Entry;
  using Key = std::pair<std::string, std::string>;
  enum class LeaseFor { kExisting, kCreate, kMaintenance };

  explicit SessionStore(SessionStoreOptions options) : options_(std::move(options)) {}
  std::string SessionDir(const std::string& tenant, const std::string& id) const;
  // The highest manifest generation (a tombstone included); NOT_FOUND when there is none.
  absl::StatusOr<SessionManifest> ReadCurrentManifest(const std::string& tenant,
                                                      const std::string& id) const;
  // Publishes `draft` as generation draft.generation + 1 under `hold` (see Commit).
  absl::Status Publish(SessionManifest& draft, const LeaseHold& hold,
                       const std::function<absl::Status()>& last_check);
  // Data files of the session that no generation from `manifest` on can reference: those it does
  // not name and numbered below its next_file_number.
  void RemoveUnreferencedFiles(const SessionManifest& manifest) const;
  absl::Status EnforceQuota(const std::string& tenant, const std::string& id);
  void IndexSession(const SessionManifest& manifest);
  void UnindexSession(const std::string& tenant, const std::string& id);
  // Deletes a session whose lease `hold` is (publishes the tombstone); see Delete.
  absl::Status DeleteHeld(const std::string& tenant, const std::string& id, LeaseHold& hold);
  // Creates the STORE marker, or checks the key against it (and upgrades an older one).
  absl::Status OpenMarker();
  // Whether a session directory holds leftovers of interrupted work, was never committed to, or
  // holds a tombstone older than tombstone_age.
  bool NeedsTidying(const std::string& tenant, const std::string& id) const;
  // Tidies such a session unless another store holds it: its lease is taken (which removes the
  // leftovers), and a directory never committed to or an old tombstone's is removed.
  void Tidy(const std::string& tenant, const std::string& id);
  // Renames the directory of `hold`'s session out of sight, then removes it (lease file and all).
  void RemoveSessionDirectory(LeaseHold& hold);
  // Releases `hold`'s lease now unless another hold on it lives.
  void ReleaseHeld(LeaseHold& hold);

  // Leases (session_store_leases.cc).
  absl::StatusOr<LeaseHold> Hold(const std::string& tenant, const std::string& id, LeaseFor use);
  // Confirms or takes the lease of `entry` (see AcquireLease).
  absl::Status AcquireLocked(Entry& entry, const Key& key, LeaseFor use)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(entry.mu);
  // Whether `entry` still holds the current lease, renewing it when it is due; UNAVAILABLE naming
  // the new owner when it lost it.
  absl::Status CheckHeldLocked(Entry& entry, const Key& key)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(entry.mu);
  absl::Status RenewLocked(Entry& entry, const Key& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(entry.mu);
  void ReleaseLocked(Entry& entry, const Key& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(entry.mu);
  // After taking a lease: fence off the previous owner when it did not release it (a new
  // manifest generation), and remove what interrupted work left in the directory.
  absl::Status FenceAndTidyLocked(Entry& entry, const Key& key, bool fence)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(entry.mu);
  // The current lease record on disk (none if no lease file), and who to name when it is live.
  absl::StatusOr<std::optional<LeaseRecord>> ReadLeaseFile(const std::string& dir,
                                                           uint64_t fencing) const;
  absl::Status WriteLeaseFile(const std::string& dir, const LeaseRecord& lease, bool create) const;
  LeaseRecord NewLeaseRecord(const Entry& entry, uint64_t fencing, int64_t expiry_ms) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(entry.mu);
  // The error for a session held by the live lease `lease`.
  absl::Status HeldElsewhere(const Key& key, const LeaseRecord& lease) const;
  // Renews the leases in use, releases those unused for lease_ttl (the renewal thread's work).
  void MaintainLeases();
  void ReleaseAllLeases();
  void RenewalLoop();
  void Forget(const Key& key, const std::shared_ptr<Entry>& entry);

  SessionStoreOptions options_;
  int lock_fd_ = -1;  // <root>/LOCK, flock()ed shared: keeps builds before format 3 out
  std::string host_key_;

  mutable absl::Mutex leases_mu_;  // after any Entry::mu, never before
  std::map<Key, std::shared_ptr<Entry>> leases_ ABSL_GUARDED_BY(leases_mu_);
  absl::Mutex renewal_mu_;
  bool stopping_ ABSL_GUARDED_BY(renewal_mu_) = false;
  std::thread renewal_thread_;

  mutable absl::Mutex mu_;
  // Prefix index: tenant -> (position, prefix hash) -> session ids.
  std::map<std::string, std::map<std::pair<int64_t, uint64_t>, std::vector<std::string>>> index_
      ABSL_GUARDED_BY(mu_);
  // Last use of each session (tenant/id -> microseconds since the epoch).
  std::map<std::pair<std::string, std::string>, int64_t> access_us_ ABSL_GUARDED_BY(mu_);
};

// What this store knows of one session's lease. The lease file is only read and written with
// `mu` held, so the renewal thread and the session's operations never interleave on it.
struct SessionStore::LeaseHold::Entry {
  absl::Mutex mu;
  uint64_t fencing ABSL_GUARDED_BY(mu) = 0;  // of the lease this store holds; 0: none
  int64_t acquired_ms ABSL_GUARDED_BY(mu) = 0;
  // When the lease file was last written (its expiry counts from a moment before this).
  std::chrono::steady_clock::time_point written ABSL_GUARDED_BY(mu);
  // The previous owner's last use of the session, from the lease this one replaced.
  int64_t previous_last_use_ms ABSL_GUARDED_BY(mu) = 0;
  // Guarded by SessionStore::leases_mu_: holds alive, and the last time one ended.
  int users = 0;
  std::chrono::steady_clock::time_point last_use = std::chrono::steady_clock::now();
};

}  // namespace jamba::sdk

#endif  // JAMBA_SDK_STORE_SESSION_STORE_H_
