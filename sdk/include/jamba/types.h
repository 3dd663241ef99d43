// Value types of the libjamba C++ API: prompts, generation options, streamed chunks, results.
// Plain structs, copyable, no hidden state.
#ifndef JAMBA_SDK_TYPES_H_
#define JAMBA_SDK_TYPES_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace jamba {

// A call of a tool, as the model wrote it (in an assistant message or a result).
struct ToolCall {
  std::string id;  // "call_..."; generated for calls the model makes
  std::string name;
  std::string arguments;  // a JSON object, as text
};

struct ChatMessage {
  std::string role;  // "system", "user", "assistant" or "tool"
  std::string content;
  std::vector<ToolCall> tool_calls;  // assistant: the tools it called
  std::string tool_call_id;          // tool: the call this message answers
  std::string name;                  // tool: the tool's name; others: an optional speaker name
  std::string reasoning;             // assistant: its reasoning, for templates that show it
};

// A function the model may call, described as chat templates list it.
struct Tool {
  std::string name;
  std::string description;
  std::string parameters = "{}";  // JSON Schema of the arguments (an object), as text
};

// A document the model may use; templates that know documents render them (Jamba 1.5+).
struct Document {
  std::string title;
  std::string text;
  std::map<std::string, std::string> metadata;
};

// What to feed the model: text, token ids, or chat messages (rendered with the model's chat
// template, with the tools and documents given). Build one with Input::Text / Input::Tokens /
// Input::Chat.
struct Input {
  enum class Kind { kText, kTokens, kChat };
  Kind kind = Kind::kText;
  std::string text;
  std::vector<int32_t> tokens;
  std::vector<ChatMessage> messages;
  std::vector<Tool> tools;
  std::vector<Document> documents;
  // Chat: extra keyword variables for the template, a JSON object ({"enable_thinking": false}).
  std::string template_variables = "{}";
  // Chat: the messages continue a conversation already in the sequence, so only what they add is
  // rendered (no BOS, no opening system turn). Implied when a session already holds tokens.
  bool continue_conversation = false;
  // Text: prepend BOS when the sequence is empty. Chat: append the assistant prompt.
  bool add_special = true;
  // Text only: recognise special-token strings ("<|eom|>", "<|startoftext|>") in the text as
  // their tokens. Off (the default), text is plain whatever it spells, as chat message content
  // always is: a user cannot inject control tokens. Send token ids for exact control.
  bool parse_special_tokens = false;

  static Input Text(std::string text, bool add_bos = true);
  static Input Tokens(std::vector<int32_t> tokens);
  static Input Chat(std::vector<ChatMessage> messages, bool add_generation_prompt = true);
};

struct TokenizeOptions {
  bool add_bos = true;
  bool parse_special_tokens = false;  // as Input::parse_special_tokens
  // > 0: stop once the result holds more than this many ids (BOS included), so an over-long text
  // costs time and memory for the limit only; the caller compares the size with the limit.
  int64_t max_tokens = 0;
};

struct SamplingOptions {
  float temperature = 1.0f;  // 0: greedy
  float top_p = 1.0f;        // (0, 1]
  int32_t top_k = 0;         // 0: off
  float min_p = 0.0f;        // [0, 1]
  float repetition_penalty = 1.0f;
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  std::optional<uint64_t> seed;  // unset: a random seed (reported in the result)
};

struct StopOptions {
  int64_t max_tokens = 256;
  std::vector<std::string> stop_strings;
  std::vector<int32_t> stop_token_ids;
  bool ignore_eos = false;
};

// How a completion's text is read. kAuto: a chat input's completion is split, per the chat
// template, into the answer (text), reasoning (a <think> block) and tool calls; other inputs are
// text. kChat: split it whatever the input (a caller that rendered the chat itself). kRaw: all
// text.
enum class OutputParsing { kAuto, kChat, kRaw };

// Whether a chat reply calls a tool (OpenAI's tool_choice). kAuto: the model decides. kNone: it
// does not (its tool-call markup is never produced nor read). kRequired / kFunction: it does, one
// of the offered tools / the named one: the reply is constrained to the template's tool-call
// markup with arguments that are a JSON object of at most `max_argument_bytes`, and the turn ends.
struct ToolChoice {
  enum class Mode { kAuto, kNone, kRequired, kFunction };
  Mode mode = Mode::kAuto;
  std::string function;  // kFunction: the tool's name
  // The tools offered, by name; empty: those of the chat input. (A caller that renders the chat
  // itself and feeds tokens names them here.)
  std::vector<std::string> tools;
  size_t max_argument_bytes = 1024;
};

struct GenerateOptions {
  SamplingOptions sampling;
  OutputParsing output_parsing = OutputParsing::kAuto;
  ToolChoice tool_choice;
  StopOptions stop;
  int top_logprobs = 0;  // 0..20 alternatives per token
  bool logprobs = false;
  absl::Time deadline = absl::InfiniteFuture();
  // GenerateFromSession with commit: the commit point (the atomic switch to the new session state)
  // is passed only while `cancelled` (when set) returns false and neither `deadline` nor
  // `commit_by` has passed; otherwise nothing is stored and the call fails with CANCELLED or
  // DEADLINE_EXCEEDED. Once it is passed the call succeeds, even if the deadline passes during
  // the rest of it: the outcome a caller sees and what is stored always agree. A server sets
  // `commit_by` a margin before its client's deadline, so the reply can still reach the client.
  absl::Time commit_by = absl::InfiniteFuture();
  std::function<bool()> cancelled;
  // Stateless generation reuses the longest persisted session checkpoint of this tenant whose
  // tokens begin the prompt (needs a session directory).
  std::string tenant = "default";
};

// What a RESOURCE_EXHAUSTED error of the engine ran out of: kRequestQueue (retry soon),
// kSessionQuota (the configured session disk quota), kStorage (the filesystem is full), kMemory.
enum class ExhaustedResource { kUnknown, kRequestQueue, kSessionQuota, kStorage, kMemory };
ExhaustedResource ExhaustedResourceOf(const absl::Status& status);

// An UNAVAILABLE session call because another process sharing the session directory holds the
// session's lease: that replica's id, and how long until it may have let go. Nothing was done, so
// the call can be retried as it is (after `retry_after`, or on the owner).
struct SessionOwner {
  std::string owner;
  absl::Duration retry_after;
};
std::optional<SessionOwner> SessionOwnerOf(const absl::Status& status);

// kToolCalls: the model ended its turn after calling tools (the result's tool_calls).
enum class FinishReason {
  kEos,
  kLength,
  kStopString,
  kStopToken,
  kContextLength,
  kCancelled,
  kToolCalls
};
const char* FinishReasonName(FinishReason reason);

struct TokenLogprob {
  int32_t token = 0;
  float logprob = 0.0f;
};

struct GeneratedToken {
  int32_t token = 0;
  float logprob = 0.0f;           // set when GenerateOptions::logprobs
  std::vector<TokenLogprob> top;  // GenerateOptions::top_logprobs alternatives
};

// One streamed piece of output. `text` is always complete UTF-8; it may be empty while the
// tokens are part of a multi-byte character or a possible stop string. `tokens` holds every
// sampled token, including a final end-of-sequence or stop token (whose text is not returned).
struct GenerateChunk {
  std::string text;                  // answer text (all text when the output is not parsed)
  std::string reasoning;             // reasoning text, as it comes
  std::vector<ToolCall> tool_calls;  // tool calls, each once it is complete
  std::vector<GeneratedToken> tokens;
};

struct Usage {
  int64_t prompt_tokens = 0;      // tokens of the input (for sessions: the new tokens)
  int64_t restored_tokens = 0;    // taken from a persisted or live state without compute
  int64_t recomputed_tokens = 0;  // run through the model
  int64_t completion_tokens = 0;  // generated
};

struct Timings {
  double queue_seconds = 0;
  double prefill_seconds = 0;  // until the first token was sampled
  double decode_seconds = 0;   // from the first to the last token
};

struct SessionInfo {
  std::string id;
  std::string tenant;
  std::string display_name;
  std::map<std::string, std::string> labels;
  int64_t token_count = 0;
  int64_t checkpoint_count = 0;
  absl::Time create_time;
  absl::Time update_time;
  int64_t disk_bytes = 0;
  bool in_memory = false;  // its state is loaded (no disk read on next use)
  std::string etag;        // changes with every committed change of the session
  // What the session was computed with (it resumes only under the same): the KV dtype of its
  // segments, and the precision preset ("" for a session from before precision was recorded).
  std::string kv_dtype;
  std::string precision;
};

struct GenerateResult {
  std::string text;                  // the answer (for a parsed chat output, without reasoning and
                                     // tool-call markup)
  std::string reasoning;             // a parsed chat output's reasoning
  std::vector<ToolCall> tool_calls;  // a parsed chat output's tool calls
  // A tool-call block whose JSON did not parse: it is in `text` as the model wrote it.
  bool malformed_tool_call = false;
  std::vector<int32_t> tokens;          // output tokens (without a final EOS or stop token)
  std::vector<int32_t> sampled_tokens;  // every sampled token (with a final EOS or stop token)
  FinishReason finish_reason = FinishReason::kLength;
  std::string matched_stop_string;  // for kStopString
  Usage usage;
  Timings timings;
  uint64_t seed = 0;  // the seed used
  // GenerateFromSession with commit: the session as committed.
  std::optional<SessionInfo> session;
};

struct LayerInfo {
  std::string mixer;  // "mamba" or "attention"
  std::string ffn;    // "dense" or "moe"
};

struct ModelInfo {
  std::string model_dir;
  std::string fingerprint;    // binds persisted sessions to these exact weights and tokenizer
  std::string model_type;     // config.json's model_type ("jamba")
  std::string weights_dtype;  // config.json's torch_dtype ("bfloat16"); "" when not given
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int num_layers = 0;
  int num_attention_layers = 0;
  int num_mamba_layers = 0;
  int num_attention_heads = 0;
  int num_key_value_heads = 0;
  int64_t head_dim = 0;
  int num_experts = 0;
  int experts_per_token = 0;
  int mamba_d_state = 0;
  int mamba_d_conv = 0;
  int64_t mamba_inner_size = 0;  // mamba_expand * hidden_size
  int64_t mamba_dt_rank = 0;
  int64_t max_position_embeddings = 0;
  int64_t total_parameters = 0;
  int64_t active_parameters = 0;
  // KV cache bytes per token (all attention layers, K and V) in this engine's kv_dtype.
  int64_t kv_bytes_per_token = 0;
  int64_t mamba_state_bytes = 0;
  int64_t max_context_tokens = 0;
  // What EngineOptions::precision resolved to: "exact", "fast" or "custom" (the knobs chose),
  // and the knobs themselves: activations "fp32"/"bf16", kv_dtype "fp32"/"bf16"/"int8".
  std::string precision;
  std::string activations;
  std::string kv_dtype;
  bool has_tokenizer = false;
  std::string tokenizer_kind;  // "tokenizer.json" or "sentencepiece"; "" without a tokenizer
  // Tokenizer facts (from the tokenizer files, else config.json); -1 means none.
  int32_t bos_token_id = -1;
  std::vector<int32_t> eos_token_ids;  // generation stops at these unless ignore_eos
  int32_t pad_token_id = -1;
  bool has_chat_template = false;    // Input::Chat works
  std::string chat_template_origin;  // "tokenizer_config.json", "built-in (Jamba 1.5+)", ...
  std::string chat_template_family;  // "jamba", "chatml" or "other"
  std::string tool_call_format;      // how completions are read: "jamba", "hermes" or "none"
  bool reasoning = false;            // completions' <think> blocks are read as reasoning
  std::string backend;
  std::vector<LayerInfo> layers;
};

// ---- sessions ----

struct CheckpointInfo {
  int64_t position = 0;  // tokens in the session at the checkpoint (0: the empty session)
  std::string reason;    // "create", "interval", "append", "commit"
  absl::Time create_time;
};

struct CreateSessionOptions {
  std::string id;  // 1-63 of [a-z0-9-]; empty: generated
  std::string display_name;
  std::map<std::string, std::string> labels;
};

struct AppendOptions {
  // Called on the caller's thread as the input is processed; return false to cancel (the session
  // then stays as it was before the call).
  std::function<bool(int64_t done, int64_t total)> on_progress;
  absl::Time deadline = absl::InfiniteFuture();
};

struct AppendResult {
  SessionInfo session;
  Usage usage;
  double seconds = 0;
};

// Newest first (by creation time, then id).
struct SessionPage {
  std::vector<SessionInfo> sessions;
  std::string next_page_token;  // empty on the last page
};

// A snapshot of the engine's load for monitoring (Engine::stats()). Each figure is read on its
// own, so they are not one consistent instant.
struct EngineStats {
  int64_t queued_requests = 0;       // submitted, waiting for the engine thread
  int64_t running_requests = 0;      // advanced together in the current steps
  int64_t steps = 0;                 // forward steps since Open
  int64_t last_batch_sequences = 0;  // sequences in the last step
  int64_t last_batch_tokens = 0;     // tokens (decode + prefill) in the last step
  int64_t session_memory_bytes = 0;  // live session states held in memory
  int64_t session_disk_bytes = 0;    // all session files (shared files counted once)
};

}  // namespace jamba

#endif  // JAMBA_SDK_TYPES_H_
