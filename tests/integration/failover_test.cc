// Issue 20's failover test: Debian's nginx (deploy/nginx/jambad.conf as shipped, addresses
// changed) in front of three jambad processes sharing one session directory (demo model, 2 s
// leases). Twenty clients, one per session, append to their session and take committed turns
// through nginx, each call carrying x-jamba-session, while one replica is SIGKILLed ten times at
// a random moment in the middle of an append (the owner of a session whose append is running) and
// started again on its ports under a new replica id: as with jambad's default id
// (hostname:pid:random) and a restarted pod, the new process does not recognise the dead one's
// leases as its own, so its sessions move through the lease protocol (taken over at once here,
// the dead owner being a process of this machine). The clients follow the API contract
// (SessionClient): UNAVAILABLE with RetryInfo is sent again after its delay, any other failure of
// an append or turn re-reads the session and sends the call again only if it did not commit.
//
// Checked: no call ever finds its session in a state other than before or after it (nothing
// committed lost or added twice); every session then continues, on whichever replica nginx sends
// it to, exactly as the same calls on a separate jambad that never failed (seeded sampling, at
// temperature 0.8: every turn whose answer was seen, the final token count and a continuation);
// after the three drain, a fresh replica loads every session from the directory and continues it
// the same way (no session corrupt). Measured: for each kill and each session whose lease the
// killed replica held, how long its client waited to be served again (from the kill, or from its
// next call if it was not calling then, to that call's success), and how long every call took
// with its retries; min/median/max are printed and, with JAMBA_FAILOVER_JSON=PATH, written as
// JSON (bench/results/failover.json).
#include <signal.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/integration/jambad_process.h"
#include "tests/integration/nginx_process.h"
#include "tests/integration/replica_set.h"

namespace jamba::testing {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kReplicas = 3;
constexpr int kSessions = 20;
constexpr int kKills = 10;
constexpr absl::Duration kLeaseTtl = absl::Seconds(2);
constexpr int kAppendTokens = 16;  // per append
constexpr int kTurnTokens = 4;     // per committed turn
constexpr int kMaxSteps = 150;     // an append and a turn each; more than the kills last
constexpr int kContinuationTokens = 12;
constexpr uint64_t kContinuationSeed = 4242;

std::string SessionId(int s) { return absl::StrCat("failover-", s); }

// The tokens of session s's append at `step`: ordinary ids of the demo vocabulary.
std::vector<int32_t> Chunk(int s, int step) {
  std::vector<int32_t> ids;
  uint32_t x = static_cast<uint32_t>(s * 1000 + step) * 2654435761u + 1;
  for (int i = 0; i < kAppendTokens; ++i) {
    x = x * 1664525u + 1013904223u;
    ids.push_back(3 + static_cast<int32_t>((x >> 8) % 500));
  }
  return ids;
}
uint64_t TurnSeed(int s, int step) { return 7919ull * static_cast<uint64_t>(s) + step + 1; }

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// What one session's client did.
struct SessionLog {
  int steps = 0;  // completed steps (an append, then a committed turn)
  // Each turn's tokens, when the client saw its answer (none when it committed unanswered).
  std::vector<std::optional<std::vector<int32_t>>> turns;
  // Each append and turn that committed: when its client first sent it, when it knew it had
  // committed (retries in between), and how many RetryInfo delays it waited out meanwhile.
  struct Call {
    Clock::time_point sent, done;
    int64_t retry_waits = 0;
  };
  std::vector<Call> committed;
  int64_t token_count = 0;  // acknowledged
  ContractCounts counts;
  std::string failure;
};

struct KillEvent {
  int replica = 0;
  std::string replica_id;
  std::string mid_append;  // the session whose append was running on it
  Clock::time_point at;
  std::vector<int> held;          // sessions whose lease it held
  std::vector<double> served_ms;  // for each: its client's wait to be served again
  double restarted_ms = 0;        // from the kill to the replica listening again
};

// The nearest-rank percentile (p in [0, 100]).
double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
  return v[std::clamp<size_t>(rank, 1, v.size()) - 1];
}

nlohmann::json Summary(const std::vector<double>& v) {
  return {{"count", v.size()},
          {"min", v.empty() ? 0 : *std::min_element(v.begin(), v.end())},
          {"median", Percentile(v, 50)},
          {"max", v.empty() ? 0 : *std::max_element(v.begin(), v.end())}};
}

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "unknown";
}

TEST(FailoverTest, ReplicasKilledMidAppendLoseNothingAndSessionsContinueAsWithoutFailure) {
  if (access(kNginxBinary, X_OK) != 0) {
    FAIL() << "/usr/sbin/nginx is missing: scripts/install-deps installs Debian's nginx";
  }
  const Clock::time_point test_start = Clock::now();
  std::random_device random_device;
  const uint32_t seed = std::getenv("JAMBA_FAILOVER_SEED") != nullptr
                            ? static_cast<uint32_t>(std::atoi(std::getenv("JAMBA_FAILOVER_SEED")))
                            : random_device();
  std::cout << "failover: random seed " << seed << " (JAMBA_FAILOVER_SEED to repeat), started "
            << absl::FormatTime("%H:%M:%E3S", absl::Now(), absl::UTCTimeZone()) << " UTC\n";
  RecordProperty("seed", static_cast<int>(seed));

  auto started = ReplicaSet::Start(
      {.replicas = kReplicas, .model_dir = DemoModelDir(), .lease_ttl = kLeaseTtl});
  ASSERT_TRUE(started.ok()) << started.status();
  ReplicaSet& set = **started;

  // The clients: one thread and one connection to nginx per session.
  std::vector<SessionLog> logs(kSessions);
  std::vector<std::atomic<bool>> appending(kSessions);
  std::vector<std::atomic<bool>> finished(kSessions);
  std::vector<std::atomic<int64_t>> last_commit(kSessions);  // Clock ticks
  std::atomic<bool> stop{false};
  std::atomic<int> created{0};
  std::vector<std::thread> clients;
  // Whatever ends the test, the clients stop first.
  absl::Cleanup join_clients = [&] {
    stop = true;
    for (std::thread& t : clients) {
      if (t.joinable()) t.join();
    }
  };
  for (int s = 0; s < kSessions; ++s) {
    clients.emplace_back([&, s] {
      SessionLog& log = logs[static_cast<size_t>(s)];
      SessionClient client(OwnChannel(set.address()), SessionId(s));
      client.set_appending_flag(&appending[static_cast<size_t>(s)]);
      std::mt19937 rng(seed + static_cast<uint32_t>(s));
      auto record_failure = [&](const absl::Status& status) {
        finished[static_cast<size_t>(s)] = true;
        log.failure = status.ToString();
        log.counts = client.counts();
        log.token_count = client.token_count();
      };
      if (absl::Status status = client.Create(); !status.ok()) {
        record_failure(status);
        ++created;
        return;
      }
      ++created;
      while (!stop.load() && log.steps < kMaxSteps) {
        const absl::Time give_up = absl::Now() + absl::Seconds(30);
        SessionLog::Call call{.sent = Clock::now(), .retry_waits = client.counts().retried_after};
        auto committed = [&] {
          call.done = Clock::now();
          call.retry_waits = client.counts().retried_after - call.retry_waits;
          log.committed.push_back(call);
          last_commit[static_cast<size_t>(s)] = call.done.time_since_epoch().count();
          call = {.sent = Clock::now(), .retry_waits = client.counts().retried_after};
        };
        const absl::Status appended = client.Append(Chunk(s, log.steps), give_up);
        if (!appended.ok()) return record_failure(appended);
        committed();
        auto turn = client.Turn(kTurnTokens, TurnSeed(s, log.steps), give_up);
        if (!turn.ok()) return record_failure(turn.status());
        committed();
        log.turns.push_back(*std::move(turn));
        ++log.steps;
        // A client thinks between turns. (Every commit stores a checkpoint of the model's state,
        // 270 kB for the demo model: more turns would mostly test the disk.)
        std::this_thread::sleep_for(std::chrono::milliseconds(800 + rng() % 1200));
      }
      log.counts = client.counts();
      log.token_count = client.token_count();
      finished[static_cast<size_t>(s)] = true;
    });
  }
  while (created.load() < kSessions) std::this_thread::sleep_for(std::chrono::milliseconds(10));

  // The killer: at a random moment, the owner of a session whose append is running.
  std::mt19937 rng(seed);
  std::vector<KillEvent> kills;
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  for (int k = 0; k < kKills; ++k) {
    std::this_thread::sleep_for(std::chrono::milliseconds(800 + rng() % 1200));
    KillEvent kill;
    kill.replica = -1;
    const Clock::time_point look_until = Clock::now() + std::chrono::seconds(5);
    while (kill.replica < 0 && Clock::now() < look_until) {
      std::vector<int> candidates;
      for (int s = 0; s < kSessions; ++s) {
        if (appending[static_cast<size_t>(s)].load()) candidates.push_back(s);
      }
      std::shuffle(candidates.begin(), candidates.end(), rng);
      for (int s : candidates) {
        std::optional<std::string> owner = LeaseOwner(set.session_dir(), SessionId(s));
        const int index = owner.has_value() ? set.IndexOf(*owner) : -1;
        if (index >= 0 && appending[static_cast<size_t>(s)].load()) {
          kill.replica = index;
          kill.replica_id = *owner;
          kill.mid_append = SessionId(s);
          break;
        }
      }
      if (kill.replica < 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ASSERT_GE(kill.replica, 0) << "no append was running for 5 s";
    for (int s = 0; s < kSessions; ++s) {
      if (LeaseOwner(set.session_dir(), SessionId(s)) == kill.replica_id) kill.held.push_back(s);
    }
    kill.at = Clock::now();
    EXPECT_EQ(set.Stop(kill.replica, SIGKILL), 128 + SIGKILL);
    // Started again a moment later, where nginx expects it.
    std::this_thread::sleep_for(std::chrono::milliseconds(200 + rng() % 600));
    const absl::Status restarted = set.Restart(kill.replica);
    ASSERT_TRUE(restarted.ok()) << restarted;
    kill.restarted_ms = Ms(Clock::now() - kill.at);
    kills.push_back(std::move(kill));
  }
  // Every session commits once more after the last kill before the clients stop.
  const Clock::time_point last_kill = kills.back().at;
  const Clock::time_point settle_until = Clock::now() + std::chrono::seconds(20);
  auto settled = [&] {
    for (int s = 0; s < kSessions; ++s) {
      if (!finished[static_cast<size_t>(s)].load() &&
          last_commit[static_cast<size_t>(s)].load() <= last_kill.time_since_epoch().count()) {
        return false;
      }
    }
    return true;
  };
  while (!settled() && Clock::now() < settle_until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::move(join_clients).Invoke();
  const Clock::time_point clients_done = Clock::now();
  std::cout << absl::StrFormat("failover: clients done at %.1f s\n",
                               Ms(clients_done - test_start) / 1e3);

  if (const char* dir = std::getenv("JAMBA_FAILOVER_LOGS"); dir != nullptr && *dir != '\0') {
    WriteFile(absl::StrCat(dir, "/replicas.log"), set.Logs());
    WriteFile(absl::StrCat(dir, "/nginx-error.log"), set.nginx()->ErrorLog());
    WriteFile(absl::StrCat(dir, "/nginx-grpc.log"), set.nginx()->AccessLog("jambad-grpc.log"));
  }

  // No call found its session in a state it cannot leave it in; every failure is reported.
  ContractCounts total;
  int steps = 0;
  for (int s = 0; s < kSessions; ++s) {
    const SessionLog& log = logs[static_cast<size_t>(s)];
    EXPECT_TRUE(log.failure.empty()) << SessionId(s) << ": " << log.failure;
    total.ok += log.counts.ok;
    total.retried_after += log.counts.retried_after;
    total.unclear += log.counts.unclear;
    total.found_committed += log.counts.found_committed;
    total.resent += log.counts.resent;
    steps += log.steps;
  }
  ASSERT_FALSE(HasFailure());

  // For each kill and each session its replica held, how long the session's client waited to be
  // served again: from the kill, or from its next call when it was not calling then (a client
  // thinking between turns is not waiting), to that call's success.
  std::vector<double> served;
  std::vector<double> all_served;
  int slow = 0;                   // waits over 500 ms
  int slow_after_retry_info = 0;  // ... by a call that waited out a RetryInfo
  for (KillEvent& kill : kills) {
    double longest = 0;
    for (int s : kill.held) {
      const auto& committed = logs[static_cast<size_t>(s)].committed;
      auto next = std::find_if(committed.begin(), committed.end(),
                               [&](const SessionLog::Call& call) { return call.done > kill.at; });
      if (next == committed.end()) continue;  // its client had finished its steps
      kill.served_ms.push_back(Ms(next->done - std::max(next->sent, kill.at)));
      served.push_back(kill.served_ms.back());
      longest = std::max(longest, kill.served_ms.back());
      if (kill.served_ms.back() > 500) {
        ++slow;
        if (next->retry_waits > 0) ++slow_after_retry_info;
      }
    }
    if (!kill.served_ms.empty()) all_served.push_back(longest);
    // Every session it held was served again (each client committed after the last kill), and
    // soon: a lease is taken over at once from a replica that is gone, and one in its way
    // lasts 2 s; nginx takes a replica out for 2 s.
    EXPECT_EQ(kill.served_ms.size(), kill.held.size()) << "kill of " << kill.replica_id;
    EXPECT_LT(longest, 10000) << "kill of " << kill.replica_id;
  }
  // The kills broke calls in flight, whose outcome the clients had to find out.
  EXPECT_GT(total.unclear, 0);

  // Every call's time from first sent to known committed, retries included (a session moving back
  // to a restarted replica waits for the lease of the replica that held it meanwhile).
  std::vector<double> call_ms;
  for (const SessionLog& log : logs) {
    for (const SessionLog::Call& call : log.committed) call_ms.push_back(Ms(call.done - call.sent));
  }

  // Every session as nginx serves it now: the acknowledged tokens, and a continuation.
  std::map<int, std::vector<int32_t>> continued;
  int64_t tokens_lost = 0;  // acknowledged but not in the session
  for (int s = 0; s < kSessions; ++s) {
    SessionClient client(OwnChannel(set.address()), SessionId(s));
    const absl::Time give_up = absl::Now() + absl::Seconds(30);
    auto session = client.Get(give_up);
    ASSERT_TRUE(session.ok()) << session.status();
    EXPECT_EQ(session->token_count(), logs[static_cast<size_t>(s)].token_count) << SessionId(s);
    tokens_lost +=
        std::max<int64_t>(0, logs[static_cast<size_t>(s)].token_count - session->token_count());
    auto tokens = client.Continuation(kContinuationTokens, kContinuationSeed, give_up);
    ASSERT_TRUE(tokens.ok()) << tokens.status();
    continued[s] = *tokens;
  }
  // The replicas drain: each exits cleanly, releasing its leases.
  for (int i = 0; i < kReplicas; ++i) EXPECT_EQ(set.Stop(i, SIGTERM), 0) << "replica " << i;

  std::cout << absl::StrFormat("failover: checked through nginx, drained at %.1f s\n",
                               Ms(Clock::now() - test_start) / 1e3);
  // The same calls on a jambad of its own that never failed.
  auto reference = JambadProcess::Start({.model_dir = DemoModelDir()});
  ASSERT_TRUE(reference.ok()) << reference.status();
  std::vector<std::thread> replays;
  std::vector<std::string> replay_failures(kSessions);
  std::vector<std::vector<int32_t>> expected(kSessions);
  for (int s = 0; s < kSessions; ++s) {
    replays.emplace_back([&, s] {
      const SessionLog& log = logs[static_cast<size_t>(s)];
      std::string& failure = replay_failures[static_cast<size_t>(s)];
      SessionClient client((*reference)->Channel(), SessionId(s));
      const absl::Time give_up = absl::Now() + absl::Seconds(60);
      if (absl::Status status = client.Create(); !status.ok()) {
        failure = status.ToString();
        return;
      }
      for (int step = 0; step < log.steps; ++step) {
        if (absl::Status status = client.Append(Chunk(s, step), give_up); !status.ok()) {
          failure = status.ToString();
          return;
        }
        auto turn = client.Turn(kTurnTokens, TurnSeed(s, step), give_up);
        if (!turn.ok() || !turn->has_value()) {
          failure = turn.ok() ? "a turn's answer was lost" : turn.status().ToString();
          return;
        }
        const auto& seen = log.turns[static_cast<size_t>(step)];
        if (seen.has_value() && *seen != **turn) {
          failure = absl::StrCat("turn ", step, " gave ", absl::StrJoin(*seen, ","),
                                 " through nginx and ", absl::StrJoin(**turn, ","), " here");
          return;
        }
      }
      if (client.token_count() != log.token_count) {
        failure =
            absl::StrCat(log.token_count, " tokens through nginx, ", client.token_count(), " here");
        return;
      }
      auto tokens = client.Continuation(kContinuationTokens, kContinuationSeed, give_up);
      if (!tokens.ok()) {
        failure = tokens.status().ToString();
        return;
      }
      expected[static_cast<size_t>(s)] = *tokens;
    });
  }
  for (std::thread& t : replays) t.join();
  std::cout << absl::StrFormat("failover: reference done at %.1f s\n",
                               Ms(Clock::now() - test_start) / 1e3);
  int equal_continuations = 0;
  for (int s = 0; s < kSessions; ++s) {
    EXPECT_TRUE(replay_failures[static_cast<size_t>(s)].empty())
        << SessionId(s) << ": " << replay_failures[static_cast<size_t>(s)];
    EXPECT_EQ(continued[s], expected[static_cast<size_t>(s)]) << SessionId(s);
    if (continued[s] == expected[static_cast<size_t>(s)]) ++equal_continuations;
  }

  // A fresh replica loads every session from the shared directory and continues it the same way.
  auto fresh = JambadProcess::Start({.model_dir = DemoModelDir(),
                                     .session_dir = set.session_dir(),
                                     .flags = {"--replica-id", "checker"}});
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  std::cout << absl::StrFormat("failover: fresh replica up at %.1f s\n",
                               Ms(Clock::now() - test_start) / 1e3);
  int loaded = 0;   // loaded and continued as the reference
  int corrupt = 0;  // failed to load
  for (int s = 0; s < kSessions; ++s) {
    SessionClient client((*fresh)->Channel(), SessionId(s));
    const absl::Time give_up = absl::Now() + absl::Seconds(30);
    auto session = client.Get(give_up);
    ASSERT_TRUE(session.ok()) << session.status();
    EXPECT_EQ(session->token_count(), logs[static_cast<size_t>(s)].token_count);
    auto tokens = client.Continuation(kContinuationTokens, kContinuationSeed, give_up);
    EXPECT_TRUE(tokens.ok()) << SessionId(s) << ": " << tokens.status();
    if (!tokens.ok()) ++corrupt;
    if (tokens.ok() && *tokens == expected[static_cast<size_t>(s)]) ++loaded;
  }
  EXPECT_EQ(loaded, kSessions);
  std::cout << absl::StrFormat("failover: fresh replica checked at %.1f s\n",
                               Ms(Clock::now() - test_start) / 1e3);

  // The report.
  std::set<int> moved;
  for (const KillEvent& kill : kills) moved.insert(kill.held.begin(), kill.held.end());
  int64_t files = 0;
  int64_t bytes = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(set.session_dir())) {
    if (!entry.is_regular_file()) continue;
    ++files;
    bytes += static_cast<int64_t>(entry.file_size());
  }
  std::cout << absl::StrFormat("failover: session directory: %d files, %.1f MB\n", files,
                               bytes / 1e6);
  int64_t tokens_committed = 0;
  for (const SessionLog& log : logs) tokens_committed += log.token_count;
  for (const KillEvent& kill : kills) {
    std::cout << absl::StrFormat(
        "failover: kill at %6.2f s of %s (mid-append of %s), restarted after %4.0f ms; %d "
        "sessions held, served again after %s ms\n",
        Ms(kill.at - test_start) / 1e3, kill.replica_id, kill.mid_append, kill.restarted_ms,
        kill.held.size(), absl::StrJoin(kill.served_ms, ",", [](std::string* out, double ms) {
          absl::StrAppendFormat(out, "%.0f", ms);
        }));
  }
  ASSERT_FALSE(served.empty());
  std::cout << absl::StrFormat(
      "failover: %d kills, %d of the %d sessions held by a killed replica at least once; kill to "
      "session served again over %d sessions: min %.0f ms, median "
      "%.0f ms, max %.0f ms; to every session of a kill served: median %.0f ms, max %.0f ms\n"
      "failover: %d steps, %d tokens committed; calls OK %d, sent again after RetryInfo %d, "
      "unclear %d (committed %d, resent %d); %d tokens lost, %d/%d sessions load and continue "
      "as the reference\n",
      kKills, moved.size(), kSessions, served.size(),
      *std::min_element(served.begin(), served.end()), Percentile(served, 50),
      *std::max_element(served.begin(), served.end()), Percentile(all_served, 50),
      all_served.empty() ? 0 : *std::max_element(all_served.begin(), all_served.end()), steps,
      tokens_committed, total.ok, total.retried_after, total.unclear, total.found_committed,
      total.resent, tokens_lost, loaded, kSessions);
  std::cout << absl::StrFormat(
      "failover: %d waits to be served again over 500 ms, %d of them by a call that waited out a "
      "RetryInfo\n",
      slow, slow_after_retry_info);
  std::cout << absl::StrFormat(
      "failover: appends and turns, first sent to committed: median %.0f ms, p99 %.0f ms, max "
      "%.0f ms\n",
      Percentile(call_ms, 50), Percentile(call_ms, 99), Percentile(call_ms, 100));
  RecordProperty("served_again_median_ms", static_cast<int>(Percentile(served, 50)));
  RecordProperty("served_again_max_ms",
                 static_cast<int>(*std::max_element(served.begin(), served.end())));

  if (const char* path = std::getenv("JAMBA_FAILOVER_JSON"); path != nullptr && *path != '\0') {
    nlohmann::json events = nlohmann::json::array();
    for (const KillEvent& kill : kills) {
      events.push_back({{"at_s", Ms(kill.at - test_start) / 1e3},
                        {"replica_id", kill.replica_id},
                        {"mid_append", kill.mid_append},
                        {"sessions_held", kill.held.size()},
                        {"served_again_ms", kill.served_ms},
                        {"restarted_ms", kill.restarted_ms}});
    }
    struct utsname un = {};
    ::uname(&un);
    double load[1] = {0};
    const nlohmann::json out = {
        {"benchmark", "failover"},
        {"source", "tests/integration/failover_test.cc (JAMBA_FAILOVER_JSON)"},
        {"time", absl::FormatTime(absl::RFC3339_sec, absl::Now(), absl::UTCTimeZone())},
        {"machine",
         {{"cpu", CpuModel()},
          {"hardware_threads", std::thread::hardware_concurrency()},
          {"os", absl::StrCat(un.sysname, " ", un.release)},
          {"load_average_after", ::getloadavg(load, 1) == 1 ? load[0] : -1}}},
        {"setup",
         {{"router", "Debian nginx, deploy/nginx/jambad.conf"},
          {"replicas", kReplicas},
          {"model", "demo model"},
          {"session_lease_ttl_ms", absl::ToInt64Milliseconds(kLeaseTtl)},
          {"sessions", kSessions},
          {"append_tokens", kAppendTokens},
          {"turn_tokens", kTurnTokens},
          {"kills", kKills},
          {"replica_ids", "a new one per restart"},
          {"seed", seed}}},
        {"kill_events", events},
        {"served_again_ms", Summary(served)},
        {"served_again_is",
         "for each kill and each session whose lease the killed replica held: from the kill (or "
         "from the client's next call, if it was not calling then) to that call's success"},
        {"served_again_over_500_ms", slow},
        {"served_again_over_500_ms_by_a_call_that_waited_out_a_retry_info", slow_after_retry_info},
        {"every_session_of_a_kill_served_ms", Summary(all_served)},
        {"call_ms",
         {{"what", "each append and turn, first sent to known committed, retries included"},
          {"count", call_ms.size()},
          {"median", Percentile(call_ms, 50)},
          {"p99", Percentile(call_ms, 99)},
          {"max", Percentile(call_ms, 100)}}},
        {"clients",
         {{"steps", steps},
          {"tokens_committed", tokens_committed},
          {"calls_ok", total.ok},
          {"sent_again_after_retry_info", total.retried_after},
          {"unclear_failures", total.unclear},
          {"unclear_found_committed", total.found_committed},
          {"unclear_resent", total.resent}}},
        {"tokens_lost", tokens_lost},
        {"corrupt_sessions", corrupt},
        {"sessions_held_by_a_killed_replica", moved.size()},
        {"sessions_continuing_as_reference", equal_continuations},
        {"sessions_loaded_by_a_fresh_replica", loaded},
        {"clients_seconds", Ms(clients_done - test_start) / 1e3},
        {"test_seconds", Ms(Clock::now() - test_start) / 1e3}};
    std::ofstream file(path, std::ios::trunc);
    file << out.dump(2) << "\n";
    EXPECT_TRUE(file.good()) << "cannot write " << path;
    std::cout << "failover: wrote " << path << "\n";
  }
}

}  // namespace
}  // namespace jamba::testing
