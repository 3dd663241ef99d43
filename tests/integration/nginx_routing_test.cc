// deploy/nginx/jambad.conf as shipped, run by Debian's nginx on loopback in front of three jambad
// processes (demo model), each with its own session directory: a session exists on exactly one
// replica, so a call routed to any other fails with NOT_FOUND, and where a session was created
// shows where its name is routed. Checks that calls carrying x-jamba-session (both spellings,
// "ID" and "sessions/ID") always reach the same replica, that sessions spread over the replicas,
// that calls without the header spread too, that the HTTP API's X-Jamba-Session header is routed
// the same way, and that when a replica is SIGKILLed its sessions go to the surviving replicas
// while every other session stays where it was (consistent hashing); with no replica left, a call
// gets UNAVAILABLE from nginx itself.
//
// Only the addresses change: the upstream `server` lines (their parameters kept) and the listen
// ports; tests/deploy/check-nginx writes the main config around it (temp prefix, current user).
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/http_client.h"
#include "tests/integration/jambad_process.h"
#include "tests/integration/nginx_process.h"
#include "tests/util/subprocess.h"

namespace jamba::testing {
namespace {

constexpr int kReplicas = 3;
constexpr int kSessions = 12;

class NginxRoutingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (access(kNginxBinary, X_OK) != 0) {
      FAIL() << "/usr/sbin/nginx is missing: scripts/install-deps installs Debian's nginx";
    }
    std::vector<int> grpc_ports;
    std::vector<int> http_ports;
    for (int i = 0; i < kReplicas; ++i) {
      auto replica = JambadProcess::Start({.model_dir = DemoModelDir()});
      ASSERT_TRUE(replica.ok()) << replica.status();
      grpc_ports.push_back((*replica)->port());
      http_ports.push_back((*replica)->http_port());
      replicas_.push_back(*std::move(replica));
    }
    grpc_port_ = FreePort();
    http_port_ = FreePort();
    absl::StatusOr<std::string> conf =
        ShippedConfigFor(grpc_ports, http_ports, grpc_port_, http_port_);
    ASSERT_TRUE(conf.ok()) << conf.status();
    auto nginx = Nginx::Start(*conf, {grpc_port_, http_port_});
    ASSERT_TRUE(nginx.ok()) << nginx.status();
    nginx_ = *std::move(nginx);
    grpc::ChannelArguments arguments;
    arguments.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    auto channel = grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", grpc_port_),
                                             grpc::InsecureChannelCredentials(), arguments);
    sessions_ = v1::SessionService::NewStub(channel);
    generation_ = v1::GenerationService::NewStub(channel);
  }

  void TearDown() override {
    if (HasFailure() && nginx_ != nullptr) {
      std::cerr << "nginx error log:\n"
                << nginx_->ErrorLog() << "\ngRPC access log:\n"
                << nginx_->AccessLog("jambad-grpc.log");
    }
  }

  static void Route(grpc::ClientContext& context, const std::string& session) {
    context.AddMetadata("x-jamba-session", session);
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  }

  grpc::Status Create(const std::string& id, const std::string& routing_header) {
    grpc::ClientContext context;
    Route(context, routing_header);
    v1::CreateSessionRequest request;
    request.set_session_id(id);
    v1::Session session;
    return sessions_->CreateSession(&context, request, &session);
  }

  // A committed turn of a few tokens on the session, routed by `routing_header`.
  grpc::Status Turn(const std::string& id, const std::string& routing_header) {
    grpc::ClientContext context;
    if (!routing_header.empty()) Route(context, routing_header);
    v1::GenerateRequest request;
    request.mutable_session()->set_session("sessions/" + id);
    request.mutable_session()->set_text(" and then");
    request.mutable_session()->set_commit(true);
    request.set_max_tokens(3);
    request.mutable_sampling()->set_temperature(0);
    auto reader = generation_->Generate(&context, request);
    v1::GenerateResponse response;
    while (reader->Read(&response)) {
    }
    return reader->Finish();
  }

  // A stateless generation, with no routing header.
  grpc::Status Stateless() {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    v1::GenerateRequest request;
    request.set_prompt("Once upon a time");
    request.set_max_tokens(2);
    auto reader = generation_->Generate(&context, request);
    v1::GenerateResponse response;
    while (reader->Read(&response)) {
    }
    return reader->Finish();
  }

  // The replicas whose session directory holds session `id` (of the tenant "default").
  std::vector<int> Holders(const std::string& id) const {
    std::vector<int> holders;
    for (int i = 0; i < kReplicas; ++i) {
      if (std::filesystem::exists(replicas_[i]->session_dir() + "/tenants/default/sessions/" +
                                  id)) {
        holders.push_back(i);
      }
    }
    return holders;
  }

  // jambad_requests_total{method=`method`,code="OK"} of replica i (0 when absent).
  int OkCalls(int i, const std::string& method) const {
    const std::string text = replicas_[i]->HttpGet("/metrics");
    const std::regex line("jambad_requests_total\\{method=\"" + method +
                          "\",code=\"OK\"\\} (\\d+)");
    std::smatch m;
    return std::regex_search(text, m, line) ? std::stoi(m[1]) : 0;
  }

  // Creates kSessions sessions through nginx; returns each one's replica.
  std::map<std::string, int> CreateSessions() {
    std::map<std::string, int> owner;
    for (int s = 0; s < kSessions; ++s) {
      const std::string id = absl::StrCat("routed-", s);
      // Half name it as "sessions/ID", half as the bare ID: both must hash alike.
      const std::string header = s % 2 == 0 ? id : "sessions/" + id;
      grpc::Status status = Create(id, header);
      EXPECT_TRUE(status.ok()) << id << ": " << status.error_message();
      const std::vector<int> holders = Holders(id);
      EXPECT_EQ(holders.size(), 1u) << id << " is on replicas " << absl::StrJoin(holders, ",");
      if (holders.size() == 1) owner[id] = holders[0];
    }
    return owner;
  }

  std::vector<std::unique_ptr<JambadProcess>> replicas_;
  std::unique_ptr<Nginx> nginx_;
  int grpc_port_ = 0;
  int http_port_ = 0;
  std::unique_ptr<v1::SessionService::Stub> sessions_;
  std::unique_ptr<v1::GenerationService::Stub> generation_;
};

TEST_F(NginxRoutingTest, EachSessionAlwaysReachesOneReplicaAndSessionsSpread) {
  const std::map<std::string, int> owner = CreateSessions();
  ASSERT_EQ(owner.size(), static_cast<size_t>(kSessions));
  std::set<int> used;
  std::map<int, int> turns_per_replica;
  for (const auto& [id, replica] : owner) used.insert(replica);
  EXPECT_GE(used.size(), 2u) << "all " << kSessions << " sessions hashed to one replica";

  // Three turns per session, alternating the spellings: each reaches the replica that has the
  // session (anywhere else it would be NOT_FOUND), and no other replica sees a Generate.
  for (int round = 0; round < 3; ++round) {
    for (const auto& [id, replica] : owner) {
      const std::string header = round % 2 == 0 ? "sessions/" + id : id;
      grpc::Status status = Turn(id, header);
      EXPECT_TRUE(status.ok()) << id << " round " << round << ": " << status.error_code() << " "
                               << status.error_message();
      ++turns_per_replica[replica];
    }
  }
  const std::string generate = "jamba.v1.GenerationService/Generate";
  for (int i = 0; i < kReplicas; ++i) {
    EXPECT_EQ(OkCalls(i, generate), turns_per_replica[i]) << "replica " << i;
  }

  // Calls without the header are spread (nginx's hash falls back to round robin on an empty key).
  for (int call = 0; call < 6; ++call) ASSERT_TRUE(Stateless().ok());
  int replicas_with_stateless = 0;
  for (int i = 0; i < kReplicas; ++i) {
    if (OkCalls(i, generate) > turns_per_replica[i]) ++replicas_with_stateless;
  }
  EXPECT_GE(replicas_with_stateless, 2);
}

TEST_F(NginxRoutingTest, HttpApiRoutesBySessionHeader) {
  // Sessions created and continued through the HTTP API's X-Jamba-Session header: each lives on
  // one replica and every later turn reaches it (elsewhere: 404 session_not_found).
  HttpClient client(http_port_);
  std::set<int> used;
  for (int s = 0; s < 6; ++s) {
    const std::string id = absl::StrCat("http-routed-", s);
    for (int turn = 0; turn < 3; ++turn) {
      HttpHeaders headers = {{"X-Jamba-Session", turn == 1 ? "sessions/" + id : id}};
      if (turn == 0) headers.emplace("X-Jamba-Session-Create", "true");
      nlohmann::json body = {
          {"model", "demo-model"}, {"prompt", " and then"}, {"max_tokens", 2}, {"temperature", 0}};
      HttpReply reply = client.Post("/v1/completions", body, headers);
      EXPECT_EQ(reply.status, 200) << id << " turn " << turn << ": " << reply.body;
    }
    const std::vector<int> holders = Holders(id);
    ASSERT_EQ(holders.size(), 1u) << id << " is on replicas " << absl::StrJoin(holders, ",");
    used.insert(holders[0]);
  }
  EXPECT_GE(used.size(), 2u) << "all HTTP sessions hashed to one replica";
}

TEST_F(NginxRoutingTest, KilledReplicasSessionsMoveAndTheOthersStay) {
  const std::map<std::string, int> owner = CreateSessions();
  ASSERT_EQ(owner.size(), static_cast<size_t>(kSessions));
  // Kill the replica with the most sessions (it has at least kSessions / kReplicas).
  std::map<int, int> count;
  for (const auto& [id, replica] : owner) ++count[replica];
  int victim = 0;
  for (const auto& [replica, n] : count) {
    if (n > count[victim]) victim = replica;
  }
  replicas_[victim]->Signal(SIGKILL);
  replicas_[victim]->Wait();

  for (const auto& [id, replica] : owner) {
    if (replica != victim) {
      // Consistent hashing: the other replicas' sessions do not move.
      grpc::Status status = Turn(id, id);
      EXPECT_TRUE(status.ok()) << id << ": " << status.error_code() << " "
                               << status.error_message();
      continue;
    }
    // The killed replica's sessions are routed to a live replica, which does not have them
    // (separate directories here): NOT_FOUND, not a connection error. Created again, the session
    // lands on one surviving replica and stays there.
    grpc::Status moved = Turn(id, id);
    EXPECT_EQ(moved.error_code(), grpc::StatusCode::NOT_FOUND)
        << id << ": " << moved.error_message();
    ASSERT_TRUE(Create(id, id).ok()) << id;
    std::vector<int> holders = Holders(id);  // the killed replica's directory still has it
    holders.erase(std::remove(holders.begin(), holders.end(), victim), holders.end());
    ASSERT_EQ(holders.size(), 1u) << id << " is on replicas " << absl::StrJoin(holders, ",");
    for (int turn = 0; turn < 2; ++turn) {
      grpc::Status status = Turn(id, turn == 0 ? id : "sessions/" + id);
      EXPECT_TRUE(status.ok()) << id << ": " << status.error_code() << " "
                               << status.error_message();
    }
  }

  // No replica left: nginx answers a gRPC UNAVAILABLE itself (its error_page), not an HTML 502.
  for (int i = 0; i < kReplicas; ++i) {
    if (i == victim) continue;
    replicas_[i]->Signal(SIGKILL);
    replicas_[i]->Wait();
  }
  grpc::Status none = Turn(owner.begin()->first, owner.begin()->first);
  EXPECT_EQ(none.error_code(), grpc::StatusCode::UNAVAILABLE) << none.error_message();
  EXPECT_EQ(none.error_message(), "no jambad replica reachable");
}

}  // namespace
}  // namespace jamba::testing
