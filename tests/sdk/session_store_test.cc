// SessionStore on real sequence states of the golden MoE model: the session lifecycle, id and
// tenant validation, atomic commits, crash leftovers cleaned on reopen, forks sharing files,
// rewinds, model binding, damage reported per session without hiding the healthy ones, the disk
// quota with LRU eviction, TTL expiry, tombstones, and the lock that keeps older builds out.
// Several stores sharing one root (leases, fencing): session_lease_test.cc.
#include "sdk/store/session_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "engine/forward_workspace.h"
#include "engine/jamba_model.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sdk/backend_factory.h"
#include "sdk/store/durable_file.h"
#include "sdk/store/session_files.h"
#include "tests/sdk/sealed_layout.h"
#include "tests/util/test_util.h"

namespace jamba::sdk {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

constexpr char kTenant[] = "acme";

std::vector<int32_t> Doc(int n, int seed) {
  std::vector<int32_t> ids;
  uint32_t x = static_cast<uint32_t>(seed) * 2654435761u + 7;
  for (int i = 0; i < n; ++i) {
    x = x * 1664525u + 1013904223u;
    ids.push_back(3 + static_cast<int32_t>((x >> 8) % 500));
  }
  return ids;
}

std::vector<int32_t> Concat(std::span<const int32_t> a, std::span<const int32_t> b) {
  std::vector<int32_t> out(a.begin(), a.end());
  out.insert(out.end(), b.begin(), b.end());
  return out;
}

::testing::AssertionResult BitIdentical(const std::vector<float>& actual,
                                        const std::vector<float>& expected) {
  if (actual.size() != expected.size()) {
    return ::testing::AssertionFailure() << "sizes " << actual.size() << " and " << expected.size();
  }
  if (std::memcmp(actual.data(), expected.data(), actual.size() * sizeof(float)) != 0) {
    return ::testing::AssertionFailure()
           << "differ, max abs diff " << testing::MaxAbsDiff(actual, expected);
  }
  return ::testing::AssertionSuccess();
}

std::set<std::string> FilesIn(const std::string& dir) {
  std::set<std::string> names;
  auto listed = ListDirectory(dir);
  if (listed.ok()) names.insert(listed->begin(), listed->end());
  return names;
}

// The segments and checkpoints in a session directory (without manifests, leases, temp files).
std::set<std::string> DataFilesIn(const std::string& dir) {
  std::set<std::string> names;
  auto listing = ListSessionDir(dir);
  if (listing.ok()) names.insert(listing->data_files.begin(), listing->data_files.end());
  return names;
}

// The session's current manifest file: its highest generation.
std::string CurrentManifest(const std::string& session_dir) {
  auto listing = ListSessionDir(session_dir);
  EXPECT_TRUE(listing.ok() && listing->current_manifest().has_value()) << session_dir;
  const uint64_t generation = listing.ok() ? listing->current_manifest().value_or(0) : 0;
  return session_dir + "/" + ManifestFileName(generation);
}

ino_t Inode(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

class SessionStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto backend = CreateBackend({.device = "cpu", .threads = 1});
    ASSERT_TRUE(backend.ok()) << backend.status();
    backend_ = *std::move(backend);
    UseKvDType(kernels::KvDType::kF32);
    workspace_ = std::make_unique<engine::ForwardWorkspace>(*backend_);
    root_ = dir_.path() + "/store";
  }
  // States (and the store options) from here on keep their KV cache in `dtype`.
  void UseKvDType(kernels::KvDType dtype) {
    engine::ModelOptions options;
    options.kv_dtype = dtype;
    auto model =
        engine::JambaModel::Load(testing::GoldenDir("hybrid8_moe_f32_sharded"), *backend_, options);
    ASSERT_TRUE(model.ok()) << model.status();
    model_ = *std::move(model);
    kv_dtype_ = dtype;
  }

  SessionStoreOptions Options(const std::string& fingerprint = "model-a") const {
    SessionStoreOptions options;
    options.root = root_;
    options.model_fingerprint = fingerprint;
    options.kv_dtype = kv_dtype_;
    return options;
  }
  std::unique_ptr<SessionStore> Open(SessionStoreOptions options) {
    auto store = SessionStore::Open(std::move(options));
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *std::move(store) : nullptr;
  }
  std::unique_ptr<SessionStore> Open() { return Open(Options()); }

  std::string SessionDir(const std::string& id, const std::string& tenant = kTenant) const {
    return root_ + "/tenants/" + tenant + "/sessions/" + id;
  }

  engine::SequenceState Fresh() const {
    auto state = model_->NewSequence();
    EXPECT_TRUE(state.ok());
    return *std::move(state);
  }
  // The state after `tokens` computed from scratch, in one pass.
  engine::SequenceState Recomputed(std::span<const int32_t> tokens) const {
    engine::SequenceState state = Fresh();
    EXPECT_TRUE(model_->Prefill(state, tokens, *workspace_, 512).ok());
    return state;
  }

  // Appends `tokens` to a committed session the way SessionManager does: a checkpoint every
  // `interval` tokens and at the end, one commit.
  absl::StatusOr<SessionManifest> Append(SessionStore& store, const std::string& id,
                                         std::span<const int32_t> tokens, int64_t interval = 16,
                                         const std::string& tenant = kTenant) {
    auto committed = store.Get(tenant, id);
    if (!committed.ok()) return committed.status();
    engine::SequenceState state = Fresh();
    if (committed->length > 0) {
      if (absl::Status s = store.Load(*committed, committed->length, state); !s.ok()) return s;
    }
    SessionManifest draft = *committed;
    size_t done = 0;
    while (done < tokens.size()) {
      const int64_t position = state.position();
      const size_t take =
          std::min<size_t>(tokens.size() - done,
                           static_cast<size_t>((position / interval + 1) * interval - position));
      if (absl::Status s = model_->Prefill(state, tokens.subspan(done, take), *workspace_, 512);
          !s.ok())
        return s;
      done += take;
      absl::Status s = store.Stage(draft, state, done == tokens.size() ? "append" : "interval");
      if (!s.ok()) {
        store.Abandon(*committed, draft);
        return s;
      }
    }
    if (absl::Status s = store.Commit(draft); !s.ok()) {
      store.Abandon(*committed, draft);
      return s;
    }
    return draft;
  }
  absl::StatusOr<SessionManifest> CreateWith(SessionStore& store, const std::string& id,
                                             std::span<const int32_t> tokens,
                                             int64_t interval = 16) {
    auto created = store.Create(kTenant, id, "", {});
    if (!created.ok()) return created.status();
    return Append(store, id, tokens, interval);
  }

  absl::StatusOr<engine::SequenceState> LoadAt(
      const SessionStore& store, const std::string& id, std::optional<int64_t> position = {},
      KvVerification verification = KvVerification::kNow) const {
    auto manifest = store.Get(kTenant, id);
    if (!manifest.ok()) return manifest.status();
    engine::SequenceState state = Fresh();
    if (absl::Status s =
            store.Load(*manifest, position.value_or(manifest->length), state, {}, verification);
        !s.ok())
      return s;
    return state;
  }

  // The state of `id` must be exactly what computing `tokens` from scratch gives.
  void ExpectSessionHolds(const SessionStore& store, const std::string& id,
                          const std::vector<int32_t>& tokens) const {
    auto loaded = LoadAt(store, id);
    ASSERT_TRUE(loaded.ok()) << id << ": " << loaded.status();
    EXPECT_EQ(loaded->tokens(), tokens) << id;
    const engine::SequenceState expected = Recomputed(tokens);
    EXPECT_TRUE(BitIdentical(loaded->last_logits(), expected.last_logits())) << id;
    // And the next step from the loaded state matches the next step from scratch.
    const int32_t next[] = {11};
    engine::SequenceState continued = *std::move(loaded);
    engine::SequenceState reference = Recomputed(Concat(tokens, next));
    ASSERT_TRUE(model_->Prefill(continued, next, *workspace_, 512).ok());
    EXPECT_TRUE(BitIdentical(continued.last_logits(), reference.last_logits())) << id;
  }

  testing::TempDir dir_;
  std::string root_;
  std::unique_ptr<kernels::Backend> backend_;
  std::unique_ptr<engine::JambaModel> model_;
  std::unique_ptr<engine::ForwardWorkspace> workspace_;
  kernels::KvDType kv_dtype_ = kernels::KvDType::kF32;
};

TEST_F(SessionStoreTest, CreateGetListDelete) {
  auto store = Open();
  auto a = store->Create(kTenant, "a", "First", {{"k", "v"}});
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->length, 0);
  EXPECT_EQ(a->model_fingerprint, "model-a");
  ASSERT_TRUE(store->Create(kTenant, "b", "", {}).ok());
  ASSERT_TRUE(store->Create("other", "c", "", {}).ok());

  auto got = store->Get(kTenant, "a");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->display_name, "First");
  EXPECT_EQ(got->labels.at("k"), "v");
  std::vector<std::string> ids;
  for (const SessionManifest& m : store->List(kTenant)) ids.push_back(m.id);
  EXPECT_THAT(ids, ElementsAre("a", "b"));

  EXPECT_EQ(store->Create(kTenant, "a", "", {}).status().code(), absl::StatusCode::kAlreadyExists);
  ASSERT_TRUE(store->Delete(kTenant, "a").ok());
  EXPECT_EQ(store->Get(kTenant, "a").status().code(), absl::StatusCode::kNotFound);
  // A tombstone is left (a manifest generation saying "deleted"), with no data files.
  EXPECT_TRUE(DataFilesIn(SessionDir("a")).empty());
  EXPECT_EQ(store->Delete(kTenant, "a").code(), absl::StatusCode::kNotFound);
  // Tenants are separate namespaces.
  EXPECT_EQ(store->Get(kTenant, "c").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store->Delete(kTenant, "c").code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(store->Get("other", "c").ok());
  ASSERT_EQ(store->List(kTenant).size(), 1u);
}

TEST_F(SessionStoreTest, InvalidIdsAndTenantsAreRejectedBeforeTouchingTheDisk) {
  auto store = Open();
  ASSERT_TRUE(store->Create(kTenant, "a", "", {}).ok());
  const std::set<std::string> before = FilesIn(root_);
  const std::set<std::string> tenants_before = FilesIn(root_ + "/tenants");
  for (const std::string& id :
       {std::string(""), std::string("../x"), std::string("a/b"), std::string("."),
        std::string(".."), std::string("Upper"), std::string("-lead"), std::string("a b"),
        std::string("a.b"), std::string("a\0b", 3), std::string(64, 'x')}) {
    EXPECT_EQ(store->Create(kTenant, id, "", {}).status().code(),
              absl::StatusCode::kInvalidArgument)
        << id;
    EXPECT_EQ(store->Get(kTenant, id).status().code(), absl::StatusCode::kInvalidArgument) << id;
    EXPECT_EQ(store->Delete(kTenant, id).code(), absl::StatusCode::kInvalidArgument) << id;
    EXPECT_EQ(store->Fork(kTenant, "a", id, 0).status().code(), absl::StatusCode::kInvalidArgument)
        << id;
    EXPECT_EQ(store->Rewind(kTenant, id, 0).status().code(), absl::StatusCode::kInvalidArgument)
        << id;
  }
  for (const std::string& tenant :
       {std::string(""), std::string("."), std::string(".."), std::string("../x"),
        std::string("a/b"), std::string("/abs"), std::string("a b"), std::string(65, 't')}) {
    EXPECT_EQ(store->Create(tenant, "x", "", {}).status().code(),
              absl::StatusCode::kInvalidArgument)
        << tenant;
    EXPECT_EQ(store->Get(tenant, "a").status().code(), absl::StatusCode::kInvalidArgument)
        << tenant;
    EXPECT_EQ(store->Delete(tenant, "a").code(), absl::StatusCode::kInvalidArgument) << tenant;
    EXPECT_TRUE(store->List(tenant).empty()) << tenant;
  }
  EXPECT_EQ(FilesIn(root_), before);
  EXPECT_EQ(FilesIn(root_ + "/tenants"), tenants_before);
  EXPECT_FALSE(std::filesystem::exists(dir_.path() + "/x"));
  // The documented alphabets are accepted.
  EXPECT_TRUE(store->Create("Acme_Corp.eu-1", "doc-2024-q1", "", {}).ok());
  EXPECT_TRUE(store->Create(kTenant, std::string(63, 'z'), "", {}).ok());
}

TEST_F(SessionStoreTest, StagedStateIsInvisibleUntilCommitted) {
  auto store = Open();
  const std::vector<int32_t> doc = Doc(40, 1);
  ASSERT_TRUE(CreateWith(*store, "a", std::span(doc).first(16)).ok());
  auto committed = store->Get(kTenant, "a");
  ASSERT_TRUE(committed.ok());
  SessionManifest draft = *committed;
  engine::SequenceState state = Recomputed(doc);
  ASSERT_TRUE(store->Stage(draft, state, "append").ok());
  EXPECT_EQ(draft.length, 40);
  EXPECT_EQ(store->Get(kTenant, "a")->length, 16);
  ExpectSessionHolds(*store, "a", {doc.begin(), doc.begin() + 16});

  ASSERT_TRUE(store->Commit(draft).ok());
  auto after = store->Get(kTenant, "a");
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->length, 40);
  EXPECT_EQ(after->checkpoints.size(), 2u);
  ExpectSessionHolds(*store, "a", doc);
}

TEST_F(SessionStoreTest, AppendWritesACheckpointAtEveryIntervalAndTheEnd) {
  auto store = Open();
  const std::vector<int32_t> doc = Doc(40, 2);
  auto m = CreateWith(*store, "a", doc, 16);
  ASSERT_TRUE(m.ok()) << m.status();
  std::vector<int64_t> positions;
  std::vector<std::string> reasons;
  for (const CheckpointRecord& c : m->checkpoints) {
    positions.push_back(c.position);
    reasons.push_back(c.reason);
  }
  EXPECT_THAT(positions, ElementsAre(16, 32, 40));
  EXPECT_THAT(reasons, ElementsAre("interval", "interval", "append"));
  // Every checkpoint restores exactly the state at its position.
  for (int64_t p : positions) {
    auto loaded = LoadAt(*store, "a", p);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    EXPECT_EQ(loaded->position(), p);
    EXPECT_TRUE(
        BitIdentical(loaded->last_logits(),
                     Recomputed(std::span(doc).first(static_cast<size_t>(p))).last_logits()))
        << "checkpoint " << p;
  }
  EXPECT_EQ(store->Get(kTenant, "a")->length, 40);
  ExpectSessionHolds(*store, "a", doc);
}

TEST_F(SessionStoreTest, AbandonRemovesStagedFiles) {
  auto store = Open();
  const std::vector<int32_t> doc = Doc(32, 3);
  ASSERT_TRUE(CreateWith(*store, "a", std::span(doc).first(16)).ok());
  const std::set<std::string> committed_files = FilesIn(SessionDir("a"));
  auto committed = store->Get(kTenant, "a");
  ASSERT_TRUE(committed.ok());
  SessionManifest draft = *committed;
  ASSERT_TRUE(store->Stage(draft, Recomputed(doc), "append").ok());
  EXPECT_EQ(FilesIn(SessionDir("a")).size(), committed_files.size() + 2);  // segment + checkpoint
  store->Abandon(*committed, draft);
  EXPECT_EQ(FilesIn(SessionDir("a")), committed_files);
  ExpectSessionHolds(*store, "a", {doc.begin(), doc.begin() + 16});
}

TEST_F(SessionStoreTest, ReopenCleansOrphanFilesTempFilesAndHalfCreatedSessions) {
  const std::vector<int32_t> doc = Doc(40, 4);
  std::set<std::string> committed_files;
  {
    auto store = Open();
    ASSERT_TRUE(CreateWith(*store, "a", std::span(doc).first(20)).ok());
    committed_files = FilesIn(SessionDir("a"));
    // Staged but never committed: the process "dies" here.
    SessionManifest draft = *store->Get(kTenant, "a");
    ASSERT_TRUE(store->Stage(draft, Recomputed(doc), "append").ok());
  }
  // Leftovers of other interrupted work: a temp file of an unfinished write, and a session whose
  // directory was made but whose first manifest never landed.
  testing::WriteFile(SessionDir("a") + "/.tmp-MANIFEST.3-123456", "partial");
  ASSERT_TRUE(MakeDirectories(SessionDir("half")).ok());
  testing::WriteFile(SessionDir("half") + "/seg-1.kv", "partial");
  ASSERT_GT(FilesIn(SessionDir("a")).size(), committed_files.size());

  auto store = Open();
  // The leftovers are gone; the manifests and the committed files stay (and a lease: the reopened
  // store took the session's lease to tidy it, and released it).
  const std::set<std::string> files = FilesIn(SessionDir("a"));
  EXPECT_TRUE(
      std::includes(files.begin(), files.end(), committed_files.begin(), committed_files.end()));
  for (const std::string& name : files) {
    EXPECT_TRUE(committed_files.count(name) || name.rfind("LEASE.", 0) == 0) << name;
  }
  EXPECT_FALSE(std::filesystem::exists(SessionDir("half")));
  EXPECT_EQ(store->Get(kTenant, "half").status().code(), absl::StatusCode::kNotFound);
  ExpectSessionHolds(*store, "a", {doc.begin(), doc.begin() + 20});
  // The interrupted append can be redone.
  ASSERT_TRUE(Append(*store, "a", std::span(doc).subspan(20)).ok());
  ExpectSessionHolds(*store, "a", doc);
}

TEST_F(SessionStoreTest, ForkSharesFilesByHardLinkAndIsIndependentAfterwards) {
  auto store = Open();
  const std::vector<int32_t> doc = Doc(40, 5);
  auto source = CreateWith(*store, "a", doc, 16);
  ASSERT_TRUE(source.ok()) << source.status();
  auto fork = store->Fork(kTenant, "a", "b", 32);
  ASSERT_TRUE(fork.ok()) << fork.status();
  EXPECT_EQ(fork->length, 32);
  EXPECT_EQ(fork->checkpoints.size(), 2u);
  // Files up to the fork point are the same inodes (under the fork's own names); the rest are not
  // in the fork at all.
  ASSERT_EQ(fork->segments.size(), 2u);
  for (size_t i = 0; i < fork->segments.size(); ++i) {
    const std::string& file = fork->segments[i].file;
    EXPECT_EQ(Inode(SessionDir("b") + "/" + file),
              Inode(SessionDir("a") + "/" + source->segments[i].file))
        << file;
    EXPECT_NE(Inode(SessionDir("b") + "/" + file), 0u);
  }
  std::set<ino_t> fork_inodes;
  for (size_t i = 0; i < fork->checkpoints.size(); ++i) {
    const std::string& file = fork->checkpoints[i].file;
    EXPECT_EQ(Inode(SessionDir("b") + "/" + file),
              Inode(SessionDir("a") + "/" + source->checkpoints[i].file))
        << file;
  }
  for (const std::string& file : DataFilesIn(SessionDir("b"))) {
    fork_inodes.insert(Inode(SessionDir("b") + "/" + file));
  }
  EXPECT_EQ(fork_inodes.size(), 4u);
  EXPECT_FALSE(fork_inodes.count(Inode(SessionDir("a") + "/" + source->checkpoints.back().file)));
  ExpectSessionHolds(*store, "b", {doc.begin(), doc.begin() + 32});

  // Diverge: the fork gets other tokens; the source is untouched.
  const std::vector<int32_t> other = Doc(12, 55);
  ASSERT_TRUE(Append(*store, "b", other).ok());
  const std::vector<int32_t> fork_tokens = Concat(std::span(doc).first(32), other);
  ExpectSessionHolds(*store, "b", fork_tokens);
  ExpectSessionHolds(*store, "a", doc);
  // Hard-linked files count once.
  EXPECT_LT(store->TotalBytes(),
            store->SessionBytes(kTenant, "a") + store->SessionBytes(kTenant, "b"));
  // Deleting the source leaves the fork whole.
  ASSERT_TRUE(store->Delete(kTenant, "a").ok());
  ExpectSessionHolds(*store, "b", fork_tokens);
}

TEST_F(SessionStoreTest, ForkChecksItsArguments) {
  auto store = Open();
  const std::vector<int32_t> doc = Doc(40, 6);
  ASSERT_TRUE(CreateWith(*store, "a", doc, 16).ok());
  EXPECT_EQ(store->Fork(kTenant, "a", "b", 20).status().code(),
            absl::StatusCode::kInvalidArgument);  // no checkpoint at 20
  EXPECT_EQ(store->Fork(kTenant, "a", "b", 41).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store->Fork(kTenant, "missing", "b", 0).status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(store->Create(kTenant, "taken", "", {}).ok());
  EXPECT_EQ(store->Fork(kTenant, "a", "taken", 16).status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_FALSE(std::filesystem::exists(SessionDir("b")));
  auto empty = store->Fork(kTenant, "a", "empty", 0);
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(empty->length, 0);
  EXPECT_TRUE(empty->segments.empty());
}

// Regression: a fork that failed (here on the quota) left its directory with links to the
// source's files; a later fork into the same id silently kept those stale files (a link that
// already existed counted as success) and loaded another session's tokens.
TEST_F(SessionStoreTest, ForkAfterAFailedForkIntoTheSameIdUsesTheNewSource) {
  const std::vector<int32_t> doc1 = Doc(16, 7);
  const std::vector<int32_t> doc2 = Doc(16, 8);
  {
    auto store = Open();
    ASSERT_TRUE(CreateWith(*store, "one", doc1, 16).ok());
    ASSERT_TRUE(CreateWith(*store, "two", doc2, 16).ok());
    ASSERT_TRUE(CreateWith(*store, "filler", Doc(16, 9), 16).ok());
  }
  SessionStoreOptions options = Options();
  {
    auto probe = Open();
    options.max_bytes = probe->TotalBytes() - 1;  // full: nothing more fits
  }
  bool filler_deletable = false;
  options.is_pinned = [&filler_deletable](const std::string&, const std::string& id) {
    return !(filler_deletable && id == "filler");
  };
  auto store = Open(options);
  EXPECT_EQ(store->Fork(kTenant, "one", "copy", 16).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(store->Get(kTenant, "copy").status().code(), absl::StatusCode::kNotFound);
  // Make room, then fork the other source into the same id.
  filler_deletable = true;
  auto fork = store->Fork(kTenant, "two", "copy", 16);
  ASSERT_TRUE(fork.ok()) << fork.status();
  ExpectSessionHolds(*store, "copy", doc2);
}

TEST_F(SessionStoreTest, RewindThenAppend) {
  auto store = Open();
  const std::vector<int32_t> doc = Doc(40, 10);
  ASSERT_TRUE(CreateWith(*store, "a", doc, 16).ok());
  const std::set<std::string> before = DataFilesIn(SessionDir("a"));
  auto rewound = store->Rewind(kTenant, "a", 16);
  ASSERT_TRUE(rewound.ok()) << rewound.status();
  EXPECT_EQ(rewound->length, 16);
  ASSERT_EQ(rewound->checkpoints.size(), 1u);
  EXPECT_EQ(rewound->checkpoints[0].position, 16);
  // The dropped branch's files are gone.
  EXPECT_LT(DataFilesIn(SessionDir("a")).size(), before.size());
  ExpectSessionHolds(*store, "a", {doc.begin(), doc.begin() + 16});

  const std::vector<int32_t> tail = Doc(10, 11);
  auto appended = Append(*store, "a", tail);
  ASSERT_TRUE(appended.ok()) << appended.status();
  EXPECT_EQ(appended->length, 26);
  ExpectSessionHolds(*store, "a", Concat(std::span(doc).first(16), tail));

  EXPECT_EQ(store->Rewind(kTenant, "a", 20).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store->Rewind(kTenant, "a", 27).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store->Rewind(kTenant, "a", -1).status().code(), absl::StatusCode::kInvalidArgument);
  auto emptied = store->Rewind(kTenant, "a", 0);
  ASSERT_TRUE(emptied.ok());
  EXPECT_EQ(emptied->length, 0);
  EXPECT_TRUE(DataFilesIn(SessionDir("a")).empty());
}

TEST_F(SessionStoreTest, LongestPrefixIsFoundPerTenantAndFollowsRewinds) {
  auto store = Open();
  const std::vector<int32_t> doc = Doc(40, 12);
  ASSERT_TRUE(CreateWith(*store, "a", doc, 16).ok());
  std::vector<int32_t> query = Concat(doc, Doc(5, 13));
  auto match = store->FindLongestPrefix(kTenant, query);
  ASSERT_TRUE(match.has_value());
  EXPECT_EQ(match->session_id, "a");
  EXPECT_EQ(match->position, 40);
  match = store->FindLongestPrefix(kTenant, std::span(doc).first(35));
  ASSERT_TRUE(match.has_value());
  EXPECT_EQ(match->position, 32);
  EXPECT_FALSE(store->FindLongestPrefix("other", query).has_value());
  EXPECT_FALSE(store->FindLongestPrefix(kTenant, Doc(40, 14)).has_value());
  ASSERT_TRUE(store->Rewind(kTenant, "a", 16).ok());
  EXPECT_EQ(store->FindLongestPrefix(kTenant, query)->position, 16);
  ASSERT_TRUE(store->Delete(kTenant, "a").ok());
  EXPECT_FALSE(store->FindLongestPrefix(kTenant, query).has_value());
}

// Regression: Load compared `position` expected tokens without checking there were that many, a
// read past the end of a shorter span.
TEST_F(SessionStoreTest, LoadConfirmsTheExpectedPrefixAndRefusesAShorterOne) {
  auto store = Open();
  const std::vector<int32_t> doc = Doc(32, 27);
  auto m = CreateWith(*store, "a", doc, 16);
  ASSERT_TRUE(m.ok());
  engine::SequenceState same = Fresh();
  EXPECT_TRUE(store->Load(*m, 32, same, Concat(doc, Doc(3, 28))).ok());
  engine::SequenceState other = Fresh();
  EXPECT_EQ(store->Load(*m, 32, other, Doc(40, 29)).code(), absl::StatusCode::kAborted);
  engine::SequenceState shorter = Fresh();
  EXPECT_EQ(store->Load(*m, 32, shorter, std::span(doc).first(20)).code(),
            absl::StatusCode::kAborted);
}

TEST_F(SessionStoreTest, SessionOfAnotherModelIsFailedPrecondition) {
  const std::vector<int32_t> doc = Doc(20, 15);
  {
    auto store = Open(Options("model-a"));
    ASSERT_TRUE(CreateWith(*store, "s", doc).ok());
  }
  auto store = Open(Options("model-b"));
  auto got = store->Get(kTenant, "s");
  EXPECT_EQ(got.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(got.status().message(), HasSubstr("created with a different model"));
  std::vector<std::string> broken;
  EXPECT_TRUE(store->List(kTenant, &broken).empty());
  EXPECT_THAT(broken, ElementsAre("s"));
  // Its checkpoints are never offered for prefix reuse.
  EXPECT_FALSE(store->FindLongestPrefix(kTenant, doc).has_value());
  // The files are untouched: the right model still loads it.
  store.reset();
  store = Open(Options("model-a"));
  ExpectSessionHolds(*store, "s", doc);
}

// One kind of damage to one file of a session.
struct Damage {
  std::string what;
  std::function<void(const std::string& dir, const SessionManifest& m)> apply;
  absl::StatusCode code;
  std::string message;  // expected in the error
};

void FlipByte(const std::string& path, size_t at) {
  std::string bytes = testing::ReadFile(path);
  ASSERT_LT(at, bytes.size());
  bytes[at] ^= 0x04;
  testing::WriteFile(path, bytes);
}

Damage FlipSection(const std::string& file_kind, const std::string& tag) {
  auto apply = [file_kind, tag](const std::string& dir, const SessionManifest& m) {
    const std::string file =
        file_kind == "segment" ? m.segments.front().file : m.checkpoints.back().file;
    const std::string path = dir + "/" + file;
    for (const testing::SectionSpan& s : testing::SealedLayout(testing::ReadFile(path))) {
      if (s.tag == tag) return FlipByte(path, s.InteriorByte());
    }
    FAIL() << "no section " << tag << " in " << path;
  };
  return {file_kind + " " + tag, apply, absl::StatusCode::kDataLoss,
          "checksum mismatch in section " + tag};
}

TEST_F(SessionStoreTest, DamagedSessionIsAClearErrorWhileOtherSessionsStillLoad) {
  std::vector<Damage> damages;
  for (const char* tag : {"META", "TOKS", "KEYS", "VALS", "END"})
    damages.push_back(FlipSection("segment", tag));
  for (const char* tag : {"META", "CONV", "SSM", "LGTS", "END"})
    damages.push_back(FlipSection("checkpoint", tag));
  damages.push_back({"truncated segment",
                     [](const std::string& dir, const SessionManifest& m) {
                       const std::string path = dir + "/" + m.segments.front().file;
                       const std::string bytes = testing::ReadFile(path);
                       testing::WriteFile(path, bytes.substr(0, bytes.size() / 2));
                     },
                     absl::StatusCode::kDataLoss, "truncated"});
  damages.push_back({"truncated checkpoint",
                     [](const std::string& dir, const SessionManifest& m) {
                       const std::string path = dir + "/" + m.checkpoints.back().file;
                       const std::string bytes = testing::ReadFile(path);
                       testing::WriteFile(path, bytes.substr(0, bytes.size() - 3));
                     },
                     absl::StatusCode::kDataLoss, "truncated"});
  damages.push_back({"missing segment",
                     [](const std::string& dir, const SessionManifest& m) {
                       std::filesystem::remove(dir + "/" + m.segments[1].file);
                     },
                     absl::StatusCode::kDataLoss, "is missing"});
  damages.push_back({"missing checkpoint",
                     [](const std::string& dir, const SessionManifest& m) {
                       std::filesystem::remove(dir + "/" + m.checkpoints.back().file);
                     },
                     absl::StatusCode::kDataLoss, "is missing"});
  damages.push_back({"segment swapped for a checkpoint",
                     [](const std::string& dir, const SessionManifest& m) {
                       std::filesystem::copy_file(
                           dir + "/" + m.checkpoints.front().file,
                           dir + "/" + m.segments.front().file,
                           std::filesystem::copy_options::overwrite_existing);
                     },
                     absl::StatusCode::kDataLoss, "expected a KV segment"});

  const std::vector<int32_t> healthy_doc = Doc(40, 16);
  const std::vector<int32_t> victim_doc = Doc(40, 17);
  for (kernels::KvDType dtype :
       {kernels::KvDType::kF32, kernels::KvDType::kBF16, kernels::KvDType::kI8}) {
    SCOPED_TRACE(kernels::KvDTypeName(dtype));
    UseKvDType(dtype);
    std::filesystem::remove_all(root_);
    {
      auto store = Open();
      ASSERT_TRUE(CreateWith(*store, "healthy", healthy_doc, 16).ok());
    }
    for (const Damage& damage : damages) {
      SCOPED_TRACE(damage.what);
      SessionManifest manifest;
      {
        auto store = Open();
        (void)store->Delete(kTenant, "victim");
        auto created = CreateWith(*store, "victim", victim_doc, 16);
        ASSERT_TRUE(created.ok()) << created.status();
        manifest = *created;
      }
      damage.apply(SessionDir("victim"), manifest);
      // Opening the store still works, and reports the damage only when the session is used.
      auto store = Open();
      ASSERT_NE(store, nullptr);
      auto loaded = LoadAt(*store, "victim");
      ASSERT_FALSE(loaded.ok());
      EXPECT_EQ(loaded.status().code(), damage.code) << loaded.status();
      EXPECT_THAT(loaded.status().message(), HasSubstr(damage.message));
      EXPECT_THAT(loaded.status().message(), HasSubstr("victim"));
      if (absl::StrContains(damage.what, "KEYS") || absl::StrContains(damage.what, "VALS")) {
        // Loaded for use, the mapped rows are checked before the first forward pass reads them.
        auto mapped = LoadAt(*store, "victim", {}, KvVerification::kBeforeFirstUse);
        ASSERT_TRUE(mapped.ok()) << mapped.status();
        const int32_t next[] = {11};
        const absl::Status used = model_->Prefill(*mapped, next, *workspace_, 512);
        EXPECT_EQ(used.code(), absl::StatusCode::kDataLoss) << used;
        EXPECT_THAT(used.message(), HasSubstr(damage.message));
        EXPECT_EQ(mapped->position(), 40);  // nothing changed
      }
      ExpectSessionHolds(*store, "healthy", healthy_doc);
      EXPECT_EQ(store->List(kTenant).size(), 2u);  // the manifest itself is fine
    }
  }
}

TEST_F(SessionStoreTest, DamagedManifestIsListedAsBrokenWhileOtherSessionsStillLoad) {
  const std::vector<int32_t> doc = Doc(20, 18);
  {
    auto store = Open();
    ASSERT_TRUE(CreateWith(*store, "healthy", doc).ok());
    ASSERT_TRUE(CreateWith(*store, "victim", Doc(20, 19)).ok());
  }
  const std::string manifest = CurrentManifest(SessionDir("victim"));
  FlipByte(manifest, testing::SealedLayout(testing::ReadFile(manifest)).front().InteriorByte());
  auto store = Open();
  auto got = store->Get(kTenant, "victim");
  EXPECT_EQ(got.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(got.status().message(), HasSubstr("session victim manifest"));
  std::vector<std::string> broken;
  const std::vector<SessionManifest> listed = store->List(kTenant, &broken);
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].id, "healthy");
  EXPECT_THAT(broken, ElementsAre("victim"));
  ExpectSessionHolds(*store, "healthy", doc);
  // A damaged session can still be deleted.
  EXPECT_TRUE(store->Delete(kTenant, "victim").ok());
}

TEST_F(SessionStoreTest, EncryptedStoreRoundTripsAndRefusesWrongOrMissingKeys) {
  const std::vector<int32_t> doc = Doc(40, 20);
  SessionStoreOptions encrypted = Options();
  encrypted.key = std::string(32, '\x01');
  {
    auto store = Open(encrypted);
    ASSERT_TRUE(CreateWith(*store, "secret", doc).ok());
  }
  // No plaintext token ids on disk.
  const std::string segment = testing::ReadFile(SessionDir("secret") + "/seg-1.kv");
  EXPECT_EQ(segment.find(std::string(reinterpret_cast<const char*>(doc.data()), 64)),
            std::string::npos);
  SessionStoreOptions wrong = Options();
  wrong.key = std::string(32, '\x02');
  auto refused = SessionStore::Open(wrong);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.status().message(), HasSubstr("wrong encryption key"));
  refused = SessionStore::Open(Options());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.status().message(), HasSubstr("no encryption key"));
  auto store = Open(encrypted);
  ExpectSessionHolds(*store, "secret", doc);
}

TEST_F(SessionStoreTest, SessionUnderAnotherKeyFailsAuthenticationWhileOthersLoad) {
  const std::vector<int32_t> doc = Doc(20, 21);
  SessionStoreOptions mine = Options();
  mine.key = std::string(32, 'm');
  {
    auto store = Open(mine);
    ASSERT_TRUE(CreateWith(*store, "healthy", doc).ok());
  }
  // A session written by another store with another key, copied in.
  SessionStoreOptions theirs = Options();
  theirs.root = dir_.path() + "/other-store";
  theirs.key = std::string(32, 't');
  {
    auto other = Open(theirs);
    auto created = other->Create(kTenant, "alien", "", {});
    ASSERT_TRUE(created.ok());
  }
  std::filesystem::copy(theirs.root + "/tenants/acme/sessions/alien", SessionDir("alien"));
  auto store = Open(mine);
  auto got = store->Get(kTenant, "alien");
  EXPECT_EQ(got.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(got.status().message(), HasSubstr("authentication failed"));
  ExpectSessionHolds(*store, "healthy", doc);
}

TEST_F(SessionStoreTest, QuotaEvictsLeastRecentlyUsedUnpinnedSessions) {
  {
    auto store = Open();
    for (const char* id : {"oldest", "middle", "newest"}) {
      ASSERT_TRUE(CreateWith(*store, id, Doc(16, 22)).ok());
      absl::SleepFor(absl::Milliseconds(2));  // distinct access times
    }
  }
  std::set<std::string> pinned = {"oldest"};
  std::vector<std::string> evicted;
  SessionStoreOptions options = Options();
  {
    auto probe = Open();
    options.max_bytes = probe->TotalBytes() + probe->SessionBytes(kTenant, "newest") / 4;
  }
  options.is_pinned = [&pinned](const std::string&, const std::string& id) {
    return pinned.count(id) > 0;
  };
  options.on_evicted = [&evicted](const std::string&, const std::string& id) {
    evicted.push_back(id);
  };
  auto store = Open(options);
  // Growing "newest" needs room: the least recently used unpinned session goes ("oldest" is
  // pinned, so "middle").
  ASSERT_TRUE(Append(*store, "newest", Doc(16, 23)).ok());
  EXPECT_THAT(evicted, ElementsAre("middle"));
  EXPECT_EQ(store->Get(kTenant, "middle").status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(store->Get(kTenant, "oldest").ok());
  EXPECT_LE(store->TotalBytes(), options.max_bytes);

  // Nothing left to evict: the commit fails and the session is exactly as it was.
  const std::set<std::string> files = FilesIn(SessionDir("newest"));
  auto grown = Append(*store, "newest", Doc(16, 24));
  EXPECT_EQ(grown.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(grown.status().message(), HasSubstr("quota"));
  EXPECT_EQ(FilesIn(SessionDir("newest")), files);
  ExpectSessionHolds(*store, "newest", Concat(Doc(16, 22), Doc(16, 23)));
  EXPECT_TRUE(store->Get(kTenant, "oldest").ok());
  EXPECT_THAT(evicted, ElementsAre("middle"));

  // Unpinned, "oldest" is evicted for the same append.
  pinned.clear();
  ASSERT_TRUE(Append(*store, "newest", Doc(16, 24)).ok());
  EXPECT_THAT(evicted, ElementsAre("middle", "oldest"));
}

TEST_F(SessionStoreTest, QuotaNeverEvictsTheCommittingSessionItself) {
  SessionStoreOptions options = Options();
  options.max_bytes = 64 << 10;  // less than one checkpoint of this model
  auto store = Open(options);
  ASSERT_TRUE(store->Create(kTenant, "big", "", {}).ok());
  auto appended = Append(*store, "big", Doc(16, 25));
  EXPECT_EQ(appended.status().code(), absl::StatusCode::kResourceExhausted);
  auto got = store->Get(kTenant, "big");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->length, 0);
  EXPECT_TRUE(DataFilesIn(SessionDir("big")).empty());
}

// Rewrites a session's manifest and lease with an older last-use time, as if it had been idle.
void Backdate(const std::string& session_dir, int64_t access_time_us) {
  auto listing = ListSessionDir(session_dir);
  ASSERT_TRUE(listing.ok() && listing->current_lease() > 0);
  const std::string lease_name = LeaseFileName(listing->current_lease());
  auto lease =
      DecodeLease(testing::ReadFile(session_dir + "/" + lease_name), std::nullopt, "lease");
  ASSERT_TRUE(lease.ok()) << lease.status();
  lease->last_use_ms = access_time_us / 1000;
  auto lease_bytes = EncodeLease(*lease, std::nullopt);
  ASSERT_TRUE(lease_bytes.ok());
  ASSERT_TRUE(WriteFileDurably(session_dir, lease_name, *lease_bytes).ok());
  const std::string path = CurrentManifest(session_dir);
  auto sections =
      DecodeSealedFile(testing::ReadFile(path), FileKind::kManifest, std::nullopt, path);
  ASSERT_TRUE(sections.ok()) << sections.status();
  auto manifest = ManifestFromJson((*sections)[0].payload, path);
  ASSERT_TRUE(manifest.ok());
  manifest->access_time_us = access_time_us;
  auto bytes = EncodeSealedFile(FileKind::kManifest,
                                {{SectionTag::kMeta, 0, ManifestToJson(*manifest)}}, std::nullopt);
  ASSERT_TRUE(bytes.ok());
  ASSERT_TRUE(
      WriteFileDurably(session_dir, std::filesystem::path(path).filename().string(), *bytes).ok());
}

TEST_F(SessionStoreTest, TtlDeletesIdleSessionsButNotPinnedOrRecentOnes) {
  {
    auto store = Open();
    for (const char* id : {"idle", "idle-pinned", "recent"})
      ASSERT_TRUE(CreateWith(*store, id, Doc(16, 26)).ok());
  }
  const int64_t two_hours_ago = absl::ToUnixMicros(absl::Now() - absl::Hours(2));
  Backdate(SessionDir("idle"), two_hours_ago);
  Backdate(SessionDir("idle-pinned"), two_hours_ago);
  std::vector<std::string> expired;
  SessionStoreOptions options = Options();
  options.ttl = absl::Hours(1);
  options.is_pinned = [](const std::string&, const std::string& id) { return id == "idle-pinned"; };
  options.on_evicted = [&expired](const std::string&, const std::string& id) {
    expired.push_back(id);
  };
  auto store = Open(options);
  EXPECT_EQ(store->ExpireIdle(), 1);
  EXPECT_THAT(expired, ElementsAre("idle"));
  EXPECT_EQ(store->Get(kTenant, "idle").status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(store->Get(kTenant, "idle-pinned").ok());
  EXPECT_TRUE(store->Get(kTenant, "recent").ok());
  // A use resets the clock.
  options.is_pinned = nullptr;
  store.reset();
  store = Open(options);
  store->Touch(kTenant, "idle-pinned");
  EXPECT_EQ(store->ExpireIdle(), 0);
  EXPECT_TRUE(store->Get(kTenant, "idle-pinned").ok());
}

TEST_F(SessionStoreTest, DeletedSessionLeavesATombstoneUntilItsAgeThenItsDirectoryGoes) {
  {
    auto store = Open();
    ASSERT_TRUE(CreateWith(*store, "gone", Doc(16, 27)).ok());
    ASSERT_TRUE(store->Delete(kTenant, "gone").ok());
    // The tombstone is the highest generation: the id reads as missing, and is free again.
    EXPECT_TRUE(std::filesystem::exists(SessionDir("gone")));
    EXPECT_EQ(store->Get(kTenant, "gone").status().code(), absl::StatusCode::kNotFound);
    EXPECT_TRUE(store->List(kTenant).empty());
    auto again = store->Create(kTenant, "gone", "", {});
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_EQ(again->generation, 4u);  // create, append, tombstone, create again
    ASSERT_TRUE(store->Delete(kTenant, "gone").ok());
    // A young tombstone survives a reopen and a sweep.
    EXPECT_EQ(store->ExpireIdle(), 0);
    EXPECT_TRUE(std::filesystem::exists(SessionDir("gone")));
  }
  SessionStoreOptions options = Options();
  options.tombstone_age = absl::ZeroDuration();
  auto store = Open(options);
  EXPECT_FALSE(std::filesystem::exists(SessionDir("gone")));
  // With no age to keep, a deletion removes the directory at once.
  ASSERT_TRUE(CreateWith(*store, "brief", Doc(16, 28)).ok());
  ASSERT_TRUE(store->Delete(kTenant, "brief").ok());
  EXPECT_FALSE(std::filesystem::exists(SessionDir("brief")));
  EXPECT_EQ(FilesIn(root_ + "/tenants/acme/sessions"), std::set<std::string>());
}

TEST_F(SessionStoreTest, TwoStoresOpenOneRootButAnOlderBuildsExclusiveLockKeepsThemOut) {
  auto first = Open();
  SessionStoreOptions second_options = Options();
  second_options.owner_id = "second";
  auto second = Open(second_options);
  ASSERT_NE(second, nullptr);
  ASSERT_TRUE(CreateWith(*first, "a", Doc(16, 29)).ok());
  auto seen = second->Get(kTenant, "a");
  ASSERT_TRUE(seen.ok()) << seen.status();
  EXPECT_EQ(seen->length, 16);
  first.reset();
  second.reset();
  // A build before format version 3 holds LOCK exclusively while it runs.
  const int fd = ::open((root_ + "/LOCK").c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX | LOCK_NB), 0);
  auto refused = SessionStore::Open(Options());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.status().message(), HasSubstr("older than session format 3"));
  ::close(fd);
  EXPECT_TRUE(SessionStore::Open(Options()).ok());
}

}  // namespace
}  // namespace jamba::sdk
