// SessionStore: persisted sessions on disk, one directory per session under
// <root>/tenants/<tenant>/sessions/<id>/. KV is written in append-only segments, Mamba state in
// checkpoint files; both are immutable once written. A session changes only by atomically
// replacing its MANIFEST, so a crash at any instant leaves the last committed state. Sessions are
// bound to the model fingerprint and record the precision they are computed with (KV dtype,
// activations); every file is checksummed and optionally AES-256-GCM encrypted. A plaintext
// segment's KV rows are page-aligned in the file, so resuming maps them and uses them in place;
// their checksums are checked before their first use. The on-disk format is specified in
// docs/session-format.md.
//
// Thread-safety: calls on different sessions may run concurrently; the caller serializes calls on
// one session (SessionManager does).
#ifndef JAMBA_SDK_STORE_SESSION_STORE_H_
#define JAMBA_SDK_STORE_SESSION_STORE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "engine/sequence_state.h"
#include "sdk/store/sealed_file.h"
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
};

// When Load checks the KV rows it maps in place.
enum class KvVerification {
  kBeforeFirstUse,  // before the first forward pass reads them (KvCache::Verify): resume costs
                    // what the Mamba state and the token ids cost, not what the KV does
  kNow,             // before Load returns (a damaged segment fails the Load)
};

class SessionStore {
 public:
  // Opens (or initialises) the store; deletes files left by interrupted commits. Fails with
  // FAILED_PRECONDITION when the encryption key does not match the one the store was created with.
  static absl::StatusOr<std::unique_ptr<SessionStore>> Open(SessionStoreOptions options);
  ~SessionStore();
  SessionStore(const SessionStore&) = delete;
  SessionStore& operator=(const SessionStore&) = delete;

  // Ids: 1-63 of [a-z0-9-], starting with a letter or digit. Tenants: 1-64 of [A-Za-z0-9_.-], not
  // "." or "..". Never used as paths before validation.
  static absl::Status ValidateSessionId(const std::string& id);
  static absl::Status ValidateTenant(const std::string& tenant);

  absl::StatusOr<SessionManifest> Create(const std::string& tenant, const std::string& id,
                                         const std::string& display_name,
                                         const std::map<std::string, std::string>& labels);
  // NOT_FOUND, DATA_LOSS (corrupted manifest), FAILED_PRECONDITION (another model).
  absl::StatusOr<SessionManifest> Get(const std::string& tenant, const std::string& id) const;
  // Every readable session of the tenant, by id. Unreadable ones are listed in `broken`.
  std::vector<SessionManifest> List(const std::string& tenant,
                                    std::vector<std::string>* broken = nullptr) const;
  absl::Status Delete(const std::string& tenant, const std::string& id);

  // Writes the tokens [draft.length, state.position()) as a KV segment and a checkpoint at
  // state.position() (with `reason`), durably but invisibly; records them in `draft`.
  absl::Status Stage(SessionManifest& draft, const engine::SequenceState& state,
                     const std::string& reason);
  // Publishes `draft` atomically, then removes files it no longer references. May evict other
  // sessions to stay within the quota; RESOURCE_EXHAUSTED (and nothing published) if it cannot.
  // `last_check`, when set, runs just before the atomic step: an error from it publishes nothing
  // and is returned, so the caller decides at the last moment whether the commit happens.
  absl::Status Commit(SessionManifest& draft,
                      const std::function<absl::Status()>& last_check = nullptr);
  // Drops staged, uncommitted files of `draft` (after a cancelled append).
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

  // Records a use (for LRU and TTL); persisted with the next commit.
  void Touch(const std::string& tenant, const std::string& id);
  // Deletes sessions idle longer than the TTL (not pinned). Returns how many.
  int ExpireIdle();
  // Bytes of all session files (hard links counted once).
  uint64_t TotalBytes() const;
  uint64_t SessionBytes(const std::string& tenant, const std::string& id) const;
  const SessionStoreOptions& options() const { return options_; }

 private:
  explicit SessionStore(SessionStoreOptions options) : options_(std::move(options)) {}
  std::string SessionDir(const std::string& tenant, const std::string& id) const;
  absl::Status WriteManifest(const SessionManifest& manifest,
                             const std::function<absl::Status()>& before_rename = nullptr);
  absl::StatusOr<SessionManifest> ReadManifest(const std::string& tenant,
                                               const std::string& id) const;
  void RemoveUnreferencedFiles(const SessionManifest& manifest) const;
  absl::Status EnforceQuota(const std::string& tenant, const std::string& id);
  void IndexSession(const SessionManifest& manifest);
  void UnindexSession(const std::string& tenant, const std::string& id);

  const SessionStoreOptions options_;
  int lock_fd_ = -1;  // flock()ed <root>/LOCK, held while the store is open

  mutable absl::Mutex mu_;
  // Prefix index: tenant -> (position, prefix hash) -> session ids.
  std::map<std::string, std::map<std::pair<int64_t, uint64_t>, std::vector<std::string>>> index_
      ABSL_GUARDED_BY(mu_);
  // Last use of each session (tenant/id -> microseconds since the epoch).
  std::map<std::pair<std::string, std::string>, int64_t> access_us_ ABSL_GUARDED_BY(mu_);
};

}  // namespace jamba::sdk

#endif  // JAMBA_SDK_STORE_SESSION_STORE_H_
