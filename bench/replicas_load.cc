// replicas_load: jambad replicas sharing one session directory behind Debian's nginx (the shipped
// deploy/nginx/jambad.conf, addresses changed), as docs/scaling-out.md deploys them, started with
// the failover test's launcher (tests/integration/replica_set). Two measurements:
//
// - Load: bench/service_load's streaming load (16 clients by default, 64 tokens each, one
//   connection per client), stateless gRPC and session-bound (each client a committed turn on a
//   session of its own, x-jamba-session, so every turn takes or confirms the session's lease),
//   through nginx to 1, 2 and 3 replicas, and straight to the single replica (no proxy). Every
//   replica runs 2 threads; on a machine with fewer cores than that in all, the aggregate cannot
//   grow with replicas, and the figures show what the proxy and the leases cost.
// - Session handoff: a session owned by replica A (a committed turn on it), then A drained
//   (SIGTERM), killed (SIGKILL), or stopped (SIGSTOP: alive but silent, as a replica on another
//   host that died or was cut off looks to the others): the time from the signal until replica B
//   has committed a turn on the session, B being asked every 10 ms.
//
// Prints a table; --json writes the figures (bench/results/replicas.json). It never passes or
// fails on time.
//
//   replicas_load [--replicas 1,2,3] [--clients 16] [--tokens 64] [--rounds 1] [--passes 3]
//                 [--handoffs 5] [--lease-ttl-ms 10000] [--json OUT]
#include <signal.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "engine/status_macros.h"
#include "nlohmann/json.hpp"
#include "tests/integration/jambad_process.h"
#include "tests/integration/replica_set.h"
#include "tests/util/subprocess.h"
#include "tests/util/test_util.h"

namespace jamba::bench {
namespace {

using Clock = std::chrono::steady_clock;
using Json = nlohmann::json;
using testing::ReplicaSet;

struct Options {
  std::vector<int> replicas = {1, 2, 3};
  int clients = 16;
  int tokens = 64;
  int rounds = 1;            // service_load's rounds per pass
  int passes = 3;            // every configuration's load, in turn, this many times
  int handoffs = 5;          // trials of each kind of handoff
  int lease_ttl_ms = 10000;  // jambad's default session_lease_ttl
  std::string json;
};

absl::StatusOr<Options> ParseOptions(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || i + 1 >= argc) {
      return absl::InvalidArgumentError(
          "usage: replicas_load [--replicas 1,2,3] [--clients 16] [--tokens 64] [--rounds 1] "
          "[--passes 3] [--handoffs 5] [--lease-ttl-ms 10000] [--json OUT]");
    }
    const std::string value = argv[++i];
    auto positive = [&](int* out) {
      if (!absl::SimpleAtoi(value, out) || *out < 1) {
        return absl::InvalidArgumentError(flag + " must be a positive integer");
      }
      return absl::OkStatus();
    };
    if (flag == "--replicas") {
      o.replicas.clear();
      for (absl::string_view n : absl::StrSplit(value, ',', absl::SkipEmpty())) {
        int count = 0;
        if (!absl::SimpleAtoi(n, &count) || count < 1 || count > 8) {
          return absl::InvalidArgumentError("--replicas: counts in [1, 8], comma-separated");
        }
        o.replicas.push_back(count);
      }
      if (o.replicas.empty()) return absl::InvalidArgumentError("--replicas is empty");
    } else if (flag == "--clients") {
      JAMBA_RETURN_IF_ERROR(positive(&o.clients));
    } else if (flag == "--tokens") {
      JAMBA_RETURN_IF_ERROR(positive(&o.tokens));
    } else if (flag == "--rounds") {
      JAMBA_RETURN_IF_ERROR(positive(&o.rounds));
    } else if (flag == "--passes") {
      JAMBA_RETURN_IF_ERROR(positive(&o.passes));
    } else if (flag == "--handoffs") {
      JAMBA_RETURN_IF_ERROR(positive(&o.handoffs));
    } else if (flag == "--lease-ttl-ms") {
      JAMBA_RETURN_IF_ERROR(positive(&o.lease_ttl_ms));
      if (o.lease_ttl_ms < 1000) return absl::InvalidArgumentError("--lease-ttl-ms: at least 1000");
    } else if (flag == "--json") {
      o.json = value;
    } else {
      return absl::InvalidArgumentError("unknown flag " + flag);
    }
  }
  return o;
}

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// service_load's figures for one load, as its JSON has them.
struct LoadFigures {
  int replicas = 0;
  std::string router;  // "nginx" or "none"
  Json stateless, sessions;
};

// bench/service_load --server ADDR --modes grpc,sessions: its "service" and "sessions" rows.
absl::StatusOr<LoadFigures> RunServiceLoad(const Options& o, const std::string& address) {
  testing::TempDir dir;
  const std::string json = dir.File("load.json");
  testing::ProcessResult run = testing::RunProcess(
      {JAMBA_SERVICE_LOAD_BINARY, "--server", address, "--model", testing::DemoModelDir(),
       "--clients", std::to_string(o.clients), "--tokens", std::to_string(o.tokens), "--rounds",
       std::to_string(o.rounds), "--modes", "grpc,sessions", "--json", json});
  if (run.exit_code != 0) {
    return absl::InternalError(absl::StrCat("service_load failed: ", run.err, run.out));
  }
  const Json out = Json::parse(testing::ReadFile(json), nullptr, /*allow_exceptions=*/false);
  if (!out.is_object()) return absl::InternalError("service_load wrote no JSON");
  LoadFigures figures;
  figures.stateless = out["service"]["loads"].at(0);
  figures.sessions = out["sessions"]["loads"].at(0);
  return figures;
}

// Each figure of a load (stateless and sessions alike) as the median over `runs`; failures
// summed.
LoadFigures MedianOf(const std::vector<LoadFigures>& runs) {
  LoadFigures median = runs.front();
  for (const char* load : {"stateless", "sessions"}) {
    Json& out = std::string(load) == "stateless" ? median.stateless : median.sessions;
    for (const char* key : {"tokens_per_second", "ttft_p50_ms", "ttft_p99_ms", "inter_token_p50_ms",
                            "inter_token_p99_ms"}) {
      std::vector<double> values;
      for (const LoadFigures& run : runs) {
        const Json& in = std::string(load) == "stateless" ? run.stateless : run.sessions;
        values.push_back(in.value(key, 0.0));
      }
      std::sort(values.begin(), values.end());
      out[key] = values[(values.size() - 1) / 2];
      if (std::string(key) == "tokens_per_second") out["tokens_per_second_passes"] = values;
    }
    int failures = 0;
    int64_t tokens = 0;
    for (const LoadFigures& run : runs) {
      const Json& in = std::string(load) == "stateless" ? run.stateless : run.sessions;
      failures += in.value("failures", 0);
      tokens += in.value("tokens", int64_t{0});
    }
    out["failures"] = failures;
    out["tokens"] = tokens;
  }
  return median;
}

// A committed turn of 4 tokens on session `id` at `address`.
grpc::Status Turn(const std::string& address, const std::string& id) {
  auto stub = v1::GenerationService::NewStub(testing::OwnChannel(address));
  v1::GenerateRequest request;
  request.mutable_session()->set_session("sessions/" + id);
  request.mutable_session()->set_text(" and then");
  request.mutable_session()->set_commit(true);
  request.set_max_tokens(4);
  request.mutable_sampling()->set_seed(1);
  grpc::ClientContext context;
  context.AddMetadata("x-jamba-session", id);
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  auto reader = stub->Generate(&context, request);
  v1::GenerateResponse response;
  while (reader->Read(&response)) {
  }
  return reader->Finish();
}

struct Handoff {
  std::string kind;  // "drain", "kill", "stop"
  int signal = 0;
  std::vector<double> ms;  // signal to B's committed turn, per trial
  int refusals = 0;        // B's UNAVAILABLE answers in all
};

// Replica 0 owns a fresh session, gets `signal`, and replica 1 is asked every 10 ms to commit a
// turn on it; then replica 0 is started again.
absl::Status MeasureHandoff(ReplicaSet& set, int trial, Handoff& handoff) {
  const std::string id = absl::StrCat("handoff-", handoff.kind, "-", trial);
  {
    auto sessions = v1::SessionService::NewStub(testing::OwnChannel(set.replica_address(0)));
    grpc::ClientContext context;
    v1::CreateSessionRequest request;
    request.set_session_id(id);
    v1::Session session;
    const grpc::Status created = sessions->CreateSession(&context, request, &session);
    if (!created.ok()) return absl::InternalError("CreateSession: " + created.error_message());
  }
  if (grpc::Status turn = Turn(set.replica_address(0), id); !turn.ok()) {
    return absl::InternalError("the turn on replica 0: " + turn.error_message());
  }
  const Clock::time_point signalled = Clock::now();
  // A killed process is reaped at once, as its supervisor would: until then it is a zombie, which
  // still looks alive to the others.
  if (handoff.signal == SIGKILL) {
    set.Stop(0, SIGKILL);
  } else {
    set.replica(0)->Signal(handoff.signal);
  }
  const Clock::time_point give_up = signalled + std::chrono::seconds(120);
  for (;;) {
    const grpc::Status turn = Turn(set.replica_address(1), id);
    if (turn.ok()) break;
    if (turn.error_code() != grpc::StatusCode::UNAVAILABLE || Clock::now() > give_up) {
      return absl::InternalError(
          absl::StrCat("the turn on replica 1: ", turn.error_code(), " ", turn.error_message()));
    }
    ++handoff.refusals;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  handoff.ms.push_back(Ms(Clock::now() - signalled));
  if (handoff.signal == SIGSTOP) {
    set.replica(0)->Signal(SIGCONT);
    set.Stop(0, SIGKILL);
  } else if (handoff.signal == SIGTERM) {
    set.Stop(0, SIGTERM);  // it has exited, drained: reaped
  }
  return set.Restart(0);
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
  return v[std::clamp<size_t>(rank, 1, v.size()) - 1];
}

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "unknown";
}

double LoadAverage() {
  double load[1] = {0};
  return ::getloadavg(load, 1) == 1 ? load[0] : -1;
}

Json Row(const Json& load) {
  return {{"tokens_per_second", load.value("tokens_per_second", 0.0)},
          {"ttft_p50_ms", load.value("ttft_p50_ms", 0.0)},
          {"ttft_p99_ms", load.value("ttft_p99_ms", 0.0)},
          {"inter_token_p50_ms", load.value("inter_token_p50_ms", 0.0)},
          {"inter_token_p99_ms", load.value("inter_token_p99_ms", 0.0)},
          {"tokens_per_second_passes", load.value("tokens_per_second_passes", Json::array())},
          {"tokens", load.value("tokens", 0)},
          {"failures", load.value("failures", 0)}};
}

absl::Status Run(const Options& o) {
  const double load_before = LoadAverage();
  const absl::Duration lease_ttl = absl::Milliseconds(o.lease_ttl_ms);
  const std::vector<std::string> quiet = {"--log-level", "warning"};

  // The loads: each replica count on a set of its own, one replica also without nginx; all sets
  // up at once (idle ones cost no CPU) and the loads run in passes, each pass every configuration
  // in turn, so that a shared machine's changing load touches them alike. Each figure is the
  // median over the passes.
  std::vector<std::unique_ptr<ReplicaSet>> sets;
  std::vector<std::pair<int, std::string>> configs;  // (set, router)
  for (int n : o.replicas) {
    JAMBA_ASSIGN_OR_RETURN(std::unique_ptr<ReplicaSet> set,
                           ReplicaSet::Start({.replicas = n,
                                              .model_dir = testing::DemoModelDir(),
                                              .lease_ttl = lease_ttl,
                                              .flags = quiet}));
    if (n == 1) configs.emplace_back(static_cast<int>(sets.size()), "none");
    configs.emplace_back(static_cast<int>(sets.size()), "nginx");
    sets.push_back(std::move(set));
  }
  std::vector<std::vector<LoadFigures>> passes(configs.size());
  for (int pass = 0; pass < o.passes; ++pass) {
    for (size_t c = 0; c < configs.size(); ++c) {
      const ReplicaSet& set = *sets[static_cast<size_t>(configs[c].first)];
      const std::string address =
          configs[c].second == "nginx" ? set.address() : set.replica_address(0);
      JAMBA_ASSIGN_OR_RETURN(LoadFigures figures, RunServiceLoad(o, address));
      figures.replicas = set.size();
      figures.router = configs[c].second;
      passes[c].push_back(std::move(figures));
    }
  }
  sets.clear();
  std::vector<LoadFigures> loads;
  for (const std::vector<LoadFigures>& runs : passes) loads.push_back(MedianOf(runs));

  // The handoffs, between two replicas (no router: the calls name the replica).
  std::vector<Handoff> handoffs = {
      {.kind = "drain", .signal = SIGTERM},
      {.kind = "kill", .signal = SIGKILL},
      {.kind = "stop", .signal = SIGSTOP},
  };
  {
    JAMBA_ASSIGN_OR_RETURN(std::unique_ptr<ReplicaSet> set,
                           ReplicaSet::Start({.replicas = 2,
                                              .model_dir = testing::DemoModelDir(),
                                              .lease_ttl = lease_ttl,
                                              .flags = quiet,
                                              .nginx = false}));
    for (int trial = 0; trial < o.handoffs; ++trial) {
      for (Handoff& handoff : handoffs) JAMBA_RETURN_IF_ERROR(MeasureHandoff(*set, trial, handoff));
    }
  }
  const double load_after = LoadAverage();

  std::cout << absl::StrFormat(
      "demo model; %d clients x %d tokens, %d round(s) x %d passes (medians), every replica 2 "
      "threads, %d hardware threads; session_lease_ttl %d ms; load average %.2f before, %.2f "
      "after\n",
      o.clients, o.tokens, o.rounds, o.passes, std::thread::hardware_concurrency(), o.lease_ttl_ms,
      load_before, load_after);
  std::cout << absl::StrFormat("%-8s %-6s %-9s %9s %9s %9s %8s %8s %8s\n", "replicas", "router",
                               "load", "tok/s", "ttft p50", "ttft p99", "itl p50", "itl p99",
                               "failures");
  Json load_rows = Json::array();
  for (const LoadFigures& f : loads) {
    for (const auto& [name, load] : {std::pair<std::string, const Json&>{"stateless", f.stateless},
                                     {"sessions", f.sessions}}) {
      std::cout << absl::StrFormat(
          "%-8d %-6s %-9s %9.1f %9.1f %9.1f %8.2f %8.2f %8d\n", f.replicas, f.router, name,
          load.value("tokens_per_second", 0.0), load.value("ttft_p50_ms", 0.0),
          load.value("ttft_p99_ms", 0.0), load.value("inter_token_p50_ms", 0.0),
          load.value("inter_token_p99_ms", 0.0), load.value("failures", 0));
    }
    load_rows.push_back({{"replicas", f.replicas},
                         {"router", f.router},
                         {"stateless", Row(f.stateless)},
                         {"sessions", Row(f.sessions)}});
  }
  std::cout << "times in ms; stateless: Generate from a prompt; sessions: a committed turn on the "
               "client's own session (x-jamba-session), which takes or confirms its lease.\n";
  Json handoff_rows = Json::object();
  for (const Handoff& h : handoffs) {
    const double min = *std::min_element(h.ms.begin(), h.ms.end());
    const double max = *std::max_element(h.ms.begin(), h.ms.end());
    std::cout << absl::StrFormat(
        "handoff after %-5s (%s): min %7.1f ms, median %7.1f ms, max %7.1f ms over %d trials; "
        "%d refusals (UNAVAILABLE) meanwhile\n",
        h.kind, strsignal(h.signal), min, Percentile(h.ms, 50), max, h.ms.size(), h.refusals);
    handoff_rows[h.kind] = {
        {"signal", strsignal(h.signal)},     {"ms", h.ms},    {"min_ms", min},
        {"median_ms", Percentile(h.ms, 50)}, {"max_ms", max}, {"refusals", h.refusals}};
  }
  std::cout << "handoff: from the signal to replica A until replica B has committed a turn on "
               "A's session, B asked every 10 ms. A SIGKILLed process of this machine is seen to "
               "be gone at once; a stopped one (as a replica on another host, dead or cut off) "
               "only when its lease expires.\n";

  if (!o.json.empty()) {
    struct utsname un = {};
    ::uname(&un);
    const Json out = {
        {"benchmark", "replicas_load"},
        {"time", absl::FormatTime(absl::RFC3339_sec, absl::Now(), absl::UTCTimeZone())},
        {"machine",
         {{"cpu", CpuModel()},
          {"hardware_threads", std::thread::hardware_concurrency()},
          {"os", absl::StrCat(un.sysname, " ", un.release)},
          {"load_average_before", load_before},
          {"load_average_after", load_after}}},
        {"setup",
         {{"model", "demo model"},
          {"router", "Debian nginx, deploy/nginx/jambad.conf"},
          {"threads_per_replica", 2},
          {"session_directory", "one, shared by every replica"},
          {"session_lease_ttl_ms", o.lease_ttl_ms},
          {"clients", o.clients},
          {"tokens_per_client", o.tokens},
          {"rounds_per_pass", o.rounds},
          {"passes", o.passes},
          {"figures", "the median over the passes (tokens_per_second_passes: each pass's)"},
          {"load", "bench/service_load --modes grpc,sessions"}}},
        {"loads", load_rows},
        {"handoff",
         {{"what",
           "a session owned by replica A; A gets the signal; the time until replica B has "
           "committed a turn on it, B asked every 10 ms"},
          {"trials", o.handoffs},
          {"kinds", handoff_rows}}}};
    const std::filesystem::path path(o.json);
    if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
    std::ofstream file(o.json, std::ios::trunc);
    file << out.dump(2) << "\n";
    if (!file) return absl::InternalError("cannot write " + o.json);
    std::cout << "wrote " << o.json << "\n";
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace jamba::bench

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  absl::StatusOr<jamba::bench::Options> options = jamba::bench::ParseOptions(argc, argv);
  if (!options.ok()) {
    std::cerr << options.status().message() << "\n";
    return 2;
  }
  if (absl::Status status = jamba::bench::Run(*options); !status.ok()) {
    std::cerr << "replicas_load: " << status.message() << "\n";
    return 1;
  }
  return 0;
}
