// Session operations: pin + lock the session, bring its state into memory, run the work through
// the scheduler, persist through the store, and keep memory within budget.
#include "sdk/session_manager.h"

#include <algorithm>
#include <chrono>
#include <random>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/status_macros.h"
#include "sdk/request_runner.h"

namespace jamba::sdk {
namespace {

int64_t NowMicros() { return absl::ToUnixMicros(absl::Now()); }

// What of `closing` a reply ending `tokens` still lacks: a reply that ends with the first tokens
// of the closing (the end-of-turn token it sampled) needs the rest; one cut short needs all.
std::vector<int32_t> TurnClosingRemainder(std::span<const int32_t> tokens,
                                          std::span<const int32_t> closing) {
  for (size_t have = std::min(closing.size(), tokens.size()); have > 0; --have) {
    if (std::equal(closing.begin(), closing.begin() + have, tokens.end() - have)) {
      return {closing.begin() + have, closing.end()};
    }
  }
  return {closing.begin(), closing.end()};
}

// Whether a committing generation may still commit: not cancelled, no deadline passed.
absl::Status CommitStillWanted(const GenerateOptions& options) {
  if (options.cancelled && options.cancelled()) {
    return absl::CancelledError(
        "cancelled before the turn was committed; the session is unchanged");
  }
  if (absl::Now() >= std::min(options.deadline, options.commit_by)) {
    return absl::DeadlineExceededError(
        "the deadline came before the turn was committed; the session is unchanged");
  }
  return absl::OkStatus();
}

std::string NewSessionId() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  return absl::StrFormat("s-%016x", rng());
}

}  // namespace

class SessionManager::Pin {
 public:
  // Waits for the session's lock, or with `wait` false takes it only if free (see status()).
  Pin(SessionManager& manager, const std::string& tenant, const std::string& id, bool wait)
      : manager_(manager), key_(tenant, id) {
    {
      absl::MutexLock lock(&manager_.mu_);
      std::shared_ptr<Live>& slot = manager_.live_[key_];
      if (slot == nullptr) slot = std::make_shared<Live>();
      live_ = slot;
      ++live_->pins;
    }
    if (wait) {
      live_->op_mu.Lock();
      locked_ = true;
    } else {
      locked_ = live_->op_mu.TryLock();
    }
  }
  ~Pin() {
    int64_t bytes = -1;
    if (locked_) {
      bytes = live_->state.has_value() ? live_->state->MemoryBytes() : 0;
      live_->op_mu.Unlock();
    }
    {
      absl::MutexLock lock(&manager_.mu_);
      --live_->pins;
      if (bytes >= 0) {
        live_->last_use_us = NowMicros();
        live_->bytes = bytes;
      }
    }
    manager_.EnforceMemoryBudget();
  }
  Pin(const Pin&) = delete;
  Pin& operator=(const Pin&) = delete;

  // ABORTED when the pin did not wait and another operation holds the session.
  absl::Status status() const {
    if (locked_) return absl::OkStatus();
    return absl::AbortedError(absl::StrCat(
        "session \"", key_.second, "\" is busy with another operation; retry when it ends"));
  }
  Live& live() const { return *live_; }

 private:
  SessionManager& manager_;
  const std::pair<std::string, std::string> key_;
  std::shared_ptr<Live> live_;
  bool locked_ = false;
};

absl::StatusOr<std::unique_ptr<SessionManager>> SessionManager::Create(
    Engine::Impl& engine, const EngineOptions& options) {
  if (options.checkpoint_interval <= 0)
    return absl::InvalidArgumentError("checkpoint_interval must be positive");
  std::unique_ptr<SessionManager> manager(new SessionManager(engine, options));
  SessionStoreOptions store_options;
  store_options.root = options.session_dir;
  store_options.model_fingerprint = engine.model_info().fingerprint;
  if (!options.session_key_file.empty()) {
    JAMBA_ASSIGN_OR_RETURN(std::string key, LoadEncryptionKey(options.session_key_file));
    store_options.key = std::move(key);
  }
  store_options.max_bytes =
      static_cast<uint64_t>(std::max<int64_t>(0, options.session_disk_quota_bytes));
  store_options.ttl = options.session_ttl;
  store_options.kv_dtype = engine.model().kv_dtype();
  store_options.activations = engine.model_info().activations;
  store_options.precision = engine.model_info().precision;
  store_options.owner_id = options.session_owner_id;
  store_options.lease_ttl = options.session_lease_ttl;
  SessionManager* self = manager.get();
  store_options.is_pinned = [self](const std::string& tenant, const std::string& id) {
    return self->IsPinned(tenant, id);
  };
  store_options.on_evicted = [self](const std::string& tenant, const std::string& id) {
    self->Forget(tenant, id);
  };
  JAMBA_ASSIGN_OR_RETURN(manager->store_, SessionStore::Open(std::move(store_options)));
  manager->store_->ExpireIdle();
  return manager;
}

SessionManager::~SessionManager() = default;

bool SessionManager::IsPinned(const std::string& tenant, const std::string& id) const {
  absl::MutexLock lock(&mu_);
  auto it = live_.find({tenant, id});
  return it != live_.end() && it->second->pins > 0;
}

void SessionManager::Forget(const std::string& tenant, const std::string& id) {
  absl::MutexLock lock(&mu_);
  auto it = live_.find({tenant, id});
  if (it != live_.end() && it->second->pins == 0) live_.erase(it);
}

void SessionManager::EnforceMemoryBudget() {
  std::vector<std::pair<std::string, std::string>> dropped;
  {
    absl::MutexLock lock(&mu_);
    DropOverBudget(dropped);
  }
  // A state dropped from memory gives its lease up, so another replica can take the session at
  // once.
  for (const auto& [tenant, id] : dropped) store_->ReleaseLease(tenant, id);
}

void SessionManager::DropOverBudget(std::vector<std::pair<std::string, std::string>>& dropped) {
  int64_t total = 0;
  for (const auto& [key, live] : live_) total += live->bytes;
  while (total > options_.session_memory_bytes) {
    std::shared_ptr<Live> victim;
    const std::pair<std::string, std::string>* victim_key = nullptr;
    for (const auto& [key, live] : live_) {
      if (live->pins == 0 && live->bytes > 0 &&
          (victim == nullptr || live->last_use_us < victim->last_use_us)) {
        victim = live;
        victim_key = &key;
      }
    }
    if (victim == nullptr) break;  // everything left is in use
    dropped.push_back(*victim_key);
    // pins == 0 under mu_: no operation holds or waits for op_mu, so this cannot block.
    absl::MutexLock op_lock(&victim->op_mu);
    DropState(*victim);
    total -= victim->bytes;
    victim->bytes = 0;
  }
  std::erase_if(
      live_, [](const auto& entry) { return entry.second->pins == 0 && entry.second->bytes == 0; });
}

int64_t SessionManager::MemoryBytes() const {
  absl::MutexLock lock(&mu_);
  int64_t total = 0;
  for (const auto& [key, live] : live_) total += live->bytes;
  return total;
}

void SessionManager::EvictAllFromMemory() {
  std::vector<std::shared_ptr<Live>> all;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [key, live] : live_) all.push_back(live);
  }
  for (const auto& live : all) {
    absl::MutexLock op_lock(&live->op_mu);
    DropState(*live);
  }
  absl::MutexLock lock(&mu_);
  for (const auto& [key, live] : live_) live->bytes = 0;
  std::erase_if(live_, [](const auto& entry) { return entry.second->pins == 0; });
}

SessionInfo SessionManager::ToInfo(const SessionManifest& m, bool in_memory) const {
  SessionInfo info;
  info.id = m.id;
  info.tenant = m.tenant;
  info.display_name = m.display_name;
  info.labels = m.labels;
  info.token_count = m.length;
  info.checkpoint_count = static_cast<int64_t>(m.checkpoints.size());
  info.create_time = absl::FromUnixMicros(m.create_time_us);
  info.update_time = absl::FromUnixMicros(m.update_time_us);
  info.disk_bytes = static_cast<int64_t>(store_->SessionBytes(m.tenant, m.id));
  info.in_memory = in_memory;
  info.etag = absl::StrFormat("%x", m.update_time_us);
  info.kv_dtype = m.kv_dtype;
  info.precision = m.precision;
  return info;
}

void SessionManager::DropState(Live& live) {
  live.state.reset();
  live.state_generation.reset();
}

absl::StatusOr<SessionStore::LeaseHold> SessionManager::Lease(Live& live, const std::string& tenant,
                                                              const std::string& id) {
  absl::StatusOr<SessionStore::LeaseHold> hold = store_->AcquireLease(tenant, id);
  if (!hold.ok()) DropState(live);
  return hold;
}

absl::Status SessionManager::EnsureLoaded(Live& live, const SessionManifest& manifest) {
  // Every change of the session, here or by another replica (and every takeover of its lease),
  // is a new manifest generation: a state of the same generation is the committed state.
  if (live.state.has_value() && live.state_generation == manifest.generation &&
      live.state->position() == manifest.length) {
    return absl::OkStatus();
  }
  DropState(live);
  JAMBA_ASSIGN_OR_RETURN(engine::SequenceState state, engine_.model().NewSequence());
  if (manifest.length > 0) JAMBA_RETURN_IF_ERROR(store_->Load(manifest, manifest.length, state));
  live.state.emplace(std::move(state));
  live.state_generation = manifest.generation;
  return absl::OkStatus();
}

int64_t SessionManager::RestoreLongestPrefix(const std::string& tenant,
                                             std::span<const int32_t> tokens,
                                             engine::SequenceState& state) {
  if (state.position() != 0) return 0;
  const auto match = store_->FindLongestPrefix(tenant, tokens);
  if (!match.has_value() || match->position < options_.min_prefix_reuse_tokens) return 0;
  auto manifest = store_->Get(tenant, match->session_id);
  if (!manifest.ok()) return 0;
  auto restored = engine_.model().NewSequence();
  if (!restored.ok()) return 0;
  // A hash collision or a concurrent rewind shows up here as a mismatch: then recompute. So does
  // a damaged segment of the other session, checked now rather than failing this request later.
  if (!store_->Load(*manifest, match->position, *restored, tokens, KvVerification::kNow).ok())
    return 0;
  state = *std::move(restored);
  return match->position;
}

absl::Status SessionManager::Ingest(engine::SequenceState& state, std::span<const int32_t> tokens,
                                    SessionManifest* draft, const AppendOptions& options,
                                    int64_t* processed) {
  const int64_t total = static_cast<int64_t>(tokens.size());
  const int64_t interval = options_.checkpoint_interval;
  while (*processed < total) {
    const int64_t position = state.position();
    const int64_t to_boundary = (position / interval + 1) * interval - position;
    const int64_t take = std::min(total - *processed, to_boundary);
    auto request = std::make_shared<engine::Request>();
    request->state = &state;
    request->prompt.assign(tokens.begin() + *processed, tokens.begin() + *processed + take);
    request->deadline = options.deadline;
    RunObserver observer;
    const int64_t before = *processed;
    if (options.on_progress) {
      observer.on_progress = [&](int64_t done, int64_t) {
        return options.on_progress(before + done, total);
      };
    }
    JAMBA_RETURN_IF_ERROR(RunRequest(engine_.scheduler(), request, observer));
    *processed += take;
    if (draft != nullptr) {
      const bool at_end = *processed == total;
      JAMBA_RETURN_IF_ERROR(store_->Stage(*draft, state, at_end ? "append" : "interval"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<SessionInfo> SessionManager::Create(const std::string& tenant,
                                                   const CreateSessionOptions& options) {
  const std::string id = options.id.empty() ? NewSessionId() : options.id;
  JAMBA_RETURN_IF_ERROR(SessionStore::ValidateTenant(tenant));
  JAMBA_RETURN_IF_ERROR(SessionStore::ValidateSessionId(id));
  Pin pin(*this, tenant, id, options_.wait_for_busy_sessions);
  JAMBA_RETURN_IF_ERROR(pin.status());
  JAMBA_ASSIGN_OR_RETURN(SessionManifest m,
                         store_->Create(tenant, id, options.display_name, options.labels));
  return ToInfo(m, false);
}

absl::StatusOr<SessionInfo> SessionManager::Get(const std::string& tenant, const std::string& id) {
  JAMBA_ASSIGN_OR_RETURN(SessionManifest m, store_->Get(tenant, id));
  bool in_memory = false;
  {
    absl::MutexLock lock(&mu_);
    auto it = live_.find({tenant, id});
    in_memory = it != live_.end() && it->second->bytes > 0;
  }
  return ToInfo(m, in_memory);
}

absl::StatusOr<SessionPage> SessionManager::List(const std::string& tenant, int page_size,
                                                 const std::string& page_token) {
  JAMBA_RETURN_IF_ERROR(SessionStore::ValidateTenant(tenant));
  if (page_size < 0) return absl::InvalidArgumentError("page_size must not be negative");
  if (page_size == 0) page_size = 50;
  page_size = std::min(page_size, 1000);
  // Newest first; the page token is the sort key (creation time, id) of the last item returned.
  std::optional<std::pair<int64_t, std::string>> after;
  if (!page_token.empty()) {
    std::string decoded;
    const size_t colon =
        absl::WebSafeBase64Unescape(page_token, &decoded) ? decoded.find(':') : std::string::npos;
    int64_t time_us = 0;
    if (colon == std::string::npos || !absl::SimpleAtoi(decoded.substr(0, colon), &time_us) ||
        !SessionStore::ValidateSessionId(decoded.substr(colon + 1)).ok()) {
      return absl::InvalidArgumentError("page_token is not valid");
    }
    after.emplace(time_us, decoded.substr(colon + 1));
  }
  std::vector<SessionManifest> all = store_->List(tenant);
  auto newer_first = [](const SessionManifest& a, const SessionManifest& b) {
    return a.create_time_us != b.create_time_us ? a.create_time_us > b.create_time_us : a.id < b.id;
  };
  std::sort(all.begin(), all.end(), newer_first);
  SessionPage page;
  for (const SessionManifest& m : all) {
    if (after.has_value() && (m.create_time_us > after->first ||
                              (m.create_time_us == after->first && m.id <= after->second))) {
      continue;
    }
    if (static_cast<int>(page.sessions.size()) == page_size) {
      const SessionInfo& last = page.sessions.back();
      page.next_page_token = absl::WebSafeBase64Escape(
          absl::StrCat(absl::ToUnixMicros(last.create_time), ":", last.id));
      break;
    }
    page.sessions.push_back(ToInfo(m, false));
  }
  return page;
}

absl::Status SessionManager::Delete(const std::string& tenant, const std::string& id) {
  JAMBA_RETURN_IF_ERROR(SessionStore::ValidateTenant(tenant));
  JAMBA_RETURN_IF_ERROR(SessionStore::ValidateSessionId(id));
  {
    Pin pin(*this, tenant, id, options_.wait_for_busy_sessions);
    JAMBA_RETURN_IF_ERROR(pin.status());
    DropState(pin.live());
    JAMBA_RETURN_IF_ERROR(store_->Delete(tenant, id));
  }
  Forget(tenant, id);
  return absl::OkStatus();
}

absl::StatusOr<AppendResult> SessionManager::Append(const std::string& tenant,
                                                    const std::string& id, const Input& input,
                                                    const AppendOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  JAMBA_RETURN_IF_ERROR(SessionStore::ValidateTenant(tenant));
  JAMBA_RETURN_IF_ERROR(SessionStore::ValidateSessionId(id));
  Pin pin(*this, tenant, id, options_.wait_for_busy_sessions);
  JAMBA_RETURN_IF_ERROR(pin.status());
  Live& live = pin.live();
  JAMBA_ASSIGN_OR_RETURN(const SessionStore::LeaseHold lease, Lease(live, tenant, id));
  JAMBA_ASSIGN_OR_RETURN(SessionManifest manifest, store_->Get(tenant, id));
  JAMBA_RETURN_IF_ERROR(EnsureLoaded(live, manifest));
  engine::SequenceState& state = *live.state;
  JAMBA_ASSIGN_OR_RETURN(std::vector<int32_t> tokens, engine_.InputTokens(input, state.position()));

  AppendResult result;
  result.usage.prompt_tokens = static_cast<int64_t>(tokens.size());
  int64_t processed = 0;
  if (state.position() == 0) {
    // A new session whose document was ingested before (by any session of this tenant) resumes
    // from the longest persisted checkpoint instead of recomputing it.
    processed = RestoreLongestPrefix(tenant, tokens, state);
    result.usage.restored_tokens = processed;
  }
  SessionManifest draft = manifest;
  // The whole append must fit in memory: refused now rather than failing part-way.
  absl::Status status =
      engine_.model().CheckContextFits(state, static_cast<int64_t>(tokens.size()) - processed);
  if (status.ok() && processed > 0) {
    status = store_->Stage(
        draft, state, processed == static_cast<int64_t>(tokens.size()) ? "append" : "interval");
  }
  if (status.ok()) status = Ingest(state, tokens, &draft, options, &processed);
  if (status.ok()) status = store_->Commit(draft);
  if (!status.ok()) {
    // All or nothing: forget the partial state (reloaded from the last commit on next use).
    store_->Abandon(manifest, draft);
    DropState(live);
    return status;
  }
  live.state_generation = draft.generation;
  result.usage.recomputed_tokens = result.usage.prompt_tokens - result.usage.restored_tokens;
  result.session = ToInfo(draft, true);
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

absl::StatusOr<GenerateResult> SessionManager::Generate(const std::string& tenant,
                                                        const std::string& id,
                                                        const std::optional<Input>& input,
                                                        const GenerateOptions& options, bool commit,
                                                        const StreamCallback& on_chunk) {
  JAMBA_RETURN_IF_ERROR(SessionStore::ValidateTenant(tenant));
  JAMBA_RETURN_IF_ERROR(SessionStore::ValidateSessionId(id));
  uint64_t seed = 0;
  JAMBA_ASSIGN_OR_RETURN(engine::Generation generation, engine_.MakeGeneration(options, &seed));
  Pin pin(*this, tenant, id, options_.wait_for_busy_sessions);
  JAMBA_RETURN_IF_ERROR(pin.status());
  Live& live = pin.live();
  JAMBA_ASSIGN_OR_RETURN(const SessionStore::LeaseHold lease, Lease(live, tenant, id));
  JAMBA_ASSIGN_OR_RETURN(SessionManifest manifest, store_->Get(tenant, id));
  JAMBA_RETURN_IF_ERROR(EnsureLoaded(live, manifest));
  engine::SequenceState& state = *live.state;
  std::vector<int32_t> tokens;
  if (input.has_value()) {
    JAMBA_ASSIGN_OR_RETURN(tokens, engine_.InputTokens(*input, state.position()));
  } else if (state.position() == 0) {
    return absl::InvalidArgumentError("session is empty: give input to generate from");
  }
  const int64_t restored = state.position();
  const engine::SequenceState::Snapshot snapshot = state.TakeSnapshot();
  auto request = std::make_shared<engine::Request>();
  request->state = &state;
  request->prompt = tokens;
  request->generation.emplace(std::move(generation));
  request->feed_final_token = commit;
  request->deadline = options.deadline;
  // The completion follows the session's tokens and the new ones: their tail says how to read it.
  std::vector<int32_t> context(state.tokens().end() - std::min<int64_t>(64, state.position()),
                               state.tokens().end());
  context.insert(context.end(), tokens.begin(), tokens.end());
  JAMBA_RETURN_IF_ERROR(engine_.ApplyToolChoice(*request->generation, options,
                                                input.has_value() ? &*input : nullptr, context));
  const std::optional<engine::OutputParserOptions> parsing =
      engine_.OutputParsing(input.has_value() ? &*input : nullptr, options, context);
  auto result = engine_.RunGeneration(request, options, seed, on_chunk, parsing);
  if (result.ok() && commit) {
    SessionManifest draft = manifest;
    absl::Status status = absl::OkStatus();
    if (parsing.has_value()) {
      // A reply read as chat is committed as a finished turn, so the next message follows it as
      // it would in a rendering of the whole conversation.
      int64_t processed = 0;
      status = Ingest(state, TurnClosingRemainder(state.tokens(), engine_.assistant_turn_closing()),
                      nullptr, AppendOptions{.deadline = options.deadline}, &processed);
    }
    if (status.ok()) status = store_->Stage(draft, state, "commit");
    // Decided once, at the last moment before the atomic switch: past it the call succeeds.
    if (status.ok())
      status = store_->Commit(draft, [&options] { return CommitStillWanted(options); });
    if (status.ok()) {
      live.state_generation = draft.generation;
      result->session = ToInfo(draft, true);
    } else {
      store_->Abandon(manifest, draft);
      result = status;
    }
  }
  if (!result.ok() || !commit) state.RestoreSnapshot(snapshot);
  if (absl::IsDataLoss(result.status())) {
    // A damaged segment found before its first use: nothing of this state may be used again.
    DropState(live);
  }
  if (!result.ok()) return result.status();
  result->usage.prompt_tokens = static_cast<int64_t>(tokens.size());
  result->usage.restored_tokens = restored;
  result->usage.recomputed_tokens = static_cast<int64_t>(tokens.size());
  store_->Touch(tenant, id);
  return result;
}

absl::StatusOr<SessionInfo> SessionManager::Fork(const std::string& tenant, const std::string& id,
                                                 const std::string& new_id,
                                                 std::optional<int64_t> position) {
  JAMBA_RETURN_IF_ERROR(SessionStore::ValidateTenant(tenant));
  JAMBA_RETURN_IF_ERROR(SessionStore::ValidateSessionId(id));
  const std::string fork_id = new_id.empty() ? NewSessionId() : new_id;
  JAMBA_RETURN_IF_ERROR(SessionStore::ValidateSessionId(fork_id));
  if (fork_id == id)
    return absl::InvalidArgumentError("new session id must differ from the source");
  // Both sessions are pinned for the whole fork: the source so it cannot change under it, the
  // new id so a concurrent create or fork of the same id waits and then finds it taken. Pins are
  // taken in id order, so two forks in opposite directions cannot deadlock.
  std::optional<Pin> first, second;
  first.emplace(*this, tenant, std::min(id, fork_id), options_.wait_for_busy_sessions);
  JAMBA_RETURN_IF_ERROR(first->status());
  second.emplace(*this, tenant, std::max(id, fork_id), options_.wait_for_busy_sessions);
  JAMBA_RETURN_IF_ERROR(second->status());
  Pin& source_pin = id < fork_id ? *first : *second;
  Pin& fork_pin = id < fork_id ? *second : *first;
  Live& live = source_pin.live();
  JAMBA_ASSIGN_OR_RETURN(const SessionStore::LeaseHold lease, Lease(live, tenant, id));
  JAMBA_ASSIGN_OR_RETURN(SessionManifest source, store_->Get(tenant, id));
  const int64_t at = position.value_or(source.length);
  // Takes the new session's lease too (ALREADY_EXISTS, or UNAVAILABLE while another replica
  // creates it).
  JAMBA_ASSIGN_OR_RETURN(SessionManifest fork, store_->Fork(tenant, id, fork_id, at));
  // A live source at the fork point is cloned in memory, so the fork's first use needs no disk.
  bool cloned = false;
  DropState(fork_pin.live());
  if (live.state.has_value() && live.state_generation == source.generation && at == source.length) {
    auto copy = live.state->Clone();
    if (copy.ok()) {
      fork_pin.live().state.emplace(*std::move(copy));
      fork_pin.live().state_generation = fork.generation;
      cloned = true;
    }
  }
  return ToInfo(fork, cloned);
}

absl::StatusOr<std::vector<CheckpointInfo>> SessionManager::ListCheckpoints(
    const std::string& tenant, const std::string& id) {
  JAMBA_ASSIGN_OR_RETURN(SessionManifest m, store_->Get(tenant, id));
  // Position 0 (the empty session) is always a valid target for rewind and fork.
  std::vector<CheckpointInfo> out = {{0, "create", absl::FromUnixMicros(m.create_time_us)}};
  for (const CheckpointRecord& c : m.checkpoints) {
    out.push_back({c.position, c.reason, absl::FromUnixMicros(c.create_time_us)});
  }
  return out;
}

absl::StatusOr<SessionInfo> SessionManager::Rewind(const std::string& tenant, const std::string& id,
                                                   int64_t position) {
  JAMBA_RETURN_IF_ERROR(SessionStore::ValidateTenant(tenant));
  JAMBA_RETURN_IF_ERROR(SessionStore::ValidateSessionId(id));
  Pin pin(*this, tenant, id, options_.wait_for_busy_sessions);
  JAMBA_RETURN_IF_ERROR(pin.status());
  // The state at `position` comes from its checkpoint on the next use.
  DropState(pin.live());
  JAMBA_ASSIGN_OR_RETURN(SessionManifest m, store_->Rewind(tenant, id, position));
  return ToInfo(m, false);
}

}  // namespace jamba::sdk
