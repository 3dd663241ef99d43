// jamba::Engine: the in-process API of libjamba. Open a Jamba checkpoint directory (Hugging Face
// format: config.json + safetensors), then generate from prompts, token ids or chat messages.
// Requests from any number of threads are batched together on one engine thread (continuous
// batching).
//
//   auto engine = jamba::Engine::Open("/models/jamba-mini", {.threads = 16});
//   if (!engine.ok()) return engine.status();
//   jamba::GenerateOptions options;
//   options.sampling.temperature = 0;
//   auto result = (*engine)->Generate(jamba::Input::Text("Hello"), options,
//                                     [](const jamba::GenerateChunk& chunk) {
//                                       std::cout << chunk.text << std::flush;
//                                       return true;  // false cancels
//                                     });
//
// Thread-safety: every method may be called from any thread at any time.
#ifndef JAMBA_SDK_ENGINE_H_
#define JAMBA_SDK_ENGINE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "jamba/types.h"

namespace jamba {

struct EngineOptions {
  int threads = 0;               // CPU threads; 0: all this process may use
  std::string device = "cpu";    // "cpu", "cuda" or "auto"
  std::string simd;              // CPU kernels: "" (best), "avx512", "avx2" or "scalar"
  std::string weights = "auto";  // "auto": as stored; "int8": weight-only int8 MLPs and experts
  // Numerical precision, one setting:
  //   "exact": fp32 activations and an fp32 KV cache (what the golden tests hold to 1e-4);
  //   "fast": bf16 activations where the CPU has AVX512_BF16 (products with bf16 weights round
  //     activations to bf16 and use its dot-product instruction, as Hugging Face's bf16 runs)
  //     and a bf16 KV cache (half the memory and disk per token);
  //   "auto": "fast" on a CPU with AVX512_BF16, else "exact" (CUDA: "exact").
  // model_info() says what it resolved to. Sessions record it and resume only under it.
  std::string precision = "auto";
  // Expert overrides of the preset: "" keeps the preset's choice.
  // CPU: "fp32", or "bf16" (AVX512_BF16 dot products for products with bf16 weights).
  std::string activations;
  // KV cache dtype: "fp32", "bf16", or "int8" (one fp32 scale per token and KV head: a quarter of
  // fp32's bytes plus 4 per head). The CUDA backend keeps fp32 only.
  std::string kv_dtype;
  // The most memory the KV caches of all sequences may take together; 0: as much as the machine
  // has available when a request arrives (MemAvailable, or the cgroup's limit), less 512 MiB.
  // A request whose context cannot fit is refused at once (RESOURCE_EXHAUSTED, naming the limit).
  int64_t kv_memory_bytes = 0;
  // CPU: "packed": the weights are copied at load into the engine's memory (2 MiB pages, row
  // groups interleaved for sequential streaming: faster decode); "mapped": computed in place
  // from the memory-mapped checkpoint (no copy; its page cache is shared by every process that
  // maps the same files). Either way the weights occupy their size in memory once.
  std::string weight_memory = "packed";
  // How chat completions are read (GenerateOptions::output_parsing): "auto" follows the chat
  // template (Jamba 1.5+ <tool_calls>, Hermes <tool_call>, <think> reasoning); the others force
  // a format, for fine-tunes whose template says nothing about it.
  std::string tool_call_format = "auto";  // "auto", "jamba", "hermes" or "none"
  std::string reasoning_format = "auto";  // "auto", "think" or "none"
  // Continuous batching.
  int64_t max_batch_tokens = 512;
  int64_t prefill_chunk = 256;
  int max_running_requests = 32;
  int max_queued_requests = 256;
  // Limits applied to every request.
  int64_t max_prompt_tokens = 1 << 20;
  int64_t max_new_tokens = 1 << 16;
  int64_t max_context_tokens = 0;  // prompt + completion; 0: the model's max_position_embeddings

  // Sessions. Without a session directory, session calls fail with FAILED_PRECONDITION.
  std::string session_dir;
  std::string session_key_file;                       // AES-256-GCM encryption at rest when set
  int64_t session_memory_bytes = 8LL << 30;           // live session states kept in memory
  int64_t session_disk_quota_bytes = 0;               // 0: unlimited
  absl::Duration session_ttl = absl::ZeroDuration();  // idle sessions are deleted after; 0: never
  int64_t checkpoint_interval = 4096;                 // Mamba-state checkpoint every N tokens
  int64_t min_prefix_reuse_tokens = 32;               // shorter matches are recomputed
  // A session operation on a session another operation is using: true, it waits its turn; false,
  // it fails at once with ABORTED (a server must not park its threads on another caller's work).
  bool wait_for_busy_sessions = true;
  // Several processes (on several hosts) may share one session directory (docs/session-format.md,
  // "Sharing a store"): an operation that loads or changes a session takes the session's lease,
  // and one whose lease another live process holds fails with UNAVAILABLE (SessionOwnerOf says
  // who, and when to retry). This process's replica id, unique among those sharing the directory
  // ("": hostname:pid:random), and how long a lease lasts unless renewed: renewed while the
  // session is in use, released when unused for as long, taken over that long after its owner
  // stopped (at once if the owner was a process of this machine that exited).
  std::string session_owner_id;
  absl::Duration session_lease_ttl = absl::Seconds(10);
};

// Called with each streamed chunk, on the thread that called Generate. Return false to cancel.
using StreamCallback = std::function<bool(const GenerateChunk& chunk)>;

class Engine {
 public:
  // Loads the model; fails with a message naming the file for any malformed input.
  ABSL_MUST_USE_RESULT static absl::StatusOr<std::unique_ptr<Engine>> Open(
      const std::string& model_dir, const EngineOptions& options = {});
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  const ModelInfo& model_info() const;

  // Load figures for monitoring. Cheap enough for a metrics scrape: the session disk figure walks
  // the session directory (no file is read).
  EngineStats stats() const;

  // Needs a tokenizer (tokenizer.json or tokenizer.model in the model directory). The text is
  // plain: special-token strings in it are not recognised (see TokenizeOptions).
  ABSL_MUST_USE_RESULT absl::StatusOr<std::vector<int32_t>> Tokenize(const std::string& text,
                                                                     bool add_bos) const;
  ABSL_MUST_USE_RESULT absl::StatusOr<std::vector<int32_t>> Tokenize(
      const std::string& text, const TokenizeOptions& options) const;
  ABSL_MUST_USE_RESULT absl::StatusOr<std::string> Detokenize(
      std::span<const int32_t> tokens, bool skip_special_tokens = true) const;
  // The tokens Generate feeds the model for `input` as a new sequence (BOS, chat template and all),
  // with the same errors (INVALID_ARGUMENT past max_prompt_tokens, found without encoding the
  // whole of an over-long text); so Generate(Input::Tokens(*Tokenize(input))) == Generate(input).
  ABSL_MUST_USE_RESULT absl::StatusOr<std::vector<int32_t>> Tokenize(const Input& input) const;
  // Each token's vocabulary piece as the tokenizer spells it ("▁the", "<0x0A>"); "" for an
  // id that is not a piece. Empty without a tokenizer.
  std::vector<std::string> TokenPieces(std::span<const int32_t> tokens) const;
  // The text the chat template renders for a chat `input` (what Tokenize(input) tokenizes), for
  // checking a template outside the engine. FAILED_PRECONDITION without a chat template.
  ABSL_MUST_USE_RESULT absl::StatusOr<std::string> RenderChat(const Input& input) const;

  // Runs `input` through the model and generates, streaming chunks to `on_chunk` (may be empty).
  // Blocks until done. Errors: INVALID_ARGUMENT (bad options or input, naming the field),
  // RESOURCE_EXHAUSTED (queue full), CANCELLED (on_chunk returned false; the partial result is
  // lost), DEADLINE_EXCEEDED.
  ABSL_MUST_USE_RESULT absl::StatusOr<GenerateResult> Generate(const Input& input,
                                                               const GenerateOptions& options,
                                                               const StreamCallback& on_chunk = {});

  // Full-sequence logits for `tokens` ([tokens.size() * vocab], row-major), computed in chunks of
  // `chunk` tokens. For evaluating the engine against other implementations.
  ABSL_MUST_USE_RESULT absl::StatusOr<std::vector<float>> ComputeLogits(
      std::span<const int32_t> tokens, int64_t chunk = 512);

  // ---- Sessions: persisted conversations (see docs/session-format.md) ----
  // Every session call names the tenant that owns the session; another tenant's session is
  // NOT_FOUND. Calls on one session are serialized (or ABORTED when busy, see
  // EngineOptions::wait_for_busy_sessions); calls on different sessions run concurrently.

  ABSL_MUST_USE_RESULT absl::StatusOr<SessionInfo> CreateSession(
      const std::string& tenant, const CreateSessionOptions& options);
  ABSL_MUST_USE_RESULT absl::StatusOr<SessionInfo> GetSession(const std::string& tenant,
                                                              const std::string& id);
  // Sessions by id; `page_token` from the previous page ("" for the first).
  ABSL_MUST_USE_RESULT absl::StatusOr<SessionPage> ListSessions(const std::string& tenant,
                                                                int page_size,
                                                                const std::string& page_token);
  ABSL_MUST_USE_RESULT absl::Status DeleteSession(const std::string& tenant, const std::string& id);
  // Feeds `input` to the session and commits it (with a checkpoint every checkpoint_interval
  // tokens and at the end). All or nothing: on error or cancellation the session is unchanged.
  ABSL_MUST_USE_RESULT absl::StatusOr<AppendResult> AppendToSession(
      const std::string& tenant, const std::string& id, const Input& input,
      const AppendOptions& options = {});
  // Generates from the session's state, after feeding `input` if given. With `commit`, the input
  // and the generated tokens are appended to the session; otherwise it is left unchanged.
  ABSL_MUST_USE_RESULT absl::StatusOr<GenerateResult> GenerateFromSession(
      const std::string& tenant, const std::string& id, const std::optional<Input>& input,
      const GenerateOptions& options, bool commit, const StreamCallback& on_chunk = {});
  // A new session sharing the source's state at `position` (a checkpoint; default: its end).
  ABSL_MUST_USE_RESULT absl::StatusOr<SessionInfo> ForkSession(
      const std::string& tenant, const std::string& id, const std::string& new_id,
      std::optional<int64_t> position = {});
  ABSL_MUST_USE_RESULT absl::StatusOr<std::vector<CheckpointInfo>> ListCheckpoints(
      const std::string& tenant, const std::string& id);
  // Returns the session to a checkpoint, dropping everything after it.
  ABSL_MUST_USE_RESULT absl::StatusOr<SessionInfo> RewindSession(const std::string& tenant,
                                                                 const std::string& id,
                                                                 int64_t position);
  // Drops every live session state from memory (they stay on disk). For tests and tools.
  void EvictAllSessionsFromMemory();

  class Impl;

 private:
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace jamba

#endif  // JAMBA_SDK_ENGINE_H_
