// Several SessionStores sharing one root, as several jambad replicas share a session directory:
// one lease holder per session at a time (the others are told who holds it), takeover after the
// lease expires (or at once when its owner's process is gone) with a higher fencing number and a
// new manifest generation, refusal of a fenced owner's late commit with the newer state kept, the
// compare-and-swap on manifest generations (a stale draft, and a late publication whose name was
// freed), renewal while in use and release when idle, and exactly one winner when many stores
// race for a lease. Real sequence states of the golden MoE model throughout.
#include "sdk/store/session_lease.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/synchronization/barrier.h"
#include "absl/time/clock.h"
#include "engine/forward_workspace.h"
#include "engine/jamba_model.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sdk/backend_factory.h"
#include "sdk/store/durable_file.h"
#include "sdk/store/session_files.h"
#include "sdk/store/session_store.h"
#include "tests/util/test_util.h"

namespace jamba::sdk {
namespace {

using ::testing::HasSubstr;

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

class SessionLeaseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto backend = CreateBackend({.device = "cpu", .threads = 1});
    ASSERT_TRUE(backend.ok()) << backend.status();
    backend_ = *std::move(backend);
    auto model =
        engine::JambaModel::Load(testing::GoldenDir("hybrid8_moe_f32_sharded"), *backend_, {});
    ASSERT_TRUE(model.ok()) << model.status();
    model_ = *std::move(model);
    workspace_ = std::make_unique<engine::ForwardWorkspace>(*backend_);
    root_ = dir_.path() + "/store";
  }

  // A store of replica `owner`. Its leases last `ttl` unless renewed.
  std::unique_ptr<SessionStore> Open(const std::string& owner,
                                     absl::Duration ttl = absl::Seconds(30)) {
    SessionStoreOptions options;
    options.root = root_;
    options.model_fingerprint = "model-a";
    options.owner_id = owner;
    options.lease_ttl = ttl;
    auto store = SessionStore::Open(std::move(options));
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *std::move(store) : nullptr;
  }
  std::string SessionDir(const std::string& id) const {
    return root_ + "/tenants/" + kTenant + "/sessions/" + id;
  }

  engine::SequenceState Fresh() const {
    auto state = model_->NewSequence();
    EXPECT_TRUE(state.ok());
    return *std::move(state);
  }
  // The committed state of `id` with `tokens` appended, staged into a draft of it (not committed).
  // As SessionManager does, the lease comes first: taking it over may publish a generation.
  absl::StatusOr<SessionManifest> Stage(SessionStore& store, const std::string& id,
                                        std::span<const int32_t> tokens) {
    auto hold = store.AcquireLease(kTenant, id);
    if (!hold.ok()) return hold.status();
    auto committed = store.Get(kTenant, id);
    if (!committed.ok()) return committed.status();
    engine::SequenceState state = Fresh();
    if (committed->length > 0) {
      if (absl::Status s = store.Load(*committed, committed->length, state); !s.ok()) return s;
    }
    if (absl::Status s = model_->Prefill(state, tokens, *workspace_, 512); !s.ok()) return s;
    SessionManifest draft = *committed;
    if (absl::Status s = store.Stage(draft, state, "append"); !s.ok()) return s;
    return draft;
  }
  absl::Status Append(SessionStore& store, const std::string& id, std::span<const int32_t> tokens) {
    auto hold = store.AcquireLease(kTenant, id);
    if (!hold.ok()) return hold.status();
    auto committed = store.Get(kTenant, id);
    if (!committed.ok()) return committed.status();
    auto draft = Stage(store, id, tokens);
    if (!draft.ok()) return draft.status();
    absl::Status status = store.Commit(*draft);
    if (!status.ok()) store.Abandon(*committed, *draft);
    return status;
  }
  // The session holds exactly `tokens`, and its next-token logits are those of computing them
  // from scratch.
  void ExpectSessionHolds(const SessionStore& store, const std::string& id,
                          const std::vector<int32_t>& tokens) const {
    auto manifest = store.Get(kTenant, id);
    ASSERT_TRUE(manifest.ok()) << manifest.status();
    engine::SequenceState loaded = Fresh();
    ASSERT_TRUE(store.Load(*manifest, manifest->length, loaded, {}, KvVerification::kNow).ok());
    EXPECT_EQ(loaded.tokens(), tokens);
    engine::SequenceState expected = Fresh();
    ASSERT_TRUE(model_->Prefill(expected, tokens, *workspace_, 512).ok());
    ASSERT_EQ(loaded.last_logits().size(), expected.last_logits().size());
    EXPECT_EQ(std::memcmp(loaded.last_logits().data(), expected.last_logits().data(),
                          expected.last_logits().size() * sizeof(float)),
              0);
  }

  // Rewrites the current lease of `id` as its owner would have left it had it stopped renewing
  // `ago` ago (a paused or partitioned replica).
  void ExpireLease(const std::string& id, absl::Duration ago = absl::Seconds(1)) {
    auto listing = ListSessionDir(SessionDir(id));
    ASSERT_TRUE(listing.ok() && listing->current_lease() > 0);
    const std::string name = LeaseFileName(listing->current_lease());
    auto lease = DecodeLease(testing::ReadFile(SessionDir(id) + "/" + name), std::nullopt, name);
    ASSERT_TRUE(lease.ok()) << lease.status();
    lease->expiry_ms = absl::ToUnixMillis(absl::Now() - ago);
    auto bytes = EncodeLease(*lease, std::nullopt);
    ASSERT_TRUE(bytes.ok());
    ASSERT_TRUE(WriteFileDurably(SessionDir(id), name, *bytes).ok());
  }
  uint64_t CurrentGeneration(const std::string& id) const {
    auto listing = ListSessionDir(SessionDir(id));
    return listing.ok() ? listing->current_manifest().value_or(0) : 0;
  }

  testing::TempDir dir_;
  std::string root_;
  std::unique_ptr<kernels::Backend> backend_;
  std::unique_ptr<engine::JambaModel> model_;
  std::unique_ptr<engine::ForwardWorkspace> workspace_;
};

TEST_F(SessionLeaseTest, OnlyOneStoreHoldsASessionAndTheOthersAreToldWhoDoes) {
  auto a = Open("replica-a");
  auto b = Open("replica-b");
  const std::vector<int32_t> doc = Doc(16, 1);
  ASSERT_TRUE(a->Create(kTenant, "s", "", {}).ok());
  ASSERT_TRUE(Append(*a, "s", doc).ok());

  auto refused = b->AcquireLease(kTenant, "s");
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kUnavailable) << refused.status();
  EXPECT_THAT(refused.status().message(), HasSubstr("replica-a"));
  const std::optional<LeaseOwner> owner = OwnedElsewhereOf(refused.status());
  ASSERT_TRUE(owner.has_value());
  EXPECT_EQ(owner->owner, "replica-a");
  EXPECT_GT(owner->retry_after, absl::ZeroDuration());
  EXPECT_LE(owner->retry_after, absl::Seconds(30));
  // Every change is refused the same way and changes nothing; the committed state reads fine.
  EXPECT_EQ(Append(*b, "s", Doc(4, 2)).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(b->Delete(kTenant, "s").code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(b->Rewind(kTenant, "s", 0).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(b->Fork(kTenant, "s", "copy", 16).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(b->Create(kTenant, "s", "", {}).status().code(), absl::StatusCode::kAlreadyExists);
  auto seen = b->Get(kTenant, "s");
  ASSERT_TRUE(seen.ok()) << seen.status();
  EXPECT_EQ(seen->length, 16);
  ExpectSessionHolds(*b, "s", doc);
  // A missing session is NOT_FOUND, whoever holds what.
  EXPECT_EQ(b->AcquireLease(kTenant, "missing").status().code(), absl::StatusCode::kNotFound);

  // Released, the lease passes to the other store with the next fencing number, and back.
  auto a_lease = a->ReadLease(kTenant, "s");
  ASSERT_TRUE(a_lease.ok() && a_lease->has_value());
  const uint64_t a_fencing = (*a_lease)->fencing;
  const uint64_t generation = CurrentGeneration("s");
  a->ReleaseLease(kTenant, "s");
  auto taken = b->AcquireLease(kTenant, "s");
  ASSERT_TRUE(taken.ok()) << taken.status();
  EXPECT_EQ(taken->fencing(), a_fencing + 1);
  // A released lease needs no fencing: the manifest is the same generation.
  EXPECT_EQ(CurrentGeneration("s"), generation);
  const std::vector<int32_t> more = Doc(4, 3);
  ASSERT_TRUE(Append(*b, "s", more).ok());
  EXPECT_EQ(a->AcquireLease(kTenant, "s").status().code(), absl::StatusCode::kUnavailable);
  ExpectSessionHolds(*a, "s", Concat(doc, more));
}

TEST_F(SessionLeaseTest, AnExpiredLeaseIsTakenOverWithAHigherFencingNumberAndANewGeneration) {
  auto a = Open("replica-a");
  auto b = Open("replica-b");
  const std::vector<int32_t> doc = Doc(16, 4);
  ASSERT_TRUE(a->Create(kTenant, "s", "", {}).ok());
  ASSERT_TRUE(Append(*a, "s", doc).ok());
  const uint64_t a_fencing = (**a->ReadLease(kTenant, "s")).fencing;
  const uint64_t generation = CurrentGeneration("s");
  ASSERT_EQ(b->AcquireLease(kTenant, "s").status().code(), absl::StatusCode::kUnavailable);

  ExpireLease("s");  // replica-a stopped renewing it a second ago
  auto taken = b->AcquireLease(kTenant, "s");
  ASSERT_TRUE(taken.ok()) << taken.status();
  EXPECT_EQ(taken->fencing(), a_fencing + 1);
  auto lease = b->ReadLease(kTenant, "s");
  ASSERT_TRUE(lease.ok() && lease->has_value());
  EXPECT_EQ((*lease)->owner, "replica-b");
  EXPECT_EQ((*lease)->fencing, a_fencing + 1);
  // The takeover published the next generation (the same state) before anything else.
  EXPECT_EQ(CurrentGeneration("s"), generation + 1);
  ExpectSessionHolds(*b, "s", doc);
}

TEST_F(SessionLeaseTest, AFencedOwnersLateCommitIsRefusedAndTheNewerStateSurvives) {
  auto a = Open("replica-a");
  auto b = Open("replica-b");
  const std::vector<int32_t> doc = Doc(16, 5);
  ASSERT_TRUE(a->Create(kTenant, "s", "", {}).ok());
  ASSERT_TRUE(Append(*a, "s", doc).ok());
  auto committed = a->Get(kTenant, "s");
  ASSERT_TRUE(committed.ok());
  // replica-a stages a turn, then stalls past its lease before committing it.
  auto late = Stage(*a, "s", Doc(8, 6));
  ASSERT_TRUE(late.ok()) << late.status();
  ExpireLease("s");
  // replica-b takes the session over and commits a turn of its own.
  const std::vector<int32_t> newer = Doc(4, 7);
  ASSERT_TRUE(Append(*b, "s", newer).ok());

  const absl::Status refused = a->Commit(*late);
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnavailable) << refused;
  EXPECT_THAT(refused.message(), HasSubstr("replica-b"));
  a->Abandon(*committed, *late);  // removes only replica-a's own staged files
  ExpectSessionHolds(*b, "s", Concat(doc, newer));
  ExpectSessionHolds(*a, "s", Concat(doc, newer));
  // And replica-b goes on committing on top of it.
  const std::vector<int32_t> more = Doc(4, 8);
  ASSERT_TRUE(Append(*b, "s", more).ok());
  ExpectSessionHolds(*b, "s", Concat(Concat(doc, newer), more));
}

TEST_F(SessionLeaseTest, ADraftOfAnOlderGenerationIsRefusedEvenUnderTheLease) {
  auto a = Open("replica-a");
  const std::vector<int32_t> doc = Doc(16, 9);
  ASSERT_TRUE(a->Create(kTenant, "s", "", {}).ok());
  ASSERT_TRUE(Append(*a, "s", doc).ok());
  auto stale = Stage(*a, "s", Doc(4, 10));
  ASSERT_TRUE(stale.ok());
  const std::vector<int32_t> first = Doc(4, 11);
  ASSERT_TRUE(Append(*a, "s", first).ok());
  // The stale draft was read at the generation `first` replaced: its generation exists.
  const absl::Status refused = a->Commit(*stale);
  EXPECT_EQ(refused.code(), absl::StatusCode::kAborted) << refused;
  EXPECT_THAT(refused.message(), HasSubstr("changed since"));
  ExpectSessionHolds(*a, "s", Concat(doc, first));

  // Three more commits: the stale draft's generation has been superseded and removed, so its
  // name is free again. Published late, it is found not to be built on and withdrawn.
  auto older = Stage(*a, "s", Doc(4, 12));
  ASSERT_TRUE(older.ok());
  std::vector<int32_t> tokens = Concat(doc, first);
  for (int i = 0; i < 3; ++i) {
    const std::vector<int32_t> turn = Doc(2, 13 + i);
    ASSERT_TRUE(Append(*a, "s", turn).ok());
    tokens = Concat(tokens, turn);
  }
  const uint64_t late_generation = older->generation + 1;
  ASSERT_FALSE(std::filesystem::exists(SessionDir("s") + "/" + ManifestFileName(late_generation)));
  const absl::Status withdrawn = a->Commit(*older);
  EXPECT_EQ(withdrawn.code(), absl::StatusCode::kAborted) << withdrawn;
  EXPECT_THAT(withdrawn.message(), HasSubstr("newer state"));
  EXPECT_FALSE(std::filesystem::exists(SessionDir("s") + "/" + ManifestFileName(late_generation)));
  ExpectSessionHolds(*a, "s", tokens);
}

TEST_F(SessionLeaseTest, ALeaseInUseIsRenewedAndAnIdleOneIsReleased) {
  auto a = Open("replica-a", absl::Milliseconds(300));
  auto b = Open("replica-b", absl::Milliseconds(300));
  ASSERT_TRUE(a->Create(kTenant, "s", "", {}).ok());
  ASSERT_TRUE(Append(*a, "s", Doc(16, 20)).ok());
  const uint64_t generation = CurrentGeneration("s");
  {
    auto held = a->AcquireLease(kTenant, "s");
    ASSERT_TRUE(held.ok());
    // Three lease lifetimes in use: renewed all along.
    for (int i = 0; i < 6; ++i) {
      absl::SleepFor(absl::Milliseconds(150));
      EXPECT_EQ(b->AcquireLease(kTenant, "s").status().code(), absl::StatusCode::kUnavailable);
    }
  }
  // Unused for a lease lifetime, it is released: taken without fencing (same generation).
  absl::StatusOr<SessionStore::LeaseHold> taken = absl::UnavailableError("not yet");
  for (int i = 0; i < 40 && !taken.ok(); ++i) {
    absl::SleepFor(absl::Milliseconds(50));
    taken = b->AcquireLease(kTenant, "s");
  }
  ASSERT_TRUE(taken.ok()) << taken.status();
  auto released =
      DecodeLease(testing::ReadFile(SessionDir("s") + "/" + LeaseFileName(taken->fencing() - 1)),
                  std::nullopt, "lease");
  ASSERT_TRUE(released.ok());
  EXPECT_TRUE(released->released());
  EXPECT_EQ(CurrentGeneration("s"), generation);
}

TEST_F(SessionLeaseTest, ALeaseOfAProcessOfThisMachineThatExitedIsTakenOverAtOnce) {
  {
    auto a = Open("replica-a");
    ASSERT_TRUE(a->Create(kTenant, "s", "", {}).ok());
    ASSERT_TRUE(Append(*a, "s", Doc(16, 21)).ok());
  }
  // The lease as a process of this machine killed while holding it left it: live for 30 s more,
  // but its process is gone. A restarted replica does not wait for it to expire.
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ASSERT_GT(child, 0);
  ASSERT_EQ(::waitpid(child, nullptr, 0), child);
  auto listing = ListSessionDir(SessionDir("s"));
  ASSERT_TRUE(listing.ok());
  const std::string name = LeaseFileName(listing->current_lease());
  auto lease = DecodeLease(testing::ReadFile(SessionDir("s") + "/" + name), std::nullopt, name);
  ASSERT_TRUE(lease.ok());
  EXPECT_EQ(lease->host, LocalHostKey());
  lease->owner = "replica-gone";
  lease->pid = child;
  lease->expiry_ms = absl::ToUnixMillis(absl::Now() + absl::Seconds(30));
  ASSERT_TRUE(WriteFileDurably(SessionDir("s"), name, *EncodeLease(*lease, std::nullopt)).ok());
  const uint64_t generation = CurrentGeneration("s");

  auto b = Open("replica-b");
  auto taken = b->AcquireLease(kTenant, "s");
  ASSERT_TRUE(taken.ok()) << taken.status();
  EXPECT_EQ(CurrentGeneration("s"), generation + 1);  // fenced: it never released it
  // A live process of this machine (this one) is waited for.
  lease->pid = ::getpid();
  lease->fencing = taken->fencing() + 1;
  lease->owner = "replica-alive";
  ASSERT_TRUE(CreateFileDurably(SessionDir("s"), LeaseFileName(lease->fencing),
                                *EncodeLease(*lease, std::nullopt))
                  .ok());
  auto c = Open("replica-c");
  EXPECT_EQ(c->AcquireLease(kTenant, "s").status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(SessionLeaseTest, ManyStoresRacingForOneLeaseHaveExactlyOneWinnerEachRound) {
  constexpr int kStores = 6;
  constexpr int kRounds = 20;
  std::vector<std::unique_ptr<SessionStore>> stores;
  for (int i = 0; i < kStores; ++i) stores.push_back(Open("replica-" + std::to_string(i)));
  ASSERT_TRUE(stores[0]->Create(kTenant, "race", "", {}).ok());
  stores[0]->ReleaseLease(kTenant, "race");
  uint64_t fencing = (**stores[0]->ReadLease(kTenant, "race")).fencing;

  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    absl::Barrier start(kStores);
    std::vector<absl::Status> results(kStores);
    std::vector<uint64_t> fencings(kStores, 0);
    std::vector<std::thread> threads;
    for (int i = 0; i < kStores; ++i) {
      threads.emplace_back([&, i] {
        start.Block();
        auto hold = stores[i]->AcquireLease(kTenant, "race");
        results[i] = hold.status();
        if (hold.ok()) fencings[i] = hold->fencing();
      });
    }
    for (std::thread& t : threads) t.join();
    int winner = -1;
    for (int i = 0; i < kStores; ++i) {
      if (results[i].ok()) {
        EXPECT_EQ(winner, -1) << "two winners: " << winner << " and " << i;
        winner = i;
      } else {
        EXPECT_EQ(results[i].code(), absl::StatusCode::kUnavailable) << results[i];
      }
    }
    ASSERT_GE(winner, 0);
    // One lease file per round: the winner's number is the next one.
    EXPECT_EQ(fencings[winner], fencing + 1);
    fencing = fencings[winner];
    for (int i = 0; i < kStores; ++i) {
      if (i != winner) {
        EXPECT_EQ(OwnedElsewhereOf(results[i])->owner, stores[winner]->owner_id());
      }
    }
    stores[winner]->ReleaseLease(kTenant, "race");
  }
}

}  // namespace
}  // namespace jamba::sdk
