// SessionStore implementation: sealed immutable files + an atomically replaced manifest.
#include "sdk/store/session_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <set>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/exhausted_resource.h"
#include "engine/status_macros.h"
#include "nlohmann/json.hpp"
#include "sdk/store/durable_file.h"

namespace jamba::sdk {
namespace {

using Json = nlohmann::json;
constexpr char kManifestName[] = "MANIFEST";
constexpr char kStoreMarkerName[] = "STORE";

int64_t NowMicros() { return absl::ToUnixMicros(absl::Now()); }

std::string FloatBytes(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}

template <typename T>
std::vector<T> FromBytes(const std::string& bytes) {
  std::vector<T> v(bytes.size() / sizeof(T));
  std::memcpy(v.data(), bytes.data(), v.size() * sizeof(T));
  return v;
}

absl::StatusOr<Json> MetaOf(const std::vector<Section>& sections, const std::string& name) {
  if (sections.empty() || sections[0].tag != SectionTag::kMeta) {
    return absl::DataLossError(absl::StrCat(name, ": first section is not META"));
  }
  Json j = Json::parse(sections[0].payload, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object())
    return absl::DataLossError(absl::StrCat(name, ": META is not JSON"));
  return j;
}

const Section* FindSection(const std::vector<Section>& sections, SectionTag tag, uint32_t index) {
  for (const Section& s : sections) {
    if (s.tag == tag && s.index == index) return &s;
  }
  return nullptr;
}

absl::Status MissingSection(const std::string& name, SectionTag tag, uint32_t index) {
  return absl::DataLossError(absl::StrCat(name, ": section ",
                                          SectionTagName(static_cast<uint32_t>(tag)), " #", index,
                                          " is missing or has the wrong size"));
}

// Reads a file the manifest references. Its absence is damage to a session that exists, so it is
// DATA_LOSS, never the NOT_FOUND that means "no such session".
absl::StatusOr<std::string> ReadReferencedFile(const std::string& dir, const std::string& file,
                                               const std::string& name) {
  auto bytes = ReadWholeFile(absl::StrCat(dir, "/", file));
  if (absl::IsNotFound(bytes.status())) {
    return absl::DataLossError(absl::StrCat(name, " is missing (", dir, "/", file, ")"));
  }
  return bytes;
}

// The store directory lock: one open store at a time (per process and across processes).
absl::StatusOr<int> LockStore(const std::string& root) {
  const std::string path = root + "/LOCK";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0)
    return absl::PermissionDeniedError(
        absl::StrCat("cannot open ", path, ": ", std::strerror(errno)));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return absl::FailedPreconditionError(
        absl::StrCat("session store ", root, " is in use by another process"));
  }
  return fd;
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
  JAMBA_RETURN_IF_ERROR(MakeDirectories(options.root));
  JAMBA_ASSIGN_OR_RETURN(const int lock_fd, LockStore(options.root));
  std::unique_ptr<SessionStore> store(new SessionStore(std::move(options)));
  store->lock_fd_ = lock_fd;
  const std::string& root = store->options_.root;
  const std::string marker_path = absl::StrCat(root, "/", kStoreMarkerName);
  auto marker = ReadWholeFile(marker_path);
  if (marker.ok()) {
    auto sections =
        DecodeSealedFile(*marker, FileKind::kStoreMarker, store->options_.key, marker_path);
    if (!sections.ok()) {
      if (absl::IsDataLoss(sections.status()) && store->options_.key.has_value() &&
          absl::StrContains(sections.status().message(), "authentication failed")) {
        return absl::FailedPreconditionError(absl::StrCat(
            "session store ", root, ": wrong encryption key (it does not open the store marker)"));
      }
      return sections.status();
    }
  } else if (absl::IsNotFound(marker.status())) {
    const Json meta = {{"format", "jamba-session-store"}, {"created_us", NowMicros()}};
    JAMBA_ASSIGN_OR_RETURN(
        std::string bytes,
        EncodeSealedFile(FileKind::kStoreMarker, {{SectionTag::kMeta, 0, meta.dump()}},
                         store->options_.key));
    JAMBA_RETURN_IF_ERROR(WriteFileDurably(root, kStoreMarkerName, bytes));
  } else {
    return marker.status();
  }

  // Index every session; finish interrupted work (orphan files, half-created sessions).
  auto tenants = ListDirectory(root + "/tenants");
  if (tenants.ok()) {
    for (const std::string& tenant : *tenants) {
      if (!ValidateTenant(tenant).ok()) continue;
      auto ids = ListDirectory(absl::StrCat(root, "/tenants/", tenant, "/sessions"));
      if (!ids.ok()) continue;
      for (const std::string& id : *ids) {
        if (!ValidateSessionId(id).ok()) continue;
        const std::string dir = store->SessionDir(tenant, id);
        auto manifest = store->ReadManifest(tenant, id);
        if (absl::IsNotFound(manifest.status())) {
          (void)RemoveTree(dir);  // created but never committed
          continue;
        }
        if (!manifest.ok()) continue;  // reported when the session is used
        store->RemoveUnreferencedFiles(*manifest);
        store->IndexSession(*manifest);
      }
    }
  }
  return store;
}

SessionStore::~SessionStore() {
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

absl::StatusOr<SessionManifest> SessionStore::ReadManifest(const std::string& tenant,
                                                           const std::string& id) const {
  const std::string path = absl::StrCat(SessionDir(tenant, id), "/", kManifestName);
  auto bytes = ReadWholeFile(path);
  if (!bytes.ok()) {
    if (absl::IsNotFound(bytes.status())) {
      return absl::NotFoundError(absl::StrCat("session \"", id, "\" not found"));
    }
    return bytes.status();
  }
  const std::string name = absl::StrCat("session ", id, " manifest");
  JAMBA_ASSIGN_OR_RETURN(std::vector<Section> sections,
                         DecodeSealedFile(*bytes, FileKind::kManifest, options_.key, name));
  if (sections.empty() || sections[0].tag != SectionTag::kMeta) {
    return absl::DataLossError(absl::StrCat(name, ": missing META section"));
  }
  JAMBA_ASSIGN_OR_RETURN(SessionManifest manifest, ManifestFromJson(sections[0].payload, name));
  if (manifest.id != id || manifest.tenant != tenant) {
    return absl::DataLossError(absl::StrCat(name, ": belongs to another session"));
  }
  return manifest;
}

absl::Status SessionStore::WriteManifest(const SessionManifest& manifest,
                                         const std::function<absl::Status()>& before_rename) {
  JAMBA_ASSIGN_OR_RETURN(
      std::string bytes,
      EncodeSealedFile(FileKind::kManifest, {{SectionTag::kMeta, 0, ManifestToJson(manifest)}},
                       options_.key));
  return WriteFileDurably(SessionDir(manifest.tenant, manifest.id), kManifestName, bytes,
                          before_rename);
}

void SessionStore::RemoveUnreferencedFiles(const SessionManifest& manifest) const {
  const std::string dir = SessionDir(manifest.tenant, manifest.id);
  std::set<std::string> keep = {kManifestName};
  for (const SegmentRecord& s : manifest.segments) keep.insert(s.file);
  for (const CheckpointRecord& c : manifest.checkpoints) keep.insert(c.file);
  auto names = ListDirectory(dir);
  if (!names.ok()) return;
  bool removed = false;
  for (const std::string& name : *names) {
    if (keep.count(name)) continue;
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
  if (manifest.model_fingerprint == options_.model_fingerprint) {
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

absl::StatusOr<SessionManifest> SessionStore::Create(
    const std::string& tenant, const std::string& id, const std::string& display_name,
    const std::map<std::string, std::string>& labels) {
  JAMBA_RETURN_IF_ERROR(ValidateTenant(tenant));
  JAMBA_RETURN_IF_ERROR(ValidateSessionId(id));
  const std::string dir = SessionDir(tenant, id);
  if (std::filesystem::exists(absl::StrCat(dir, "/", kManifestName))) {
    return absl::AlreadyExistsError(absl::StrCat("session \"", id, "\" already exists"));
  }
  JAMBA_RETURN_IF_ERROR(RemoveTree(dir));  // the leftover of an interrupted create or fork
  JAMBA_RETURN_IF_ERROR(MakeDirectories(dir));
  SessionManifest m;
  m.id = id;
  m.tenant = tenant;
  m.display_name = display_name;
  m.labels = labels;
  m.model_fingerprint = options_.model_fingerprint;
  m.create_time_us = m.update_time_us = m.access_time_us = NowMicros();
  JAMBA_RETURN_IF_ERROR(WriteManifest(m));
  JAMBA_RETURN_IF_ERROR(
      SyncDirectory(absl::StrCat(options_.root, "/tenants/", tenant, "/sessions")));
  IndexSession(m);
  return m;
}

absl::StatusOr<SessionManifest> SessionStore::Get(const std::string& tenant,
                                                  const std::string& id) const {
  JAMBA_RETURN_IF_ERROR(ValidateTenant(tenant));
  JAMBA_RETURN_IF_ERROR(ValidateSessionId(id));
  JAMBA_ASSIGN_OR_RETURN(SessionManifest m, ReadManifest(tenant, id));
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
  const std::string dir = SessionDir(tenant, id);
  if (!std::filesystem::exists(dir))
    return absl::NotFoundError(absl::StrCat("session \"", id, "\" not found"));
  // Removing the manifest first makes the deletion atomic; the rest is garbage.
  const std::string manifest = absl::StrCat(dir, "/", kManifestName);
  if (::unlink(manifest.c_str()) != 0 && errno != ENOENT) {
    return absl::InternalError(
        absl::StrCat("cannot delete ", manifest, ": ", std::strerror(errno)));
  }
  (void)SyncDirectory(dir);
  UnindexSession(tenant, id);
  JAMBA_RETURN_IF_ERROR(RemoveTree(dir));
  return absl::OkStatus();
}

absl::Status SessionStore::Stage(SessionManifest& draft, const engine::SequenceState& state,
                                 const std::string& reason) {
  const int64_t begin = draft.length;
  const int64_t end = state.position();
  if (end < begin) return absl::InternalError("stage: the state is behind the manifest");
  if (end == begin && (end == 0 || draft.CheckpointAt(end) != nullptr)) return absl::OkStatus();
  const std::string dir = SessionDir(draft.tenant, draft.id);

  if (end > begin) {
    std::vector<int> attention_layers;
    for (int l = 0; l < state.num_layers(); ++l) {
      if (state.layer_kind(l) == engine::MixerKind::kAttention) attention_layers.push_back(l);
    }
    const Json meta = {{"begin", begin},
                       {"end", end},
                       {"kv_row_floats", state.kv_row_floats()},
                       {"attention_layers", attention_layers}};
    std::vector<Section> sections;
    sections.push_back({SectionTag::kMeta, 0, meta.dump()});
    const std::span<const int32_t> tokens(state.tokens().data() + begin,
                                          static_cast<size_t>(end - begin));
    sections.push_back(
        {SectionTag::kTokens, 0,
         std::string(reinterpret_cast<const char*>(tokens.data()), tokens.size_bytes())});
    std::vector<float> keys(static_cast<size_t>((end - begin) * state.kv_row_floats()));
    std::vector<float> values(keys.size());
    for (int l : attention_layers) {
      state.ReadKv(l, begin, end, keys.data(), values.data());
      sections.push_back({SectionTag::kKeys, static_cast<uint32_t>(l), FloatBytes(keys)});
      sections.push_back({SectionTag::kValues, static_cast<uint32_t>(l), FloatBytes(values)});
    }
    const std::string file = absl::StrCat("seg-", draft.next_file_number++, ".kv");
    JAMBA_ASSIGN_OR_RETURN(std::string bytes,
                           EncodeSealedFile(FileKind::kSegment, sections, options_.key));
    JAMBA_RETURN_IF_ERROR(WriteFileDurably(dir, file, bytes));
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
  const std::string file = absl::StrCat("ckpt-", draft.next_file_number++, ".state");
  JAMBA_ASSIGN_OR_RETURN(std::string bytes,
                         EncodeSealedFile(FileKind::kCheckpoint, sections, options_.key));
  JAMBA_RETURN_IF_ERROR(WriteFileDurably(dir, file, bytes));

  uint64_t hash = kEmptyPrefixHash;
  for (int64_t i = 0; i < end; ++i) hash = ExtendPrefixHash(hash, state.tokens()[i]);
  std::erase_if(draft.checkpoints, [&](const CheckpointRecord& c) { return c.position >= end; });
  draft.checkpoints.push_back({file, end, reason, hash, NowMicros()});
  draft.length = end;
  return absl::OkStatus();
}

absl::Status SessionStore::Commit(SessionManifest& draft,
                                  const std::function<absl::Status()>& last_check) {
  const int64_t now = NowMicros();
  draft.update_time_us = now;
  draft.access_time_us = now;
  JAMBA_RETURN_IF_ERROR(EnforceQuota(draft.tenant, draft.id));
  JAMBA_RETURN_IF_ERROR(WriteManifest(draft, last_check));
  RemoveUnreferencedFiles(draft);
  IndexSession(draft);
  return absl::OkStatus();
}

void SessionStore::Abandon(const SessionManifest& committed, const SessionManifest& draft) {
  (void)draft;
  RemoveUnreferencedFiles(committed);
}

absl::Status SessionStore::Load(const SessionManifest& manifest, int64_t position,
                                engine::SequenceState& state,
                                std::span<const int32_t> expected_tokens) const {
  if (state.position() != 0) return absl::InternalError("load: the state is not empty");
  const CheckpointRecord* checkpoint = manifest.CheckpointAt(position);
  if (checkpoint == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("session \"", manifest.id, "\" has no checkpoint at position ", position));
  }
  const std::string dir = SessionDir(manifest.tenant, manifest.id);
  std::vector<int32_t> tokens;
  tokens.reserve(static_cast<size_t>(position));
  // One allocation for the whole history: growing segment by segment copied the rows already
  // loaded at every segment (seconds for a 32K-token document).
  JAMBA_RETURN_IF_ERROR(state.ReserveKv(position));
  for (const SessionManifest::UsedSegment& used : manifest.UsedSegments(position)) {
    const std::string name = absl::StrCat("session ", manifest.id, " segment ", used.segment->file);
    JAMBA_ASSIGN_OR_RETURN(std::string bytes, ReadReferencedFile(dir, used.segment->file, name));
    JAMBA_ASSIGN_OR_RETURN(std::vector<Section> sections,
                           DecodeSealedFile(bytes, FileKind::kSegment, options_.key, name));
    bytes.clear();
    JAMBA_ASSIGN_OR_RETURN(Json meta, MetaOf(sections, name));
    const int64_t seg_begin = meta.value("begin", int64_t{-1});
    const int64_t seg_end = meta.value("end", int64_t{-1});
    if (seg_begin != used.segment->begin || seg_end != used.segment->end ||
        meta.value("kv_row_floats", int64_t{-1}) != state.kv_row_floats()) {
      return absl::DataLossError(
          absl::StrCat(name, ": does not match the manifest or this model's shapes"));
    }
    const int64_t skip = used.begin - seg_begin;
    const int64_t count = used.end - used.begin;
    const Section* toks = FindSection(sections, SectionTag::kTokens, 0);
    if (toks == nullptr ||
        toks->payload.size() != static_cast<size_t>(seg_end - seg_begin) * sizeof(int32_t)) {
      return MissingSection(name, SectionTag::kTokens, 0);
    }
    const auto* ids = reinterpret_cast<const int32_t*>(toks->payload.data());
    tokens.insert(tokens.end(), ids + skip, ids + skip + count);
    const size_t row_bytes = static_cast<size_t>(state.kv_row_floats()) * sizeof(float);
    for (int l = 0; l < state.num_layers(); ++l) {
      if (state.layer_kind(l) != engine::MixerKind::kAttention) continue;
      const Section* k = FindSection(sections, SectionTag::kKeys, static_cast<uint32_t>(l));
      const Section* v = FindSection(sections, SectionTag::kValues, static_cast<uint32_t>(l));
      const size_t want = static_cast<size_t>(seg_end - seg_begin) * row_bytes;
      if (k == nullptr || k->payload.size() != want)
        return MissingSection(name, SectionTag::kKeys, l);
      if (v == nullptr || v->payload.size() != want)
        return MissingSection(name, SectionTag::kValues, l);
      JAMBA_RETURN_IF_ERROR(state.AppendKvRows(
          l, count, reinterpret_cast<const float*>(k->payload.data() + skip * row_bytes),
          reinterpret_cast<const float*>(v->payload.data() + skip * row_bytes)));
    }
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

  const std::string name = absl::StrCat("session ", manifest.id, " checkpoint ", checkpoint->file);
  JAMBA_ASSIGN_OR_RETURN(std::string bytes, ReadReferencedFile(dir, checkpoint->file, name));
  JAMBA_ASSIGN_OR_RETURN(std::vector<Section> sections,
                         DecodeSealedFile(bytes, FileKind::kCheckpoint, options_.key, name));
  JAMBA_ASSIGN_OR_RETURN(Json meta, MetaOf(sections, name));
  if (meta.value("position", int64_t{-1}) != position ||
      meta.value("conv_floats", int64_t{-1}) != state.conv_state_floats() ||
      meta.value("ssm_floats", int64_t{-1}) != state.ssm_state_floats()) {
    return absl::DataLossError(
        absl::StrCat(name, ": does not match the manifest or this model's shapes"));
  }
  for (int l = 0; l < state.num_layers(); ++l) {
    if (state.layer_kind(l) != engine::MixerKind::kMamba) continue;
    const Section* conv = FindSection(sections, SectionTag::kConv, static_cast<uint32_t>(l));
    const Section* ssm = FindSection(sections, SectionTag::kSsm, static_cast<uint32_t>(l));
    if (conv == nullptr ||
        conv->payload.size() != static_cast<size_t>(state.conv_state_floats()) * sizeof(float)) {
      return MissingSection(name, SectionTag::kConv, l);
    }
    if (ssm == nullptr ||
        ssm->payload.size() != static_cast<size_t>(state.ssm_state_floats()) * sizeof(float)) {
      return MissingSection(name, SectionTag::kSsm, l);
    }
    state.WriteMambaState(l, reinterpret_cast<const float*>(conv->payload.data()),
                          reinterpret_cast<const float*>(ssm->payload.data()));
  }
  const Section* logits = FindSection(sections, SectionTag::kLogits, 0);
  if (logits == nullptr) return MissingSection(name, SectionTag::kLogits, 0);
  state.SetLastLogits(FromBytes<float>(logits->payload));
  state.SetTokensForRestore(std::move(tokens));
  return absl::OkStatus();
}

absl::StatusOr<SessionManifest> SessionStore::Fork(const std::string& tenant, const std::string& id,
                                                   const std::string& new_id, int64_t position) {
  JAMBA_ASSIGN_OR_RETURN(SessionManifest source, Get(tenant, id));
  JAMBA_RETURN_IF_ERROR(ValidateSessionId(new_id));
  if (position != 0 && source.CheckpointAt(position) == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("session \"", id, "\" has no checkpoint at position ", position));
  }
  const std::string dir = SessionDir(tenant, new_id);
  if (std::filesystem::exists(absl::StrCat(dir, "/", kManifestName))) {
    return absl::AlreadyExistsError(absl::StrCat("session \"", new_id, "\" already exists"));
  }
  // A directory without a manifest is the leftover of an interrupted create or fork; its files
  // may carry the names this fork is about to link, with another session's contents.
  JAMBA_RETURN_IF_ERROR(RemoveTree(dir));
  JAMBA_RETURN_IF_ERROR(MakeDirectories(dir));
  SessionManifest fork = source;
  fork.id = new_id;
  fork.length = position;
  fork.segments.clear();
  fork.checkpoints.clear();
  const std::string from = SessionDir(tenant, id);
  auto link_and_commit = [&]() -> absl::Status {
    // Immutable files are shared by hard links: a fork costs no copy of the KV.
    for (const SessionManifest::UsedSegment& used : source.UsedSegments(position)) {
      JAMBA_RETURN_IF_ERROR(
          LinkOrCopy(absl::StrCat(from, "/", used.segment->file), dir, used.segment->file));
      fork.segments.push_back(*used.segment);
    }
    for (const CheckpointRecord& c : source.checkpoints) {
      if (c.position > position) break;
      JAMBA_RETURN_IF_ERROR(LinkOrCopy(absl::StrCat(from, "/", c.file), dir, c.file));
      fork.checkpoints.push_back(c);
    }
    fork.create_time_us = NowMicros();
    JAMBA_RETURN_IF_ERROR(SyncDirectory(dir));
    return Commit(fork);
  };
  if (absl::Status status = link_and_commit(); !status.ok()) {
    (void)RemoveTree(dir);  // nothing was published: leave no half-made session behind
    return status;
  }
  return fork;
}

absl::StatusOr<SessionManifest> SessionStore::Rewind(const std::string& tenant,
                                                     const std::string& id, int64_t position) {
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
  if (options_.ttl <= absl::ZeroDuration()) return 0;
  const int64_t cutoff = NowMicros() - absl::ToInt64Microseconds(options_.ttl);
  std::vector<std::pair<std::string, std::string>> expired;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [key, access] : access_us_) {
      if (access < cutoff) expired.push_back(key);
    }
  }
  int count = 0;
  for (const auto& [tenant, id] : expired) {
    if (options_.is_pinned && options_.is_pinned(tenant, id)) continue;
    if (Delete(tenant, id).ok()) {
      ++count;
      if (options_.on_evicted) options_.on_evicted(tenant, id);
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
