// SessionManager: live sessions in memory within a byte budget, backed by the SessionStore.
// Each operation pins its session and holds the session's own lock, so calls on one session are
// serialized while calls on different sessions run (and batch) concurrently. Least recently used
// states are dropped from memory when over budget; they are always already persisted, so dropping
// costs nothing and the next use loads them back.
//
// Other processes may share the session directory: an operation that loads a session's state or
// changes it first takes (or confirms) the session's lease in the store, and fails with
// UNAVAILABLE naming the owner when another live replica holds it. A state kept in memory is used
// only while the lease is held and the session's manifest generation is the one it was loaded at,
// so a state another replica changed (or took over) is never used again.
#ifndef JAMBA_SDK_SESSION_MANAGER_H_
#define JAMBA_SDK_SESSION_MANAGER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "engine/sequence_state.h"
#include "jamba/engine.h"
#include "jamba/types.h"
#include "sdk/engine_impl.h"
#include "sdk/store/session_store.h"

namespace jamba::sdk {

class SessionManager {
 public:
  // `engine` must outlive the manager.
  static absl::StatusOr<std::unique_ptr<SessionManager>> Create(Engine::Impl& engine,
                                                                const EngineOptions& options);
  ~SessionManager();

  absl::StatusOr<SessionInfo> Create(const std::string& tenant,
                                     const CreateSessionOptions& options);
  absl::StatusOr<SessionInfo> Get(const std::string& tenant, const std::string& id);
  absl::StatusOr<SessionPage> List(const std::string& tenant, int page_size,
                                   const std::string& page_token);
  absl::Status Delete(const std::string& tenant, const std::string& id);
  absl::StatusOr<AppendResult> Append(const std::string& tenant, const std::string& id,
                                      const Input& input, const AppendOptions& options);
  absl::StatusOr<GenerateResult> Generate(const std::string& tenant, const std::string& id,
                                          const std::optional<Input>& input,
                                          const GenerateOptions& options, bool commit,
                                          const StreamCallback& on_chunk);
  absl::StatusOr<SessionInfo> Fork(const std::string& tenant, const std::string& id,
                                   const std::string& new_id, std::optional<int64_t> position);
  absl::StatusOr<std::vector<CheckpointInfo>> ListCheckpoints(const std::string& tenant,
                                                              const std::string& id);
  absl::StatusOr<SessionInfo> Rewind(const std::string& tenant, const std::string& id,
                                     int64_t position);
  void EvictAllFromMemory();

  // Restores the longest persisted checkpoint of `tenant` that begins `tokens` into a fresh
  // `state`. Returns the tokens restored (0 when nothing matched).
  int64_t RestoreLongestPrefix(const std::string& tenant, std::span<const int32_t> tokens,
                               engine::SequenceState& state);

  int64_t MemoryBytes() const;
  SessionStore& store() { return *store_; }

 private:
  struct Live {
    absl::Mutex op_mu;  // held for the whole of one operation on this session
    std::optional<engine::SequenceState> state ABSL_GUARDED_BY(op_mu);
    int pins = 0;             // operations holding or waiting for op_mu (guarded by manager mu_)
    int64_t last_use_us = 0;  // guarded by manager mu_
    int64_t bytes = 0;        // state bytes (guarded by manager mu_)
    // The manifest generation the in-memory state corresponds to.
    std::optional<uint64_t> state_generation ABSL_GUARDED_BY(op_mu);
  };
  // Pins a session for one operation and locks it; released (and unpinned) on destruction.
  class Pin;

  SessionManager(Engine::Impl& engine, const EngineOptions& options)
      : engine_(engine), options_(options) {}
  bool IsPinned(const std::string& tenant, const std::string& id) const;
  void Forget(const std::string& tenant, const std::string& id);
  void EnforceMemoryBudget();
  // Drops least recently used states until within budget; says which.
  void DropOverBudget(std::vector<std::pair<std::string, std::string>>& dropped)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Loads the committed state of `manifest` into `live` if it is not in memory.
  absl::Status EnsureLoaded(Live& live, const SessionManifest& manifest)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(live.op_mu);
  // The session's lease for one operation; on failure the in-memory state (if any) is dropped:
  // another replica may change the session from now on.
  absl::StatusOr<SessionStore::LeaseHold> Lease(Live& live, const std::string& tenant,
                                                const std::string& id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(live.op_mu);
  static void DropState(Live& live) ABSL_EXCLUSIVE_LOCKS_REQUIRED(live.op_mu);
  // Feeds tokens to a state through the scheduler, staging a checkpoint at every interval.
  absl::Status Ingest(engine::SequenceState& state, std::span<const int32_t> tokens,
                      SessionManifest* draft, const AppendOptions& options, int64_t* processed);
  SessionInfo ToInfo(const SessionManifest& manifest, bool in_memory) const;

  Engine::Impl& engine_;
  const EngineOptions options_;
  std::unique_ptr<SessionStore> store_;

  mutable absl::Mutex mu_;
  std::map<std::pair<std::string, std::string>, std::shared_ptr<Live>> live_ ABSL_GUARDED_BY(mu_);
};

}  // namespace jamba::sdk

#endif  // JAMBA_SDK_SESSION_MANAGER_H_
