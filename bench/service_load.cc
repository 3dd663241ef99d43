// service_load: what concurrent clients get from jambad, and what its API layers cost. For 1, 4
// and 16 concurrent clients, each generating a fixed number of tokens (64) from one short prompt
// with its own seed, it measures the aggregate tokens/s, the time to first token (p50/p99) and
// the inter-token latency (p50/p99): over loopback gRPC against a jambad it starts (or --server
// ADDR), over the same jambad's OpenAI-compatible HTTP API as streaming clients of
// /v1/completions (server-sent events; or --http-server ADDR), and in-process, threads calling
// jamba::Engine::Generate on an Engine with the same options. The batching gain is the aggregate
// tokens/s at the most clients over that at one client. Prints a table; --json writes the
// figures. It never passes or fails on time.
//
// --modes picks the loads (default grpc,http,engine). `sessions` adds session-bound gRPC clients:
// each has a session of its own (created first) and every request is a committed turn on it
// (the prompt appended, the completion committed), carrying the session name in x-jamba-session
// as the clients do for a router such as deploy/nginx/jambad.conf. Point --server at that router
// to measure replicas sharing a session directory (bench/replicas_load does).
//
//   service_load [--model DIR] [--server ADDR [--http-server ADDR] [--api-key KEY]]
//                [--clients 1,4,16] [--tokens 64] [--threads N] [--rounds N]
//                [--modes grpc,http,sessions,engine] [--json OUT]
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <latch>
#include <memory>
#include <optional>
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
#include "grpcpp/grpcpp.h"
#include "httplib.h"
#include "jamba/engine.h"
#include "jamba/v1/generation_service.grpc.pb.h"
#include "jamba/v1/model_service.grpc.pb.h"
#include "jamba/v1/session_service.grpc.pb.h"
#include "nlohmann/json.hpp"

extern char** environ;

namespace jamba::bench {
namespace {

using Clock = std::chrono::steady_clock;
using Json = nlohmann::json;

constexpr char kPrompt[] = "A hybrid model keeps a small state per layer, so";

double Seconds(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

struct Options {
  std::string model = JAMBA_DEMO_MODEL_DIR;
  std::string server;       // empty: start jambad
  std::string http_server;  // with --server: its HTTP API (empty: not measured)
  std::string api_key;
  std::vector<int> clients = {1, 4, 16};
  int tokens = 64;
  int threads = 0;
  int rounds = 3;  // each load is run this many times; the figures pool every round
  std::vector<std::string> modes = {"grpc", "http", "engine"};
  std::string json;

  bool Has(const std::string& mode) const {
    return std::find(modes.begin(), modes.end(), mode) != modes.end();
  }
};

absl::StatusOr<Options> ParseOptions(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help") {
      return absl::InvalidArgumentError(
          "usage: service_load [--model DIR] [--server ADDR [--http-server ADDR] [--api-key KEY]] "
          "[--clients 1,4,16] [--tokens 64] [--threads N] [--rounds N] "
          "[--modes grpc,http,sessions,engine] [--json OUT]");
    }
    if (i + 1 >= argc) return absl::InvalidArgumentError(flag + " needs a value");
    const std::string value = argv[++i];
    if (flag == "--model") {
      o.model = value;
    } else if (flag == "--server") {
      o.server = value;
    } else if (flag == "--http-server") {
      o.http_server = value;
    } else if (flag == "--api-key") {
      o.api_key = value;
    } else if (flag == "--clients") {
      o.clients.clear();
      for (absl::string_view s : absl::StrSplit(value, ',', absl::SkipEmpty())) {
        int n = 0;
        if (!absl::SimpleAtoi(s, &n) || n < 1 || n > 1024) {
          return absl::InvalidArgumentError("--clients: counts in [1, 1024], comma-separated");
        }
        o.clients.push_back(n);
      }
      if (o.clients.empty()) return absl::InvalidArgumentError("--clients is empty");
    } else if (flag == "--tokens") {
      if (!absl::SimpleAtoi(value, &o.tokens) || o.tokens < 2) {
        return absl::InvalidArgumentError("--tokens must be at least 2");
      }
    } else if (flag == "--threads") {
      if (!absl::SimpleAtoi(value, &o.threads) || o.threads < 0) {
        return absl::InvalidArgumentError("--threads must be a non-negative integer");
      }
    } else if (flag == "--rounds") {
      if (!absl::SimpleAtoi(value, &o.rounds) || o.rounds < 1) {
        return absl::InvalidArgumentError("--rounds must be at least 1");
      }
    } else if (flag == "--modes") {
      o.modes.clear();
      for (absl::string_view mode : absl::StrSplit(value, ',', absl::SkipEmpty())) {
        if (mode != "grpc" && mode != "http" && mode != "sessions" && mode != "engine") {
          return absl::InvalidArgumentError("--modes: grpc, http, sessions, engine");
        }
        o.modes.emplace_back(mode);
      }
      if (o.modes.empty()) return absl::InvalidArgumentError("--modes is empty");
    } else if (flag == "--json") {
      o.json = value;
    } else {
      return absl::InvalidArgumentError("unknown flag " + flag);
    }
  }
  return o;
}

// One client's request as it saw it.
struct Trace {
  Clock::time_point start;
  std::optional<Clock::time_point> first_token;
  Clock::time_point end;
  int64_t tokens = 0;
  // Between consecutive deliveries, per token: a delivery of k tokens after a gap g counts k
  // samples of g / k (the server merges deltas only when a client reads slowly).
  std::vector<double> inter_token_seconds;
  absl::Status status;

  void Deliver(int64_t count) {
    if (count <= 0) return;
    const Clock::time_point now = Clock::now();
    if (!first_token.has_value()) {
      first_token = now;
    } else {
      const double gap = Seconds(last_, now) / static_cast<double>(count);
      inter_token_seconds.insert(inter_token_seconds.end(), static_cast<size_t>(count), gap);
    }
    last_ = now;
    tokens += count;
  }

 private:
  Clock::time_point last_;
};

// Client `index` of a load: runs one request from `start`, tracing it.
using Client = std::function<void(int index, int round, Trace& trace)>;

struct LoadResult {
  int clients = 0;
  int64_t tokens = 0;
  double seconds = 0;  // every round's wall time, summed
  double tokens_per_second = 0;
  double ttft_p50 = 0, ttft_p99 = 0;
  double itl_p50 = 0, itl_p99 = 0;
  int failures = 0;
  std::string first_error;
};

// The nearest-rank percentile p (in [0, 100]) of `values`; 0 when empty.
double Percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * values.size()));
  return values[std::clamp<size_t>(rank, 1, values.size()) - 1];
}

// Every client's samples of one mode of a load, pooled over its rounds.
struct Samples {
  int64_t tokens = 0;
  double seconds = 0;
  std::vector<double> ttft, itl;
  int failures = 0;
  std::string first_error;
};

// Runs `clients` concurrent clients, released together, once, adding to `samples`.
void RunRound(int clients, int round, const Client& client, Samples& samples) {
  std::vector<Trace> traces(static_cast<size_t>(clients));
  std::latch ready(clients + 1);
  std::latch go(1);
  std::vector<std::thread> threads;
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([&, i] {
      ready.count_down();
      go.wait();
      Trace& trace = traces[static_cast<size_t>(i)];
      trace.start = Clock::now();
      client(i, round, trace);
      trace.end = Clock::now();
    });
  }
  ready.arrive_and_wait();
  const Clock::time_point start = Clock::now();
  go.count_down();
  for (std::thread& t : threads) t.join();
  Clock::time_point end = start;
  for (const Trace& t : traces) {
    end = std::max(end, t.end);
    if (!t.status.ok()) {
      if (samples.failures++ == 0) samples.first_error = t.status.ToString();
      continue;
    }
    samples.tokens += t.tokens;
    if (t.first_token.has_value()) samples.ttft.push_back(Seconds(t.start, *t.first_token));
    samples.itl.insert(samples.itl.end(), t.inter_token_seconds.begin(),
                       t.inter_token_seconds.end());
  }
  samples.seconds += Seconds(start, end);
}

// Runs `clients` concurrent clients `rounds` times for each mode, the modes' rounds in turn, so
// that modes compared with each other see the same drift of a shared machine's load.
std::vector<LoadResult> RunLoads(int clients, int rounds, const std::vector<Client>& modes) {
  std::vector<Samples> samples(modes.size());
  for (int round = 0; round < rounds; ++round) {
    for (size_t m = 0; m < modes.size(); ++m) RunRound(clients, round, modes[m], samples[m]);
  }
  std::vector<LoadResult> results;
  for (const Samples& s : samples) {
    LoadResult result;
    result.clients = clients;
    result.tokens = s.tokens;
    result.seconds = s.seconds;
    result.failures = s.failures;
    result.first_error = s.first_error;
    result.tokens_per_second = s.seconds > 0 ? s.tokens / s.seconds : 0;
    result.ttft_p50 = Percentile(s.ttft, 50);
    result.ttft_p99 = Percentile(s.ttft, 99);
    result.itl_p50 = Percentile(s.itl, 50);
    result.itl_p99 = Percentile(s.itl, 99);
    results.push_back(std::move(result));
  }
  return results;
}

LoadResult RunLoad(int clients, int rounds, const Client& client) {
  return RunLoads(clients, rounds, {client}).front();
}

// A jambad child process on a free loopback port, stopped (SIGTERM, then waited for) on
// destruction.
class Jambad {
 public:
  static absl::StatusOr<std::unique_ptr<Jambad>> Start(const Options& o) {
    auto server = std::make_unique<Jambad>();
    server->dir_ =
        (std::filesystem::temp_directory_path() / absl::StrCat("jamba-service-load-", ::getpid()))
            .string();
    std::filesystem::create_directories(server->dir_);
    const std::string config = server->dir_ + "/jambad.conf";
    std::ofstream(config) << "# service_load: everything comes from flags\n";
    // No session directory unless session-bound clients need one: nothing else is persisted, and
    // no prefix reuse between the stateless clients.
    const std::string session_dir = o.Has("sessions") ? server->dir_ + "/sessions" : "";
    std::vector<std::string> args = {JAMBA_JAMBAD_BINARY,
                                     "--config",
                                     config,
                                     "--model",
                                     o.model,
                                     "--listen",
                                     "127.0.0.1:0",
                                     "--metrics-listen",
                                     "",
                                     "--http-listen",
                                     "127.0.0.1:0",
                                     "--session-dir",
                                     session_dir,
                                     "--threads",
                                     std::to_string(o.threads),
                                     "--log-level",
                                     "warning"};
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) return absl::InternalError("pipe failed");
    const std::string log = server->dir_ + "/stderr";
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    posix_spawn_file_actions_addopen(&actions, 2, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int spawned =
        posix_spawn(&server->pid_, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(out[1]);
    if (spawned != 0) {
      ::close(out[0]);
      return absl::InternalError(absl::StrCat("cannot start ", argv[0], ": errno ", spawned));
    }
    // The first stdout line is {"event":"listening","port":...} once the model is loaded.
    FILE* lines = ::fdopen(out[0], "r");
    char* line = nullptr;
    size_t capacity = 0;
    const ssize_t length = ::getline(&line, &capacity, lines);
    const Json ready = length > 0 ? Json::parse(std::string(line, static_cast<size_t>(length)),
                                                nullptr, /*allow_exceptions=*/false)
                                  : Json();
    std::free(line);
    std::fclose(lines);  // jambad writes nothing more to stdout
    if (!ready.is_object() || ready.value("event", "") != "listening") {
      std::ifstream in(log);
      const std::string errors((std::istreambuf_iterator<char>(in)), {});
      return absl::InternalError(absl::StrCat("jambad did not start:\n", errors));
    }
    server->address_ = absl::StrCat("127.0.0.1:", ready.value("port", 0));
    server->http_address_ = absl::StrCat("127.0.0.1:", ready.value("http_port", 0));
    return server;
  }

  ~Jambad() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
    }
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  const std::string& address() const { return address_; }
  const std::string& http_address() const { return http_address_; }

 private:
  pid_t pid_ = -1;
  std::string dir_;
  std::string address_;
  std::string http_address_;
};

v1::GenerateRequest MakeRequest(const Options& o, uint64_t seed) {
  v1::GenerateRequest request;
  request.set_prompt(kPrompt);
  request.set_max_tokens(o.tokens);
  request.mutable_sampling()->set_seed(seed);
  request.mutable_stop()->set_ignore_eos(true);  // every client gets exactly o.tokens tokens
  return request;
}

uint64_t Seed(int index, int round) { return 1000 + static_cast<uint64_t>(round) * 1024 + index; }

// gRPC clients of one load: one channel (its own connection) each, as separate processes would
// have.
class GrpcLoad {
 public:
  GrpcLoad(const Options& o, const std::string& address, int clients) : o_(o) {
    for (int i = 0; i < clients; ++i)
      stubs_.push_back(v1::GenerationService::NewStub(Channel(address)));
  }

  static std::shared_ptr<grpc::Channel> Channel(const std::string& address) {
    grpc::ChannelArguments arguments;
    arguments.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), arguments);
  }

  void Run(int index, int round, Trace& trace) const {
    grpc::ClientContext context;
    if (!o_.api_key.empty()) context.AddMetadata("authorization", "Bearer " + o_.api_key);
    auto reader =
        stubs_[static_cast<size_t>(index)]->Generate(&context, MakeRequest(o_, Seed(index, round)));
    v1::GenerateResponse response;
    while (reader->Read(&response)) trace.Deliver(response.token_ids_size());
    const grpc::Status status = reader->Finish();
    if (!status.ok()) {
      trace.status =
          absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
    }
  }

 private:
  const Options& o_;
  std::vector<std::unique_ptr<v1::GenerationService::Stub>> stubs_;
};

// Session-bound gRPC clients of one load: each with a session of its own, every request a
// committed turn on it (the prompt appended, the completion committed), routed by x-jamba-session.
// The sessions are created first and deleted at the end.
class SessionLoad {
 public:
  static absl::StatusOr<std::unique_ptr<SessionLoad>> Create(const Options& o,
                                                             const std::string& address,
                                                             int clients) {
    auto load = std::unique_ptr<SessionLoad>(new SessionLoad(o));
    for (int i = 0; i < clients; ++i) {
      auto channel = GrpcLoad::Channel(address);
      load->generation_.push_back(v1::GenerationService::NewStub(channel));
      load->sessions_.push_back(v1::SessionService::NewStub(channel));
      load->ids_.push_back(absl::StrCat("load-", ::getpid(), "-", clients, "-", i));
      grpc::ClientContext context;
      load->Prepare(context, i);
      v1::CreateSessionRequest request;
      request.set_session_id(load->ids_.back());
      v1::Session session;
      const grpc::Status status =
          load->sessions_.back()->CreateSession(&context, request, &session);
      if (!status.ok()) {
        return absl::UnavailableError(
            absl::StrCat("CreateSession ", load->ids_.back(), ": ", status.error_message()));
      }
    }
    return load;
  }

  ~SessionLoad() {
    for (size_t i = 0; i < ids_.size(); ++i) {
      grpc::ClientContext context;
      Prepare(context, static_cast<int>(i));
      v1::DeleteSessionRequest request;
      request.set_name("sessions/" + ids_[i]);
      google::protobuf::Empty ignored;
      (void)sessions_[i]->DeleteSession(&context, request, &ignored);
    }
  }

  void Run(int index, int round, Trace& trace) const {
    grpc::ClientContext context;
    Prepare(context, index);
    v1::GenerateRequest request = MakeRequest(o_, Seed(index, round));
    request.clear_prompt();
    request.mutable_session()->set_session("sessions/" + ids_[static_cast<size_t>(index)]);
    request.mutable_session()->set_text(kPrompt);
    request.mutable_session()->set_commit(true);
    auto reader = generation_[static_cast<size_t>(index)]->Generate(&context, request);
    v1::GenerateResponse response;
    while (reader->Read(&response)) trace.Deliver(response.token_ids_size());
    const grpc::Status status = reader->Finish();
    if (!status.ok()) {
      trace.status =
          absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
    }
  }

 private:
  explicit SessionLoad(const Options& o) : o_(o) {}

  void Prepare(grpc::ClientContext& context, int index) const {
    if (!o_.api_key.empty()) context.AddMetadata("authorization", "Bearer " + o_.api_key);
    context.AddMetadata("x-jamba-session", ids_[static_cast<size_t>(index)]);
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(10));
  }

  const Options& o_;
  std::vector<std::unique_ptr<v1::GenerationService::Stub>> generation_;
  std::vector<std::unique_ptr<v1::SessionService::Stub>> sessions_;
  std::vector<std::string> ids_;
};

// The completion tokens counted so far in one server-sent event (stream_options
// .continuous_usage_stats); -1 when it has none. A scan, not a parse: the client's share of the
// two cores stays small, as a gRPC client's does.
int64_t CompletionTokensSoFar(absl::string_view event) {
  constexpr absl::string_view kKey = "\"completion_tokens\":";
  const size_t at = event.find(kKey);
  if (at == absl::string_view::npos) return -1;
  int64_t n = 0;
  for (size_t i = at + kKey.size(); i < event.size() && event[i] >= '0' && event[i] <= '9'; ++i) {
    n = n * 10 + (event[i] - '0');
  }
  return n;
}

// HTTP clients of one load: streaming POST /v1/completions, one keep-alive connection each.
class HttpLoad {
 public:
  HttpLoad(const Options& o, const std::string& host, int port, int clients) : o_(o) {
    for (int i = 0; i < clients; ++i) {
      connections_.push_back(std::make_unique<httplib::Client>(host, port));
      connections_.back()->set_keep_alive(true);
      // cpp-httplib writes a request's headers and body separately: with Nagle's algorithm the
      // body would wait for the server's delayed acknowledgement of the headers (up to 40 ms).
      connections_.back()->set_tcp_nodelay(true);
      connections_.back()->set_read_timeout(600, 0);
    }
  }

  void Run(int index, int round, Trace& trace) const {
    const Json body = {{"prompt", kPrompt},
                       {"max_tokens", o_.tokens},
                       {"seed", Seed(index, round)},
                       {"ignore_eos", true},  // every client gets exactly o.tokens tokens
                       {"stream", true},
                       {"stream_options", {{"continuous_usage_stats", true}}}};
    httplib::Request request;
    request.method = "POST";
    request.path = "/v1/completions";
    if (!o_.api_key.empty()) request.headers.emplace("Authorization", "Bearer " + o_.api_key);
    request.headers.emplace("Content-Type", "application/json");
    request.body = body.dump();
    std::string pending;
    int64_t delivered = 0;
    request.content_receiver = [&](const char* data, size_t length, uint64_t, uint64_t) {
      pending.append(data, length);
      size_t end = 0;
      while ((end = pending.find("\n\n")) != std::string::npos) {
        const int64_t so_far = CompletionTokensSoFar(absl::string_view(pending.data(), end));
        if (so_far > delivered) {
          trace.Deliver(so_far - delivered);
          delivered = so_far;
        }
        pending.erase(0, end + 2);
      }
      return true;
    };
    httplib::Result result = connections_[static_cast<size_t>(index)]->send(request);
    if (!result) {
      trace.status = absl::UnavailableError(httplib::to_string(result.error()));
    } else if (result->status != 200) {
      trace.status = absl::UnknownError(absl::StrCat("HTTP ", result->status, ": ", pending));
    }
  }

 private:
  const Options& o_;
  std::vector<std::unique_ptr<httplib::Client>> connections_;
};

// The service's loads of each mode asked for: stateless gRPC, HTTP (when `http_address` is set),
// session-bound gRPC.
struct ServiceResults {
  std::vector<LoadResult> grpc, http, sessions;
};

// The service: for each client count, the modes in turn round by round, after one unmeasured
// warm-up round each (every connection established and one request through).
absl::Status MeasureService(const Options& o, const std::string& address,
                            const std::string& http_address, v1::ModelInfo* model,
                            ServiceResults* results) {
  {
    auto models = v1::ModelService::NewStub(GrpcLoad::Channel(address));
    grpc::ClientContext context;
    if (!o.api_key.empty()) context.AddMetadata("authorization", "Bearer " + o.api_key);
    const grpc::Status status = models->GetModelInfo(&context, v1::GetModelInfoRequest(), model);
    if (!status.ok()) {
      return absl::UnavailableError(
          absl::StrCat("GetModelInfo on ", address, ": ", status.error_message()));
    }
  }
  std::string http_host;
  int http_port = 0;
  if (!http_address.empty()) {
    const size_t colon = http_address.rfind(':');
    if (colon == std::string::npos ||
        !absl::SimpleAtoi(http_address.substr(colon + 1), &http_port)) {
      return absl::InvalidArgumentError("--http-server must be host:port");
    }
    http_host = http_address.substr(0, colon);
  }
  for (int clients : o.clients) {
    const GrpcLoad grpc_load(o, address, clients);
    std::optional<HttpLoad> http_load;
    std::unique_ptr<SessionLoad> session_load;
    std::vector<Client> modes;
    std::vector<std::vector<LoadResult>*> outputs;
    if (o.Has("grpc")) {
      modes.push_back(
          [&](int index, int round, Trace& trace) { grpc_load.Run(index, round, trace); });
      outputs.push_back(&results->grpc);
    }
    if (http_port > 0 && o.Has("http")) {
      http_load.emplace(o, http_host, http_port, clients);
      modes.push_back(
          [&](int index, int round, Trace& trace) { http_load->Run(index, round, trace); });
      outputs.push_back(&results->http);
    }
    if (o.Has("sessions")) {
      JAMBA_ASSIGN_OR_RETURN(session_load, SessionLoad::Create(o, address, clients));
      modes.push_back(
          [&](int index, int round, Trace& trace) { session_load->Run(index, round, trace); });
      outputs.push_back(&results->sessions);
    }
    for (const Client& mode : modes) {
      RunLoad(clients, 1, [&](int index, int, Trace& trace) { mode(index, 1 << 20, trace); });
    }
    std::vector<LoadResult> measured = RunLoads(clients, o.rounds, modes);
    for (size_t m = 0; m < measured.size(); ++m) outputs[m]->push_back(measured[m]);
  }
  return absl::OkStatus();
}

// In-process: the same requests through jamba::Engine::Generate on as many threads.
absl::StatusOr<std::vector<LoadResult>> MeasureEngine(const Options& o, ModelInfo* info) {
  EngineOptions options;  // jambad's defaults are the Engine's (max_running_requests 32, ...)
  options.threads = o.threads;
  JAMBA_ASSIGN_OR_RETURN(std::unique_ptr<Engine> engine, Engine::Open(o.model, options));
  *info = engine->model_info();
  std::vector<LoadResult> results;
  for (int clients : o.clients) {
    auto run = [&](int index, int round, Trace& trace) {
      GenerateOptions generate;
      generate.stop.max_tokens = o.tokens;
      generate.stop.ignore_eos = true;
      generate.sampling.seed = Seed(index, round);
      auto result = engine->Generate(Input::Text(kPrompt), generate, [&](const GenerateChunk& c) {
        trace.Deliver(static_cast<int64_t>(c.tokens.size()));
        return true;
      });
      if (!result.ok()) trace.status = result.status();
    };
    RunLoad(clients, 1, [&](int index, int, Trace& trace) { run(index, 1 << 20, trace); });
    results.push_back(RunLoad(clients, o.rounds, run));
  }
  return results;
}

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) return line.substr(colon + 2);
    }
  }
  return "unknown";
}

void PrintRows(const std::string& mode, const std::vector<LoadResult>& results) {
  for (const LoadResult& r : results) {
    std::cout << absl::StrFormat(
        "%-8s %7d %8d %10.1f %10.1f %10.1f %9.2f %9.2f%s\n", mode, r.clients, r.tokens,
        r.tokens_per_second, r.ttft_p50 * 1e3, r.ttft_p99 * 1e3, r.itl_p50 * 1e3, r.itl_p99 * 1e3,
        r.failures > 0 ? absl::StrCat("  ", r.failures, " failed: ", r.first_error) : "");
  }
}

// Aggregate tokens/s at the most clients over that at the fewest.
double BatchingGain(const std::vector<LoadResult>& results) {
  if (results.size() < 2 || results.front().tokens_per_second <= 0) return 0;
  return results.back().tokens_per_second / results.front().tokens_per_second;
}

Json ToJson(const std::vector<LoadResult>& results) {
  Json rows = Json::array();
  for (const LoadResult& r : results) {
    rows.push_back({{"clients", r.clients},
                    {"tokens", r.tokens},
                    {"seconds", r.seconds},
                    {"tokens_per_second", r.tokens_per_second},
                    {"ttft_p50_ms", r.ttft_p50 * 1e3},
                    {"ttft_p99_ms", r.ttft_p99 * 1e3},
                    {"inter_token_p50_ms", r.itl_p50 * 1e3},
                    {"inter_token_p99_ms", r.itl_p99 * 1e3},
                    {"failures", r.failures}});
  }
  return {{"loads", rows}, {"batching_gain", BatchingGain(results)}};
}

// The 1-minute load average: how much else was running on the machine (figures from a shared
// machine are only comparable within one run).
double LoadAverage() {
  double load[1] = {0};
  return ::getloadavg(load, 1) == 1 ? load[0] : -1;
}

absl::Status Run(Options o) {
  std::sort(o.clients.begin(), o.clients.end());
  const double load_before = LoadAverage();
  // The service first, then the Engine in this process: never both loaded and competing.
  v1::ModelInfo served_model;
  ServiceResults results;
  std::string address = o.server;
  std::string http_address = o.http_server;
  {
    std::unique_ptr<Jambad> jambad;
    if (address.empty()) {
      JAMBA_ASSIGN_OR_RETURN(jambad, Jambad::Start(o));
      address = jambad->address();
      http_address = jambad->http_address();
    }
    JAMBA_RETURN_IF_ERROR(MeasureService(o, address, http_address, &served_model, &results));
  }
  const std::vector<LoadResult>& service = results.grpc;
  const std::vector<LoadResult>& http = results.http;
  ModelInfo info;
  std::vector<LoadResult> engine;
  if (o.Has("engine")) {
    JAMBA_ASSIGN_OR_RETURN(engine, MeasureEngine(o, &info));
  } else {
    // As the service describes it (the model may not even be on this machine).
    info.total_parameters = served_model.architecture().parameters_total();
    info.num_layers = served_model.architecture().num_layers();
    info.backend = served_model.backend().device();
    info.fingerprint = served_model.fingerprint();
  }
  const std::string& model_id = served_model.model_id();

  const double load_after = LoadAverage();
  const int threads =
      o.threads > 0 ? o.threads : static_cast<int>(std::thread::hardware_concurrency());
  std::cout << absl::StrFormat(
      "model %s: %.1fM parameters, %d layers, backend %s, %d threads; %d tokens per client from "
      "\"%s\"; service at %s (HTTP %s)%s; %d round(s); load average %.2f before, %.2f after\n",
      o.model, info.total_parameters / 1e6, info.num_layers, info.backend, threads, o.tokens,
      kPrompt, address, http_address.empty() || !o.Has("http") ? "not measured" : http_address,
      o.server.empty() ? " (started here)" : "", o.rounds, load_before, load_after);
  std::cout << absl::StrFormat("%-8s %7s %8s %10s %10s %10s %9s %9s\n", "mode", "clients", "tokens",
                               "tok/s", "ttft p50", "ttft p99", "itl p50", "itl p99");
  PrintRows("service", service);
  PrintRows("http", http);
  PrintRows("sessions", results.sessions);
  PrintRows("engine", engine);
  std::cout << absl::StrFormat(
      "batching gain (tok/s at %d clients over %d): service %.2fx, http %.2fx, sessions %.2fx, "
      "engine %.2fx\n"
      "times in ms; ttft: request start to the first token; itl: between token deliveries, per "
      "token. service: loopback gRPC, one connection per client; http: the same jambad's "
      "OpenAI-compatible API, streaming /v1/completions (SSE) on one keep-alive connection per "
      "client; sessions: gRPC, each client a committed turn on a session of its own "
      "(x-jamba-session); engine: threads calling Engine::Generate in-process.\n",
      o.clients.back(), o.clients.front(), BatchingGain(service), BatchingGain(http),
      BatchingGain(results.sessions), BatchingGain(engine));

  if (!o.json.empty()) {
    struct utsname un = {};
    ::uname(&un);
    const Json out = {
        {"benchmark", "service_load"},
        {"time", absl::FormatTime(absl::RFC3339_sec, absl::Now(), absl::UTCTimeZone())},
        {"machine",
         {{"cpu", CpuModel()},
          {"hardware_threads", std::thread::hardware_concurrency()},
          {"threads", o.threads},
          {"os", absl::StrCat(un.sysname, " ", un.release)},
          {"load_average_before", load_before},
          {"load_average_after", load_after},
          {"backend", info.backend}}},
        {"model",
         {{"dir", o.model},
          {"id", model_id},
          {"fingerprint", info.fingerprint},
          {"total_parameters", info.total_parameters},
          {"layers", info.num_layers}}},
        {"prompt", kPrompt},
        {"tokens_per_client", o.tokens},
        {"rounds", o.rounds},
        {"server", o.server.empty() ? "started by service_load" : o.server},
        {"http_server", o.server.empty() ? "the same jambad" : o.http_server},
        {"modes", o.modes},
        {"service", ToJson(service)},
        {"http", ToJson(http)},
        {"sessions", ToJson(results.sessions)},
        {"engine", ToJson(engine)}};
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
  // A server that goes away mid-run must not kill the benchmark with SIGPIPE.
  signal(SIGPIPE, SIG_IGN);
  absl::StatusOr<jamba::bench::Options> options = jamba::bench::ParseOptions(argc, argv);
  if (!options.ok()) {
    std::cerr << options.status().message() << "\n";
    return 2;
  }
  if (absl::Status status = jamba::bench::Run(*options); !status.ok()) {
    std::cerr << "service_load: " << status.message() << "\n";
    return 1;
  }
  return 0;
}
