// The C ABI (jamba/jamba_c.h) over jamba::Engine: opaque handles wrapping the C++ value types,
// key/value option parsing, argument checks, and the boundary that turns every absl::Status and
// every C++ exception into a JambaStatus. The function table is a constant; its layout
// is pinned below with offsetof so that it can only ever grow at the end.
//
// Ownership: a handle is created with std::make_unique and handed to the caller with release()
// only once the call has succeeded (so out-parameters are untouched on error); the matching
// Release function deletes it. That new/delete pairing across the ABI is the nature of an opaque
// C handle; inside the library everything else is RAII.
#include "absl/strings/match.h"
#include "sdk/c_api_internal.h"

#ifndef JAMBA_VERSION_STRING
#error "JAMBA_VERSION_STRING must be defined by the build (sdk/CMakeLists.txt)"
#endif

namespace jamba::capi {
namespace {

using EngineOptionKey = OptionKey<EngineOptions>;
constexpr EngineOptionKey kEngineOptionKeys[] = {
    {"threads", [](EngineOptions& o, absl::string_view v) { return Assign(o.threads, v); }},
    {"device", [](EngineOptions& o, absl::string_view v) { return Assign(o.device, v); }},
    {"simd", [](EngineOptions& o, absl::string_view v) { return Assign(o.simd, v); }},
    {"weights", [](EngineOptions& o, absl::string_view v) { return Assign(o.weights, v); }},
    {"precision", [](EngineOptions& o, absl::string_view v) { return Assign(o.precision, v); }},
    {"activations", [](EngineOptions& o, absl::string_view v) { return Assign(o.activations, v); }},
    {"kv_dtype", [](EngineOptions& o, absl::string_view v) { return Assign(o.kv_dtype, v); }},
    {"kv_memory_bytes",
     [](EngineOptions& o, absl::string_view v) { return Assign(o.kv_memory_bytes, v); }},
    {"weight_memory",
     [](EngineOptions& o, absl::string_view v) { return Assign(o.weight_memory, v); }},
    {"max_batch_tokens",
     [](EngineOptions& o, absl::string_view v) { return Assign(o.max_batch_tokens, v); }},
    {"prefill_chunk",
     [](EngineOptions& o, absl::string_view v) { return Assign(o.prefill_chunk, v); }},
    {"max_running_requests",
     [](EngineOptions& o, absl::string_view v) { return Assign(o.max_running_requests, v); }},
    {"max_queued_requests",
     [](EngineOptions& o, absl::string_view v) { return Assign(o.max_queued_requests, v); }},
    {"max_prompt_tokens",
     [](EngineOptions& o, absl::string_view v) { return Assign(o.max_prompt_tokens, v); }},
    {"max_new_tokens",
     [](EngineOptions& o, absl::string_view v) { return Assign(o.max_new_tokens, v); }},
    {"max_context_tokens",
     [](EngineOptions& o, absl::string_view v) { return Assign(o.max_context_tokens, v); }},
    {"session_dir", [](EngineOptions& o, absl::string_view v) { return Assign(o.session_dir, v); }},
    {"session_key_file",
     [](EngineOptions& o, absl::string_view v) { return Assign(o.session_key_file, v); }},
    {"session_memory_bytes",
     [](EngineOptions& o, absl::string_view v) { return Assign(o.session_memory_bytes, v); }},
    {"session_disk_quota_bytes",
     [](EngineOptions& o, absl::string_view v) { return Assign(o.session_disk_quota_bytes, v); }},
    {"session_ttl_seconds",
     [](EngineOptions& o, absl::string_view v) -> const char* {
       double seconds = 0;
       if (!Parse(v, &seconds) || seconds < 0) return "a non-negative number";
       o.session_ttl = absl::Seconds(seconds);
       return nullptr;
     }},
    {"session_owner_id",
     [](EngineOptions& o, absl::string_view v) { return Assign(o.session_owner_id, v); }},
    {"session_lease_ttl_seconds",
     [](EngineOptions& o, absl::string_view v) -> const char* {
       double seconds = 0;
       if (!Parse(v, &seconds) || seconds <= 0) return "a positive number";
       o.session_lease_ttl = absl::Seconds(seconds);
       return nullptr;
     }},
    {"checkpoint_interval",
     [](EngineOptions& o, absl::string_view v) { return Assign(o.checkpoint_interval, v); }},
    {"min_prefix_reuse_tokens",
     [](EngineOptions& o, absl::string_view v) { return Assign(o.min_prefix_reuse_tokens, v); }},
};

using GenerateOptionKey = OptionKey<JambaGenerateOptions>;
constexpr GenerateOptionKey kGenerateOptionKeys[] = {
    {"temperature", [](JambaGenerateOptions& o,
                       absl::string_view v) { return Assign(o.options.sampling.temperature, v); }},
    {"top_p", [](JambaGenerateOptions& o,
                 absl::string_view v) { return Assign(o.options.sampling.top_p, v); }},
    {"top_k", [](JambaGenerateOptions& o,
                 absl::string_view v) { return Assign(o.options.sampling.top_k, v); }},
    {"min_p", [](JambaGenerateOptions& o,
                 absl::string_view v) { return Assign(o.options.sampling.min_p, v); }},
    {"repetition_penalty",
     [](JambaGenerateOptions& o, absl::string_view v) {
       return Assign(o.options.sampling.repetition_penalty, v);
     }},
    {"presence_penalty",
     [](JambaGenerateOptions& o, absl::string_view v) {
       return Assign(o.options.sampling.presence_penalty, v);
     }},
    {"frequency_penalty",
     [](JambaGenerateOptions& o, absl::string_view v) {
       return Assign(o.options.sampling.frequency_penalty, v);
     }},
    {"seed",
     [](JambaGenerateOptions& o, absl::string_view v) -> const char* {
       uint64_t seed = 0;
       if (!Parse(v, &seed)) return Expected<uint64_t>();
       o.options.sampling.seed = seed;
       return nullptr;
     }},
    {"max_tokens", [](JambaGenerateOptions& o,
                      absl::string_view v) { return Assign(o.options.stop.max_tokens, v); }},
    {"ignore_eos", [](JambaGenerateOptions& o,
                      absl::string_view v) { return Assign(o.options.stop.ignore_eos, v); }},
    {"logprobs",
     [](JambaGenerateOptions& o, absl::string_view v) { return Assign(o.options.logprobs, v); }},
    {"top_logprobs", [](JambaGenerateOptions& o,
                        absl::string_view v) { return Assign(o.options.top_logprobs, v); }},
    {"timeout_ms",
     [](JambaGenerateOptions& o, absl::string_view v) -> const char* {
       int64_t ms = 0;
       if (!Parse(v, &ms) || ms <= 0) return "a positive integer";
       o.timeout_ms = ms;
       return nullptr;
     }},
    {"tenant",
     [](JambaGenerateOptions& o, absl::string_view v) { return Assign(o.options.tenant, v); }},
    {"tool_choice",
     [](JambaGenerateOptions& o, absl::string_view v) -> const char* {
       ToolChoice& choice = o.options.tool_choice;
       if (v == "auto" || v == "none" || v == "required") {
         choice.mode = v == "auto"   ? ToolChoice::Mode::kAuto
                       : v == "none" ? ToolChoice::Mode::kNone
                                     : ToolChoice::Mode::kRequired;
         return nullptr;
       }
       if (absl::StartsWith(v, "function:") && v.size() > 9) {
         choice.mode = ToolChoice::Mode::kFunction;
         choice.function = std::string(v.substr(9));
         return nullptr;
       }
       return "auto, none, required or function:NAME";
     }},
};

using SessionOptionKey = OptionKey<CreateSessionOptions>;
constexpr SessionOptionKey kSessionOptionKeys[] = {
    {"id", [](CreateSessionOptions& o, absl::string_view v) { return Assign(o.id, v); }},
    {"display_name",
     [](CreateSessionOptions& o, absl::string_view v) { return Assign(o.display_name, v); }},
};

using ModelInt64Key = GetterKey<ModelInfo, int64_t>;
constexpr ModelInt64Key kModelInt64Keys[] = {
    {"vocab_size", [](const ModelInfo& m) -> int64_t { return m.vocab_size; }},
    {"hidden_size", [](const ModelInfo& m) -> int64_t { return m.hidden_size; }},
    {"num_layers", [](const ModelInfo& m) -> int64_t { return m.num_layers; }},
    {"num_attention_layers", [](const ModelInfo& m) -> int64_t { return m.num_attention_layers; }},
    {"num_mamba_layers", [](const ModelInfo& m) -> int64_t { return m.num_mamba_layers; }},
    {"num_experts", [](const ModelInfo& m) -> int64_t { return m.num_experts; }},
    {"experts_per_token", [](const ModelInfo& m) -> int64_t { return m.experts_per_token; }},
    {"total_parameters", [](const ModelInfo& m) -> int64_t { return m.total_parameters; }},
    {"active_parameters", [](const ModelInfo& m) -> int64_t { return m.active_parameters; }},
    {"kv_bytes_per_token", [](const ModelInfo& m) -> int64_t { return m.kv_bytes_per_token; }},
    {"mamba_state_bytes", [](const ModelInfo& m) -> int64_t { return m.mamba_state_bytes; }},
    {"max_context_tokens", [](const ModelInfo& m) -> int64_t { return m.max_context_tokens; }},
    {"has_tokenizer", [](const ModelInfo& m) -> int64_t { return m.has_tokenizer ? 1 : 0; }},
};

using ModelStringKey = GetterKey<ModelInfo, const char*>;
constexpr ModelStringKey kModelStringKeys[] = {
    {"model_dir", [](const ModelInfo& m) { return m.model_dir.c_str(); }},
    {"fingerprint", [](const ModelInfo& m) { return m.fingerprint.c_str(); }},
    {"backend", [](const ModelInfo& m) { return m.backend.c_str(); }},
    {"precision", [](const ModelInfo& m) { return m.precision.c_str(); }},
    {"activations", [](const ModelInfo& m) { return m.activations.c_str(); }},
    {"kv_dtype", [](const ModelInfo& m) { return m.kv_dtype.c_str(); }},
};

using SessionInt64Key = GetterKey<SessionInfo, int64_t>;
constexpr SessionInt64Key kSessionInt64Keys[] = {
    {"token_count", [](const SessionInfo& s) -> int64_t { return s.token_count; }},
    {"checkpoint_count", [](const SessionInfo& s) -> int64_t { return s.checkpoint_count; }},
    {"create_time_unix_us",
     [](const SessionInfo& s) -> int64_t { return absl::ToUnixMicros(s.create_time); }},
    {"update_time_unix_us",
     [](const SessionInfo& s) -> int64_t { return absl::ToUnixMicros(s.update_time); }},
    {"disk_bytes", [](const SessionInfo& s) -> int64_t { return s.disk_bytes; }},
    {"in_memory", [](const SessionInfo& s) -> int64_t { return s.in_memory ? 1 : 0; }},
};

using SessionStringKey = GetterKey<SessionInfo, const char*>;
constexpr SessionStringKey kSessionStringKeys[] = {
    {"id", [](const SessionInfo& s) { return s.id.c_str(); }},
    {"tenant", [](const SessionInfo& s) { return s.tenant.c_str(); }},
    {"display_name", [](const SessionInfo& s) { return s.display_name.c_str(); }},
    {"etag", [](const SessionInfo& s) { return s.etag.c_str(); }},
    {"kv_dtype", [](const SessionInfo& s) { return s.kv_dtype.c_str(); }},
    {"precision", [](const SessionInfo& s) { return s.precision.c_str(); }},
};

// ---- Status ----

JambaStatusCode GetStatusCode(const JambaStatus* status) {
  return status == nullptr ? JAMBA_OK : status->code;
}

const char* GetStatusMessage(const JambaStatus* status) {
  return status == nullptr ? "" : status->message.c_str();
}

void ReleaseStatus(JambaStatus* status) {
  if (status != OutOfMemoryStatus()) delete status;
}

const char* StatusCodeName(JambaStatusCode code) {
  static constexpr const char* kNames[] = {"OK",
                                           "CANCELLED",
                                           "UNKNOWN",
                                           "INVALID_ARGUMENT",
                                           "DEADLINE_EXCEEDED",
                                           "NOT_FOUND",
                                           "ALREADY_EXISTS",
                                           "PERMISSION_DENIED",
                                           "RESOURCE_EXHAUSTED",
                                           "FAILED_PRECONDITION",
                                           "ABORTED",
                                           "OUT_OF_RANGE",
                                           "UNIMPLEMENTED",
                                           "INTERNAL",
                                           "UNAVAILABLE",
                                           "DATA_LOSS",
                                           "UNAUTHENTICATED"};
  static_assert(std::size(kNames) == JAMBA_UNAUTHENTICATED + 1);
  return code >= JAMBA_OK && code <= JAMBA_UNAUTHENTICATED ? kNames[code] : "UNKNOWN_CODE";
}

// ---- Engine options and engine ----

JambaStatus* CreateEngineOptions(JambaEngineOptions** out) {
  return Guard([&]() -> absl::Status {
    JAMBA_RETURN_IF_ERROR(Args("CreateEngineOptions").NotNull(out, "out").status());
    *out = Owned(std::make_unique<JambaEngineOptions>());
    return absl::OkStatus();
  });
}

JambaStatus* SetEngineOption(JambaEngineOptions* options, const char* key, const char* value) {
  return Guard([&]() -> absl::Status {
    JAMBA_RETURN_IF_ERROR(Args("SetEngineOption").NotNull(options, "options").status());
    return SetOption("SetEngineOption", kEngineOptionKeys, options->options, key, value);
  });
}

void ReleaseEngineOptions(JambaEngineOptions* options) { delete options; }

JambaStatus* OpenEngine(const char* model_dir, const JambaEngineOptions* options,
                        JambaEngine** out) {
  return Guard([&]() -> absl::Status {
    JAMBA_RETURN_IF_ERROR(
        Args("OpenEngine").NotNull(model_dir, "model_dir").NotNull(out, "out").status());
    JAMBA_ASSIGN_OR_RETURN(
        std::unique_ptr<Engine> engine,
        Engine::Open(model_dir, options == nullptr ? EngineOptions() : options->options));
    *out = Owned(std::make_unique<JambaEngine>(JambaEngine{std::move(engine)}));
    return absl::OkStatus();
  });
}

void ReleaseEngine(JambaEngine* engine) { delete engine; }

JambaStatus* GetModelInfoInt64(const JambaEngine* engine, const char* key, int64_t* out) {
  return Guard([&]() -> absl::Status {
    JAMBA_RETURN_IF_ERROR(
        Args("GetModelInfoInt64").NotNull(engine, "engine").NotNull(out, "out").status());
    JAMBA_ASSIGN_OR_RETURN(const int64_t value, GetByKey("GetModelInfoInt64", kModelInt64Keys,
                                                         engine->engine->model_info(), key));
    *out = value;
    return absl::OkStatus();
  });
}

JambaStatus* GetModelInfoString(const JambaEngine* engine, const char* key, const char** out) {
  return Guard([&]() -> absl::Status {
    JAMBA_RETURN_IF_ERROR(
        Args("GetModelInfoString").NotNull(engine, "engine").NotNull(out, "out").status());
    JAMBA_ASSIGN_OR_RETURN(const char* value, GetByKey("GetModelInfoString", kModelStringKeys,
                                                       engine->engine->model_info(), key));
    *out = value;
    return absl::OkStatus();
  });
}

JambaStatus* GetModelLayer(const JambaEngine* engine, size_t index, const char** mixer,
                           const char** ffn) {
  return Guard([&]() -> absl::Status {
    JAMBA_RETURN_IF_ERROR(Args("GetModelLayer")
                              .NotNull(engine, "engine")
                              .NotNull(mixer, "mixer")
                              .NotNull(ffn, "ffn")
                              .status());
    const std::vector<LayerInfo>& layers = engine->engine->model_info().layers;
    if (index >= layers.size()) {
      return absl::OutOfRangeError(
          absl::StrCat("GetModelLayer: index ", index, " >= num_layers ", layers.size()));
    }
    // Static strings, so they outlive even the engine.
    *mixer = layers[index].mixer == "mamba" ? "mamba" : "attention";
    *ffn = layers[index].ffn == "moe" ? "moe" : "dense";
    return absl::OkStatus();
  });
}

// ---- Tokenizer ----

JambaStatus* Tokenize(const JambaEngine* engine, const char* text, size_t text_len, int add_bos,
                      int32_t** out_tokens, size_t* out_n_tokens) {
  return Guard([&]() -> absl::Status {
    JAMBA_RETURN_IF_ERROR(Args("Tokenize")
                              .NotNull(engine, "engine")
                              .NotNull(out_tokens, "out_tokens")
                              .NotNull(out_n_tokens, "out_n_tokens")
                              .status());
    JAMBA_ASSIGN_OR_RETURN(const std::string input, TextArg("Tokenize", "text", text, text_len));
    JAMBA_ASSIGN_OR_RETURN(const std::vector<int32_t> tokens,
                           engine->engine->Tokenize(input, add_bos != 0));
    int32_t* array = NewArray<int32_t>(tokens);
    *out_tokens = array;
    *out_n_tokens = tokens.size();
    return absl::OkStatus();
  });
}

JambaStatus* Detokenize(const JambaEngine* engine, const int32_t* tokens, size_t n_tokens,
                        int skip_special_tokens, char** out_text, size_t* out_text_len) {
  return Guard([&]() -> absl::Status {
    JAMBA_RETURN_IF_ERROR(Args("Detokenize")
                              .NotNull(engine, "engine")
                              .NotNull(out_text, "out_text")
                              .NotNull(out_text_len, "out_text_len")
                              .status());
    JAMBA_ASSIGN_OR_RETURN(const std::span<const int32_t> ids,
                           TokensArg("Detokenize", tokens, n_tokens));
    JAMBA_ASSIGN_OR_RETURN(const std::string text,
                           engine->engine->Detokenize(ids, skip_special_tokens != 0));
    char* array = NewText(text);
    *out_text = array;
    *out_text_len = text.size();
    return absl::OkStatus();
  });
}

void ReleaseTokens(int32_t* tokens) { delete[] tokens; }
void ReleaseText(char* text) { delete[] text; }

// ---- Inputs ----

JambaStatus* CreateTextInput(const char* text, size_t text_len, int add_bos, JambaInput** out) {
  return Guard([&]() -> absl::Status {
    JAMBA_RETURN_IF_ERROR(Args("CreateTextInput").NotNull(out, "out").status());
    JAMBA_ASSIGN_OR_RETURN(std::string input, TextArg("CreateTextInput", "text", text, text_len));
    *out = Owned(
        std::make_unique<JambaInput>(JambaInput{Input::Text(std::move(input), add_bos != 0)}));
    return absl::OkStatus();
  });
}

JambaStatus* CreateTokenInput(const int32_t* tokens, size_t n_tokens, JambaInput** out) {
  return Guard([&]() -> absl::Status {
    JAMBA_RETURN_IF_ERROR(Args("CreateTokenInput").NotNull(out, "out").status());
    JAMBA_ASSIGN_OR_RETURN(const std::span<const int32_t> ids,
                           TokensArg("CreateTokenInput", tokens, n_tokens));
    *out = Owned(std::make_unique<JambaInput>(
        JambaInput{Input::Tokens(std::vector<int32_t>(ids.begin(), ids.end()))}));
    return absl::OkStatus();
  });
}

JambaStatus* CreateChatInput(int add_generation_prompt, JambaInput** out) {
  return Guard([&]() -> absl::Status {
    JAMBA_RETURN_IF_ERROR(Args("CreateChatInput").NotNull(out, "out").status());
    *out = Owned(
        std::make_unique<JambaInput>(JambaInput{Input::Chat({}, add_generation_prompt != 0)}));
    return absl::OkStatus();
  });
}

JambaStatus* AddChatMessage(JambaInput* input, const char* role, const char* content,
                            size_t content_len) {
  return Guard([&]() -> absl::Status {
    JAMBA_RETURN_IF_ERROR(Args("AddChatMessage").NotNull(input, "input").status());
    if (input->input.kind != Input::Kind::kChat) {
      return absl::FailedPreconditionError(
          "AddChatMessage: input was not created with CreateChatInput");
    }
    JAMBA_ASSIGN_OR_RETURN(std::string r, StringArg("AddChatMessage", "role", role));
    JAMBA_ASSIGN_OR_RETURN(std::string c,
                           TextArg("AddChatMessage", "content", content, content_len));
    input->input.messages.push_back({std::move(r), std::move(c)});
    return absl::OkStatus();
  });
}

void ReleaseInput(JambaInput* input) { delete input; }

// ---- Generate options ----

JambaStatus* CreateGenerateOptions(JambaGenerateOptions** out) {
  return Guard([&]() -> absl::Status {
    JAMBA_RETURN_IF_ERROR(Args("CreateGenerateOptions").NotNull(out, "out").status());
    *out = Owned(std::make_unique<JambaGenerateOptions>());
    return absl::OkStatus();
  });
}

JambaStatus* SetGenerateOption(JambaGenerateOptions* options, const char* key, const char* value) {
  return Guard([&]() -> absl::Status {
    JAMBA_RETURN_IF_ERROR(Args("SetGenerateOption").NotNull(options, "options").status());
    return SetOption("SetGenerateOption", kGenerateOptionKeys, *options, key, value);
  });
}

JambaStatus* AddStopString(JambaGenerateOptions* options, const char* text, size_t text_len) {
  return Guard([&]() -> absl::Status {
    JAMBA_RETURN_IF_ERROR(Args("AddStopString").NotNull(options, "options").status());
    JAMBA_ASSIGN_OR_RETURN(std::string stop, TextArg("AddStopString", "text", text, text_len));
    options->options.stop.stop_strings.push_back(std::move(stop));
    return absl::OkStatus();
  });
}

JambaStatus* AddStopTokenId(JambaGenerateOptions* options, int32_t token) {
  return Guard([&]() -> absl::Status {
    JAMBA_RETURN_IF_ERROR(Args("AddStopTokenId").NotNull(options, "options").status());
    options->options.stop.stop_token_ids.push_back(token);
    return absl::OkStatus();
  });
}

void ReleaseGenerateOptions(JambaGenerateOptions* options) { delete options; }

// ---- Generation ----

JambaStatus* Generate(JambaEngine* engine, const JambaInput* input,
                      const JambaGenerateOptions* options, JambaChunkCallback on_chunk,
                      void* user_data, JambaGenerateResult** out) {
  return Guard([&]() -> absl::Status {
    JAMBA_RETURN_IF_ERROR(Args("Generate")
                              .NotNull(engine, "engine")
                              .NotNull(input, "input")
                              .NotNull(out, "out")
                              .status());
    std::vector<int32_t> ids;
    JAMBA_ASSIGN_OR_RETURN(GenerateResult result,
                           engine->engine->Generate(input->input, CallOptions(options),
                                                    ChunkCallback(on_chunk, user_data, ids)));
    *out = Owned(NewGenerateResult(std::move(result)));
    return absl::OkStatus();
  });
}

JambaStatus* GenerateResultGetText(const JambaGenerateResult* result, const char** text,
                                   size_t* text_len) {
  return Guard([&]() -> absl::Status {
    JAMBA_RETURN_IF_ERROR(
        Args("GenerateResultGetText").NotNull(result, "result").NotNull(text, "text").status());
    *text = result->result.text.c_str();
    if (text_len != nullptr) *text_len = result->result.text.size();
    return absl::OkStatus();
  });
}

absl::Status GetTokens(absl::string_view function, const JambaGenerateResult* result,
                       const std::vector<int32_t> GenerateResult::*member, const int32_t** tokens,
                       size_t* n_tokens) {
  JAMBA_RETURN_IF_ERROR(Args(function)
                            .NotNull(result, "result")
                            .NotNull(tokens, "tokens")
                            .NotNull(n_tokens, "n_tokens")
                            .status());
  const std::vector<int32_t>& values = result->result.*member;
  *tokens = values.data();
  *n_tokens = values.size();
  return absl::OkStatus();
}

JambaStatus* GenerateResultGetTokens(const JambaGenerateResult* result, const int32_t** tokens,
                                     size_t* n_tokens) {
  return Guard([&] {
    return GetTokens("GenerateResultGetTokens", result, &GenerateResult::tokens, tokens, n_tokens);
  });
}

JambaStatus* GenerateResultGetSampledTokens(const JambaGenerateResult* result,
                                            const int32_t** tokens, size_t* n_tokens) {
  return Guard([&] {
    return GetTokens("GenerateResultGetSampledTokens", result, &GenerateResult::sampled_tokens,
                     tokens, n_tokens);
  });
}

JambaFinishReason ToC(FinishReason reason) {
  switch (reason) {
    case FinishReason::kEos:
      return JAMBA_FINISH_EOS;
    case FinishReason::kLength:
      return JAMBA_FINISH_LENGTH;
    case FinishReason::kStopString:
      return JAMBA_FINISH_STOP_STRING;
    case FinishReason::kStopToken:
      return JAMBA_FINISH_STOP_TOKEN;
    case FinishReason::kContextLength:
      return JAMBA_FINISH_CONTEXT_LENGTH;
    case FinishReason::kCancelled:
      return JAMBA_FINISH_CANCELLED;
    case FinishReason::kToolCalls:
      return JAMBA_FINISH_TOOL_CALLS;
  }
  return JAMBA_FINISH_LENGTH;
}

JambaStatus* GenerateResultGetFinishReason(const JambaGenerateResult* result,
                                           JambaFinishReason* out) {
  return Guard([&]() -> absl::Status {
    JAMBA_RETURN_IF_ERROR(Args("GenerateResultGetFinishReason")
                              .NotNull(result, "result")
                              .NotNull(out, "out")
                              .status());
    *out = ToC(result->result.finish_reason);
    return absl::OkStatus();
  });
}

JambaStatus* GenerateResultGetMatchedStopString(const JambaGenerateResult* result,
                                                const char** text, size_t* text_len) {
  return Guard([&]() -> absl::Status {
    JAMBA_RETURN_IF_ERROR(Args("GenerateResultGetMatchedStopString")
                              .NotNull(result, "result")
                              .NotNull(text, "text")
                              .status());
    *text = result->result.matched_stop_string.c_str();
    if (text_len != nullptr) *text_len = result->result.matched_stop_string.size();
    return absl::OkStatus();
  });
}

JambaStatus* GenerateResultGetUsage(const JambaGenerateResult* result, int64_t* prompt_tokens,
                                    int64_t* restored_tokens, int64_t* recomputed_tokens,
                                    int64_t* completion_tokens) {
  return Guard([&]() -> absl::Status {
    JAMBA_RETURN_IF_ERROR(Args("GenerateResultGetUsage").NotNull(result, "result").status());
    WriteUsage(result->result.usage, prompt_tokens, restored_tokens, recomputed_tokens,
               completion_tokens);
    return absl::OkStatus();
  });
}

JambaStatus* GenerateResultGetTimings(const JambaGenerateResult* result, double* queue_seconds,
                                      double* prefill_seconds, double* decode_seconds) {
  return Guard([&]() -> absl::Status {
    JAMBA_RETURN_IF_ERROR(Args("GenerateResultGetTimings").NotNull(result, "result").status());
    const Timings& timings = result->result.timings;
    if (queue_seconds != nullptr) *queue_seconds = timings.queue_seconds;
    if (prefill_seconds != nullptr) *prefill_seconds = timings.prefill_seconds;
    if (decode_seconds != nullptr) *decode_seconds = timings.decode_seconds;
    return absl::OkStatus();
  });
}

JambaStatus* GenerateResultGetSeed(const JambaGenerateResult* result, uint64_t* out) {
  return Guard([&]() -> absl::Status {
    JAMBA_RETURN_IF_ERROR(
        Args("GenerateResultGetSeed").NotNull(result, "result").NotNull(out, "out").status());
    *out = result->result.seed;
    return absl::OkStatus();
  });
}

void ReleaseGenerateResult(JambaGenerateResult* result) { delete result; }

const char* FinishReasonNameC(JambaFinishReason reason) {
  switch (reason) {
    case JAMBA_FINISH_EOS:
      return FinishReasonName(FinishReason::kEos);
    case JAMBA_FINISH_LENGTH:
      return FinishReasonName(FinishReason::kLength);
    case JAMBA_FINISH_STOP_STRING:
      return FinishReasonName(FinishReason::kStopString);
    case JAMBA_FINISH_STOP_TOKEN:
      return FinishReasonName(FinishReason::kStopToken);
    case JAMBA_FINISH_CONTEXT_LENGTH:
      return FinishReasonName(FinishReason::kContextLength);
    case JAMBA_FINISH_CANCELLED:
      return FinishReasonName(FinishReason::kCancelled);
    case JAMBA_FINISH_TOOL_CALLS:
      return FinishReasonName(FinishReason::kToolCalls);
    default:
      return "?";
  }
}

// ---- Logits ----

JambaStatus* ComputeLogits(JambaEngine* engine, const int32_t* tokens, size_t n_tokens,
                           int64_t chunk, float** out_logits, size_t* out_n_floats) {
  return Guard([&]() -> absl::Status {
    JAMBA_RETURN_IF_ERROR(Args("ComputeLogits")
                              .NotNull(engine, "engine")
                              .NotNull(out_logits, "out_logits")
                              .NotNull(out_n_floats, "out_n_floats")
                              .status());
    JAMBA_ASSIGN_OR_RETURN(const std::span<const int32_t> ids,
                           TokensArg("ComputeLogits", tokens, n_tokens));
    if (chunk < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("ComputeLogits: chunk must not be negative, got ", chunk));
    }
    JAMBA_ASSIGN_OR_RETURN(const std::vector<float> logits,
                           engine->engine->ComputeLogits(ids, chunk == 0 ? 512 : chunk));
    float* array = NewArray<float>(logits);
    *out_logits = array;
    *out_n_floats = logits.size();
    return absl::OkStatus();
  });
}

void ReleaseLogits(float* logits) { delete[] logits; }

// ---- Sessions ----

JambaStatus* CreateSessionOptionsC(JambaSessionOptions** out) {
  return Guard([&]() -> absl::Status {
    JAMBA_RETURN_IF_ERROR(Args("CreateSessionOptions").NotNull(out, "out").status());
    *out = Owned(std::make_unique<JambaSessionOptions>());
    return absl::OkStatus();
  });
}

JambaStatus* SetSessionOption(JambaSessionOptions* options, const char* key, const char* value) {
  return Guard([&]() -> absl::Status {
    JAMBA_RETURN_IF_ERROR(Args("SetSessionOption").NotNull(options, "options").status());
    return SetOption("SetSessionOption", kSessionOptionKeys, options->options, key, value);
  });
}

JambaStatus* AddSessionLabel(JambaSessionOptions* options, const char* key, const char* value) {
  return Guard([&]() -> absl::Status {
    JAMBA_RETURN_IF_ERROR(Args("AddSessionLabel").NotNull(options, "options").status());
    JAMBA_ASSIGN_OR_RETURN(std::string k, StringArg("AddSessionLabel", "key", key));
    JAMBA_ASSIGN_OR_RETURN(std::string v, StringArg("AddSessionLabel", "value", value));
    options->options.labels[std::move(k)] = std::move(v);
    return absl::OkStatus();
  });
}

void ReleaseSessionOptions(JambaSessionOptions* options) { delete options; }

// Checks the engine and out-parameter of a session call and reads its tenant and session id.
struct SessionArgs {
  std::string tenant;
  std::string id;
};
absl::StatusOr<SessionArgs> ReadSessionArgs(absl::string_view function, const JambaEngine* engine,
                                            const char* tenant, const char* id, const void* out,
                                            bool has_out = true) {
  Args args(function);
  args.NotNull(engine, "engine");
  if (has_out) args.NotNull(out, "out");
  JAMBA_RETURN_IF_ERROR(args.status());
  SessionArgs result;
  JAMBA_ASSIGN_OR_RETURN(result.tenant, StringArg(function, "tenant", tenant));
  JAMBA_ASSIGN_OR_RETURN(result.id, StringArg(function, "id", id));
  return result;
}

JambaStatus* CreateSession(JambaEngine* engine, const char* tenant,
                           const JambaSessionOptions* options, JambaSessionInfo** out) {
  return Guard([&]() -> absl::Status {
    JAMBA_RETURN_IF_ERROR(
        Args("CreateSession").NotNull(engine, "engine").NotNull(out, "out").status());
    JAMBA_ASSIGN_OR_RETURN(const std::string t, StringArg("CreateSession", "tenant", tenant));
    const CreateSessionOptions defaults;
    const CreateSessionOptions& create = options == nullptr ? defaults : options->options;
    // Display names and labels are stored in the session manifest: UTF-8 only.
    JAMBA_RETURN_IF_ERROR(Utf8("CreateSession", "display_name", create.display_name).status());
    for (const auto& [key, value] : create.labels) {
      JAMBA_RETURN_IF_ERROR(Utf8("CreateSession", "label key", key).status());
      JAMBA_RETURN_IF_ERROR(Utf8("CreateSession", "label value", value).status());
    }
    JAMBA_ASSIGN_OR_RETURN(SessionInfo info, engine->engine->CreateSession(t, create));
    *out = Owned(std::make_unique<JambaSessionInfo>(JambaSessionInfo{std::move(info)}));
    return absl::OkStatus();
  });
}

JambaStatus* GetSession(JambaEngine* engine, const char* tenant, const char* id,
                        JambaSessionInfo** out) {
  return Guard([&]() -> absl::Status {
    JAMBA_ASSIGN_OR_RETURN(const SessionArgs args,
                           ReadSessionArgs("GetSession", engine, tenant, id, out));
    JAMBA_ASSIGN_OR_RETURN(SessionInfo info, engine->engine->GetSession(args.tenant, args.id));
    *out = Owned(std::make_unique<JambaSessionInfo>(JambaSessionInfo{std::move(info)}));
    return absl::OkStatus();
  });
}

JambaStatus* ListSessions(JambaEngine* engine, const char* tenant, int32_t page_size,
                          const char* page_token, JambaSessionPage** out) {
  return Guard([&]() -> absl::Status {
    JAMBA_RETURN_IF_ERROR(
        Args("ListSessions").NotNull(engine, "engine").NotNull(out, "out").status());
    JAMBA_ASSIGN_OR_RETURN(const std::string t, StringArg("ListSessions", "tenant", tenant));
    JAMBA_ASSIGN_OR_RETURN(const std::string token,
                           StringArg("ListSessions", "page_token", page_token, /*nullable=*/true));
    JAMBA_ASSIGN_OR_RETURN(SessionPage page, engine->engine->ListSessions(t, page_size, token));
    auto handle = std::make_unique<JambaSessionPage>();
    handle->sessions.reserve(page.sessions.size());
    for (SessionInfo& info : page.sessions) handle->sessions.push_back({std::move(info)});
    handle->next_page_token = std::move(page.next_page_token);
    *out = Owned(std::move(handle));
    return absl::OkStatus();
  });
}

JambaStatus* DeleteSession(JambaEngine* engine, const char* tenant, const char* id) {
  return Guard([&]() -> absl::Status {
    JAMBA_ASSIGN_OR_RETURN(const SessionArgs args,
                           ReadSessionArgs("DeleteSession", engine, tenant, id, nullptr,
                                           /*has_out=*/false));
    return engine->engine->DeleteSession(args.tenant, args.id);
  });
}

JambaStatus* AppendToSession(JambaEngine* engine, const char* tenant, const char* id,
                             const JambaInput* input, int64_t timeout_ms,
                             JambaProgressCallback on_progress, void* user_data,
                             JambaAppendResult** out) {
  return Guard([&]() -> absl::Status {
    JAMBA_ASSIGN_OR_RETURN(const SessionArgs args,
                           ReadSessionArgs("AppendToSession", engine, tenant, id, out));
    JAMBA_RETURN_IF_ERROR(Args("AppendToSession").NotNull(input, "input").status());
    if (timeout_ms < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("AppendToSession: timeout_ms must not be negative, got ", timeout_ms));
    }
    AppendOptions options;
    if (timeout_ms > 0) options.deadline = absl::Now() + absl::Milliseconds(timeout_ms);
    if (on_progress != nullptr) {
      options.on_progress = [on_progress, user_data](int64_t done, int64_t total) {
        return on_progress(user_data, done, total) == 0;
      };
    }
    JAMBA_ASSIGN_OR_RETURN(AppendResult result, engine->engine->AppendToSession(
                                                    args.tenant, args.id, input->input, options));
    auto handle = std::make_unique<JambaAppendResult>();
    handle->session.info = std::move(result.session);
    handle->usage = result.usage;
    handle->seconds = result.seconds;
    *out = Owned(std::move(handle));
    return absl::OkStatus();
  });
}

JambaStatus* GenerateFromSession(JambaEngine* engine, const char* tenant, const char* id,
                                 const JambaInput* input, const JambaGenerateOptions* options,
                                 int commit, JambaChunkCallback on_chunk, void* user_data,
                                 JambaGenerateResult** out) {
  return Guard([&]() -> absl::Status {
    JAMBA_ASSIGN_OR_RETURN(const SessionArgs args,
                           ReadSessionArgs("GenerateFromSession", engine, tenant, id, out));
    std::optional<Input> session_input;
    if (input != nullptr) session_input = input->input;
    std::vector<int32_t> ids;
    JAMBA_ASSIGN_OR_RETURN(GenerateResult result,
                           engine->engine->GenerateFromSession(
                               args.tenant, args.id, session_input, CallOptions(options),
                               commit != 0, ChunkCallback(on_chunk, user_data, ids)));
    *out = Owned(NewGenerateResult(std::move(result)));
    return absl::OkStatus();
  });
}

JambaStatus* ForkSession(JambaEngine* engine, const char* tenant, const char* id,
                         const char* new_id, int64_t position, JambaSessionInfo** out) {
  return Guard([&]() -> absl::Status {
    JAMBA_ASSIGN_OR_RETURN(const SessionArgs args,
                           ReadSessionArgs("ForkSession", engine, tenant, id, out));
    JAMBA_ASSIGN_OR_RETURN(const std::string fork_id,
                           StringArg("ForkSession", "new_id", new_id, /*nullable=*/true));
    std::optional<int64_t> at;
    if (position != JAMBA_SESSION_END) {
      if (position < 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            "ForkSession: position must be a checkpoint position or JAMBA_SESSION_END, got ",
            position));
      }
      at = position;
    }
    JAMBA_ASSIGN_OR_RETURN(SessionInfo info,
                           engine->engine->ForkSession(args.tenant, args.id, fork_id, at));
    *out = Owned(std::make_unique<JambaSessionInfo>(JambaSessionInfo{std::move(info)}));
    return absl::OkStatus();
  });
}

JambaStatus* ListCheckpoints(JambaEngine* engine, const char* tenant, const char* id,
                             JambaCheckpointList** out) {
  return Guard([&]() -> absl::Status {
    JAMBA_ASSIGN_OR_RETURN(const SessionArgs args,
                           ReadSessionArgs("ListCheckpoints", engine, tenant, id, out));
    JAMBA_ASSIGN_OR_RETURN(std::vector<CheckpointInfo> checkpoints,
                           engine->engine->ListCheckpoints(args.tenant, args.id));
    *out =
        Owned(std::make_unique<JambaCheckpointList>(JambaCheckpointList{std::move(checkpoints)}));
    return absl::OkStatus();
  });
}

JambaStatus* RewindSession(JambaEngine* engine, const char* tenant, const char* id,
                           int64_t position, JambaSessionInfo** out) {
  return Guard([&]() -> absl::Status {
    JAMBA_ASSIGN_OR_RETURN(const SessionArgs args,
                           ReadSessionArgs("RewindSession", engine, tenant, id, out));
    JAMBA_ASSIGN_OR_RETURN(SessionInfo info,
                           engine->engine->RewindSession(args.tenant, args.id, position));
    *out = Owned(std::make_unique<JambaSessionInfo>(JambaSessionInfo{std::move(info)}));
    return absl::OkStatus();
  });
}

JambaStatus* EvictAllSessionsFromMemory(JambaEngine* engine) {
  return Guard([&]() -> absl::Status {
    JAMBA_RETURN_IF_ERROR(Args("EvictAllSessionsFromMemory").NotNull(engine, "engine").status());
    engine->engine->EvictAllSessionsFromMemory();
    return absl::OkStatus();
  });
}

// ---- Session infos, pages, append results, checkpoint lists ----

JambaStatus* SessionInfoGetString(const JambaSessionInfo* info, const char* key, const char** out) {
  return Guard([&]() -> absl::Status {
    JAMBA_RETURN_IF_ERROR(
        Args("SessionInfoGetString").NotNull(info, "info").NotNull(out, "out").status());
    JAMBA_ASSIGN_OR_RETURN(const char* value,
                           GetByKey("SessionInfoGetString", kSessionStringKeys, info->info, key));
    *out = value;
    return absl::OkStatus();
  });
}

JambaStatus* SessionInfoGetInt64(const JambaSessionInfo* info, const char* key, int64_t* out) {
  return Guard([&]() -> absl::Status {
    JAMBA_RETURN_IF_ERROR(
        Args("SessionInfoGetInt64").NotNull(info, "info").NotNull(out, "out").status());
    JAMBA_ASSIGN_OR_RETURN(const int64_t value,
                           GetByKey("SessionInfoGetInt64", kSessionInt64Keys, info->info, key));
    *out = value;
    return absl::OkStatus();
  });
}

JambaStatus* SessionInfoGetLabelCount(const JambaSessionInfo* info, size_t* out) {
  return Guard([&]() -> absl::Status {
    JAMBA_RETURN_IF_ERROR(
        Args("SessionInfoGetLabelCount").NotNull(info, "info").NotNull(out, "out").status());
    *out = info->info.labels.size();
    return absl::OkStatus();
  });
}

JambaStatus* SessionInfoGetLabel(const JambaSessionInfo* info, size_t index, const char** key,
                                 const char** value) {
  return Guard([&]() -> absl::Status {
    JAMBA_RETURN_IF_ERROR(Args("SessionInfoGetLabel")
                              .NotNull(info, "info")
                              .NotNull(key, "key")
                              .NotNull(value, "value")
                              .status());
    const auto& labels = info->info.labels;
    if (index >= labels.size()) {
      return absl::OutOfRangeError(
          absl::StrCat("SessionInfoGetLabel: index ", index, " >= label count ", labels.size()));
    }
    const auto it = std::next(labels.begin(), static_cast<std::ptrdiff_t>(index));
    *key = it->first.c_str();
    *value = it->second.c_str();
    return absl::OkStatus();
  });
}

void ReleaseSessionInfo(JambaSessionInfo* info) { delete info; }

JambaStatus* SessionPageGetCount(const JambaSessionPage* page, size_t* out) {
  return Guard([&]() -> absl::Status {
    JAMBA_RETURN_IF_ERROR(
        Args("SessionPageGetCount").NotNull(page, "page").NotNull(out, "out").status());
    *out = page->sessions.size();
    return absl::OkStatus();
  });
}

JambaStatus* SessionPageGetSession(const JambaSessionPage* page, size_t index,
                                   const JambaSessionInfo** out) {
  return Guard([&]() -> absl::Status {
    JAMBA_RETURN_IF_ERROR(
        Args("SessionPageGetSession").NotNull(page, "page").NotNull(out, "out").status());
    if (index >= page->sessions.size()) {
      return absl::OutOfRangeError(absl::StrCat("SessionPageGetSession: index ", index,
                                                " >= session count ", page->sessions.size()));
    }
    *out = &page->sessions[index];
    return absl::OkStatus();
  });
}

JambaStatus* SessionPageGetNextPageToken(const JambaSessionPage* page, const char** out) {
  return Guard([&]() -> absl::Status {
    JAMBA_RETURN_IF_ERROR(
        Args("SessionPageGetNextPageToken").NotNull(page, "page").NotNull(out, "out").status());
    *out = page->next_page_token.c_str();
    return absl::OkStatus();
  });
}

void ReleaseSessionPage(JambaSessionPage* page) { delete page; }

JambaStatus* AppendResultGetSession(const JambaAppendResult* result, const JambaSessionInfo** out) {
  return Guard([&]() -> absl::Status {
    JAMBA_RETURN_IF_ERROR(
        Args("AppendResultGetSession").NotNull(result, "result").NotNull(out, "out").status());
    *out = &result->session;
    return absl::OkStatus();
  });
}

JambaStatus* AppendResultGetUsage(const JambaAppendResult* result, int64_t* prompt_tokens,
                                  int64_t* restored_tokens, int64_t* recomputed_tokens,
                                  int64_t* completion_tokens) {
  return Guard([&]() -> absl::Status {
    JAMBA_RETURN_IF_ERROR(Args("AppendResultGetUsage").NotNull(result, "result").status());
    WriteUsage(result->usage, prompt_tokens, restored_tokens, recomputed_tokens, completion_tokens);
    return absl::OkStatus();
  });
}

JambaStatus* AppendResultGetSeconds(const JambaAppendResult* result, double* out) {
  return Guard([&]() -> absl::Status {
    JAMBA_RETURN_IF_ERROR(
        Args("AppendResultGetSeconds").NotNull(result, "result").NotNull(out, "out").status());
    *out = result->seconds;
    return absl::OkStatus();
  });
}

void ReleaseAppendResult(JambaAppendResult* result) { delete result; }

JambaStatus* CheckpointListGetCount(const JambaCheckpointList* list, size_t* out) {
  return Guard([&]() -> absl::Status {
    JAMBA_RETURN_IF_ERROR(
        Args("CheckpointListGetCount").NotNull(list, "list").NotNull(out, "out").status());
    *out = list->checkpoints.size();
    return absl::OkStatus();
  });
}

JambaStatus* CheckpointListGet(const JambaCheckpointList* list, size_t index, int64_t* position,
                               const char** reason, int64_t* create_time_unix_us) {
  return Guard([&]() -> absl::Status {
    JAMBA_RETURN_IF_ERROR(Args("CheckpointListGet").NotNull(list, "list").status());
    if (index >= list->checkpoints.size()) {
      return absl::OutOfRangeError(absl::StrCat("CheckpointListGet: index ", index,
                                                " >= checkpoint count ", list->checkpoints.size()));
    }
    const CheckpointInfo& checkpoint = list->checkpoints[index];
    if (position != nullptr) *position = checkpoint.position;
    if (reason != nullptr) *reason = checkpoint.reason.c_str();
    if (create_time_unix_us != nullptr) {
      *create_time_unix_us = absl::ToUnixMicros(checkpoint.create_time);
    }
    return absl::OkStatus();
  });
}

void ReleaseCheckpointList(JambaCheckpointList* list) { delete list; }

// ---- The tables ----

// Designated initializers must follow the declaration order, so a member added anywhere but the
// end of JambaApi fails here as well as in the offsetof checks below.
constexpr JambaApi kApi = {
    .GetStatusCode = GetStatusCode,
    .GetStatusMessage = GetStatusMessage,
    .ReleaseStatus = ReleaseStatus,
    .StatusCodeName = StatusCodeName,
    .CreateEngineOptions = CreateEngineOptions,
    .SetEngineOption = SetEngineOption,
    .ReleaseEngineOptions = ReleaseEngineOptions,
    .OpenEngine = OpenEngine,
    .ReleaseEngine = ReleaseEngine,
    .GetModelInfoInt64 = GetModelInfoInt64,
    .GetModelInfoString = GetModelInfoString,
    .GetModelLayer = GetModelLayer,
    .Tokenize = Tokenize,
    .Detokenize = Detokenize,
    .ReleaseTokens = ReleaseTokens,
    .ReleaseText = ReleaseText,
    .CreateTextInput = CreateTextInput,
    .CreateTokenInput = CreateTokenInput,
    .CreateChatInput = CreateChatInput,
    .AddChatMessage = AddChatMessage,
    .ReleaseInput = ReleaseInput,
    .CreateGenerateOptions = CreateGenerateOptions,
    .SetGenerateOption = SetGenerateOption,
    .AddStopString = AddStopString,
    .AddStopTokenId = AddStopTokenId,
    .ReleaseGenerateOptions = ReleaseGenerateOptions,
    .Generate = Generate,
    .GenerateResultGetText = GenerateResultGetText,
    .GenerateResultGetTokens = GenerateResultGetTokens,
    .GenerateResultGetSampledTokens = GenerateResultGetSampledTokens,
    .GenerateResultGetFinishReason = GenerateResultGetFinishReason,
    .GenerateResultGetMatchedStopString = GenerateResultGetMatchedStopString,
    .GenerateResultGetUsage = GenerateResultGetUsage,
    .GenerateResultGetTimings = GenerateResultGetTimings,
    .GenerateResultGetSeed = GenerateResultGetSeed,
    .ReleaseGenerateResult = ReleaseGenerateResult,
    .FinishReasonName = FinishReasonNameC,
    .ComputeLogits = ComputeLogits,
    .ReleaseLogits = ReleaseLogits,
    .CreateSessionOptions = CreateSessionOptionsC,
    .SetSessionOption = SetSessionOption,
    .AddSessionLabel = AddSessionLabel,
    .ReleaseSessionOptions = ReleaseSessionOptions,
    .CreateSession = CreateSession,
    .GetSession = GetSession,
    .ListSessions = ListSessions,
    .DeleteSession = DeleteSession,
    .AppendToSession = AppendToSession,
    .GenerateFromSession = GenerateFromSession,
    .ForkSession = ForkSession,
    .ListCheckpoints = ListCheckpoints,
    .RewindSession = RewindSession,
    .EvictAllSessionsFromMemory = EvictAllSessionsFromMemory,
    .SessionInfoGetString = SessionInfoGetString,
    .SessionInfoGetInt64 = SessionInfoGetInt64,
    .SessionInfoGetLabelCount = SessionInfoGetLabelCount,
    .SessionInfoGetLabel = SessionInfoGetLabel,
    .ReleaseSessionInfo = ReleaseSessionInfo,
    .SessionPageGetCount = SessionPageGetCount,
    .SessionPageGetSession = SessionPageGetSession,
    .SessionPageGetNextPageToken = SessionPageGetNextPageToken,
    .ReleaseSessionPage = ReleaseSessionPage,
    .AppendResultGetSession = AppendResultGetSession,
    .AppendResultGetUsage = AppendResultGetUsage,
    .AppendResultGetSeconds = AppendResultGetSeconds,
    .ReleaseAppendResult = ReleaseAppendResult,
    .CheckpointListGetCount = CheckpointListGetCount,
    .CheckpointListGet = CheckpointListGet,
    .ReleaseCheckpointList = ReleaseCheckpointList,
    .SetInputOption = SetInputOption,
    .TokenizeInput = TokenizeInput,
    .SetChatInputJson = SetChatInputJson,
    .RenderChat = RenderChat,
    .GenerateResultGetReasoning = GenerateResultGetReasoning,
    .GenerateResultGetToolCallsJson = GenerateResultGetToolCallsJson,
    .GenerateResultGetMalformedToolCall = GenerateResultGetMalformedToolCall,
};

// The layout, frozen: slot N of the table is at N pointers. Append-only means new
// members go after the last slot, each with its own assertion, and kSlots grows.
constexpr size_t kSlot = sizeof(void (*)());
#define JAMBA_PIN_SLOT(index, member)                        \
  static_assert(offsetof(JambaApi, member) == (index)*kSlot, \
                "JambaApi is append-only: " #member " moved")
JAMBA_PIN_SLOT(0, GetStatusCode);
JAMBA_PIN_SLOT(1, GetStatusMessage);
JAMBA_PIN_SLOT(2, ReleaseStatus);
JAMBA_PIN_SLOT(3, StatusCodeName);
JAMBA_PIN_SLOT(4, CreateEngineOptions);
JAMBA_PIN_SLOT(5, SetEngineOption);
JAMBA_PIN_SLOT(6, ReleaseEngineOptions);
JAMBA_PIN_SLOT(7, OpenEngine);
JAMBA_PIN_SLOT(8, ReleaseEngine);
JAMBA_PIN_SLOT(9, GetModelInfoInt64);
JAMBA_PIN_SLOT(10, GetModelInfoString);
JAMBA_PIN_SLOT(11, GetModelLayer);
JAMBA_PIN_SLOT(12, Tokenize);
JAMBA_PIN_SLOT(13, Detokenize);
JAMBA_PIN_SLOT(14, ReleaseTokens);
JAMBA_PIN_SLOT(15, ReleaseText);
JAMBA_PIN_SLOT(16, CreateTextInput);
JAMBA_PIN_SLOT(17, CreateTokenInput);
JAMBA_PIN_SLOT(18, CreateChatInput);
JAMBA_PIN_SLOT(19, AddChatMessage);
JAMBA_PIN_SLOT(20, ReleaseInput);
JAMBA_PIN_SLOT(21, CreateGenerateOptions);
JAMBA_PIN_SLOT(22, SetGenerateOption);
JAMBA_PIN_SLOT(23, AddStopString);
JAMBA_PIN_SLOT(24, AddStopTokenId);
JAMBA_PIN_SLOT(25, ReleaseGenerateOptions);
JAMBA_PIN_SLOT(26, Generate);
JAMBA_PIN_SLOT(27, GenerateResultGetText);
JAMBA_PIN_SLOT(28, GenerateResultGetTokens);
JAMBA_PIN_SLOT(29, GenerateResultGetSampledTokens);
JAMBA_PIN_SLOT(30, GenerateResultGetFinishReason);
JAMBA_PIN_SLOT(31, GenerateResultGetMatchedStopString);
JAMBA_PIN_SLOT(32, GenerateResultGetUsage);
JAMBA_PIN_SLOT(33, GenerateResultGetTimings);
JAMBA_PIN_SLOT(34, GenerateResultGetSeed);
JAMBA_PIN_SLOT(35, ReleaseGenerateResult);
JAMBA_PIN_SLOT(36, FinishReasonName);
JAMBA_PIN_SLOT(37, ComputeLogits);
JAMBA_PIN_SLOT(38, ReleaseLogits);
JAMBA_PIN_SLOT(39, CreateSessionOptions);
JAMBA_PIN_SLOT(40, SetSessionOption);
JAMBA_PIN_SLOT(41, AddSessionLabel);
JAMBA_PIN_SLOT(42, ReleaseSessionOptions);
JAMBA_PIN_SLOT(43, CreateSession);
JAMBA_PIN_SLOT(44, GetSession);
JAMBA_PIN_SLOT(45, ListSessions);
JAMBA_PIN_SLOT(46, DeleteSession);
JAMBA_PIN_SLOT(47, AppendToSession);
JAMBA_PIN_SLOT(48, GenerateFromSession);
JAMBA_PIN_SLOT(49, ForkSession);
JAMBA_PIN_SLOT(50, ListCheckpoints);
JAMBA_PIN_SLOT(51, RewindSession);
JAMBA_PIN_SLOT(52, EvictAllSessionsFromMemory);
JAMBA_PIN_SLOT(53, SessionInfoGetString);
JAMBA_PIN_SLOT(54, SessionInfoGetInt64);
JAMBA_PIN_SLOT(55, SessionInfoGetLabelCount);
JAMBA_PIN_SLOT(56, SessionInfoGetLabel);
JAMBA_PIN_SLOT(57, ReleaseSessionInfo);
JAMBA_PIN_SLOT(58, SessionPageGetCount);
JAMBA_PIN_SLOT(59, SessionPageGetSession);
JAMBA_PIN_SLOT(60, SessionPageGetNextPageToken);
JAMBA_PIN_SLOT(61, ReleaseSessionPage);
JAMBA_PIN_SLOT(62, AppendResultGetSession);
JAMBA_PIN_SLOT(63, AppendResultGetUsage);
JAMBA_PIN_SLOT(64, AppendResultGetSeconds);
JAMBA_PIN_SLOT(65, ReleaseAppendResult);
JAMBA_PIN_SLOT(66, CheckpointListGetCount);
JAMBA_PIN_SLOT(67, CheckpointListGet);
JAMBA_PIN_SLOT(68, ReleaseCheckpointList);
JAMBA_PIN_SLOT(69, SetInputOption);
JAMBA_PIN_SLOT(70, TokenizeInput);
JAMBA_PIN_SLOT(71, SetChatInputJson);
JAMBA_PIN_SLOT(72, RenderChat);
JAMBA_PIN_SLOT(73, GenerateResultGetReasoning);
JAMBA_PIN_SLOT(74, GenerateResultGetToolCallsJson);
JAMBA_PIN_SLOT(75, GenerateResultGetMalformedToolCall);
#undef JAMBA_PIN_SLOT
constexpr size_t kSlots = 76;  // version 2
static_assert(sizeof(JambaApi) == kSlots * kSlot, "a JambaApi member without a pinned slot");

static_assert(offsetof(JambaApiBase, GetApi) == 0, "JambaApiBase is frozen");
static_assert(offsetof(JambaApiBase, GetVersionString) == kSlot, "JambaApiBase is frozen");
static_assert(sizeof(JambaApiBase) == 2 * kSlot, "JambaApiBase is frozen");

// Every version's table is the newest one: a table of version N is valid for the members
// declared up to N, and later members only extend it.
const JambaApi* GetApi(uint32_t version) {
  return version >= 1 && version <= JAMBA_API_VERSION ? &kApi : nullptr;
}

const char* GetVersionString() { return JAMBA_VERSION_STRING; }

constexpr JambaApiBase kApiBase = {.GetApi = GetApi, .GetVersionString = GetVersionString};

}  // namespace
}  // namespace jamba::capi

extern "C" const JambaApiBase* JambaGetApiBase(void) { return &jamba::capi::kApiBase; }
