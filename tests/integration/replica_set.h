// Several jambad replicas sharing one session directory behind Debian's nginx (the shipped
// deploy/nginx/jambad.conf, addresses changed), as docs/scaling-out.md deploys them, for the
// failover test and bench/replicas_load: each replica on fixed loopback ports, so that one can be
// killed and started again where nginx expects it, with a new replica id each time (as a restarted
// pod gets); and a client of one session that follows the API's retry contract through nginx.
#ifndef JAMBA_TESTS_INTEGRATION_REPLICA_SET_H_
#define JAMBA_TESTS_INTEGRATION_REPLICA_SET_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "jamba/v1/generation_service.grpc.pb.h"
#include "jamba/v1/session_service.grpc.pb.h"
#include "tests/integration/jambad_process.h"
#include "tests/integration/nginx_process.h"

namespace jamba::testing {

struct ReplicaSetOptions {
  int replicas = 3;
  std::string model_dir;
  std::string session_dir;  // shared by every replica; "" -> a temporary directory
  absl::Duration lease_ttl = absl::Seconds(2);
  std::vector<std::string> flags;  // more jambad flags for every replica
  bool nginx = true;               // start nginx in front of them
};

class ReplicaSet {
 public:
  static absl::StatusOr<std::unique_ptr<ReplicaSet>> Start(const ReplicaSetOptions& options);
  ReplicaSet() = default;
  ~ReplicaSet();
  ReplicaSet(const ReplicaSet&) = delete;
  ReplicaSet& operator=(const ReplicaSet&) = delete;

  int size() const { return static_cast<int>(replicas_.size()); }
  const std::string& session_dir() const { return session_dir_; }
  // nginx's gRPC listener ("127.0.0.1:PORT"); "" without nginx.
  std::string address() const;
  Nginx* nginx() const { return nginx_.get(); }
  // Every replica process's log (stderr), the stopped ones' too, each headed by its replica id.
  std::string Logs() const;

  // Replica i: its process (null while it is down) and the replica id it runs under.
  JambadProcess* replica(int i) const { return replicas_[i].process.get(); }
  const std::string& replica_id(int i) const { return replicas_[i].id; }
  std::string replica_address(int i) const;
  // The index of the replica running under `replica_id`, or -1.
  int IndexOf(const std::string& replica_id) const;

  // Sends `signal` to replica i; SIGKILL and SIGTERM also wait for it to exit (its exit code).
  int Stop(int i, int signal);
  // Starts replica i again on its ports, under a new replica id.
  absl::Status Restart(int i);

 private:
  struct Replica {
    int grpc_port = 0;
    int http_port = 0;
    int incarnation = 0;
    std::string id;
    std::unique_ptr<JambadProcess> process;
  };
  absl::Status StartReplica(int i);

  ReplicaSetOptions options_;
  std::unique_ptr<TempDir> dir_;
  std::string session_dir_;
  std::vector<Replica> replicas_;
  std::vector<std::pair<std::string, std::unique_ptr<JambadProcess>>> stopped_;  // for Logs()
  std::unique_ptr<Nginx> nginx_;
  int nginx_grpc_port_ = 0;
  int nginx_http_port_ = 0;
};

// The current lease of a session of tenant "default" in a session directory, read from its
// files (no store is opened): the owner's replica id, or none when the session has no lease or
// its lease was released.
std::optional<std::string> LeaseOwner(const std::string& session_dir, const std::string& id);

// A gRPC channel of its own (not shared with any other channel of the process).
std::shared_ptr<grpc::Channel> OwnChannel(const std::string& address);

// How one client's calls went, counted.
struct ContractCounts {
  int64_t ok = 0;               // mutating calls answered OK
  int64_t retried_after = 0;    // UNAVAILABLE with RetryInfo: waited and sent again
  int64_t unclear = 0;          // any other failure of a mutating call: the session was re-read
  int64_t found_committed = 0;  // ... and the call had committed (its answer was lost)
  int64_t resent = 0;           // ... and it had not: sent again
};

// One session used by one client through a router (or a replica), following the API contract
// (docs/scaling-out.md): UNAVAILABLE with RetryInfo means nothing was done, so the call is sent
// again after the delay; any other failure of an append or a committing turn may or may not have
// committed, so the session is re-read and its token_count says which (every call carries the
// etag the client last saw, so a call is never applied twice). Every call carries
// x-jamba-session.
class SessionClient {
 public:
  SessionClient(std::shared_ptr<grpc::Channel> channel, std::string id,
                absl::Duration call_timeout = absl::Seconds(20));

  const std::string& id() const { return id_; }
  // Set while an AppendToSession call of this client is on the wire (for a test to pick that
  // moment), if given.
  void set_appending_flag(std::atomic<bool>* flag) { appending_ = flag; }
  int64_t token_count() const { return token_count_; }
  const ContractCounts& counts() const { return counts_; }

  // Creates the session (an ALREADY_EXISTS after an unclear failure counts as created).
  absl::Status Create();
  // Appends `tokens`, retried until it is committed once. Fails only when the session is not in
  // either state the call can leave it in (tokens lost or added twice) or `give_up` passes.
  absl::Status Append(const std::vector<int32_t>& tokens, absl::Time give_up);
  // A committed turn of exactly `max_tokens` sampled tokens (temperature 0.8, `seed`, EOS
  // ignored), retried as Append. The tokens when this client saw its answer; none when the turn
  // committed but its answer was lost.
  absl::StatusOr<std::optional<std::vector<int32_t>>> Turn(int max_tokens, uint64_t seed,
                                                           absl::Time give_up);
  // The session as the router serves it now (GetSession, retried until `give_up`).
  absl::StatusOr<v1::Session> Get(absl::Time give_up);
  // A seeded continuation that commits nothing (retried while UNAVAILABLE).
  absl::StatusOr<std::vector<int32_t>> Continuation(int max_tokens, uint64_t seed,
                                                    absl::Time give_up);

 private:
  void Route(grpc::ClientContext& context) const;
  // Re-reads the session after an unclear failure of a call that would take it from
  // token_count_ to `after`: true if it committed (adopting its etag), false if not.
  absl::StatusOr<bool> Committed(int64_t after, absl::Time give_up);
  // Waits what an UNAVAILABLE's RetryInfo says; false when the status is anything else.
  bool WaitIfRetryable(const grpc::Status& status, absl::Time give_up);

  std::unique_ptr<v1::SessionService::Stub> sessions_;
  std::unique_ptr<v1::GenerationService::Stub> generation_;
  std::string id_;
  absl::Duration call_timeout_;
  int64_t token_count_ = 0;
  std::string etag_;
  ContractCounts counts_;
  std::atomic<bool>* appending_ = nullptr;
};

}  // namespace jamba::testing

#endif  // JAMBA_TESTS_INTEGRATION_REPLICA_SET_H_
