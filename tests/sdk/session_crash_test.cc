// Crash safety of the session store: a writer process (session_writer_main.cc) commits to its
// sessions in a loop and is killed with SIGKILL at seeded random instants, more than 200 times in
// all. After every kill the store is reopened and each session must be exactly a committed state:
// it loads; its length is the last length the writer logged after a commit returned, or the one
// commit after it (the kill can land between the manifest rename and the log write); its tokens
// are the plan's prefix; its next-token logits are bit-identical to recomputing that prefix from
// scratch; and no temporary or unreferenced file survives the reopen. Every KV dtype, plain and
// encrypted.
#include <signal.h>
#include <sys/wait.h>

#include <cstring>
#include <filesystem>
#include <ostream>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "engine/forward_workspace.h"
#include "engine/jamba_model.h"
#include "engine/model_fingerprint.h"
#include "gtest/gtest.h"
#include "sdk/backend_factory.h"
#include "sdk/store/durable_file.h"
#include "sdk/store/session_files.h"
#include "sdk/store/session_store.h"
#include "tests/sdk/crash_plan.h"
#include "tests/util/subprocess.h"
#include "tests/util/test_util.h"

namespace jamba {
namespace {

constexpr char kTenant[] = "crash";

struct CrashRun {
  std::string name;
  int sessions = 1;
  bool encrypted = false;
  int kills = 55;
  uint32_t seed = 1;
  kernels::KvDType kv_dtype = kernels::KvDType::kF32;
};

// Test names and failure messages show the case by name.
void PrintTo(const CrashRun& c, std::ostream* os) { *os << c.name; }

// The last complete line of a writer log, or -1 when it has none (the session may not exist).
int64_t LastLogged(const std::string& path) {
  const std::string text = testing::ReadFile(path);
  int64_t last = -1;
  const size_t end = text.rfind('\n');
  if (end == std::string::npos) return last;
  for (absl::string_view line : absl::StrSplit(text.substr(0, end), '\n')) {
    int64_t value = 0;
    if (absl::SimpleAtoi(line, &value)) last = value;
  }
  return last;
}

class SessionCrashTest : public ::testing::TestWithParam<CrashRun> {
 protected:
  void SetUp() override {
    model_dir_ = testing::GoldenDir("hybrid8_moe_f32_sharded");
    auto backend = sdk::CreateBackend({.device = "cpu", .threads = 1});
    ASSERT_TRUE(backend.ok()) << backend.status();
    backend_ = *std::move(backend);
    engine::ModelOptions model_options;
    model_options.kv_dtype = GetParam().kv_dtype;
    auto model = engine::JambaModel::Load(model_dir_, *backend_, model_options);
    ASSERT_TRUE(model.ok()) << model.status();
    model_ = *std::move(model);
    workspace_ = std::make_unique<engine::ForwardWorkspace>(*backend_);
    // The fingerprint the Engine binds sessions to (this model has no tokenizer).
    fingerprint_ = engine::ComputeModelFingerprint(model_->config(), model_->checkpoint(), "");
    store_ = dir_.path() + "/store";
    logs_ = dir_.path() + "/logs";
    std::filesystem::create_directories(logs_);
    if (GetParam().encrypted) {
      key_file_ = dir_.File("key.hex");
      testing::WriteFile(key_file_,
                         "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n");
    }
  }

  std::vector<std::string> WriterArgs() const {
    std::vector<std::string> args = {testing::BinaryDir() + "/tests/session_writer",
                                     "--model",
                                     model_dir_,
                                     "--store",
                                     store_,
                                     "--log-dir",
                                     logs_,
                                     "--sessions",
                                     std::to_string(GetParam().sessions),
                                     "--kv-dtype",
                                     kernels::KvDTypeName(GetParam().kv_dtype)};
    if (!key_file_.empty()) {
      args.push_back("--key-file");
      args.push_back(key_file_);
    }
    return args;
  }

  // Reopens the store after a kill and checks every session; returns the lengths found.
  std::vector<int64_t> VerifyCommittedState(int kill) {
    SCOPED_TRACE("after kill " + std::to_string(kill));
    sdk::SessionStoreOptions options;
    options.root = store_;
    options.model_fingerprint = fingerprint_;
    options.kv_dtype = GetParam().kv_dtype;
    if (!key_file_.empty()) options.key = *sdk::LoadEncryptionKey(key_file_);
    auto store = sdk::SessionStore::Open(options);
    EXPECT_TRUE(store.ok()) << store.status();
    if (!store.ok()) return {};

    // The reopen finished or discarded all interrupted work.
    std::error_code ec;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(store_, ec)) {
      const std::string name = entry.path().filename().string();
      EXPECT_NE(name.rfind(".tmp-", 0), 0u) << "temp file survived: " << entry.path();
    }

    std::vector<int64_t> lengths;
    for (int s = 0; s < GetParam().sessions; ++s) {
      const std::string id = testing::CrashSessionId(s);
      const int64_t logged = LastLogged(logs_ + "/" + id + ".log");
      auto manifest = (*store)->Get(kTenant, id);
      if (absl::IsNotFound(manifest.status())) {
        EXPECT_EQ(logged, -1) << id << " vanished after commits were logged";
        lengths.push_back(-1);
        continue;
      }
      EXPECT_TRUE(manifest.ok()) << id << ": " << manifest.status();
      if (!manifest.ok()) return {};
      const int64_t length = manifest->length;
      lengths.push_back(length);
      EXPECT_TRUE(length == logged || length == testing::CrashNextLength(logged))
          << id << ": length " << length << " is neither the logged " << logged << " nor the next "
          << testing::CrashNextLength(logged);

      // Exactly the manifest's data files are left, beside the current and previous manifest
      // generations and leases (the killed writer's lease was taken over at once: its process is
      // gone).
      std::set<std::string> expected;
      for (const auto& seg : manifest->segments) expected.insert(seg.file);
      for (const auto& ckpt : manifest->checkpoints) expected.insert(ckpt.file);
      auto listing = sdk::ListSessionDir(store_ + "/tenants/" + kTenant + "/sessions/" + id);
      EXPECT_TRUE(listing.ok());
      if (listing.ok()) {
        EXPECT_EQ(std::set<std::string>(listing->data_files.begin(), listing->data_files.end()),
                  expected);
        EXPECT_LE(listing->manifests.size(), 2u);
        EXPECT_LE(listing->leases.size(), 2u);
      }

      if (length == 0) continue;
      auto state = model_->NewSequence();
      EXPECT_TRUE(state.ok());
      // Every row checked now, mapped ones included.
      const absl::Status loaded =
          (*store)->Load(*manifest, length, *state, {}, sdk::KvVerification::kNow);
      EXPECT_TRUE(loaded.ok()) << id << ": " << loaded;
      if (!loaded.ok()) return {};
      std::vector<int32_t> plan;
      for (int64_t p = 0; p < length; ++p) plan.push_back(testing::CrashToken(s, p));
      EXPECT_EQ(state->tokens(), plan) << id;
      auto fresh = model_->NewSequence();
      EXPECT_TRUE(model_->Prefill(*fresh, plan, *workspace_, 512).ok());
      const std::vector<float>& a = state->last_logits();
      const std::vector<float>& b = fresh->last_logits();
      EXPECT_TRUE(a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * 4) == 0)
          << id << ": next-token logits differ from recomputing " << length << " tokens";
    }
    return lengths;
  }

  testing::TempDir dir_;
  std::string model_dir_, store_, logs_, key_file_, fingerprint_;
  std::unique_ptr<kernels::Backend> backend_;
  std::unique_ptr<engine::JambaModel> model_;
  std::unique_ptr<engine::ForwardWorkspace> workspace_;
};

TEST_P(SessionCrashTest, EveryKillLeavesExactlyACommittedState) {
  const CrashRun& run = GetParam();
  std::mt19937 rng(run.seed);
  // Each kill waits for 1-4 commits of that writer (so the sessions progress through appends and
  // rewinds however fast the disk is), then for up to 40 ms: the kill lands anywhere in the next
  // commit (a few fsyncs) or between commits.
  std::uniform_int_distribution<int> commits_before_kill(1, 4);
  std::uniform_int_distribution<int> delay_us(0, 40000);
  std::uniform_int_distribution<int> percent(0, 99);
  int kills_during_startup = 0, in_flight_commits = 0, commits_waited = 0;
  std::vector<int64_t> previous(static_cast<size_t>(run.sessions), -1);
  int64_t states_changed = 0;
  for (int kill = 0; kill < run.kills; ++kill) {
    testing::ChildProcess writer(WriterArgs());
    ASSERT_GT(writer.pid(), 0);
    if (percent(rng) < 10) {
      // Some kills land while the writer opens the store and cleans up after the last kill.
      absl::SleepFor(absl::Microseconds(delay_us(rng) / 4));
      ++kills_during_startup;
    } else {
      std::string line;
      ASSERT_TRUE(writer.ReadLine(&line)) << "the writer exited early";
      ASSERT_EQ(line, "ready");
      for (int n = commits_before_kill(rng); n > 0; --n, ++commits_waited) {
        ASSERT_TRUE(writer.ReadLine(&line)) << "the writer exited early";
        ASSERT_EQ(line.rfind("committed ", 0), 0u) << line;
      }
      absl::SleepFor(absl::Microseconds(delay_us(rng)));
    }
    const int status = writer.KillAndWait(SIGKILL);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "the writer stopped on its own (status " << status << ")";
    const std::vector<int64_t> lengths = VerifyCommittedState(kill);
    ASSERT_EQ(lengths.size(), static_cast<size_t>(run.sessions));
    if (HasFailure()) return;
    for (int s = 0; s < run.sessions; ++s) {
      if (lengths[s] != previous[s]) ++states_changed;
      const int64_t logged = LastLogged(logs_ + "/" + testing::CrashSessionId(s) + ".log");
      if (lengths[s] != logged) ++in_flight_commits;
      previous[s] = lengths[s];
    }
  }
  // The workload went through rewinds as well as appends (the plan rewinds above 96 tokens).
  int rewinds_logged = 0;
  for (int s = 0; s < run.sessions; ++s) {
    int64_t last = -1;
    const std::string log = testing::ReadFile(logs_ + "/" + testing::CrashSessionId(s) + ".log");
    for (absl::string_view line : absl::StrSplit(log, '\n', absl::SkipEmpty())) {
      int64_t value = 0;
      if (!absl::SimpleAtoi(line, &value)) continue;
      if (value < last) ++rewinds_logged;
      last = value;
    }
  }
  EXPECT_GT(rewinds_logged, 0);
  std::cout << run.name << ": " << run.kills << " kills (" << kills_during_startup
            << " during start-up) after waiting for " << commits_waited << " commits; "
            << states_changed << " changed states seen, " << rewinds_logged << " rewinds; "
            << in_flight_commits << " kills between a commit and its log line\n";
}

INSTANTIATE_TEST_SUITE_P(
    Writers, SessionCrashTest,
    ::testing::Values(
        CrashRun{"OneSession", 1, false, 55, 11},
        CrashRun{"ThreeSessionsInt8Kv", 3, false, 55, 12, kernels::KvDType::kI8},
        CrashRun{"TwoEncryptedSessionsBf16Kv", 2, true, 55, 13, kernels::KvDType::kBF16},
        CrashRun{"OneEncryptedSession", 1, true, 55, 14},
        CrashRun{"OneSessionBf16Kv", 1, false, 30, 15, kernels::KvDType::kBF16},
        CrashRun{"OneEncryptedSessionInt8Kv", 1, true, 30, 16, kernels::KvDType::kI8}),
    [](const ::testing::TestParamInfo<CrashRun>& p) { return p.param.name; });

}  // namespace
}  // namespace jamba
