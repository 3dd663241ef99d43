/* jamba_c.h: the C ABI of libjamba, for other languages (and for C). A thin, versioned layer over
 * the C++ jamba::Engine (jamba/engine.h): same model, same results, same status codes.
 *
 *   const JambaApi* api = JambaGetApiBase()->GetApi(JAMBA_API_VERSION);
 *   if (api == NULL) { ... the library is older than this header ... }
 *   JambaEngine* engine = NULL;
 *   JambaStatus* status = api->OpenEngine("/models/jamba-mini", NULL, &engine);
 *   if (status != NULL) {
 *     fprintf(stderr, "%s\n", api->GetStatusMessage(status));
 *     api->ReleaseStatus(status);
 *   }
 *
 * docs/c-api.md has a complete example and the rules below in one table.
 *
 * Versioning. JambaApiBase is frozen forever. JambaApi is append-only: a new library version only
 * adds members at the end and bumps JAMBA_API_VERSION, so a table obtained with GetApi(N) is
 * valid for every member declared up to version N. GetApi returns NULL for a version the library
 * does not know (0, or newer than the library).
 *
 * Errors. Every function that can fail returns JambaStatus*: NULL on success; otherwise a status
 * the caller owns and releases with ReleaseStatus. On error no out-parameter is written. Codes are
 * the canonical gRPC / absl codes. A NULL handle, out-parameter or required string is
 * INVALID_ARGUMENT (never a crash). No function lets a C++ exception escape.
 *
 * Strings. UTF-8. Inputs are NUL-terminated unless a length is passed beside them (then they may
 * hold any UTF-8, including NUL); text inputs that are not valid UTF-8 are INVALID_ARGUMENT.
 * File-system paths are passed through as bytes. Every other string the library returns is valid
 * UTF-8, and all are NUL-terminated (a length is returned beside text that may contain NUL).
 *
 * Ownership. A handle returned through a non-const out-parameter (JambaX** out) belongs to the
 * caller: release it exactly once with its Release function (every Release accepts NULL and
 * returns nothing). Arrays the library allocates are released with the Release function named
 * beside them (never with free()). Everything returned by a getter, including const handles
 * (const JambaSessionInfo** out), is borrowed: valid until the handle it came from is released,
 * and never freed by the caller. Pointers passed to callbacks are valid only during the callback.
 * The library copies what it needs from its arguments and keeps no pointer to caller memory
 * after a call returns.
 *
 * Thread-safety. A JambaEngine may be used from any number of threads at once (requests are
 * batched together); it must not be released while a call on it is in flight. Every other handle
 * is not synchronized: use it from one thread at a time, or from several only for calls that read
 * it (getters, passing it as a const argument). Callbacks run on the thread that made the call.
 */
#ifndef JAMBA_SDK_JAMBA_C_H_
#define JAMBA_SDK_JAMBA_C_H_

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define JAMBA_C_EXPORT __attribute__((visibility("default")))
#else
#define JAMBA_C_EXPORT
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* The newest JambaApi version this header declares. */
#define JAMBA_API_VERSION 2

/* ---- Opaque handles ---- */

typedef struct JambaStatus JambaStatus;                   /* an error: code + message */
typedef struct JambaEngineOptions JambaEngineOptions;     /* key/value options for OpenEngine */
typedef struct JambaEngine JambaEngine;                   /* a loaded model; thread-safe */
typedef struct JambaInput JambaInput;                     /* text, token ids or chat messages */
typedef struct JambaGenerateOptions JambaGenerateOptions; /* sampling, stop, limits */
typedef struct JambaGenerateResult JambaGenerateResult;   /* text, tokens, finish reason, usage */
typedef struct JambaSessionOptions JambaSessionOptions;   /* id, display name, labels */
typedef struct JambaSessionInfo JambaSessionInfo;         /* one session's metadata */
typedef struct JambaSessionPage JambaSessionPage;         /* one page of ListSessions */
typedef struct JambaAppendResult JambaAppendResult;       /* session after an append + usage */
typedef struct JambaCheckpointList JambaCheckpointList;   /* a session's checkpoints */

/* ---- Enumerations (fixed-width: enum sizes are not part of a portable ABI) ---- */

/* The canonical status codes (absl::StatusCode, google.rpc.Code). OK never appears in a
 * JambaStatus: success is a NULL status. */
typedef int32_t JambaStatusCode;
enum {
  JAMBA_OK = 0,
  JAMBA_CANCELLED = 1,
  JAMBA_UNKNOWN = 2,
  JAMBA_INVALID_ARGUMENT = 3,
  JAMBA_DEADLINE_EXCEEDED = 4,
  JAMBA_NOT_FOUND = 5,
  JAMBA_ALREADY_EXISTS = 6,
  JAMBA_PERMISSION_DENIED = 7,
  JAMBA_RESOURCE_EXHAUSTED = 8,
  JAMBA_FAILED_PRECONDITION = 9,
  JAMBA_ABORTED = 10,
  JAMBA_OUT_OF_RANGE = 11,
  JAMBA_UNIMPLEMENTED = 12,
  JAMBA_INTERNAL = 13,
  JAMBA_UNAVAILABLE = 14,
  JAMBA_DATA_LOSS = 15,
  JAMBA_UNAUTHENTICATED = 16
};

/* Why generation stopped (jamba::FinishReason). */
typedef int32_t JambaFinishReason;
enum {
  JAMBA_FINISH_EOS = 0,            /* the model produced end-of-sequence */
  JAMBA_FINISH_LENGTH = 1,         /* max_tokens reached */
  JAMBA_FINISH_STOP_STRING = 2,    /* a stop string matched (GenerateResultGetMatchedStopString) */
  JAMBA_FINISH_STOP_TOKEN = 3,     /* a stop token id was sampled */
  JAMBA_FINISH_CONTEXT_LENGTH = 4, /* the context window is full */
  JAMBA_FINISH_CANCELLED = 5,
  JAMBA_FINISH_TOOL_CALLS = 6 /* the model ended its turn after calling tools (version 2) */
};

/* ForkSession's `position` for "the source session's end". */
#define JAMBA_SESSION_END ((int64_t)-1)

/* ---- Callbacks ---- */

/* Called with each streamed chunk of a generation, on the calling thread. `text` (NUL-terminated,
 * `text_len` bytes) is complete UTF-8 and may be empty while tokens are part of a multi-byte
 * character or a possible stop string; `tokens` holds every sampled token of the chunk, including
 * a final end-of-sequence or stop token (whose text is not returned). Both pointers are valid only
 * during the call. Return 0 to continue, nonzero to cancel: the call then fails with CANCELLED and
 * no result. The callback must not call into the same engine, throw, or longjmp. */
typedef int (*JambaChunkCallback)(void* user_data, const char* text, size_t text_len,
                                  const int32_t* tokens, size_t n_tokens);

/* Called as an append's input is processed (`done` of `total` tokens), on the calling thread.
 * Return 0 to continue, nonzero to cancel (the session then stays as it was: CANCELLED). */
typedef int (*JambaProgressCallback)(void* user_data, int64_t done, int64_t total);

/* ---- The function table ----
 * Unless a function says otherwise: the return value is a JambaStatus* (NULL: success), handles
 * passed in must not be NULL, and out-parameters are written only on success. */
typedef struct JambaApi {
  /* -- Status -- */

  /* The code of `status`; JAMBA_OK for NULL. */
  JambaStatusCode (*GetStatusCode)(const JambaStatus* status);
  /* The message of `status` (NUL-terminated UTF-8, borrowed until ReleaseStatus); "" for NULL. */
  const char* (*GetStatusMessage)(const JambaStatus* status);
  void (*ReleaseStatus)(JambaStatus* status);
  /* "OK", "CANCELLED", ..., "UNAUTHENTICATED"; "UNKNOWN_CODE" for other values. Static storage. */
  const char* (*StatusCodeName)(JambaStatusCode code);

  /* -- Engine options: key/value strings, parsed locale-independently --
   * Keys (jamba::EngineOptions): threads, device ("cpu", "cuda", "auto"), simd, weights ("auto",
   * "int8"), precision ("auto", "exact", "fast"), activations ("", "fp32", "bf16"), kv_dtype ("",
   * "fp32", "bf16", "int8"), kv_memory_bytes, weight_memory ("packed", "mapped"), max_batch_tokens,
   * prefill_chunk, max_running_requests, max_queued_requests, max_prompt_tokens, max_new_tokens,
   * max_context_tokens, session_dir, session_key_file, session_memory_bytes,
   * session_disk_quota_bytes, session_ttl_seconds, session_owner_id, session_lease_ttl_seconds,
   * checkpoint_interval, min_prefix_reuse_tokens.
   * Integers are decimal. An unknown key or a value that does not parse is INVALID_ARGUMENT naming
   * the key (and the options are unchanged); ranges are checked by OpenEngine. Without session_dir,
   * session calls fail with FAILED_PRECONDITION. */

  JambaStatus* (*CreateEngineOptions)(JambaEngineOptions** out);
  JambaStatus* (*SetEngineOption)(JambaEngineOptions* options, const char* key, const char* value);
  void (*ReleaseEngineOptions)(JambaEngineOptions* options);

  /* -- Engine -- */

  /* Loads a Hugging Face-format Jamba checkpoint directory. `options` may be NULL (defaults) and
   * is not referenced after the call. Fails with a message naming the file for malformed input. */
  JambaStatus* (*OpenEngine)(const char* model_dir, const JambaEngineOptions* options,
                             JambaEngine** out);
  /* Stops the engine and frees the model. No call on the engine may be in flight. Handles created
   * from it (results, infos, pages) stay valid. */
  void (*ReleaseEngine)(JambaEngine* engine);

  /* Model facts (jamba::ModelInfo), by key. Int64 keys: vocab_size, hidden_size, num_layers,
   * num_attention_layers, num_mamba_layers, num_experts, experts_per_token, total_parameters,
   * active_parameters, kv_bytes_per_token, mamba_state_bytes, max_context_tokens, has_tokenizer
   * (0 or 1). String keys: model_dir (as passed to OpenEngine), fingerprint, backend, precision
   * ("exact", "fast", "custom"), activations, kv_dtype; the string is borrowed until
   * ReleaseEngine. Unknown key: INVALID_ARGUMENT. */
  JambaStatus* (*GetModelInfoInt64)(const JambaEngine* engine, const char* key, int64_t* out);
  JambaStatus* (*GetModelInfoString)(const JambaEngine* engine, const char* key, const char** out);
  /* Layer `index` (< num_layers): mixer "mamba" or "attention", ffn "dense" or "moe" (static
   * strings). Out of range: OUT_OF_RANGE. */
  JambaStatus* (*GetModelLayer)(const JambaEngine* engine, size_t index, const char** mixer,
                                const char** ffn);

  /* -- Tokenizer (needs tokenizer.model in the model directory: else FAILED_PRECONDITION) -- */

  /* Token ids of `text` (`text_len` bytes), as plain text: special-token strings in it are not
   * recognised (TokenizeInput with parse_special_tokens does). *out_tokens is allocated by the
   * library (non-NULL, even for 0 tokens): release it with ReleaseTokens. */
  JambaStatus* (*Tokenize)(const JambaEngine* engine, const char* text, size_t text_len,
                           int add_bos, int32_t** out_tokens, size_t* out_n_tokens);
  /* Text of `tokens` (`tokens` may be NULL when n_tokens is 0). *out_text is allocated by the
   * library, NUL-terminated, *out_text_len bytes without the NUL: release it with ReleaseText.
   * An id outside the vocabulary is INVALID_ARGUMENT. */
  JambaStatus* (*Detokenize)(const JambaEngine* engine, const int32_t* tokens, size_t n_tokens,
                             int skip_special_tokens, char** out_text, size_t* out_text_len);
  void (*ReleaseTokens)(int32_t* tokens);
  void (*ReleaseText)(char* text);

  /* -- Inputs (what to feed the model; the data is copied in) -- */

  /* Text; with add_bos, BOS is prepended when the sequence is empty. */
  JambaStatus* (*CreateTextInput)(const char* text, size_t text_len, int add_bos, JambaInput** out);
  /* Token ids (checked against the vocabulary when used). */
  JambaStatus* (*CreateTokenInput)(const int32_t* tokens, size_t n_tokens, JambaInput** out);
  /* Chat messages rendered with the model's chat template; add messages with AddChatMessage. */
  JambaStatus* (*CreateChatInput)(int add_generation_prompt, JambaInput** out);
  /* Appends a message ("system", "user" or "assistant") to a chat input; another kind of input
   * is FAILED_PRECONDITION. */
  JambaStatus* (*AddChatMessage)(JambaInput* input, const char* role, const char* content,
                                 size_t content_len);
  void (*ReleaseInput)(JambaInput* input);

  /* -- Generate options: key/value strings, as the engine options --
   * Keys (jamba::GenerateOptions): temperature (0: greedy), top_p, top_k, min_p,
   * repetition_penalty, presence_penalty, frequency_penalty, seed (unset: random, reported in the
   * result), max_tokens, ignore_eos ("true"/"false"/"1"/"0"), logprobs, top_logprobs,
   * timeout_ms (> 0: DEADLINE_EXCEEDED after that long from the start of the call), tenant (whose
   * persisted checkpoints a stateless Generate may reuse; default "default"), and since version 2
   * tool_choice ("auto", "none", "required" or "function:NAME": whether a chat reply calls one of
   * the chat input's tools). Ranges are checked by Generate, naming the field. */

  JambaStatus* (*CreateGenerateOptions)(JambaGenerateOptions** out);
  JambaStatus* (*SetGenerateOption)(JambaGenerateOptions* options, const char* key,
                                    const char* value);
  JambaStatus* (*AddStopString)(JambaGenerateOptions* options, const char* text, size_t text_len);
  JambaStatus* (*AddStopTokenId)(JambaGenerateOptions* options, int32_t token);
  void (*ReleaseGenerateOptions)(JambaGenerateOptions* options);

  /* -- Generation -- */

  /* Runs `input` through the model and generates, streaming chunks to `on_chunk` (may be NULL).
   * Blocks until done. `options` may be NULL (defaults: temperature 1, max_tokens 256). Errors:
   * INVALID_ARGUMENT (bad options or input, naming the field), RESOURCE_EXHAUSTED (queue full),
   * CANCELLED (on_chunk returned nonzero), DEADLINE_EXCEEDED. */
  JambaStatus* (*Generate)(JambaEngine* engine, const JambaInput* input,
                           const JambaGenerateOptions* options, JambaChunkCallback on_chunk,
                           void* user_data, JambaGenerateResult** out);
  /* Result getters. Pointers are borrowed until ReleaseGenerateResult. */
  /* The generated text (NUL-terminated; `text_len` may be NULL). */
  JambaStatus* (*GenerateResultGetText)(const JambaGenerateResult* result, const char** text,
                                        size_t* text_len);
  /* Output tokens, without a final EOS or stop token (*tokens may be NULL when *n_tokens is 0). */
  JambaStatus* (*GenerateResultGetTokens)(const JambaGenerateResult* result, const int32_t** tokens,
                                          size_t* n_tokens);
  /* Every sampled token, with a final EOS or stop token. */
  JambaStatus* (*GenerateResultGetSampledTokens)(const JambaGenerateResult* result,
                                                 const int32_t** tokens, size_t* n_tokens);
  JambaStatus* (*GenerateResultGetFinishReason)(const JambaGenerateResult* result,
                                                JambaFinishReason* out);
  /* The stop string that ended generation ("" unless JAMBA_FINISH_STOP_STRING). */
  JambaStatus* (*GenerateResultGetMatchedStopString)(const JambaGenerateResult* result,
                                                     const char** text, size_t* text_len);
  /* Token counts (jamba::Usage); each out-parameter may be NULL to skip it. For sessions,
   * prompt_tokens counts the new tokens. prompt = restored + recomputed. */
  JambaStatus* (*GenerateResultGetUsage)(const JambaGenerateResult* result, int64_t* prompt_tokens,
                                         int64_t* restored_tokens, int64_t* recomputed_tokens,
                                         int64_t* completion_tokens);
  /* Seconds queued, in prefill, in decode; each out-parameter may be NULL. */
  JambaStatus* (*GenerateResultGetTimings)(const JambaGenerateResult* result, double* queue_seconds,
                                           double* prefill_seconds, double* decode_seconds);
  /* The sampling seed used (the one set, or the random one drawn). */
  JambaStatus* (*GenerateResultGetSeed)(const JambaGenerateResult* result, uint64_t* out);
  void (*ReleaseGenerateResult)(JambaGenerateResult* result);
  /* "eos", "length", "stop_string", "stop_token", "context_length", "cancelled"; "?" for other
   * values. Static storage. */
  const char* (*FinishReasonName)(JambaFinishReason reason);

  /* -- Logits -- */

  /* Full-sequence logits for `tokens`: n_tokens * vocab_size floats, row-major, computed in
   * chunks of `chunk` tokens (0: 512). *out_logits is allocated by the library: release it with
   * ReleaseLogits. For evaluating the engine against other implementations. */
  JambaStatus* (*ComputeLogits)(JambaEngine* engine, const int32_t* tokens, size_t n_tokens,
                                int64_t chunk, float** out_logits, size_t* out_n_floats);
  void (*ReleaseLogits)(float* logits);

  /* -- Sessions: persisted conversations (docs/session-format.md) --
   * Every session call names the tenant that owns the session (1-64 of [A-Za-z0-9._-]); another
   * tenant's session is NOT_FOUND. Session ids are 1-63 of [a-z0-9-]. Calls on one session are
   * serialized; calls on different sessions run concurrently. */

  /* Options for CreateSession. Keys: id (empty: generated), display_name. */
  JambaStatus* (*CreateSessionOptions)(JambaSessionOptions** out);
  JambaStatus* (*SetSessionOption)(JambaSessionOptions* options, const char* key,
                                   const char* value);
  /* Sets label `key` to `value` (replacing an earlier value). */
  JambaStatus* (*AddSessionLabel)(JambaSessionOptions* options, const char* key, const char* value);
  void (*ReleaseSessionOptions)(JambaSessionOptions* options);

  /* `options` may be NULL (a generated id, no name, no labels). */
  JambaStatus* (*CreateSession)(JambaEngine* engine, const char* tenant,
                                const JambaSessionOptions* options, JambaSessionInfo** out);
  JambaStatus* (*GetSession)(JambaEngine* engine, const char* tenant, const char* id,
                             JambaSessionInfo** out);
  /* Newest first. `page_size` 0: 50 (at most 1000); `page_token`: NULL or "" for the first page,
   * else the previous page's next page token. */
  JambaStatus* (*ListSessions)(JambaEngine* engine, const char* tenant, int32_t page_size,
                               const char* page_token, JambaSessionPage** out);
  JambaStatus* (*DeleteSession)(JambaEngine* engine, const char* tenant, const char* id);
  /* Feeds `input` to the session and commits it. All or nothing: on error or cancellation the
   * session is unchanged. `timeout_ms` 0: no deadline. `on_progress` may be NULL. */
  JambaStatus* (*AppendToSession)(JambaEngine* engine, const char* tenant, const char* id,
                                  const JambaInput* input, int64_t timeout_ms,
                                  JambaProgressCallback on_progress, void* user_data,
                                  JambaAppendResult** out);
  /* Generates from the session's state, after feeding `input` if not NULL. With `commit`
   * nonzero, the input and the generated tokens are appended to the session; otherwise it is left
   * unchanged. Streaming, options and errors as Generate. */
  JambaStatus* (*GenerateFromSession)(JambaEngine* engine, const char* tenant, const char* id,
                                      const JambaInput* input, const JambaGenerateOptions* options,
                                      int commit, JambaChunkCallback on_chunk, void* user_data,
                                      JambaGenerateResult** out);
  /* A new session `new_id` (NULL or "": generated) sharing the source's state at `position`, a
   * checkpoint position, or JAMBA_SESSION_END. */
  JambaStatus* (*ForkSession)(JambaEngine* engine, const char* tenant, const char* id,
                              const char* new_id, int64_t position, JambaSessionInfo** out);
  JambaStatus* (*ListCheckpoints)(JambaEngine* engine, const char* tenant, const char* id,
                                  JambaCheckpointList** out);
  /* Returns the session to a checkpoint position, dropping everything after it. */
  JambaStatus* (*RewindSession)(JambaEngine* engine, const char* tenant, const char* id,
                                int64_t position, JambaSessionInfo** out);
  /* Drops every live session state from memory (they stay on disk). For tests and tools. */
  JambaStatus* (*EvictAllSessionsFromMemory)(JambaEngine* engine);

  /* Session info getters. Strings are borrowed until the info is released (for an info
   * borrowed from a page or append result: until that is released). String keys: id, tenant,
   * display_name, etag, kv_dtype, precision. Int64 keys: token_count, checkpoint_count,
   * create_time_unix_us, update_time_unix_us, disk_bytes, in_memory (0 or 1). Unknown key:
   * INVALID_ARGUMENT. */
  JambaStatus* (*SessionInfoGetString)(const JambaSessionInfo* info, const char* key,
                                       const char** out);
  JambaStatus* (*SessionInfoGetInt64)(const JambaSessionInfo* info, const char* key, int64_t* out);
  /* Labels, sorted by key; `index` >= count is OUT_OF_RANGE. */
  JambaStatus* (*SessionInfoGetLabelCount)(const JambaSessionInfo* info, size_t* out);
  JambaStatus* (*SessionInfoGetLabel)(const JambaSessionInfo* info, size_t index, const char** key,
                                      const char** value);
  void (*ReleaseSessionInfo)(JambaSessionInfo* info);

  /* Session page getters. The infos are borrowed until ReleaseSessionPage (do not release them).
   * The next page token is "" on the last page. */
  JambaStatus* (*SessionPageGetCount)(const JambaSessionPage* page, size_t* out);
  JambaStatus* (*SessionPageGetSession)(const JambaSessionPage* page, size_t index,
                                        const JambaSessionInfo** out);
  JambaStatus* (*SessionPageGetNextPageToken)(const JambaSessionPage* page, const char** out);
  void (*ReleaseSessionPage)(JambaSessionPage* page);

  /* Append result getters: the session after the append (borrowed until ReleaseAppendResult),
   * token counts as GenerateResultGetUsage, and the seconds it took. */
  JambaStatus* (*AppendResultGetSession)(const JambaAppendResult* result,
                                         const JambaSessionInfo** out);
  JambaStatus* (*AppendResultGetUsage)(const JambaAppendResult* result, int64_t* prompt_tokens,
                                       int64_t* restored_tokens, int64_t* recomputed_tokens,
                                       int64_t* completion_tokens);
  JambaStatus* (*AppendResultGetSeconds)(const JambaAppendResult* result, double* out);
  void (*ReleaseAppendResult)(JambaAppendResult* result);

  /* Checkpoints, oldest first; position 0 (the empty session) is always listed. `reason` is
   * "create", "interval", "append" or "commit" (borrowed until ReleaseCheckpointList). Each
   * out-parameter of CheckpointListGet may be NULL. */
  JambaStatus* (*CheckpointListGetCount)(const JambaCheckpointList* list, size_t* out);
  JambaStatus* (*CheckpointListGet)(const JambaCheckpointList* list, size_t index,
                                    int64_t* position, const char** reason,
                                    int64_t* create_time_unix_us);
  void (*ReleaseCheckpointList)(JambaCheckpointList* list);

  /* ---- End of version 1. Append new members below this line only. ---- */

  /* -- Version 2 -- */

  /* Sets an input option ("true"/"false" values). Text inputs: parse_special_tokens (whether
   * special-token strings such as "<|eom|>" in the text become those tokens; default false, the
   * text is plain whatever it spells; chat message content is always plain). Chat inputs:
   * continue_conversation (the messages continue a conversation already in the sequence: only
   * what they add is rendered). Token inputs are FAILED_PRECONDITION; an unknown key or bad value
   * INVALID_ARGUMENT. */
  JambaStatus* (*SetInputOption)(JambaInput* input, const char* key, const char* value);
  /* The tokens Generate feeds the model for `input` as a new sequence (BOS, chat template and
   * all), with Generate's errors. *out_tokens is released with ReleaseTokens. */
  JambaStatus* (*TokenizeInput)(const JambaEngine* engine, const JambaInput* input,
                                int32_t** out_tokens, size_t* out_n_tokens);
  /* Chat inputs from OpenAI-style JSON (docs/c-api.md shows the shapes): key "messages" appends
   * a list of messages (with tool_calls, tool results, reasoning_content), "tools" and
   * "documents" set those lists, "template_variables" sets the template's extra variables (a
   * JSON object such as {"enable_thinking": false}). Bad JSON is INVALID_ARGUMENT naming the
   * field; another kind of input FAILED_PRECONDITION. */
  JambaStatus* (*SetChatInputJson)(JambaInput* input, const char* key, const char* json,
                                   size_t json_len);
  /* The text the model's chat template renders for a chat input (what TokenizeInput tokenizes).
   * *out_text is released with ReleaseText. */
  JambaStatus* (*RenderChat)(const JambaEngine* engine, const JambaInput* input, char** out_text,
                             size_t* out_text_len);
  /* A chat reply's reasoning (its <think> block), apart from the answer text; "" otherwise.
   * Streaming callbacks carry answer text only: read reasoning and tool calls here. */
  JambaStatus* (*GenerateResultGetReasoning)(const JambaGenerateResult* result, const char** text,
                                             size_t* text_len);
  /* A chat reply's tool calls as a JSON list [{"id", "type": "function", "function": {"name",
   * "arguments"}}] ("[]" when none); the finish reason is then JAMBA_FINISH_TOOL_CALLS. */
  JambaStatus* (*GenerateResultGetToolCallsJson)(const JambaGenerateResult* result,
                                                 const char** json, size_t* json_len);
  /* 1 when the model wrote a tool-call block that did not parse (it is in the text as written). */
  JambaStatus* (*GenerateResultGetMalformedToolCall)(const JambaGenerateResult* result, int* out);

  /* ---- End of version 2. Append new members below this line only. ---- */
} JambaApi;

/* Frozen forever: never changes size or layout. */
typedef struct JambaApiBase {
  /* The function table of `version` (1..JAMBA_API_VERSION of the library), or NULL. Static
   * storage; thread-safe. */
  const JambaApi* (*GetApi)(uint32_t version);
  /* The library version, e.g. "0.1.0" (static storage). */
  const char* (*GetVersionString)(void);
} JambaApiBase;

/* The one exported symbol. Static storage; thread-safe. */
JAMBA_C_EXPORT const JambaApiBase* JambaGetApiBase(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* JAMBA_SDK_JAMBA_C_H_ */
