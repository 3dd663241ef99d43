// SessionStore implementation: sealed immutable files + generation-numbered manifests published
// under the session's lease (the leases themselves: session_store_leases.cc).
#include "sdk/store/session_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <random>
#include <set>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/exhausted_resource.h"
#include "engine/mapped_file.h"
#include "engine/status_macros.h"
#include "nlohmann/json.hpp"
#include "sdk/store/durable_file.h"
#include "sdk/store/session_files.h"

namespace jamba::sdk {
namespace {

using Json = nlohmann::json;
constexpr char kStoreMarkerName[] = "STORE";
constexpr char kTrashPrefix[] = ".trash-";
// Reads racing a publication that removed the file just listed try again this many times.
constexpr int kReadAttempts = 16;

int64_t NowMicros() { return absl::ToUnixMicros(absl::Now()); }

std::string FloatBytes(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}

absl::Status MissingSection(const std::string& name, SectionTag tag, uint32_t index) {
  return absl::DataLossError(absl::StrCat(name, ": section ",
                                          SectionTagName(static_cast<uint32_t>(tag)), " #", index,
                                          " is missing or has the wrong size"));
}

// Maps a file the manifest references. Its absence is damage to a session that exists, so it is
// DATA_LOSS, never the NOT_FOUND that means "no such session".
absl::StatusOr<std::shared_ptr<const engine::MappedFile>> MapReferencedFile(
    const std::string& dir, const std::string& file, const std::string& name) {
  auto mapped = engine::MappedFile::Open(absl::StrCat(dir, "/", file));
  if (absl::IsNotFound(mapped.status())) {
    return absl::DataLossError(absl::StrCat(name, " is missing (", dir, "/", file, ")"));
  }
  if (!mapped.ok()) return mapped.status();
  return std::shared_ptr<const engine::MappedFile>(*std::move(mapped));
}

std::string_view BytesOf(const engine::MappedFile& file) {
  return {reinterpret_cast<const char*>(file.data()), file.size()};
}

// Builds before format version 3 took <root>/LOCK exclusively and assumed they were the store's
// only user. Holding it shared keeps such a build out while this one runs (and refuses to run
// beside one), on this machine; across machines flock is not relied on (stop older builds before
// starting this one on a shared store). Where flock is unsupported, nothing is held.
absl::StatusOr<int> LockAgainstOlderBuilds(const std::string& root) {
  const std::string path = root + "/LOCK";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0)
    return absl::PermissionDeniedError(
        absl::StrCat("cannot open ", path, ": ", std::strerror(errno)));
  if (::flock(fd, LOCK_SH | LOCK_NB) != 0) {
    const int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK) {
      return absl::FailedPreconditionError(
          absl::StrCat("session store ", root,
                       " is in use by a jambad older than session format 3 (it holds LOCK "
                       "exclusively); stop it first"));
    }
    return -1;
  }
  return fd;
}

std::string NewCommitId() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  return absl::StrFormat("%016x", rng());
}

// Writes `bytes` as `prefix<n>suffix` in `dir` for the first n from `*next` on whose name is free
// (a file another writer made is never replaced), and moves `*next` past it.
absl::StatusOr<std::string> CreateNumberedFile(const std::string& dir, absl::string_view prefix,
                                               absl::string_view suffix, const std::string& bytes,
                                               uint64_t* next) {
  for (int attempt = 0; attempt < 64; ++attempt) {
    const std::string file = absl::StrCat(prefix, (*next)++, suffix);
    const absl::Status created = CreateFileDurably(dir, file, bytes);
    if (created.ok()) return file;
    if (!absl::IsAlreadyExists(created)) return created;
  }
  return absl::InternalError(absl::StrCat(dir, ": no free file name from ", *next));
}

// Whether `newer` builds on the manifest published as `commit_id`.
bool BuildsOn(const SessionManifest& newer, const std::string& commit_id) {
  return newer.commit_id == commit_id || std::find(newer.ancestors.begin(), newer.ancestors.end(),
                                                   commit_id) != newer.ancestors.end();
}

}  // namespace

absl::Status SessionStore::ValidateSessionId(const std::string& id) {
  const bool ok = !id.empty() && id.size() <= 63 && id[0] != '-' &&
                  std::all_of(id.begin(), id.end(), [](char c) {
                    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
                  });
  if (!ok) {
    return absl::InvalidArgumentError(
        absl::StrCat("session id \"", id.substr(0, 80),
                     "\" is invalid: use 1-63 of a-z, 0-9 and '-', not starting with '-'"));
  }
  return absl::OkStatus();
}

absl::Status SessionStore::ValidateTenant(const std::string& tenant) {
  const bool ok = !tenant.empty() && tenant.size() <= 64 && tenant != "." && tenant != ".." &&
                  std::all_of(tenant.begin(), tenant.end(), [](char c) {
                    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                           (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
                  });
  if (!ok)
    return absl::InvalidArgumentError(
        absl::StrCat("tenant \"", tenant.substr(0, 80), "\" is invalid"));
  return absl::OkStatus();
}

std::string SessionStore::SessionDir(const std::string& tenant, const std::string& id) const {
  return absl::StrCat(options_.root, "/tenants/", tenant, "/sessions/", id);
}

absl::StatusOr<std::unique_ptr<SessionStore>> SessionStore::Open(SessionStoreOptions options) {
  if (options.root.empty()) return absl::InvalidArgumentError("session store: no directory given");
  if (options.key.has_value() && options.key->size() != 32) {
    return absl::InvalidArgumentError("session store: the encryption key must be 32 bytes");
  }
  if (options.kv_dtype == kernels::KvDType::kF8E4M3) {
    return absl::InvalidArgumentError(
        "session store: sessions keep their KV in fp32, bf16 or int8, not fp8_e4m3");
  }
  if (options.lease_ttl <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("session store: the lease TTL must be positive");
  }
  JAMBA_RETURN_IF_ERROR(MakeDirectories(options.root));
  JAMBA_ASSIGN_OR_RETURN(const int lock_fd, LockAgainstOlderBuilds(options.root));
  if (options.owner_id.empty()) options.owner_id = DefaultOwnerId();
  std::unique_ptr<SessionStore> store(new SessionStore(std::move(options)));
  store->lock_fd_ = lock_fd;
  store->host_key_ = LocalHostKey();
  const std::string& root = store->options_.root;
  JAMBA_RETURN_IF_ERROR(CheckHardLinks(root));
  JAMBA_RETURN_IF_ERROR(store->OpenMarker());

  // Index every session; tidy what interrupted work left where no other store is at work.
  auto tenants = ListDirectory(root + "/tenants");
  if (tenants.ok()) {
    for (const std::string& tenant : *tenants) {
      if (!ValidateTenant(tenant).ok()) continue;
      const std::string sessions = absl::StrCat(root, "/tenants/", tenant, "/sessions");
      auto ids = ListDirectory(sessions);
      if (!ids.ok()) continue;
      for (const std::string& id : *ids) {
        // A removal that was interrupted (the directory is no session's any more).
        if (absl::StartsWith(id, kTrashPrefix)) (void)RemoveTree(absl::StrCat(sessions, "/", id));
        if (!ValidateSessionId(id).ok()) continue;
        if (store->NeedsTidying(tenant, id)) store->Tidy(tenant, id);
        auto manifest = store->ReadCurrentManifest(tenant, id);
        if (manifest.ok() && !manifest->deleted) store->IndexSession(*manifest);
      }
    }
  }
  store->renewal_thread_ = std::thread([raw = store.get()] { raw->RenewalLoop(); });
  return store;
}

absl::Status SessionStore::OpenMarker() {
  const std::string& root = options_.root;
  const std::string marker_path = absl::StrCat(root, "/", kStoreMarkerName);
  auto write_marker = [&](bool create) -> absl::Status {
    const Json meta = {{"format", "jamba-session-store"}, {"created_us", NowMicros()}};
    JAMBA_ASSIGN_OR_RETURN(std::string bytes,
                           EncodeSealedFile(FileKind::kStoreMarker,
                                            {{SectionTag::kMeta, 0, meta.dump()}}, options_.key));
    return create ? CreateFileDurably(root, kStoreMarkerName, bytes)
                  : WriteFileDurably(root, kStoreMarkerName, bytes);
  };
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto marker = ReadWholeFile(marker_path);
    if (absl::IsNotFound(marker.status())) {
      // Of several stores opening a new root at once, one creates the marker; the others check
      // their key against it.
      const absl::Status created = write_marker(/*create=*/true);
      if (absl::IsAlreadyExists(created)) continue;
      return created;
    }
    if (!marker.ok()) return marker.status();
    auto bytes = std::make_shared<const std::string>(*std::move(marker));
    auto reader =
        SealedReader::Open(*bytes, bytes, FileKind::kStoreMarker, options_.key, marker_path);
    if (!reader.ok()) {
      if (absl::IsDataLoss(reader.status()) && options_.key.has_value() &&
          absl::StrContains(reader.status().message(), "authentication failed")) {
        return absl::FailedPreconditionError(absl::StrCat(
            "session store ", root, ": wrong encryption key (it does not open the store marker)"));
      }
      return reader.status();
    }
    // A store of an older format: from now on builds that cannot share it refuse to open it.
    if (reader->version() < kSealedFormatVersion) return write_marker(/*create=*/false);
    return absl::OkStatus();
  }
  return absl::InternalError(absl::StrCat("session store ", root, ": cannot create its marker"));
}

SessionStore::~SessionStore() {
  if (renewal_thread_.joinable()) {
    {
      absl::MutexLock lock(&renewal_mu_);
      stopping_ = true;
    }
    renewal_thread_.join();
  }
  ReleaseAllLeases();
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

absl::StatusOr<SessionManifest> SessionStore::ReadCurrentManifest(const std::string& tenant,
                                                                  const std::string& id) const {
  const std::string dir = SessionDir(tenant, id);
  const std::string name = absl::StrCat("session ", id, " manifest");
  auto not_found = [&] {
    return absl::NotFoundError(absl::StrCat("session \"", id, "\" not found"));
  };
  for (int attempt = 0; attempt < kReadAttempts; ++attempt) {
    auto listing = ListSessionDir(dir);
    if (absl::IsNotFound(listing.status())) return not_found();
    JAMBA_RETURN_IF_ERROR(listing.status());
    const std::optional<uint64_t> generation = listing->current_manifest();
    if (!generation.has_value()) return not_found();
    auto bytes = ReadWholeFile(absl::StrCat(dir, "/", ManifestFileName(*generation)));
    if (absl::IsNotFound(bytes.status())) continue;  // superseded and removed since the listing
    JAMBA_RETURN_IF_ERROR(bytes.status());
    JAMBA_ASSIGN_OR_RETURN(std::vector<Section> sections,
                           DecodeSealedFile(*bytes, FileKind::kManifest, options_.key, name));
    if (sections.empty() || sections[0].tag != SectionTag::kMeta) {
      return absl::DataLossError(absl::StrCat(name, ": missing META section"));
    }
    JAMBA_ASSIGN_OR_RETURN(SessionManifest manifest, ManifestFromJson(sections[0].payload, name));
    if (manifest.id != id || manifest.tenant != tenant) {
      return absl::DataLossError(absl::StrCat(name, ": belongs to another session"));
    }
    // The file's name is its generation (a fencing generation is a link of the one before).
    manifest.generation = *generation;
    return manifest;
  }
  return absl::UnavailableError(
      absl::StrCat("session \"", id, "\" changed too often to be read; retry"));
}

absl::Status SessionStore::Publish(SessionManifest& draft, const LeaseHold& hold,
                                   const std::function<absl::Status()>& last_check) {
  const Key key(draft.tenant, draft.id);
  const std::string dir = SessionDir(draft.tenant, draft.id);
  SessionManifest next = draft;
  next.version = kManifestVersion;
  next.generation = draft.generation + 1;
  next.fencing = hold.fencing();
  next.owner = options_.owner_id;
  next.commit_id = NewCommitId();
  next.ancestors.clear();
  if (!draft.commit_id.empty()) {
    next.ancestors.push_back(draft.commit_id);
    for (const std::string& a : draft.ancestors) {
      if (next.ancestors.size() == SessionManifest::kAncestors) break;
      next.ancestors.push_back(a);
    }
  }
  const std::string name = ManifestFileName(next.generation);
  JAMBA_ASSIGN_OR_RETURN(
      const std::string bytes,
      EncodeSealedFile(FileKind::kManifest, {{SectionTag::kMeta, 0, ManifestToJson(next)}},
                       options_.key));
  JAMBA_ASSIGN_OR_RETURN(const std::string temp, WriteTempFile(dir, name, bytes));
  absl::Status status;
  {
    // The commit point: the lease is checked (renewed if due), the caller's last check runs, and
    // link(2) creates the generation only if nobody has.
    absl::MutexLock lock(&hold.entry_->mu);
    status = CheckHeldLocked(*hold.entry_, key);
    if (status.ok() && last_check) status = last_check();
    if (status.ok()) status = LinkNew(temp, absl::StrCat(dir, "/", name));
    if (absl::IsAlreadyExists(status)) {
      // Someone published that generation: this session changed since `draft` was read, and
      // if it was another store, this one's lease is gone too.
      status = CheckHeldLocked(*hold.entry_, key);
      if (status.ok()) {
        status = absl::AbortedError(absl::StrCat(
            "session \"", draft.id, "\" changed since this operation read it (generation ",
            next.generation, " exists); nothing was committed: retry"));
      }
    }
  }
  ::unlink(temp.c_str());
  JAMBA_RETURN_IF_ERROR(status);
  JAMBA_RETURN_IF_ERROR(SyncDirectory(dir));

  // link(2) made a name nobody had. A name can be free again because it was superseded and
  // removed (this store was stalled, e.g. partitioned, while others moved on): then the newer
  // generations do not build on this one, which is withdrawn.
  JAMBA_ASSIGN_OR_RETURN(const SessionDirListing listing, ListSessionDir(dir));
  bool newer = false;
  bool builds_on_ours = false;
  for (uint64_t generation : listing.manifests) {
    if (generation <= next.generation) continue;
    newer = true;
    auto bytes_newer = ReadWholeFile(absl::StrCat(dir, "/", ManifestFileName(generation)));
    if (!bytes_newer.ok()) continue;
    auto sections = DecodeSealedFile(*bytes_newer, FileKind::kManifest, options_.key, name);
    if (!sections.ok() || sections->empty()) continue;
    auto parsed = ManifestFromJson((*sections)[0].payload, name);
    if (parsed.ok() && BuildsOn(*parsed, next.commit_id)) builds_on_ours = true;
  }
  if (newer && !builds_on_ours) {
    ::unlink(absl::StrCat(dir, "/", name).c_str());
    (void)SyncDirectory(dir);
    return absl::AbortedError(absl::StrCat("session \"", draft.id,
                                           "\" has a newer state than the one this operation "
                                           "read; nothing was committed: retry"));
  }
  // The current generation and the previous one stay (a reader may be opening it); older go.
  bool removed = false;
  for (uint64_t generation : listing.manifests) {
    if (generation + 1 < next.generation)
      removed |= ::unlink(absl::StrCat(dir, "/", ManifestFileName(generation)).c_str()) == 0;
  }
  if (removed) (void)SyncDirectory(dir);
  draft = std::move(next);
  return absl::OkStatus();
}

void SessionStore::RemoveUnreferencedFiles(const SessionManifest& manifest) const {
  const std::string dir = SessionDir(manifest.tenant, manifest.id);
  std::set<std::string> keep;
  for (const SegmentRecord& s : manifest.segments) keep.insert(s.file);
  for (const CheckpointRecord& c : manifest.checkpoints) keep.insert(c.file);
  auto listing = ListSessionDir(dir);
  if (!listing.ok()) return;
  bool removed = false;
  for (const std::string& name : listing->data_files) {
    // Files numbered from next_file_number on may be another writer's (a newer owner's, staged
    // for its own next generation): they are its to keep or remove.
    const std::optional<uint64_t> number = DataFileNumber(name);
    if (keep.count(name) || !number.has_value() || *number >= manifest.next_file_number) continue;
    removed |= ::unlink(absl::StrCat(dir, "/", name).c_str()) == 0;
  }
  if (removed) (void)SyncDirectory(dir);
}

void SessionStore::IndexSession(const SessionManifest& manifest) {
  absl::MutexLock lock(&mu_);
  auto& tenant_index = index_[manifest.tenant];
  for (auto it = tenant_index.begin(); it != tenant_index.end();) {
    std::erase(it->second, manifest.id);
    it = it->second.empty() ? tenant_index.erase(it) : std::next(it);
  }
  // Prefix reuse resumes from other sessions' checkpoints: only those this engine may resume.
  if (manifest.model_fingerprint == options_.model_fingerprint && CheckCompatible(manifest).ok()) {
    for (const CheckpointRecord& c : manifest.checkpoints) {
      tenant_index[{c.position, c.prefix_hash}].push_back(manifest.id);
    }
  }
  int64_t& access = access_us_[{manifest.tenant, manifest.id}];
  access = std::max(access, manifest.access_time_us);
}

void SessionStore::UnindexSession(const std::string& tenant, const std::string& id) {
  absl::MutexLock lock(&mu_);
  auto& tenant_index = index_[tenant];
  for (auto it = tenant_index.begin(); it != tenant_index.end();) {
    std::erase(it->second, id);
    it = it->second.empty() ? tenant_index.erase(it) : std::next(it);
  }
  access_us_.erase({tenant, id});
}

bool SessionStore::NeedsTidying(const std::string& tenant, const std::string& id) const {
  auto listing = ListSessionDir(SessionDir(tenant, id));
  if (!listing.ok()) return false;
  if (!listing->temps.empty() || !listing->current_manifest().has_value() ||
      listing->manifests.size() > 2 || listing->leases.size() > 2) {
    return true;
  }
  auto manifest = ReadCurrentManifest(tenant, id);
  if (!manifest.ok()) return false;  // damaged: reported when the session is used
  if (manifest->deleted) {
    return absl::Now() - absl::FromUnixMicros(manifest->update_time_us) >= options_.tombstone_age;
  }
  std::set<std::string> referenced;
  for (const SegmentRecord& s : manifest->segments) referenced.insert(s.file);
  for (const CheckpointRecord& c : manifest->checkpoints) referenced.insert(c.file);
  return std::any_of(listing->data_files.begin(), listing->data_files.end(),
                     [&](const std::string& f) { return !referenced.count(f); });
}

void SessionStore::Tidy(const std::string& tenant, const std::string& id) {
  // Taking the lease tidies the directory (see FenceAndTidyLocked); a session another store holds
  // is left to it.
  auto hold = Hold(tenant, id, LeaseFor::kMaintenance);
  if (!hold.ok()) return;
  auto current = ReadCurrentManifest(tenant, id);
  const bool never_committed = absl::IsNotFound(current.status());
  const bool old_tombstone =
      current.ok() && current->deleted &&
      absl::Now() - absl::FromUnixMicros(current->update_time_us) >= options_.tombstone_age;
  if (never_committed || old_tombstone) {
    RemoveSessionDirectory(*hold);
  } else {
    ReleaseHeld(*hold);
  }
}

void SessionStore::RemoveSessionDirectory(LeaseHold& hold) {
  const auto& [tenant, id] = hold.key_;
  const std::string sessions = absl::StrCat(options_.root, "/tenants/", tenant, "/sessions");
  thread_local std::mt19937_64 rng(std::random_device{}());
  const std::string trash = absl::StrFormat("%s/%s%s-%016x", sessions, kTrashPrefix, id, rng());
  absl::MutexLock lock(&hold.entry_->mu);
  // One rename takes the whole directory, lease included, out of every other store's sight.
  if (::rename(SessionDir(tenant, id).c_str(), trash.c_str()) != 0) {
    ReleaseLocked(*hold.entry_, hold.key_);
    return;
  }
  hold.entry_->fencing = 0;
  (void)SyncDirectory(sessions);
  (void)RemoveTree(trash);
}

void SessionStore::ReleaseHeld(LeaseHold& hold) {
  absl::MutexLock entry_lock(&hold.entry_->mu);
  {
    absl::MutexLock lock(&leases_mu_);
    if (hold.entry_->users > 1) return;  // in use by another caller too
  }
  ReleaseLocked(*hold.entry_, hold.key_);
}

absl::StatusOr<SessionManifest> SessionStore::Create(
    const std::string& tenant, const std::string& id, const std::string& display_name,
    const std::map<std::string, std::string>& labels) {
  JAMBA_RETURN_IF_ERROR(ValidateTenant(tenant));
  JAMBA_RETURN_IF_ERROR(ValidateSessionId(id));
  JAMBA_RETURN_IF_ERROR(MakeDirectories(SessionDir(tenant, id)));
  JAMBA_ASSIGN_OR_RETURN(LeaseHold hold, Hold(tenant, id, LeaseFor::kCreate));
  auto current = ReadCurrentManifest(tenant, id);
  if (current.ok() && !current->deleted) {
    return absl::AlreadyExistsError(absl::StrCat("session \"", id, "\" already exists"));
  }
  if (!current.ok() && !absl::IsNotFound(current.status())) return current.status();
  SessionManifest m;
  if (current.ok()) {  // a tombstone: the new session is its next generation
    m.generation = current->generation;
    m.commit_id = current->commit_id;
    m.ancestors = current->ancestors;
    m.next_file_number = current->next_file_number;
  }
  m.id = id;
  m.tenant = tenant;
  m.display_name = display_name;
  m.labels = labels;
  m.model_fingerprint = options_.model_fingerprint;
  m.kv_dtype = kernels::KvDTypeName(options_.kv_dtype);
  m.activations = options_.activations;
  m.precision = options_.precision;
  m.create_time_us = m.update_time_us = m.access_time_us = NowMicros();
  JAMBA_RETURN_IF_ERROR(Publish(m, hold, nullptr));
  JAMBA_RETURN_IF_ERROR(
      SyncDirectory(absl::StrCat(options_.root, "/tenants/", tenant, "/sessions")));
  IndexSession(m);
  return m;
}

absl::StatusOr<SessionManifest> SessionStore::Get(const std::string& tenant,
                                                  const std::string& id) const {
  JAMBA_RETURN_IF_ERROR(ValidateTenant(tenant));
  JAMBA_RETURN_IF_ERROR(ValidateSessionId(id));
  JAMBA_ASSIGN_OR_RETURN(SessionManifest m, ReadCurrentManifest(tenant, id));
  if (m.deleted) return absl::NotFoundError(absl::StrCat("session \"", id, "\" not found"));
  if (m.model_fingerprint != options_.model_fingerprint) {
    return absl::FailedPreconditionError(
        absl::StrCat("session \"", id, "\" was created with a different model (fingerprint ",
                     m.model_fingerprint.substr(0, 12), "..., this server runs ",
                     options_.model_fingerprint.substr(0, 12), "...)"));
  }
  {
    absl::MutexLock lock(&mu_);
    auto it = access_us_.find({tenant, id});
    if (it != access_us_.end()) m.access_time_us = std::max(m.access_time_us, it->second);
  }
  return m;
}

std::vector<SessionManifest> SessionStore::List(const std::string& tenant,
                                                std::vector<std::string>* broken) const {
  std::vector<SessionManifest> out;
  if (!ValidateTenant(tenant).ok()) return out;
  auto ids = ListDirectory(absl::StrCat(options_.root, "/tenants/", tenant, "/sessions"));
  if (!ids.ok()) return out;
  std::sort(ids->begin(), ids->end());
  for (const std::string& id : *ids) {
    if (!ValidateSessionId(id).ok()) continue;
    auto m = Get(tenant, id);
    if (m.ok()) {
      out.push_back(*std::move(m));
    } else if (!absl::IsNotFound(m.status()) && broken != nullptr) {
      broken->push_back(id);
    }
  }
  return out;
}

absl::Status SessionStore::Delete(const std::string& tenant, const std::string& id) {
  JAMBA_RETURN_IF_ERROR(ValidateTenant(tenant));
  JAMBA_RETURN_IF_ERROR(ValidateSessionId(id));
  JAMBA_ASSIGN_OR_RETURN(LeaseHold hold, Hold(tenant, id, LeaseFor::kExisting));
  return DeleteHeld(tenant, id, hold);
}

absl::Status SessionStore::DeleteHeld(const std::string& tenant, const std::string& id,
                                      LeaseHold& hold) {
  const std::string dir = SessionDir(tenant, id);
  SessionManifest tombstone;
  auto current = ReadCurrentManifest(tenant, id);
  if (current.ok()) {
    if (current->deleted)
      return absl::NotFoundError(absl::StrCat("session \"", id, "\" not found"));
    tombstone = *current;
  } else if (absl::IsDataLoss(current.status())) {
    // A damaged manifest can still be deleted: the tombstone follows it, numbered from its name.
    JAMBA_ASSIGN_OR_RETURN(const SessionDirListing listing, ListSessionDir(dir));
    tombstone.id = id;
    tombstone.tenant = tenant;
    tombstone.generation = listing.current_manifest().value_or(0);
    for (const std::string& file : listing.data_files) {
      tombstone.next_file_number =
          std::max(tombstone.next_file_number, DataFileNumber(file).value_or(0) + 1);
    }
  } else {
    return current.status();
  }
  tombstone.deleted = true;
  tombstone.display_name.clear();
  tombstone.labels.clear();
  tombstone.length = 0;
  tombstone.segments.clear();
  tombstone.checkpoints.clear();
  tombstone.update_time_us = NowMicros();
  // Publishing the tombstone is the deletion (atomic, and refused like any commit if this store
  // lost the lease); the files go after it.
  JAMBA_RETURN_IF_ERROR(Publish(tombstone, hold, nullptr));
  UnindexSession(tenant, id);
  RemoveUnreferencedFiles(tombstone);
  if (options_.tombstone_age <= absl::ZeroDuration()) {
    RemoveSessionDirectory(hold);
  } else {
    ReleaseHeld(hold);  // so that the id can be created again at once, by any store
  }
  return absl::OkStatus();
}

absl::Status SessionStore::Stage(SessionManifest& draft, const engine::SequenceState& state,
                                 const std::string& reason) {
  const int64_t begin = draft.length;
  const int64_t end = state.position();
  if (end < begin) return absl::InternalError("stage: the state is behind the manifest");
  if (end == begin && (end == 0 || draft.CheckpointAt(end) != nullptr)) return absl::OkStatus();
  const std::string dir = SessionDir(draft.tenant, draft.id);
  // Staged files are named in the number range of this store's lease, so that no other writer of
  // the session makes (or removes) the same names.
  JAMBA_ASSIGN_OR_RETURN(const LeaseHold hold, Hold(draft.tenant, draft.id, LeaseFor::kExisting));
  draft.next_file_number = std::max(draft.next_file_number, hold.fencing() * kFileNumbersPerLease);
  if (draft.length == 0 && draft.segments.empty()) {
    // Nothing stored yet: the session is computed with this store's settings from now on.
    draft.kv_dtype = kernels::KvDTypeName(options_.kv_dtype);
    draft.activations = options_.activations;
    draft.precision = options_.precision;
  }
  JAMBA_RETURN_IF_ERROR(CheckCompatible(draft));
  if (state.kv_dtype() != options_.kv_dtype) {
    return absl::InternalError("stage: the state's KV dtype is not the store's");
  }

  if (end > begin) {
    const std::vector<int>& attention_layers = state.attention_layers();
    const Json meta = {{"begin", begin},
                       {"end", end},
                       {"kv_row_floats", state.kv_row_floats()},
                       {"kv_dtype", kernels::KvDTypeName(state.kv_dtype())},
                       {"kv_row_bytes", state.kv_row_bytes()},
                       {"attention_layers", attention_layers}};
    std::vector<Section> sections;
    sections.push_back({SectionTag::kMeta, 0, meta.dump()});
    const std::span<const int32_t> tokens(state.tokens().data() + begin,
                                          static_cast<size_t>(end - begin));
    sections.push_back(
        {SectionTag::kTokens, 0,
         std::string(reinterpret_cast<const char*>(tokens.data()), tokens.size_bytes())});
    // K and V rows as the cache stores them, each layer's on page boundaries so that a resume
    // maps and uses them in place.
    std::string keys(static_cast<size_t>((end - begin) * state.kv_row_bytes()), '\0');
    std::string values(keys.size(), '\0');
    for (int l : attention_layers) {
      state.ReadKv(l, begin, end, keys.data(), values.data());
      sections.push_back({SectionTag::kKeys, static_cast<uint32_t>(l), keys, /*aligned=*/true});
      sections.push_back({SectionTag::kValues, static_cast<uint32_t>(l), values, true});
    }
    JAMBA_ASSIGN_OR_RETURN(std::string bytes,
                           EncodeSealedFile(FileKind::kSegment, sections, options_.key));
    JAMBA_ASSIGN_OR_RETURN(const std::string file,
                           CreateNumberedFile(dir, "seg-", ".kv", bytes, &draft.next_file_number));
    // Segments of a rewound branch at or past `begin` are no longer part of the session.
    std::erase_if(draft.segments, [&](const SegmentRecord& s) { return s.begin >= begin; });
    draft.segments.push_back({file, begin, end});
  }

  std::vector<int> mamba_layers;
  for (int l = 0; l < state.num_layers(); ++l) {
    if (state.layer_kind(l) == engine::MixerKind::kMamba) mamba_layers.push_back(l);
  }
  const Json meta = {{"position", end},
                     {"conv_floats", state.conv_state_floats()},
                     {"ssm_floats", state.ssm_state_floats()},
                     {"mamba_layers", mamba_layers},
                     {"vocab", state.last_logits().size()}};
  std::vector<Section> sections;
  sections.push_back({SectionTag::kMeta, 0, meta.dump()});
  std::vector<float> conv(static_cast<size_t>(state.conv_state_floats()));
  std::vector<float> ssm(static_cast<size_t>(state.ssm_state_floats()));
  for (int l : mamba_layers) {
    state.ReadMambaState(l, conv.data(), ssm.data());
    sections.push_back({SectionTag::kConv, static_cast<uint32_t>(l), FloatBytes(conv)});
    sections.push_back({SectionTag::kSsm, static_cast<uint32_t>(l), FloatBytes(ssm)});
  }
  sections.push_back({SectionTag::kLogits, 0, FloatBytes(state.last_logits())});
  JAMBA_ASSIGN_OR_RETURN(std::string bytes,
                         EncodeSealedFile(FileKind::kCheckpoint, sections, options_.key));
  JAMBA_ASSIGN_OR_RETURN(const std::string file, CreateNumberedFile(dir, "ckpt-", ".state", bytes,
                                                                    &draft.next_file_number));

  uint64_t hash = kEmptyPrefixHash;
  for (int64_t i = 0; i < end; ++i) hash = ExtendPrefixHash(hash, state.tokens()[i]);
  std::erase_if(draft.checkpoints, [&](const CheckpointRecord& c) { return c.position >= end; });
  draft.checkpoints.push_back({file, end, reason, hash, NowMicros()});
  draft.length = end;
  return absl::OkStatus();
}

absl::Status SessionStore::Commit(SessionManifest& draft,
                                  const std::function<absl::Status()>& last_check) {
  JAMBA_ASSIGN_OR_RETURN(LeaseHold hold, Hold(draft.tenant, draft.id, LeaseFor::kExisting));
  const int64_t now = NowMicros();
  draft.update_time_us = now;
  draft.access_time_us = now;
  JAMBA_RETURN_IF_ERROR(EnforceQuota(draft.tenant, draft.id));
  JAMBA_RETURN_IF_ERROR(Publish(draft, hold, last_check));
  RemoveUnreferencedFiles(draft);
  IndexSession(draft);
  return absl::OkStatus();
}

void SessionStore::Abandon(const SessionManifest& committed, const SessionManifest& draft) {
  // Only the files the draft added: every other file in the directory is another generation's,
  // or another writer's.
  std::set<std::string> keep;
  for (const SegmentRecord& s : committed.segments) keep.insert(s.file);
  for (const CheckpointRecord& c : committed.checkpoints) keep.insert(c.file);
  const std::string dir = SessionDir(draft.tenant, draft.id);
  bool removed = false;
  auto drop = [&](const std::string& file) {
    if (!keep.count(file)) removed |= ::unlink(absl::StrCat(dir, "/", file).c_str()) == 0;
  };
  for (const SegmentRecord& s : draft.segments) drop(s.file);
  for (const CheckpointRecord& c : draft.checkpoints) drop(c.file);
  if (removed) (void)SyncDirectory(dir);
}

absl::Status SessionStore::CheckCompatible(const SessionManifest& m) const {
  if (m.length == 0 && m.segments.empty()) return absl::OkStatus();
  const std::string kv_dtype = kernels::KvDTypeName(options_.kv_dtype);
  // A version 1 session has no record of its activations: only its (fp32) KV must match.
  const bool activations_differ = !m.activations.empty() && m.activations != options_.activations;
  if (m.kv_dtype == kv_dtype && !activations_differ) return absl::OkStatus();
  const std::string recorded =
      m.activations.empty()
          ? absl::StrCat("kv_dtype ", m.kv_dtype)
          : absl::StrCat("precision ", m.precision.empty() ? "?" : m.precision, " (kv_dtype ",
                         m.kv_dtype, ", activations ", m.activations, ")");
  return absl::FailedPreconditionError(absl::StrCat(
      "session \"", m.id, "\" was computed with ", recorded, " and this engine runs precision ",
      options_.precision, " (kv_dtype ", kv_dtype, ", activations ", options_.activations,
      "): a session resumes only under the settings it was written with (open the engine with ",
      m.activations.empty() ? absl::StrCat("kv_dtype=", m.kv_dtype)
                            : absl::StrCat("kv_dtype=", m.kv_dtype, " activations=", m.activations),
      ")"));
}

absl::Status SessionStore::Load(const SessionManifest& manifest, int64_t position,
                                engine::SequenceState& state,
                                std::span<const int32_t> expected_tokens,
                                KvVerification verification) const {
  if (state.position() != 0) return absl::InternalError("load: the state is not empty");
  const CheckpointRecord* checkpoint = manifest.CheckpointAt(position);
  if (checkpoint == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("session \"", manifest.id, "\" has no checkpoint at position ", position));
  }
  JAMBA_RETURN_IF_ERROR(CheckCompatible(manifest));
  if (manifest.kv_dtype != kernels::KvDTypeName(state.kv_dtype())) {
    return absl::InternalError("load: the state's KV dtype is not the session's");
  }
  const std::string dir = SessionDir(manifest.tenant, manifest.id);
  std::vector<int32_t> tokens;
  tokens.reserve(static_cast<size_t>(position));
  const std::vector<int>& attention_layers = state.attention_layers();
  const int64_t row_bytes = state.kv_row_bytes();
  engine::KvCache& kv = state.kv();
  for (const SessionManifest::UsedSegment& used : manifest.UsedSegments(position)) {
    const std::string name = absl::StrCat("session ", manifest.id, " segment ", used.segment->file);
    JAMBA_ASSIGN_OR_RETURN(std::shared_ptr<const engine::MappedFile> file,
                           MapReferencedFile(dir, used.segment->file, name));
    // KV rows used in place keep their checksums for later; copied ones are checked now.
    const bool in_place = kv.can_adopt();
    // Rows used in place are read by the first forward pass, not now: what is read now is the
    // headers, META and the token ids. Without read-around, so that a segment whose pages are not
    // in the page cache is not read whole for them (read_ahead_kb can be 8 MiB); an encrypted
    // file is read whole anyway, to decrypt it.
    const bool headers_only = in_place && !options_.key.has_value();
    if (headers_only) file->Advise(engine::MappedFile::Access::kRandom);
    auto kv_section = [](SectionTag tag) {
      return tag == SectionTag::kKeys || tag == SectionTag::kValues;
    };
    JAMBA_ASSIGN_OR_RETURN(
        SealedReader opened,
        SealedReader::Open(BytesOf(*file), file, FileKind::kSegment, options_.key, name,
                           in_place ? std::function<bool(SectionTag)>(kv_section) : nullptr));
    auto reader = std::make_shared<const SealedReader>(std::move(opened));
    if (reader->sections().empty() || reader->sections()[0].tag != SectionTag::kMeta)
      return absl::DataLossError(absl::StrCat(name, ": first section is not META"));
    Json meta = Json::parse(reader->Payload(reader->sections()[0]), nullptr, false);
    if (meta.is_discarded() || !meta.is_object())
      return absl::DataLossError(absl::StrCat(name, ": META is not JSON"));
    const int64_t seg_begin = meta.value("begin", int64_t{-1});
    const int64_t seg_end = meta.value("end", int64_t{-1});
    // Version 1 segments hold fp32 rows and say only how many values a row has.
    const std::string seg_dtype = meta.value("kv_dtype", std::string("fp32"));
    const int64_t seg_row_bytes =
        meta.value("kv_row_bytes", meta.value("kv_row_floats", int64_t{-1}) * 4);
    if (seg_begin != used.segment->begin || seg_end != used.segment->end ||
        meta.value("kv_row_floats", int64_t{-1}) != state.kv_row_floats() ||
        seg_dtype != manifest.kv_dtype || seg_row_bytes != row_bytes) {
      return absl::DataLossError(
          absl::StrCat(name, ": does not match the manifest or this model's shapes"));
    }
    const int64_t skip = used.begin - seg_begin;
    const int64_t count = used.end - used.begin;
    const SectionRef* toks = reader->Find(SectionTag::kTokens, 0);
    if (toks == nullptr || toks->length != static_cast<uint64_t>(seg_end - seg_begin) * 4)
      return MissingSection(name, SectionTag::kTokens, 0);
    const auto* ids = reinterpret_cast<const int32_t*>(reader->Payload(*toks).data());
    tokens.insert(tokens.end(), ids + skip, ids + skip + count);
    std::vector<const void*> keys, values;
    std::vector<SectionRef> checks;
    for (int l : attention_layers) {
      const uint64_t want = static_cast<uint64_t>((seg_end - seg_begin) * row_bytes);
      const SectionRef* k = reader->Find(SectionTag::kKeys, static_cast<uint32_t>(l));
      const SectionRef* v = reader->Find(SectionTag::kValues, static_cast<uint32_t>(l));
      if (k == nullptr || k->length != want) return MissingSection(name, SectionTag::kKeys, l);
      if (v == nullptr || v->length != want) return MissingSection(name, SectionTag::kValues, l);
      keys.push_back(reader->Payload(*k).data() + skip * row_bytes);
      values.push_back(reader->Payload(*v).data() + skip * row_bytes);
      checks.push_back(*k);
      checks.push_back(*v);
    }
    // The rows are read from here on (the first forward pass, or the copy below): read-around
    // again, which reads them in large requests.
    if (headers_only) file->Advise(engine::MappedFile::Access::kNormal);
    // Version 1 rows sit at any offset in their file: copied. So are rows a device backend needs.
    if (!in_place || reader->version() < 2) {
      if (in_place) {
        for (const SectionRef& c : checks) JAMBA_RETURN_IF_ERROR(reader->Verify(c));
      }
      JAMBA_RETURN_IF_ERROR(kv.AppendRows(count, keys, values));
      continue;
    }
    std::function<absl::Status()> verify;
    if (!reader->encrypted()) {  // a decrypted file was authenticated whole
      verify = [reader, checks]() -> absl::Status {
        for (const SectionRef& c : checks) JAMBA_RETURN_IF_ERROR(reader->Verify(c));
        return absl::OkStatus();
      };
    }
    JAMBA_RETURN_IF_ERROR(kv.AdoptRows(count, keys, values, reader, std::move(verify)));
  }
  if (static_cast<int64_t>(tokens.size()) != position) {
    return absl::DataLossError(absl::StrCat("session ", manifest.id, ": segments hold ",
                                            tokens.size(), " tokens, expected ", position));
  }
  // Only the first `position` expected tokens are compared; fewer than that cannot match (and
  // must not be read past).
  if (!expected_tokens.empty() &&
      (static_cast<int64_t>(expected_tokens.size()) < position ||
       !std::equal(tokens.begin(), tokens.end(), expected_tokens.begin()))) {
    return absl::AbortedError("stored tokens differ from the expected prefix");
  }
  if (verification == KvVerification::kNow) JAMBA_RETURN_IF_ERROR(kv.Verify());

  const std::string name = absl::StrCat("session ", manifest.id, " checkpoint ", checkpoint->file);
  JAMBA_ASSIGN_OR_RETURN(std::shared_ptr<const engine::MappedFile> file,
                         MapReferencedFile(dir, checkpoint->file, name));
  JAMBA_ASSIGN_OR_RETURN(
      const SealedReader reader,
      SealedReader::Open(BytesOf(*file), file, FileKind::kCheckpoint, options_.key, name));
  if (reader.sections().empty() || reader.sections()[0].tag != SectionTag::kMeta)
    return absl::DataLossError(absl::StrCat(name, ": first section is not META"));
  Json meta = Json::parse(reader.Payload(reader.sections()[0]), nullptr, false);
  if (meta.is_discarded() || !meta.is_object())
    return absl::DataLossError(absl::StrCat(name, ": META is not JSON"));
  if (meta.value("position", int64_t{-1}) != position ||
      meta.value("conv_floats", int64_t{-1}) != state.conv_state_floats() ||
      meta.value("ssm_floats", int64_t{-1}) != state.ssm_state_floats()) {
    return absl::DataLossError(
        absl::StrCat(name, ": does not match the manifest or this model's shapes"));
  }
  for (int l = 0; l < state.num_layers(); ++l) {
    if (state.layer_kind(l) != engine::MixerKind::kMamba) continue;
    const SectionRef* conv = reader.Find(SectionTag::kConv, static_cast<uint32_t>(l));
    const SectionRef* ssm = reader.Find(SectionTag::kSsm, static_cast<uint32_t>(l));
    if (conv == nullptr || conv->length != static_cast<uint64_t>(state.conv_state_floats()) * 4)
      return MissingSection(name, SectionTag::kConv, l);
    if (ssm == nullptr || ssm->length != static_cast<uint64_t>(state.ssm_state_floats()) * 4)
      return MissingSection(name, SectionTag::kSsm, l);
    // Section payloads are only byte-aligned: copied out rather than read as floats in place.
    std::vector<float> conv_state(static_cast<size_t>(state.conv_state_floats()));
    std::vector<float> ssm_state(static_cast<size_t>(state.ssm_state_floats()));
    std::memcpy(conv_state.data(), reader.Payload(*conv).data(), conv->length);
    std::memcpy(ssm_state.data(), reader.Payload(*ssm).data(), ssm->length);
    state.WriteMambaState(l, conv_state.data(), ssm_state.data());
  }
  const SectionRef* logits = reader.Find(SectionTag::kLogits, 0);
  if (logits == nullptr) return MissingSection(name, SectionTag::kLogits, 0);
  std::vector<float> last_logits(logits->length / sizeof(float));
  std::memcpy(last_logits.data(), reader.Payload(*logits).data(),
              last_logits.size() * sizeof(float));
  state.SetLastLogits(std::move(last_logits));
  state.SetTokensForRestore(std::move(tokens));
  return absl::OkStatus();
}

absl::StatusOr<SessionManifest> SessionStore::Fork(const std::string& tenant, const std::string& id,
                                                   const std::string& new_id, int64_t position) {
  JAMBA_RETURN_IF_ERROR(ValidateTenant(tenant));
  JAMBA_RETURN_IF_ERROR(ValidateSessionId(id));
  JAMBA_RETURN_IF_ERROR(ValidateSessionId(new_id));
  // The source's lease keeps it from changing (and its files from going) while they are linked.
  JAMBA_ASSIGN_OR_RETURN(const LeaseHold source_hold, Hold(tenant, id, LeaseFor::kExisting));
  JAMBA_ASSIGN_OR_RETURN(SessionManifest source, Get(tenant, id));
  if (position != 0 && source.CheckpointAt(position) == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("session \"", id, "\" has no checkpoint at position ", position));
  }
  const std::string dir = SessionDir(tenant, new_id);
  JAMBA_RETURN_IF_ERROR(MakeDirectories(dir));
  JAMBA_ASSIGN_OR_RETURN(const LeaseHold fork_hold, Hold(tenant, new_id, LeaseFor::kCreate));
  auto current = ReadCurrentManifest(tenant, new_id);
  if (current.ok() && !current->deleted) {
    return absl::AlreadyExistsError(absl::StrCat("session \"", new_id, "\" already exists"));
  }
  if (!current.ok() && !absl::IsNotFound(current.status())) return current.status();
  SessionManifest fork = source;
  fork.id = new_id;
  fork.length = position;
  fork.segments.clear();
  fork.checkpoints.clear();
  fork.generation = current.ok() ? current->generation : 0;
  fork.commit_id = current.ok() ? current->commit_id : "";
  fork.ancestors = current.ok() ? current->ancestors : std::vector<std::string>{};
  // The fork's files are the source's (hard links: no copy of the KV), named in the fork's own
  // number range like any file written under its lease.
  fork.next_file_number = std::max(current.ok() ? current->next_file_number : 1,
                                   fork_hold.fencing() * kFileNumbersPerLease);
  const std::string from = SessionDir(tenant, id);
  std::vector<std::string> linked;
  auto link = [&](const std::string& file) -> absl::StatusOr<std::string> {
    for (int attempt = 0; attempt < 64; ++attempt) {
      const std::string name =
          absl::StrCat(absl::StartsWith(file, "seg-") ? "seg-" : "ckpt-", fork.next_file_number++,
                       absl::StartsWith(file, "seg-") ? ".kv" : ".state");
      const absl::Status status = LinkOrCopy(absl::StrCat(from, "/", file), dir, name);
      if (status.ok()) {
        linked.push_back(name);
        return name;
      }
      if (!absl::IsAlreadyExists(status)) return status;
    }
    return absl::InternalError(absl::StrCat(dir, ": no free file name"));
  };
  auto link_and_commit = [&]() -> absl::Status {
    for (const SessionManifest::UsedSegment& used : source.UsedSegments(position)) {
      JAMBA_ASSIGN_OR_RETURN(const std::string name, link(used.segment->file));
      fork.segments.push_back({name, used.segment->begin, used.segment->end});
    }
    for (const CheckpointRecord& c : source.checkpoints) {
      if (c.position > position) break;
      JAMBA_ASSIGN_OR_RETURN(const std::string name, link(c.file));
      CheckpointRecord record = c;
      record.file = name;
      fork.checkpoints.push_back(std::move(record));
    }
    fork.create_time_us = NowMicros();
    JAMBA_RETURN_IF_ERROR(SyncDirectory(dir));
    return Commit(fork);
  };
  if (absl::Status status = link_and_commit(); !status.ok()) {
    // Nothing was published: leave no links behind.
    for (const std::string& name : linked) ::unlink(absl::StrCat(dir, "/", name).c_str());
    return status;
  }
  return fork;
}

absl::StatusOr<SessionManifest> SessionStore::Rewind(const std::string& tenant,
                                                     const std::string& id, int64_t position) {
  JAMBA_RETURN_IF_ERROR(ValidateTenant(tenant));
  JAMBA_RETURN_IF_ERROR(ValidateSessionId(id));
  JAMBA_ASSIGN_OR_RETURN(const LeaseHold hold, Hold(tenant, id, LeaseFor::kExisting));
  JAMBA_ASSIGN_OR_RETURN(SessionManifest m, Get(tenant, id));
  if (position < 0 || position > m.length ||
      (position > 0 && m.CheckpointAt(position) == nullptr)) {
    return absl::InvalidArgumentError(
        absl::StrCat("session \"", id, "\" has no checkpoint at position ", position));
  }
  m.length = position;
  std::erase_if(m.checkpoints, [&](const CheckpointRecord& c) { return c.position > position; });
  std::erase_if(m.segments, [&](const SegmentRecord& s) { return s.begin >= position; });
  JAMBA_RETURN_IF_ERROR(Commit(m));
  return m;
}

std::optional<SessionStore::PrefixMatch> SessionStore::FindLongestPrefix(
    const std::string& tenant, std::span<const int32_t> tokens) const {
  absl::MutexLock lock(&mu_);
  auto it = index_.find(tenant);
  if (it == index_.end() || it->second.empty()) return std::nullopt;
  const auto& tenant_index = it->second;
  std::optional<PrefixMatch> best;
  uint64_t hash = kEmptyPrefixHash;
  for (size_t i = 0; i < tokens.size(); ++i) {
    hash = ExtendPrefixHash(hash, tokens[i]);
    const int64_t position = static_cast<int64_t>(i) + 1;
    auto hit = tenant_index.find({position, hash});
    if (hit != tenant_index.end() && !hit->second.empty())
      best = PrefixMatch{hit->second.front(), position};
  }
  return best;
}

void SessionStore::Touch(const std::string& tenant, const std::string& id) {
  absl::MutexLock lock(&mu_);
  access_us_[{tenant, id}] = NowMicros();
}

int SessionStore::ExpireIdle() {
  int count = 0;
  if (options_.ttl > absl::ZeroDuration()) {
    const int64_t cutoff = NowMicros() - absl::ToInt64Microseconds(options_.ttl);
    std::vector<Key> expired;
    {
      absl::MutexLock lock(&mu_);
      for (const auto& [key, access] : access_us_) {
        if (access < cutoff) expired.push_back(key);
      }
    }
    for (const auto& [tenant, id] : expired) {
      if (options_.is_pinned && options_.is_pinned(tenant, id)) continue;
      // This store's clock of the session's use covers its own uses: under the lease, the last
      // use recorded on disk (the manifest's, the previous owner's lease) decides.
      auto hold = Hold(tenant, id, LeaseFor::kExisting);
      if (!hold.ok()) continue;  // gone, or in use elsewhere
      auto manifest = Get(tenant, id);
      if (!manifest.ok()) continue;
      int64_t last_use_us = manifest->access_time_us;
      {
        absl::MutexLock lock(&hold->entry_->mu);
        last_use_us = std::max(last_use_us, hold->entry_->previous_last_use_ms * 1000);
      }
      if (last_use_us >= cutoff) {
        absl::MutexLock lock(&mu_);
        int64_t& access = access_us_[{tenant, id}];
        access = std::max(access, last_use_us);
        continue;
      }
      if (DeleteHeld(tenant, id, *hold).ok()) {
        ++count;
        if (options_.on_evicted) options_.on_evicted(tenant, id);
      }
    }
  }
  // Tombstones past their age, and what interrupted work left, in sessions nobody holds.
  auto tenants = ListDirectory(options_.root + "/tenants");
  if (tenants.ok()) {
    for (const std::string& tenant : *tenants) {
      if (!ValidateTenant(tenant).ok()) continue;
      auto ids = ListDirectory(absl::StrCat(options_.root, "/tenants/", tenant, "/sessions"));
      if (!ids.ok()) continue;
      for (const std::string& id : *ids) {
        if (ValidateSessionId(id).ok() && NeedsTidying(tenant, id)) Tidy(tenant, id);
      }
    }
  }
  return count;
}

uint64_t SessionStore::TotalBytes() const {
  std::set<std::pair<dev_t, ino_t>> seen;
  uint64_t total = 0;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(options_.root, ec);
       it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    struct stat st;
    if (::lstat(it->path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if (seen.insert({st.st_dev, st.st_ino}).second) total += static_cast<uint64_t>(st.st_size);
  }
  return total;
}

uint64_t SessionStore::SessionBytes(const std::string& tenant, const std::string& id) const {
  return DirectoryBytes(SessionDir(tenant, id));
}

absl::Status SessionStore::EnforceQuota(const std::string& tenant, const std::string& id) {
  if (options_.max_bytes == 0) return absl::OkStatus();
  uint64_t total = TotalBytes();
  if (total <= options_.max_bytes) return absl::OkStatus();
  std::vector<std::pair<int64_t, std::pair<std::string, std::string>>> candidates;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [key, access] : access_us_) {
      if (key == std::make_pair(tenant, id)) continue;
      candidates.push_back({access, key});
    }
  }
  std::sort(candidates.begin(), candidates.end());
  for (const auto& [access, key] : candidates) {
    if (total <= options_.max_bytes) break;
    if (options_.is_pinned && options_.is_pinned(key.first, key.second)) continue;
    if (Delete(key.first, key.second).ok()) {
      if (options_.on_evicted) options_.on_evicted(key.first, key.second);
      total = TotalBytes();
    }
  }
  if (total > options_.max_bytes) {
    return engine::ResourceExhausted(engine::ExhaustedResource::kSessionQuota,
                                     absl::StrCat("session store quota of ", options_.max_bytes,
                                                  " bytes exceeded (", total, " bytes in use)"));
  }
  return absl::OkStatus();
}

}  // namespace jamba::sdk
