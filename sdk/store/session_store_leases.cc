// SessionStore's leases: taking, confirming, renewing and releasing LEASE.<fencing> files, the
// fencing of a previous owner that never released its lease, and the renewal thread. The
// protocol is in docs/session-format.md ("Sharing a store").
#include <unistd.h>

#include <algorithm>
#include <set>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "engine/status_macros.h"
#include "sdk/store/durable_file.h"
#include "sdk/store/session_files.h"
#include "sdk/store/session_store.h"

namespace jamba::sdk {
namespace {

using SteadyClock = std::chrono::steady_clock;

int64_t NowMillis() { return absl::ToUnixMillis(absl::Now()); }

// Attempts at taking a lease when others keep winning the race for the next number, or files
// vanish under a listing (another store tidying the directory).
constexpr int kAcquireAttempts = 16;

}  // namespace

SessionStore::LeaseHold::LeaseHold(SessionStore* store, std::pair<std::string, std::string> key,
                                   std::shared_ptr<Entry> entry)
    : store_(store), key_(std::move(key)), entry_(std::move(entry)) {}

SessionStore::LeaseHold::LeaseHold(LeaseHold&& other) noexcept
    : store_(std::exchange(other.store_, nullptr)),
      key_(std::move(other.key_)),
      entry_(std::move(other.entry_)),
      fencing_(other.fencing_) {}

SessionStore::LeaseHold& SessionStore::LeaseHold::operator=(LeaseHold&& other) noexcept {
  if (this != &other) {
    Reset();
    store_ = std::exchange(other.store_, nullptr);
    key_ = std::move(other.key_);
    entry_ = std::move(other.entry_);
    fencing_ = other.fencing_;
  }
  return *this;
}

SessionStore::LeaseHold::~LeaseHold() { Reset(); }

void SessionStore::LeaseHold::Reset() {
  if (store_ == nullptr || entry_ == nullptr) return;
  absl::MutexLock entry_lock(&entry_->mu);
  absl::MutexLock lock(&store_->leases_mu_);
  --entry_->users;
  entry_->last_use = SteadyClock::now();
  if (entry_->users == 0 && entry_->fencing == 0) {
    auto it = store_->leases_.find(key_);
    if (it != store_->leases_.end() && it->second == entry_) store_->leases_.erase(it);
  }
  store_ = nullptr;
  entry_.reset();
}

absl::StatusOr<SessionStore::LeaseHold> SessionStore::AcquireLease(const std::string& tenant,
                                                                   const std::string& id) {
  JAMBA_RETURN_IF_ERROR(ValidateTenant(tenant));
  JAMBA_RETURN_IF_ERROR(ValidateSessionId(id));
  return Hold(tenant, id, LeaseFor::kExisting);
}

absl::StatusOr<SessionStore::LeaseHold> SessionStore::Hold(const std::string& tenant,
                                                           const std::string& id, LeaseFor use) {
  Key key(tenant, id);
  std::shared_ptr<Entry> entry;
  {
    absl::MutexLock lock(&leases_mu_);
    std::shared_ptr<Entry>& slot = leases_[key];
    if (slot == nullptr) slot = std::make_shared<Entry>();
    entry = slot;
    ++entry->users;
  }
  LeaseHold hold(this, key, entry);
  absl::MutexLock lock(&entry->mu);
  JAMBA_RETURN_IF_ERROR(AcquireLocked(*entry, key, use));
  hold.fencing_ = entry->fencing;
  return hold;
}

absl::StatusOr<std::optional<LeaseRecord>> SessionStore::ReadLeaseFile(const std::string& dir,
                                                                       uint64_t fencing) const {
  if (fencing == 0) return std::optional<LeaseRecord>();
  const std::string name = LeaseFileName(fencing);
  JAMBA_ASSIGN_OR_RETURN(const std::string bytes, ReadWholeFile(absl::StrCat(dir, "/", name)));
  absl::StatusOr<LeaseRecord> lease = DecodeLease(bytes, options_.key, name);
  if (!lease.ok()) return lease.status();
  if (lease->fencing != fencing) {
    return absl::DataLossError(absl::StrCat(dir, "/", name, ": holds fencing ", lease->fencing));
  }
  return std::optional<LeaseRecord>(*std::move(lease));
}

absl::StatusOr<std::optional<LeaseRecord>> SessionStore::ReadLease(const std::string& tenant,
                                                                   const std::string& id) const {
  JAMBA_RETURN_IF_ERROR(ValidateTenant(tenant));
  JAMBA_RETURN_IF_ERROR(ValidateSessionId(id));
  const std::string dir = SessionDir(tenant, id);
  for (int attempt = 0;; ++attempt) {
    JAMBA_ASSIGN_OR_RETURN(const SessionDirListing listing, ListSessionDir(dir));
    auto lease = ReadLeaseFile(dir, listing.current_lease());
    // A lease file replaced between the listing and the read: list again.
    if (absl::IsNotFound(lease.status()) && attempt < kAcquireAttempts) continue;
    return lease;
  }
}

absl::Status SessionStore::WriteLeaseFile(const std::string& dir, const LeaseRecord& lease,
                                          bool create) const {
  JAMBA_ASSIGN_OR_RETURN(const std::string bytes, EncodeLease(lease, options_.key));
  const std::string name = LeaseFileName(lease.fencing);
  return create ? CreateFileDurably(dir, name, bytes) : WriteFileDurably(dir, name, bytes);
}

LeaseRecord SessionStore::NewLeaseRecord(const Entry& entry, uint64_t fencing,
                                         int64_t expiry_ms) const {
  LeaseRecord lease;
  lease.owner = options_.owner_id;
  lease.fencing = fencing;
  lease.expiry_ms = expiry_ms;
  lease.acquired_ms = entry.acquired_ms;
  lease.host = host_key_;
  lease.pid = ::getpid();
  const auto since_use = [&] {
    absl::MutexLock lock(&leases_mu_);
    return SteadyClock::now() - entry.last_use;
  }();
  lease.last_use_ms =
      NowMillis() - std::chrono::duration_cast<std::chrono::milliseconds>(since_use).count();
  return lease;
}

absl::Status SessionStore::HeldElsewhere(const Key& key, const LeaseRecord& lease) const {
  const absl::Duration remaining = absl::Milliseconds(lease.expiry_ms - NowMillis());
  const absl::Duration retry = std::clamp(remaining, absl::Milliseconds(100),
                                          std::max(options_.lease_ttl, absl::Seconds(1)));
  return OwnedElsewhere(key.second, lease.owner, retry);
}

absl::Status SessionStore::AcquireLocked(Entry& entry, const Key& key, LeaseFor use) {
  const std::string dir = SessionDir(key.first, key.second);
  auto not_found = [&] {
    return absl::NotFoundError(absl::StrCat("session \"", key.second, "\" not found"));
  };
  // Whether the session exists (a live manifest, or one that cannot be read: a damaged session
  // still exists, so that it can be deleted).
  auto exists = [&] {
    auto current = ReadCurrentManifest(key.first, key.second);
    return current.ok() ? !current->deleted : !absl::IsNotFound(current.status());
  };
  for (int attempt = 0; attempt < kAcquireAttempts; ++attempt) {
    absl::StatusOr<SessionDirListing> listing = ListSessionDir(dir);
    if (absl::IsNotFound(listing.status())) {
      entry.fencing = 0;
      if (use != LeaseFor::kCreate) return not_found();
      JAMBA_RETURN_IF_ERROR(MakeDirectories(dir));
      continue;
    }
    JAMBA_RETURN_IF_ERROR(listing.status());
    const uint64_t current = listing->current_lease();
    if (entry.fencing != 0) {
      if (current == entry.fencing) {
        // Ours still: renewed when it is due, so that a use never finds it about to expire.
        if (SteadyClock::now() - entry.written >= absl::ToChronoNanoseconds(options_.lease_ttl) / 3)
          return RenewLocked(entry, key);
        return absl::OkStatus();
      }
      entry.fencing = 0;  // taken over while this store was not looking (a pause, a partition)
    }
    absl::StatusOr<std::optional<LeaseRecord>> previous = ReadLeaseFile(dir, current);
    if (absl::IsNotFound(previous.status())) continue;  // replaced or removed since the listing
    bool fence = false;
    int64_t previous_last_use_ms = 0;
    if (absl::IsDataLoss(previous.status())) {
      // A damaged lease protects nothing: taken over (and fenced) as if it had expired.
      fence = true;
    } else if (!previous.ok()) {
      return previous.status();
    } else if (previous->has_value()) {
      const LeaseRecord& lease = **previous;
      previous_last_use_ms = lease.last_use_ms;
      if (lease.owner == options_.owner_id) {
        // Ours, from before this store's memory of it (an earlier process with this replica id).
        fence = !lease.released();
      } else if (lease.released()) {
        fence = false;
      } else if (lease.expiry_ms <= NowMillis() || OwnerHasExited(lease)) {
        fence = true;
      } else {
        if (use == LeaseFor::kCreate && exists()) {
          return absl::AlreadyExistsError(
              absl::StrCat("session \"", key.second, "\" already exists"));
        }
        if (use == LeaseFor::kExisting && !exists()) return not_found();
        return HeldElsewhere(key, lease);
      }
    }
    const uint64_t fencing = current + 1;
    entry.acquired_ms = NowMillis();
    const SteadyClock::time_point before = SteadyClock::now();
    const int64_t expiry_ms = NowMillis() + absl::ToInt64Milliseconds(options_.lease_ttl);
    const absl::Status written =
        WriteLeaseFile(dir, NewLeaseRecord(entry, fencing, expiry_ms), /*create=*/true);
    // Another store took this number first, or the directory was tidied away: look again.
    if (absl::IsAlreadyExists(written) || absl::IsNotFound(written)) continue;
    JAMBA_RETURN_IF_ERROR(written);
    entry.fencing = fencing;
    entry.written = before;
    entry.previous_last_use_ms = previous_last_use_ms;
    if (absl::Status fenced = FenceAndTidyLocked(entry, key, fence); !fenced.ok()) {
      ReleaseLocked(entry, key);
      return fenced;
    }
    if (use == LeaseFor::kExisting && !exists()) {
      ReleaseLocked(entry, key);
      return not_found();
    }
    if (use == LeaseFor::kCreate && exists()) {
      ReleaseLocked(entry, key);
      return absl::AlreadyExistsError(absl::StrCat("session \"", key.second, "\" already exists"));
    }
    return absl::OkStatus();
  }
  return absl::UnavailableError(
      absl::StrCat("session \"", key.second,
                   "\": its lease changed hands too often to be taken; nothing was done, retry"));
}

absl::Status SessionStore::FenceAndTidyLocked(Entry& entry, const Key& key, bool fence) {
  const std::string dir = SessionDir(key.first, key.second);
  // Fencing: the previous owner may still publish the generation after the one it read. A new
  // generation (a hard link of the current manifest: the same state) takes that name first, so
  // its link(2) fails; a publication that landed before this one is kept, and becomes the state
  // this one links. An owner that released its lease had nothing left to publish.
  for (int attempt = 0; fence && attempt < kAcquireAttempts; ++attempt) {
    JAMBA_ASSIGN_OR_RETURN(const SessionDirListing listing, ListSessionDir(dir));
    const std::optional<uint64_t> current = listing.current_manifest();
    if (!current.has_value()) break;  // nothing published yet: nothing to protect
    const absl::Status linked = LinkNew(absl::StrCat(dir, "/", ManifestFileName(*current)),
                                        absl::StrCat(dir, "/", ManifestFileName(*current + 1)));
    if (absl::IsAlreadyExists(linked) || absl::IsNotFound(linked)) continue;  // moved on: again
    JAMBA_RETURN_IF_ERROR(linked);
    JAMBA_RETURN_IF_ERROR(SyncDirectory(dir));
    fence = false;
  }
  if (fence) {
    return absl::UnavailableError(
        absl::StrCat("session \"", key.second, "\" keeps changing; nothing was done, retry"));
  }

  // Tidying: nobody else may write here now (earlier owners' publications fail), so whatever the
  // current manifest does not need is a leftover: temp files, unreferenced data files, manifests
  // before the previous generation, leases before the previous one.
  JAMBA_ASSIGN_OR_RETURN(const SessionDirListing listing, ListSessionDir(dir));
  // (A temp file of another store taking the lease at this moment goes too: its link fails, it
  // looks again and finds this lease.)
  std::vector<std::string> remove = listing.temps;
  const std::optional<uint64_t> current = listing.current_manifest();
  auto manifest = ReadCurrentManifest(key.first, key.second);
  if (manifest.ok() || absl::IsNotFound(manifest.status())) {  // a damaged one: keep every file
    std::set<std::string> keep;
    if (manifest.ok()) {
      for (const SegmentRecord& s : manifest->segments) keep.insert(s.file);
      for (const CheckpointRecord& c : manifest->checkpoints) keep.insert(c.file);
    }
    for (const std::string& file : listing.data_files) {
      if (!keep.count(file)) remove.push_back(file);
    }
    for (uint64_t generation : listing.manifests) {
      if (current.has_value() && generation + 1 < *current)
        remove.push_back(ManifestFileName(generation));
    }
  }
  for (uint64_t fencing : listing.leases) {
    if (fencing + 1 < entry.fencing) remove.push_back(LeaseFileName(fencing));
  }
  bool removed = false;
  for (const std::string& name : remove) removed |= ::unlink((dir + "/" + name).c_str()) == 0;
  if (removed) JAMBA_RETURN_IF_ERROR(SyncDirectory(dir));
  return absl::OkStatus();
}

absl::Status SessionStore::CheckHeldLocked(Entry& entry, const Key& key) {
  const std::string dir = SessionDir(key.first, key.second);
  if (entry.fencing != 0) {
    JAMBA_ASSIGN_OR_RETURN(const SessionDirListing listing, ListSessionDir(dir));
    if (listing.current_lease() == entry.fencing) {
      if (SteadyClock::now() - entry.written < absl::ToChronoNanoseconds(options_.lease_ttl) / 3)
        return absl::OkStatus();
      return RenewLocked(entry, key);
    }
    entry.fencing = 0;
  }
  // Lost: name whoever holds it now.
  auto current = ReadLease(key.first, key.second);
  if (current.ok() && current->has_value() && !(*current)->released() &&
      (*current)->owner != options_.owner_id) {
    return HeldElsewhere(key, **current);
  }
  return absl::UnavailableError(absl::StrCat(
      "session \"", key.second, "\": this replica's lease on it lapsed; nothing was done, retry"));
}

absl::Status SessionStore::RenewLocked(Entry& entry, const Key& key) {
  const std::string dir = SessionDir(key.first, key.second);
  JAMBA_ASSIGN_OR_RETURN(const SessionDirListing listing, ListSessionDir(dir));
  if (listing.current_lease() != entry.fencing) {
    entry.fencing = 0;
    return CheckHeldLocked(entry, key);
  }
  const SteadyClock::time_point before = SteadyClock::now();
  const int64_t expiry_ms = NowMillis() + absl::ToInt64Milliseconds(options_.lease_ttl);
  // A takeover between the listing and this rename finds the lease expired only if this store
  // was stalled past its expiry; then the new owner fenced the session and this store's next
  // publication fails (and its next check finds the newer lease).
  JAMBA_RETURN_IF_ERROR(
      WriteLeaseFile(dir, NewLeaseRecord(entry, entry.fencing, expiry_ms), /*create=*/false));
  entry.written = before;
  return absl::OkStatus();
}

void SessionStore::ReleaseLocked(Entry& entry, const Key& key) {
  if (entry.fencing == 0) return;
  const std::string dir = SessionDir(key.first, key.second);
  auto listing = ListSessionDir(dir);
  if (listing.ok() && listing->current_lease() == entry.fencing) {
    (void)WriteLeaseFile(dir, NewLeaseRecord(entry, entry.fencing, /*expiry_ms=*/0),
                         /*create=*/false);
  }
  entry.fencing = 0;
}

void SessionStore::ReleaseLease(const std::string& tenant, const std::string& id) {
  const Key key(tenant, id);
  std::shared_ptr<Entry> entry;
  {
    absl::MutexLock lock(&leases_mu_);
    auto it = leases_.find(key);
    if (it == leases_.end()) return;
    entry = it->second;
  }
  absl::MutexLock entry_lock(&entry->mu);
  {
    absl::MutexLock lock(&leases_mu_);
    if (entry->users > 0) return;
  }
  ReleaseLocked(*entry, key);
  Forget(key, entry);
}

void SessionStore::Forget(const Key& key, const std::shared_ptr<Entry>& entry) {
  absl::MutexLock lock(&leases_mu_);
  auto it = leases_.find(key);
  if (it != leases_.end() && it->second == entry && entry->users == 0) leases_.erase(it);
}

void SessionStore::MaintainLeases() {
  std::vector<std::pair<Key, std::shared_ptr<Entry>>> entries;
  {
    absl::MutexLock lock(&leases_mu_);
    entries.assign(leases_.begin(), leases_.end());
  }
  const auto idle_after = absl::ToChronoNanoseconds(options_.lease_ttl);
  for (const auto& [key, entry] : entries) {
    absl::MutexLock entry_lock(&entry->mu);
    bool in_use = false;
    bool idle = false;
    {
      absl::MutexLock lock(&leases_mu_);
      in_use = entry->users > 0;
      idle = !in_use && SteadyClock::now() - entry->last_use >= idle_after;
    }
    if (entry->fencing != 0 && idle) ReleaseLocked(*entry, key);
    // A failed renewal is tried again at the next round; a use before then checks it again.
    if (entry->fencing != 0) (void)RenewLocked(*entry, key);
    if (entry->fencing == 0 && !in_use) Forget(key, entry);
  }
}

void SessionStore::ReleaseAllLeases() {
  std::vector<std::pair<Key, std::shared_ptr<Entry>>> entries;
  {
    absl::MutexLock lock(&leases_mu_);
    entries.assign(leases_.begin(), leases_.end());
  }
  for (const auto& [key, entry] : entries) {
    absl::MutexLock entry_lock(&entry->mu);
    ReleaseLocked(*entry, key);
    Forget(key, entry);
  }
}

void SessionStore::RenewalLoop() {
  // Renewals every third of the lease's life: one late round still leaves a third of it.
  const absl::Duration period = options_.lease_ttl / 3;
  absl::MutexLock lock(&renewal_mu_);
  while (!renewal_mu_.AwaitWithTimeout(absl::Condition(&stopping_), period)) {
    renewal_mu_.Unlock();
    MaintainLeases();
    renewal_mu_.Lock();
  }
}

}  // namespace jamba::sdk
