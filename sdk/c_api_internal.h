// The C ABI's internals shared by its translation units (sdk/c_api.cc: the version 1 functions
// and the function table; sdk/c_api_chat.cc: the version 2 functions): the opaque handles, the
// boundary that turns absl statuses and C++ exceptions into JambaStatus, argument checks,
// key/value option parsing and the arrays handed to the caller. Not installed.
#ifndef JAMBA_SDK_C_API_INTERNAL_H_
#define JAMBA_SDK_C_API_INTERNAL_H_

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "engine/status_macros.h"
#include "engine/text/utf8.h"
#include "jamba/engine.h"
#include "jamba/jamba_c.h"
#include "jamba/types.h"

// ---- The opaque handles (declared in jamba_c.h; global because the C header names them) ----

struct JambaStatus {
  JambaStatusCode code = JAMBA_UNKNOWN;
  std::string message;  // valid UTF-8
};

struct JambaEngineOptions {
  jamba::EngineOptions options;
};

struct JambaEngine {
  std::unique_ptr<jamba::Engine> engine;
};

struct JambaInput {
  jamba::Input input;
};

struct JambaGenerateOptions {
  jamba::GenerateOptions options;
  int64_t timeout_ms = 0;  // 0: no deadline; the deadline is set when a call starts
};

struct JambaGenerateResult {
  jamba::GenerateResult result;
  std::string tool_calls_json;  // result.tool_calls as JSON, for GenerateResultGetToolCallsJson
};

struct JambaSessionOptions {
  jamba::CreateSessionOptions options;
};

struct JambaSessionInfo {
  jamba::SessionInfo info;
};

struct JambaSessionPage {
  std::vector<JambaSessionInfo> sessions;
  std::string next_page_token;
};

struct JambaAppendResult {
  JambaSessionInfo session;
  jamba::Usage usage;
  double seconds = 0;
};

struct JambaCheckpointList {
  std::vector<jamba::CheckpointInfo> checkpoints;
};

namespace jamba::capi {

// ---- Statuses ----

// The status returned when even allocating a status fails. It lives in raw static storage and is
// never destroyed (its short message fits std::string's inline buffer, so building it allocates
// nothing); ReleaseStatus recognizes it and leaves it alone. Constant after construction.
inline JambaStatus* OutOfMemoryStatus() noexcept {
  alignas(JambaStatus) static unsigned char storage[sizeof(JambaStatus)];
  static JambaStatus* const status =
      new (storage) JambaStatus{JAMBA_RESOURCE_EXHAUSTED, std::string("out of memory")};
  return status;
}

inline JambaStatusCode ToCode(absl::StatusCode code) {
  const int value = static_cast<int>(code);
  return value >= JAMBA_OK && value <= JAMBA_UNAUTHENTICATED ? static_cast<JambaStatusCode>(value)
                                                             : JAMBA_UNKNOWN;
}

// NULL for OK; otherwise a new status owned by the caller. Never throws.
inline JambaStatus* NewStatus(const absl::Status& status) noexcept {
  if (status.ok()) return nullptr;
  try {
    auto out = std::make_unique<JambaStatus>();
    out->code = ToCode(status.code());
    // Messages quote caller input; keep the promise that returned strings are UTF-8.
    engine::AppendRepairedUtf8(std::string_view(status.message().data(), status.message().size()),
                               /*end_of_input=*/true, out->message);
    return out.release();
  } catch (...) {
    return OutOfMemoryStatus();
  }
}

inline JambaStatus* ExceptionStatus(const char* what) noexcept {
  try {
    return NewStatus(absl::InternalError(absl::StrCat("unexpected C++ exception: ", what)));
  } catch (...) {
    return OutOfMemoryStatus();
  }
}

// Runs the body of one API function: its absl::Status becomes a JambaStatus, and no exception
// crosses the ABI. Bodies write their out-parameters last, only on success.
template <typename Body>
JambaStatus* Guard(Body&& body) noexcept {
  try {
    return NewStatus(body());
  } catch (const std::bad_alloc&) {
    return OutOfMemoryStatus();
  } catch (const std::exception& e) {
    return ExceptionStatus(e.what());
  } catch (...) {
    return ExceptionStatus("(not a std::exception)");
  }
}

// ---- Arguments ----

// Checks the pointer arguments of one function, naming the first NULL one.
class Args {
 public:
  explicit Args(absl::string_view function) : function_(function) {}
  Args& NotNull(const void* pointer, absl::string_view name) {
    if (status_.ok() && pointer == nullptr) {
      status_ = absl::InvalidArgumentError(absl::StrCat(function_, ": ", name, " is NULL"));
    }
    return *this;
  }
  absl::Status status() const { return status_; }

 private:
  absl::string_view function_;
  absl::Status status_;
};

inline absl::StatusOr<std::string> Utf8(absl::string_view function, absl::string_view name,
                                        absl::string_view text) {
  const size_t bad = engine::FindInvalidUtf8(std::string_view(text.data(), text.size()));
  if (bad != std::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(function, ": ", name, " is not valid UTF-8 (byte ", bad, ")"));
  }
  return std::string(text);
}

// `len` bytes of UTF-8 text at `text` (which may be NULL only when `len` is 0).
inline absl::StatusOr<std::string> TextArg(absl::string_view function, absl::string_view name,
                                           const char* text, size_t len) {
  if (text == nullptr && len > 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(function, ": ", name, " is NULL but its length is ", len));
  }
  return Utf8(function, name, text == nullptr ? absl::string_view() : absl::string_view(text, len));
}

// A NUL-terminated UTF-8 string; NULL is an error unless `nullable` (then "").
inline absl::StatusOr<std::string> StringArg(absl::string_view function, absl::string_view name,
                                             const char* text, bool nullable = false) {
  if (text == nullptr) {
    if (nullable) return std::string();
    return absl::InvalidArgumentError(absl::StrCat(function, ": ", name, " is NULL"));
  }
  return Utf8(function, name, text);
}

template <typename T>
T* Owned(std::unique_ptr<T> handle) {
  return handle.release();  // ownership passes to the caller, who frees it with Release*
}

// ---- Key/value options ----

inline bool Parse(absl::string_view value, int32_t* out) { return absl::SimpleAtoi(value, out); }
inline bool Parse(absl::string_view value, int64_t* out) { return absl::SimpleAtoi(value, out); }
inline bool Parse(absl::string_view value, uint64_t* out) { return absl::SimpleAtoi(value, out); }
inline bool Parse(absl::string_view value, float* out) {
  return absl::SimpleAtof(value, out) && std::isfinite(*out);
}
inline bool Parse(absl::string_view value, double* out) {
  return absl::SimpleAtod(value, out) && std::isfinite(*out);
}
inline bool Parse(absl::string_view value, bool* out) { return absl::SimpleAtob(value, out); }
inline bool Parse(absl::string_view value, std::string* out) {
  *out = std::string(value);
  return true;
}

template <typename T>
constexpr const char* Expected() {
  if constexpr (std::is_same_v<T, bool>) {
    return "true or false";
  } else if constexpr (std::is_floating_point_v<T>) {
    return "a finite number";
  } else if constexpr (std::is_unsigned_v<T>) {
    return "a non-negative integer";
  } else {
    return "an integer";
  }
}

// Parses `value` into `field`, which is unchanged on failure. Returns what the value should have
// been on failure, or nullptr.
template <typename T>
const char* Assign(T& field, absl::string_view value) {
  T parsed{};
  if (!Parse(value, &parsed)) return Expected<T>();
  field = std::move(parsed);
  return nullptr;
}

template <typename Options>
struct OptionKey {
  absl::string_view key;
  const char* (*set)(Options& options, absl::string_view value);
};

template <typename Options, size_t N>
std::string KeyList(const OptionKey<Options> (&keys)[N]) {
  std::string list;
  for (const OptionKey<Options>& key : keys)
    absl::StrAppend(&list, list.empty() ? "" : ", ", key.key);
  return list;
}

template <typename Options, size_t N>
absl::Status SetOption(absl::string_view function, const OptionKey<Options> (&keys)[N],
                       Options& options, const char* key, const char* value) {
  JAMBA_ASSIGN_OR_RETURN(const std::string k, StringArg(function, "key", key));
  JAMBA_ASSIGN_OR_RETURN(const std::string v, StringArg(function, "value", value));
  for (const OptionKey<Options>& entry : keys) {
    if (entry.key != k) continue;
    if (const char* expected = entry.set(options, v); expected != nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(function, ": ", k, " = \"", v, "\" is not ", expected));
    }
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      absl::StrCat(function, ": unknown key \"", k, "\" (known: ", KeyList(keys), ")"));
}

// ---- Keyed getters ----

template <typename T, typename Value>
struct GetterKey {
  absl::string_view key;
  Value (*get)(const T& from);
};

template <typename T, typename Value, size_t N>
absl::StatusOr<Value> GetByKey(absl::string_view function, const GetterKey<T, Value> (&keys)[N],
                               const T& from, const char* key) {
  JAMBA_ASSIGN_OR_RETURN(const std::string k, StringArg(function, "key", key));
  std::string known;
  for (const GetterKey<T, Value>& entry : keys) {
    if (entry.key == k) return entry.get(from);
    absl::StrAppend(&known, known.empty() ? "" : ", ", entry.key);
  }
  return absl::InvalidArgumentError(
      absl::StrCat(function, ": unknown key \"", k, "\" (known: ", known, ")"));
}

// ---- Shared pieces of the calls ----

// Copies `values` into an array the caller releases with the matching Release function.
template <typename T>
T* NewArray(std::span<const T> values) {
  auto array = std::make_unique_for_overwrite<T[]>(values.size());
  if (!values.empty()) std::memcpy(array.get(), values.data(), values.size_bytes());
  return array.release();  // freed by ReleaseTokens / ReleaseLogits
}

inline char* NewText(absl::string_view text) {
  auto array = std::make_unique_for_overwrite<char[]>(text.size() + 1);
  if (!text.empty()) std::memcpy(array.get(), text.data(), text.size());
  array[text.size()] = '\0';
  return array.release();  // freed by ReleaseText
}

inline absl::StatusOr<std::span<const int32_t>> TokensArg(absl::string_view function,
                                                          const int32_t* tokens, size_t n_tokens) {
  if (tokens == nullptr && n_tokens > 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(function, ": tokens is NULL but n_tokens is ", n_tokens));
  }
  if (n_tokens == 0) return std::span<const int32_t>();
  return std::span<const int32_t>(tokens, n_tokens);
}

// The options of one call: the defaults when `options` is NULL, and the deadline from now.
inline GenerateOptions CallOptions(const JambaGenerateOptions* options) {
  if (options == nullptr) return GenerateOptions();
  GenerateOptions call = options->options;
  if (options->timeout_ms > 0)
    call.deadline = absl::Now() + absl::Milliseconds(options->timeout_ms);
  return call;
}

// Adapts a C chunk callback; `ids` is scratch space that must outlive the returned callback.
inline StreamCallback ChunkCallback(JambaChunkCallback on_chunk, void* user_data,
                                    std::vector<int32_t>& ids) {
  if (on_chunk == nullptr) return {};
  return [on_chunk, user_data, &ids](const GenerateChunk& chunk) {
    ids.clear();
    for (const GeneratedToken& token : chunk.tokens) ids.push_back(token.token);
    return on_chunk(user_data, chunk.text.c_str(), chunk.text.size(), ids.data(), ids.size()) == 0;
  };
}

inline void WriteUsage(const Usage& usage, int64_t* prompt_tokens, int64_t* restored_tokens,
                       int64_t* recomputed_tokens, int64_t* completion_tokens) {
  if (prompt_tokens != nullptr) *prompt_tokens = usage.prompt_tokens;
  if (restored_tokens != nullptr) *restored_tokens = usage.restored_tokens;
  if (recomputed_tokens != nullptr) *recomputed_tokens = usage.recomputed_tokens;
  if (completion_tokens != nullptr) *completion_tokens = usage.completion_tokens;
}

// A result handle, its derived views filled in.
std::unique_ptr<JambaGenerateResult> NewGenerateResult(GenerateResult result);

// ---- The version 2 functions (sdk/c_api_chat.cc) ----

JambaStatus* SetInputOption(JambaInput* input, const char* key, const char* value);
JambaStatus* TokenizeInput(const JambaEngine* engine, const JambaInput* input, int32_t** out_tokens,
                           size_t* out_n_tokens);
JambaStatus* SetChatInputJson(JambaInput* input, const char* key, const char* json,
                              size_t json_len);
JambaStatus* RenderChat(const JambaEngine* engine, const JambaInput* input, char** out_text,
                        size_t* out_text_len);
JambaStatus* GenerateResultGetReasoning(const JambaGenerateResult* result, const char** text,
                                        size_t* text_len);
JambaStatus* GenerateResultGetToolCallsJson(const JambaGenerateResult* result, const char** json,
                                            size_t* json_len);
JambaStatus* GenerateResultGetMalformedToolCall(const JambaGenerateResult* result, int* out);

}  // namespace jamba::capi

#endif  // JAMBA_SDK_C_API_INTERNAL_H_
