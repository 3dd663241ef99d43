// CallTracker, SessionLocks, CallRecord and the engine-error annotations.
#include "service/call_record.h"

#include <malloc.h>

#include <random>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "service/status_mapping.h"

namespace jamba::service {
namespace {

// The canonical name of a code ("INVALID_ARGUMENT"), as gRPC spells it too: the log line and the
// metrics label a call the same way whatever its transport.
std::string CodeName(absl::StatusCode code) {
  std::string name = absl::StatusCodeToString(code);
  return name.empty() ? "UNKNOWN" : name;
}

// A client's x-request-id is kept when it is short printable ASCII; otherwise one is made.
bool UsableRequestId(absl::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

// 128 random bits from the OS: no generator state to share between threads.
std::string NewRequestId() {
  std::random_device random;
  uint32_t words[4];
  for (uint32_t& word : words) word = random();
  return absl::StrFormat("%08x%08x%08x%08x", words[0], words[1], words[2], words[3]);
}

}  // namespace

void CallTracker::Begin() {
  absl::MutexLock lock(&mu_);
  ++in_flight_;
}

void CallTracker::End() {
  absl::MutexLock lock(&mu_);
  --in_flight_;
}

void CallTracker::StartDraining() {
  absl::MutexLock lock(&mu_);
  draining_ = true;
}

bool CallTracker::draining() const {
  absl::MutexLock lock(&mu_);
  return draining_;
}

int64_t CallTracker::in_flight() const {
  absl::MutexLock lock(&mu_);
  return in_flight_;
}

bool CallTracker::WaitIdle(absl::Time deadline) const {
  absl::MutexLock lock(&mu_);
  auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return in_flight_ == 0; };
  return mu_.AwaitWithDeadline(absl::Condition(&idle), deadline);
}

SessionLocks::Lease& SessionLocks::Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    Release();
    locks_ = std::exchange(other.locks_, nullptr);
    key_ = std::move(other.key_);
  }
  return *this;
}

void SessionLocks::Lease::Release() {
  if (locks_ == nullptr) return;
  absl::MutexLock lock(&locks_->mu_);
  locks_->held_.erase(key_);
  locks_ = nullptr;
}

absl::StatusOr<SessionLocks::Lease> SessionLocks::TryAcquire(const std::string& tenant,
                                                             const std::string& session_id) {
  std::pair<std::string, std::string> key(tenant, session_id);
  absl::MutexLock lock(&mu_);
  if (!held_.insert(key).second) {
    const std::string name = absl::StrCat("sessions/", session_id);
    return WithReason(WithResource(absl::AbortedError(absl::StrCat(
                                       name,
                                       " is being changed by another call (an append, a committing "
                                       "generation, a fork, a rewind or a delete); retry when it "
                                       "is done")),
                                   kSessionType, name),
                      kReasonSessionBusy);
  }
  return Lease(this, std::move(key));
}

TokenTable BuildTokenTable(const Engine& engine) {
  TokenTable table;
  const int64_t vocab = engine.model_info().vocab_size;
  std::vector<int32_t> ids(static_cast<size_t>(vocab));
  for (int64_t i = 0; i < vocab; ++i) ids[i] = static_cast<int32_t>(i);
  const std::vector<std::string> pieces = engine.TokenPieces(ids);
  table.bytes.resize(ids.size());
  table.text.resize(ids.size());
  for (size_t i = 0; i < pieces.size(); ++i) {
    const std::string& piece = pieces[i];
    std::string bytes;
    int byte = 0;
    if (piece.size() == 6 && absl::StartsWith(piece, "<0x") && piece.back() == '>' &&
        absl::SimpleHexAtoi(piece.substr(3, 2), &byte)) {
      bytes.push_back(static_cast<char>(byte));
    } else {
      bytes = absl::StrReplaceAll(piece, {{"\xE2\x96\x81", " "}});  // U+2581 marks a space
    }
    table.text[i] = IsValidUtf8(bytes) ? bytes : "\xEF\xBF\xBD";
    table.bytes[i] = std::move(bytes);
  }
  return table;
}

namespace {

// A request this large leaves megabytes of freed blocks spread over the allocator's per-thread
// arenas (gRPC's receive buffers, the parsed message, the text's copies), which glibc keeps.
constexpr int64_t kTrimAfterRequestBytes = int64_t{1} << 20;

void ReleaseFreeMemory() {
#ifdef __GLIBC__
  malloc_trim(0);  // every arena's free pages back to the system
#endif
}

}  // namespace

CallRecord::CallRecord(const ServiceContext& ctx, absl::string_view method, CallOrigin origin)
    : ctx_(ctx),
      method_(method),
      start_(std::chrono::steady_clock::now()),
      deadline_(origin.deadline),
      authorization_(std::move(origin.authorization)) {
  ctx_.calls->Begin();
  request_id_ = origin.request_id.has_value() && UsableRequestId(*origin.request_id)
                    ? *std::move(origin.request_id)
                    : NewRequestId();
}

CallRecord::~CallRecord() {
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  RequestLogEntry entry;
  {
    absl::MutexLock lock(&mu_);
    entry.code = code_;
    entry.reason = reason_;
    entry.tokens_in = tokens_in_;
    entry.tokens_out = tokens_out_;
    entry.error = error_;
  }
  entry.request_id = request_id_;
  entry.method = method_;
  entry.tenant = tenant_;
  entry.latency_seconds = seconds;
  ctx_.metrics->CountRequest(method_, entry.code, seconds);
  ctx_.metrics->AddTokens(entry.tokens_in, entry.tokens_out);
  ctx_.logger->LogRequest(entry);
  if (request_bytes_.load() >= kTrimAfterRequestBytes) ReleaseFreeMemory();
  ctx_.calls->End();
}

absl::Status CallRecord::Admit() {
  if (ctx_.calls->draining()) return Draining(ctx_.retry_delay);
  std::optional<std::string> authorization = std::exchange(authorization_, std::nullopt);
  absl::StatusOr<std::string> tenant = ctx_.auth->Authenticate(
      authorization.has_value() ? std::optional<absl::string_view>(*authorization) : std::nullopt);
  if (!tenant.ok()) return tenant.status();
  tenant_ = *std::move(tenant);
  return absl::OkStatus();
}

void CallRecord::SetTokens(int64_t in, int64_t out) {
  absl::MutexLock lock(&mu_);
  tokens_in_ = in;
  tokens_out_ = out;
}

absl::Status CallRecord::Finish(const absl::Status& status) {
  absl::Status out = WithoutPrivatePaths(status, ctx_.private_paths);
  absl::MutexLock lock(&mu_);
  code_ = CodeName(status.code());
  reason_ = status.ok() ? "" : ReasonOf(status);
  switch (status.code()) {
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kDataLoss:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kUnknown:
      error_ = std::string(status.message());
      break;
    default:
      break;
  }
  return out;
}

absl::Status AnnotateEngineError(absl::Status status, const EngineErrorContext& context) {
  if (status.ok()) return status;
  const bool session = !context.session_name.empty();
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
      return InvalidField(context.field, std::string(status.message()));
    case absl::StatusCode::kResourceExhausted:
      switch (ExhaustedResourceOf(status)) {
        case ExhaustedResource::kRequestQueue:
          return QueueFull(status.message(), context.retry_delay);
        case ExhaustedResource::kSessionQuota:
          return WithQuotaViolation(std::move(status), "server",
                                    "the session store's disk quota (session_disk_quota)");
        case ExhaustedResource::kStorage:
          // Not a quota, and waiting will not cure it: the operator must free space. The store's
          // message names server paths, which stay in the server's log.
          return WithReason(absl::ResourceExhaustedError(
                                "the server's session storage is full; nothing was changed"),
                            kReasonStorageFull);
        case ExhaustedResource::kMemory:
        case ExhaustedResource::kUnknown:
          break;
      }
      return WithReason(std::move(status), kReasonInternal);
    case absl::StatusCode::kNotFound:
      if (!session) return status;
      return WithReason(WithResource(std::move(status), kSessionType, context.session_name),
                        kReasonSessionNotFound);
    case absl::StatusCode::kFailedPrecondition:
      if (!session) return WithReason(std::move(status), kReasonTokenizerMissing);
      return WithReason(WithResource(std::move(status), kSessionType, context.session_name),
                        kReasonModelMismatch);
    case absl::StatusCode::kDataLoss:
      return WithReason(WithResource(std::move(status), kSessionType, context.session_name),
                        kReasonSessionCorrupted);
    case absl::StatusCode::kAborted:
      // The SDK's "session busy" (EngineOptions::wait_for_busy_sessions is off in jambad).
      if (!session) return WithReason(std::move(status), kReasonSessionBusy);
      return WithReason(WithResource(std::move(status), kSessionType, context.session_name),
                        kReasonSessionBusy);
    case absl::StatusCode::kUnavailable:
      // Another replica sharing the session directory holds the session: nothing was done.
      if (std::optional<SessionOwner> owner = SessionOwnerOf(status); owner.has_value()) {
        return OwnedElsewhere(std::move(status), context.session_name, owner->owner,
                              owner->retry_after);
      }
      return WithReason(WithRetryDelay(std::move(status), context.retry_delay), kReasonUnavailable);
    case absl::StatusCode::kCancelled:
    case absl::StatusCode::kDeadlineExceeded:
      return status;
    default:
      return WithReason(std::move(status), kReasonInternal);
  }
}

}  // namespace jamba::service
