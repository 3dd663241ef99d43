// ReplicaSet, LeaseOwner and SessionClient (replica_set.h).
#include "tests/integration/replica_set.h"

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "sdk/store/session_files.h"
#include "sdk/store/session_lease.h"
#include "tests/util/test_util.h"

namespace jamba::testing {
namespace {

grpc::Status Unavailable(const std::string& message) {
  return grpc::Status(grpc::StatusCode::UNAVAILABLE, message);
}

absl::Status ToAbsl(const grpc::Status& status, const std::string& what) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      absl::StrCat(what, ": ", status.error_message()));
}

}  // namespace

absl::StatusOr<std::unique_ptr<ReplicaSet>> ReplicaSet::Start(const ReplicaSetOptions& options) {
  auto set = std::make_unique<ReplicaSet>();
  set->options_ = options;
  set->session_dir_ = options.session_dir;
  if (set->session_dir_.empty()) {
    set->dir_ = std::make_unique<TempDir>();
    set->session_dir_ = set->dir_->File("sessions");
  }
  set->replicas_.resize(static_cast<size_t>(options.replicas));
  std::vector<int> grpc_ports;
  std::vector<int> http_ports;
  for (Replica& replica : set->replicas_) {
    replica.grpc_port = FreePort();
    replica.http_port = FreePort();
    grpc_ports.push_back(replica.grpc_port);
    http_ports.push_back(replica.http_port);
  }
  for (int i = 0; i < options.replicas; ++i) {
    if (absl::Status started = set->StartReplica(i); !started.ok()) return started;
  }
  if (options.nginx) {
    set->nginx_grpc_port_ = FreePort();
    set->nginx_http_port_ = FreePort();
    absl::StatusOr<std::string> conf =
        ShippedConfigFor(grpc_ports, http_ports, set->nginx_grpc_port_, set->nginx_http_port_);
    if (!conf.ok()) return conf.status();
    absl::StatusOr<std::unique_ptr<Nginx>> nginx =
        Nginx::Start(*conf, {set->nginx_grpc_port_, set->nginx_http_port_});
    if (!nginx.ok()) return nginx.status();
    set->nginx_ = *std::move(nginx);
  }
  return set;
}

ReplicaSet::~ReplicaSet() {
  nginx_.reset();
  for (Replica& replica : replicas_) replica.process.reset();  // SIGKILL, then reaped
}

absl::Status ReplicaSet::StartReplica(int i) {
  Replica& replica = replicas_[static_cast<size_t>(i)];
  // A new id per process, as jambad's default (hostname:pid:random) and a restarted Kubernetes
  // pod have: the sessions of a killed process are taken over through its lease, never
  // recognised as this process's own.
  replica.id = absl::StrCat("replica-", i, "-", replica.incarnation++);
  std::vector<std::string> flags = {
      "--listen",
      absl::StrCat("127.0.0.1:", replica.grpc_port),
      "--http-listen",
      absl::StrCat("127.0.0.1:", replica.http_port),
      "--session-lease-ttl",
      absl::StrCat(absl::ToInt64Milliseconds(options_.lease_ttl), "ms"),
      "--replica-id",
      replica.id};
  flags.insert(flags.end(), options_.flags.begin(), options_.flags.end());
  // The port of a process just killed can take a moment to be free again.
  absl::Status last;
  for (int attempt = 0; attempt < 50; ++attempt) {
    auto process = JambadProcess::Start(
        {.model_dir = options_.model_dir, .session_dir = session_dir_, .flags = flags});
    if (process.ok()) {
      replica.process = *std::move(process);
      return absl::OkStatus();
    }
    last = process.status();
    absl::SleepFor(absl::Milliseconds(100));
  }
  return last;
}

std::string ReplicaSet::Logs() const {
  std::string logs;
  for (const auto& [id, process] : stopped_)
    absl::StrAppend(&logs, "== ", id, "\n", process->Log());
  for (const Replica& replica : replicas_) {
    if (replica.process != nullptr)
      absl::StrAppend(&logs, "== ", replica.id, "\n", replica.process->Log());
  }
  return logs;
}

std::string ReplicaSet::address() const {
  return nginx_ == nullptr ? "" : absl::StrCat("127.0.0.1:", nginx_grpc_port_);
}

std::string ReplicaSet::replica_address(int i) const {
  return absl::StrCat("127.0.0.1:", replicas_[static_cast<size_t>(i)].grpc_port);
}

int ReplicaSet::IndexOf(const std::string& replica_id) const {
  for (size_t i = 0; i < replicas_.size(); ++i) {
    if (replicas_[i].id == replica_id && replicas_[i].process != nullptr)
      return static_cast<int>(i);
  }
  return -1;
}

int ReplicaSet::Stop(int i, int signal) {
  Replica& replica = replicas_[static_cast<size_t>(i)];
  if (replica.process == nullptr) return -1;
  replica.process->Signal(signal);
  if (signal != SIGKILL && signal != SIGTERM) return 0;
  const int code = replica.process->Wait();
  stopped_.emplace_back(replica.id, std::move(replica.process));
  return code;
}

absl::Status ReplicaSet::Restart(int i) {
  if (replicas_[static_cast<size_t>(i)].process != nullptr) {
    return absl::FailedPreconditionError(absl::StrCat("replica ", i, " is running"));
  }
  return StartReplica(i);
}

std::optional<std::string> LeaseOwner(const std::string& session_dir, const std::string& id) {
  const std::string dir = session_dir + "/tenants/default/sessions/" + id;
  // A lease file can be replaced between the listing and the read: list again.
  for (int attempt = 0; attempt < 10; ++attempt) {
    absl::StatusOr<sdk::SessionDirListing> listing = sdk::ListSessionDir(dir);
    if (!listing.ok() || listing->current_lease() == 0) return std::nullopt;
    const std::string name = sdk::LeaseFileName(listing->current_lease());
    const std::string bytes = ReadFile(dir + "/" + name);  // "" when it is gone
    absl::StatusOr<sdk::LeaseRecord> lease = sdk::DecodeLease(bytes, std::nullopt, name);
    if (!lease.ok()) continue;
    if (lease->released()) return std::nullopt;
    return lease->owner;
  }
  return std::nullopt;
}

std::shared_ptr<grpc::Channel> OwnChannel(const std::string& address) {
  grpc::ChannelArguments arguments;
  arguments.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), arguments);
}

SessionClient::SessionClient(std::shared_ptr<grpc::Channel> channel, std::string id,
                             absl::Duration call_timeout)
    : sessions_(v1::SessionService::NewStub(channel)),
      generation_(v1::GenerationService::NewStub(channel)),
      id_(std::move(id)),
      call_timeout_(call_timeout) {}

void SessionClient::Route(grpc::ClientContext& context) const {
  context.AddMetadata("x-jamba-session", id_);
  context.set_deadline(std::chrono::system_clock::now() +
                       absl::ToChronoMilliseconds(call_timeout_));
}

bool SessionClient::WaitIfRetryable(const grpc::Status& status, absl::Time give_up) {
  if (status.error_code() != grpc::StatusCode::UNAVAILABLE) return false;
  std::optional<google::rpc::RetryInfo> retry = RetryInfo(status);
  if (!retry.has_value()) return false;
  const absl::Duration delay = absl::Seconds(retry->retry_delay().seconds()) +
                               absl::Nanoseconds(retry->retry_delay().nanos());
  if (absl::Now() + delay > give_up) return false;
  absl::SleepFor(delay);
  return true;
}

absl::StatusOr<v1::Session> SessionClient::Get(absl::Time give_up) {
  for (;;) {
    grpc::ClientContext context;
    Route(context);
    v1::GetSessionRequest request;
    request.set_name("sessions/" + id_);
    v1::Session session;
    const grpc::Status status = sessions_->GetSession(&context, request, &session);
    if (status.ok()) return session;
    // A read changes nothing: any failure is retried (a replica dying, nginx finding none).
    if (absl::Now() > give_up || status.error_code() == grpc::StatusCode::NOT_FOUND) {
      return ToAbsl(status, "GetSession " + id_);
    }
    if (!WaitIfRetryable(status, give_up)) absl::SleepFor(absl::Milliseconds(50));
  }
}

absl::Status SessionClient::Create() {
  const absl::Time give_up = absl::Now() + absl::Seconds(60);
  for (;;) {
    grpc::ClientContext context;
    Route(context);
    v1::CreateSessionRequest request;
    request.set_session_id(id_);
    v1::Session session;
    const grpc::Status status = sessions_->CreateSession(&context, request, &session);
    if (status.ok()) {
      token_count_ = session.token_count();
      etag_ = session.etag();
      ++counts_.ok;
      return absl::OkStatus();
    }
    if (status.error_code() == grpc::StatusCode::ALREADY_EXISTS) {
      // An earlier attempt of this client created it, and its answer was lost.
      absl::StatusOr<v1::Session> created = Get(give_up);
      if (!created.ok()) return created.status();
      token_count_ = created->token_count();
      etag_ = created->etag();
      ++counts_.found_committed;
      return absl::OkStatus();
    }
    if (absl::Now() > give_up) return ToAbsl(status, "CreateSession " + id_);
    if (!WaitIfRetryable(status, give_up)) absl::SleepFor(absl::Milliseconds(50));
  }
}

absl::StatusOr<bool> SessionClient::Committed(int64_t after, absl::Time give_up) {
  ++counts_.unclear;
  absl::StatusOr<v1::Session> session = Get(give_up);
  if (!session.ok()) return session.status();
  if (session->token_count() == after) {
    ++counts_.found_committed;
    token_count_ = after;
    etag_ = session->etag();
    return true;
  }
  if (session->token_count() == token_count_) {
    ++counts_.resent;
    etag_ = session->etag();
    return false;
  }
  return absl::DataLossError(
      absl::StrCat("session ", id_, " has ", session->token_count(), " tokens: neither the ",
                   token_count_, " acknowledged nor the ", after, " of the call that failed"));
}

absl::Status SessionClient::Append(const std::vector<int32_t>& tokens, absl::Time give_up) {
  const int64_t after = token_count_ + static_cast<int64_t>(tokens.size());
  for (;;) {
    grpc::ClientContext context;
    Route(context);
    if (appending_ != nullptr) *appending_ = true;
    auto stream = sessions_->AppendToSession(&context);
    v1::AppendToSessionRequest config;
    config.mutable_config()->set_session("sessions/" + id_);
    config.mutable_config()->set_etag(etag_);
    v1::AppendToSessionRequest chunk;
    for (int32_t t : tokens) chunk.mutable_token_ids()->add_ids(t);
    stream->Write(config);
    stream->Write(chunk);
    stream->WritesDone();
    v1::AppendToSessionResponse response;
    std::optional<v1::Session> session;
    while (stream->Read(&response)) {
      if (response.has_session()) session = response.session();
    }
    grpc::Status status = stream->Finish();
    if (appending_ != nullptr) *appending_ = false;
    if (status.ok() && !session.has_value()) status = Unavailable("no session in the answer");
    if (status.ok()) {
      if (session->token_count() != after) {
        return absl::DataLossError(absl::StrCat("append to ", id_, " answered ",
                                                session->token_count(), " tokens, not ", after));
      }
      token_count_ = after;
      etag_ = session->etag();
      ++counts_.ok;
      return absl::OkStatus();
    }
    if (absl::Now() > give_up) return ToAbsl(status, "AppendToSession " + id_);
    if (WaitIfRetryable(status, give_up)) {
      ++counts_.retried_after;
      continue;
    }
    absl::StatusOr<bool> committed = Committed(after, give_up);
    if (!committed.ok()) return committed.status();
    if (*committed) return absl::OkStatus();
  }
}

absl::StatusOr<std::optional<std::vector<int32_t>>> SessionClient::Turn(int max_tokens,
                                                                        uint64_t seed,
                                                                        absl::Time give_up) {
  const int64_t after = token_count_ + max_tokens;
  for (;;) {
    v1::GenerateRequest request;
    request.mutable_session()->set_session("sessions/" + id_);
    request.mutable_session()->set_commit(true);
    request.mutable_session()->set_etag(etag_);
    request.set_max_tokens(max_tokens);
    request.mutable_sampling()->set_temperature(0.8f);
    request.mutable_sampling()->set_seed(seed);
    request.mutable_stop()->set_ignore_eos(true);
    grpc::ClientContext context;
    Route(context);
    auto reader = generation_->Generate(&context, request);
    v1::GenerateResponse response;
    std::vector<int32_t> tokens;
    std::optional<v1::Session> session;
    while (reader->Read(&response)) {
      tokens.insert(tokens.end(), response.token_ids().begin(), response.token_ids().end());
      if (response.has_session()) session = response.session();
    }
    grpc::Status status = reader->Finish();
    if (status.ok() && !session.has_value()) status = Unavailable("no session in the answer");
    if (status.ok()) {
      if (session->token_count() != after || static_cast<int>(tokens.size()) != max_tokens) {
        return absl::DataLossError(absl::StrCat("turn on ", id_, " answered ", tokens.size(),
                                                " tokens and a session of ", session->token_count(),
                                                ", not ", after));
      }
      token_count_ = after;
      etag_ = session->etag();
      ++counts_.ok;
      return std::optional<std::vector<int32_t>>(std::move(tokens));
    }
    if (absl::Now() > give_up) return ToAbsl(status, "Generate " + id_);
    if (WaitIfRetryable(status, give_up)) {
      ++counts_.retried_after;
      continue;
    }
    absl::StatusOr<bool> committed = Committed(after, give_up);
    if (!committed.ok()) return committed.status();
    if (*committed) return std::optional<std::vector<int32_t>>();
  }
}

absl::StatusOr<std::vector<int32_t>> SessionClient::Continuation(int max_tokens, uint64_t seed,
                                                                 absl::Time give_up) {
  for (;;) {
    v1::GenerateRequest request;
    request.mutable_session()->set_session("sessions/" + id_);
    request.set_max_tokens(max_tokens);
    request.mutable_sampling()->set_temperature(0.8f);
    request.mutable_sampling()->set_seed(seed);
    request.mutable_stop()->set_ignore_eos(true);
    grpc::ClientContext context;
    Route(context);
    auto reader = generation_->Generate(&context, request);
    v1::GenerateResponse response;
    std::vector<int32_t> tokens;
    while (reader->Read(&response)) {
      tokens.insert(tokens.end(), response.token_ids().begin(), response.token_ids().end());
    }
    const grpc::Status status = reader->Finish();
    if (status.ok()) return tokens;
    // Nothing is committed: any failure before the end can be retried.
    if (absl::Now() > give_up) return ToAbsl(status, "Generate " + id_);
    if (!WaitIfRetryable(status, give_up)) absl::SleepFor(absl::Milliseconds(50));
  }
}

}  // namespace jamba::testing
