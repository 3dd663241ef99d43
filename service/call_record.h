// What every call jambad serves shares, whatever its transport (gRPC or the OpenAI-compatible HTTP
// API): the services' dependencies (ServiceContext), the bookkeeping of one call (CallRecord:
// request id, admission, authentication, one log line and the metrics when it ends), the in-flight
// count that graceful drain waits on (CallTracker), the per-session guard that makes a second
// concurrent change of a session ABORTED (SessionLocks), and the engine-error annotations. Nothing
// here knows a transport: each one describes its call with a CallOrigin.
#ifndef JAMBA_SERVICE_CALL_RECORD_H_
#define JAMBA_SERVICE_CALL_RECORD_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "jamba/engine.h"
#include "service/auth.h"
#include "service/logging.h"
#include "service/metrics.h"
#include "service/validation.h"
#include "service/worker_pool.h"

namespace jamba::service {

// Counts the calls in progress and says whether the server drains. Thread-safe.
class CallTracker {
 public:
  void Begin();
  void End();
  void StartDraining();
  bool draining() const;
  int64_t in_flight() const;
  // Waits until no call is in flight or `deadline` passes; true when none is left.
  bool WaitIdle(absl::Time deadline) const;

 private:
  mutable absl::Mutex mu_;
  int64_t in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
};

// At most one change (append, committing generation, rewind, delete) per session at a time:
// the SDK would queue a second one behind the first, while the API answers ABORTED
// (SESSION_BUSY) so a client never waits on someone else's long ingest.
class SessionLocks {
 public:
  class Lease {
   public:
    Lease() = default;
    Lease(Lease&& other) noexcept { *this = std::move(other); }
    Lease& operator=(Lease&& other) noexcept;
    ~Lease() { Release(); }
    void Release();

   private:
    friend class SessionLocks;
    Lease(SessionLocks* locks, std::pair<std::string, std::string> key)
        : locks_(locks), key_(std::move(key)) {}
    SessionLocks* locks_ = nullptr;
    std::pair<std::string, std::string> key_;
  };

  // ABORTED (SESSION_BUSY, with the session's ResourceInfo) when another change holds it.
  absl::StatusOr<Lease> TryAcquire(const std::string& tenant, const std::string& session_id);

 private:
  absl::Mutex mu_;
  absl::flat_hash_set<std::pair<std::string, std::string>> held_ ABSL_GUARDED_BY(mu_);
};

// Token bytes and text of the whole vocabulary, for TokenLogprob candidates (built once).
struct TokenTable {
  std::vector<std::string> bytes;  // exact bytes ("▁" read as a space, <0xAB> as that byte)
  std::vector<std::string> text;   // `bytes`, with invalid UTF-8 replaced by U+FFFD
};
TokenTable BuildTokenTable(const Engine& engine);

// The services' dependencies, owned by the server; every pointer outlives the services.
struct ServiceContext {
  Engine* engine = nullptr;
  const Authenticator* auth = nullptr;
  Metrics* metrics = nullptr;
  const Logger* logger = nullptr;
  WorkerPool* stream_pool = nullptr;   // Generate, AppendToSession, HTTP completions
  WorkerPool* session_pool = nullptr;  // unary session methods
  CallTracker* calls = nullptr;
  SessionLocks* session_locks = nullptr;
  const TokenTable* tokens = nullptr;
  RequestLimits limits;
  std::string model_id;
  bool sessions_enabled = false;
  absl::Duration retry_delay = absl::Seconds(1);
  absl::Duration commit_margin = absl::Milliseconds(100);
  // Server-side paths (session and model directories) that error messages must not show to
  // clients: replaced with their key name, "<session_dir>", in CallRecord::Finish.
  std::vector<std::pair<std::string, std::string>> private_paths;
};

// What a transport knows about a call when it starts.
struct CallOrigin {
  std::optional<std::string> request_id;     // the client's x-request-id, when it sent one
  std::optional<std::string> authorization;  // its `authorization` value, when it sent one
  absl::Time deadline = absl::InfiniteFuture();
};

// One call's bookkeeping. Created when the call starts; its destructor (when the transport is done
// with the call) writes the request log line and counts the call. Setters may be called from a
// worker thread.
class CallRecord {
 public:
  CallRecord(const ServiceContext& ctx, absl::string_view method, CallOrigin origin);
  ~CallRecord();
  CallRecord(const CallRecord&) = delete;
  CallRecord& operator=(const CallRecord&) = delete;

  // UNAVAILABLE while draining; otherwise authenticates and remembers the tenant.
  absl::Status Admit();
  const std::string& tenant() const { return tenant_; }
  const std::string& request_id() const { return request_id_; }
  const std::string& method() const { return method_; }
  std::chrono::steady_clock::time_point start() const { return start_; }
  // The client's deadline (InfiniteFuture when it set none).
  absl::Time deadline() const { return deadline_; }
  void SetTokens(int64_t in, int64_t out);
  // Counts the bytes of a request message received; a call that received a large request gives
  // the allocator's free memory back to the system when it ends.
  void AddRequestBytes(int64_t bytes) { request_bytes_ += bytes; }

  // Records the status the call ends with (its code and reason for the log line and the metrics,
  // the full message of a server-side error for the log) and returns it as the client may see
  // it: server paths replaced by their key names. The transport maps that one to its own form.
  absl::Status Finish(const absl::Status& status);

 private:
  const ServiceContext& ctx_;
  const std::string method_;
  const std::chrono::steady_clock::time_point start_;
  const absl::Time deadline_;
  std::string request_id_;
  std::optional<std::string> authorization_;  // until Admit
  std::string tenant_;                        // set by Admit before any other thread sees the call
  std::atomic<int64_t> request_bytes_ = 0;

  absl::Mutex mu_;
  int64_t tokens_in_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t tokens_out_ ABSL_GUARDED_BY(mu_) = 0;
  std::string code_ ABSL_GUARDED_BY(mu_) = "UNKNOWN";
  std::string reason_ ABSL_GUARDED_BY(mu_);
  std::string error_ ABSL_GUARDED_BY(mu_);  // the full message of a server-side error, for the log
};

// Engine errors with the details the API promises: the session's ResourceInfo for NOT_FOUND,
// FAILED_PRECONDITION, DATA_LOSS; QUEUE_FULL with RetryInfo for a full engine queue, a
// QuotaFailure for the session store's quota; a BadRequest naming `field` for INVALID_ARGUMENT.
struct EngineErrorContext {
  std::string session_name;  // "" when no session is involved
  std::string field;         // the request field an INVALID_ARGUMENT is about
  absl::Duration retry_delay = absl::Seconds(1);
};
absl::Status AnnotateEngineError(absl::Status status, const EngineErrorContext& context);

}  // namespace jamba::service

#endif  // JAMBA_SERVICE_CALL_RECORD_H_
