// Field-by-field request checks and the UTF-8-aware request parser.
#include "service/validation.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"
#include "grpcpp/support/slice.h"
#include "nlohmann/json.hpp"

namespace jamba::service {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::internal::WireFormatLite;

constexpr char kSessionPrefix[] = "sessions/";
constexpr char kCheckpointInfix[] = "/checkpoints/";
// Deeper messages than any jamba.v1 request has; a bound so hostile input cannot recurse far.
constexpr int kMaxWalkDepth = 16;

std::optional<std::string> WalkForInvalidUtf8(const Descriptor& type, absl::string_view wire,
                                              const std::string& prefix, int depth) {
  if (depth > kMaxWalkDepth) return std::nullopt;
  google::protobuf::io::CodedInputStream input(reinterpret_cast<const uint8_t*>(wire.data()),
                                               static_cast<int>(wire.size()));
  std::map<int, int> occurrences;  // field number -> elements seen, for repeated-field indexes
  for (;;) {
    const uint32_t tag = input.ReadTag();
    if (tag == 0) return std::nullopt;
    const int number = WireFormatLite::GetTagFieldNumber(tag);
    const FieldDescriptor* field = type.FindFieldByNumber(number);
    const bool length_delimited =
        WireFormatLite::GetTagWireType(tag) == WireFormatLite::WIRETYPE_LENGTH_DELIMITED;
    if (field == nullptr || !length_delimited ||
        (field->type() != FieldDescriptor::TYPE_STRING &&
         field->type() != FieldDescriptor::TYPE_MESSAGE)) {
      if (!WireFormatLite::SkipField(&input, tag)) return std::nullopt;
      continue;
    }
    const int index = occurrences[number]++;
    uint32_t length = 0;
    std::string payload;
    if (!input.ReadVarint32(&length) || !input.ReadString(&payload, static_cast<int>(length))) {
      return std::nullopt;
    }
    std::string path = absl::StrCat(prefix, field->name());
    if (field->is_repeated()) absl::StrAppend(&path, "[", index, "]");
    if (field->type() == FieldDescriptor::TYPE_STRING) {
      if (!IsValidUtf8(payload)) return path;
      continue;
    }
    std::optional<std::string> inner =
        WalkForInvalidUtf8(*field->message_type(), payload, path + ".", depth + 1);
    if (inner.has_value()) return inner;
  }
}

bool InRange(double value, double low, double high) { return value >= low && value <= high; }

void ValidateSampling(const v1::SamplingParams& s, int64_t vocab_size, FieldErrors& errors) {
  if (s.has_temperature() && !InRange(s.temperature(), 0, 2)) {
    errors.Add("sampling.temperature", absl::StrCat("must be in [0, 2], got ", s.temperature()));
  }
  if (s.has_top_p() && !(s.top_p() > 0 && s.top_p() <= 1)) {
    errors.Add("sampling.top_p", absl::StrCat("must be in (0, 1], got ", s.top_p()));
  }
  if (s.top_k() < 0 || s.top_k() > vocab_size) {
    errors.Add("sampling.top_k",
               absl::StrCat("must be in [0, ", vocab_size, "] (0: off), got ", s.top_k()));
  }
  if (!(s.min_p() >= 0 && s.min_p() < 1)) {
    errors.Add("sampling.min_p", absl::StrCat("must be in [0, 1), got ", s.min_p()));
  }
  if (s.has_repetition_penalty() && !(s.repetition_penalty() > 0 && s.repetition_penalty() <= 2)) {
    errors.Add("sampling.repetition_penalty",
               absl::StrCat("must be in (0, 2], got ", s.repetition_penalty()));
  }
  if (!InRange(s.presence_penalty(), -2, 2)) {
    errors.Add("sampling.presence_penalty",
               absl::StrCat("must be in [-2, 2], got ", s.presence_penalty()));
  }
  if (!InRange(s.frequency_penalty(), -2, 2)) {
    errors.Add("sampling.frequency_penalty",
               absl::StrCat("must be in [-2, 2], got ", s.frequency_penalty()));
  }
}

void ValidateStop(const v1::StopConditions& stop, int64_t vocab_size, FieldErrors& errors) {
  if (stop.stop_strings_size() > kMaxStopStrings) {
    errors.Add("stop.stop_strings", absl::StrCat("at most ", kMaxStopStrings, " strings, got ",
                                                 stop.stop_strings_size()));
  }
  for (int i = 0; i < stop.stop_strings_size(); ++i) {
    const std::string& s = stop.stop_strings(i);
    if (s.empty() || s.size() > static_cast<size_t>(kMaxStopStringBytes)) {
      errors.Add(absl::StrCat("stop.stop_strings[", i, "]"),
                 absl::StrCat("must be 1 to ", kMaxStopStringBytes, " bytes, got ", s.size()));
    }
  }
  if (stop.stop_token_ids_size() > kMaxStopTokenIds) {
    errors.Add("stop.stop_token_ids", absl::StrCat("at most ", kMaxStopTokenIds, " ids, got ",
                                                   stop.stop_token_ids_size()));
  }
  for (int i = 0; i < stop.stop_token_ids_size(); ++i) {
    const int32_t id = stop.stop_token_ids(i);
    if (id < 0 || id >= vocab_size) {
      errors.Add(absl::StrCat("stop.stop_token_ids[", i, "]"),
                 absl::StrCat("must be in [0, ", vocab_size, "), got ", id));
    }
  }
}

}  // namespace

bool IsValidUtf8(absl::string_view text) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    int extra = 0;
    uint32_t code = 0;
    if (c >= 0xC2 && c <= 0xDF) {
      extra = 1;
      code = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      extra = 2;
      code = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      extra = 3;
      code = c & 0x07;
    } else {
      return false;  // a continuation byte first, an overlong 2-byte lead, or beyond U+10FFFF
    }
    if (n - i <= static_cast<size_t>(extra)) return false;
    for (int k = 1; k <= extra; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) return false;
      code = (code << 6) | (s[i + k] & 0x3F);
    }
    // Overlong forms, surrogates and code points past U+10FFFF.
    if ((extra == 2 && code < 0x800) || (extra == 3 && (code < 0x10000 || code > 0x10FFFF)) ||
        (code >= 0xD800 && code <= 0xDFFF)) {
      return false;
    }
    i += extra + 1;
  }
  return true;
}

std::optional<std::string> FindInvalidUtf8Field(const Descriptor& type, absl::string_view wire) {
  return WalkForInvalidUtf8(type, wire, "", 0);
}

absl::Status ParseRequest(const grpc::ByteBuffer& buffer, google::protobuf::Message& request) {
  std::vector<grpc::Slice> slices;
  std::string wire;
  if (buffer.Valid() && buffer.Dump(&slices).ok()) {
    wire.reserve(buffer.Length());
    for (const grpc::Slice& slice : slices) {
      wire.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
    }
  }
  // Walk before parsing: protobuf logs an error for every invalid string it meets, and the walk
  // costs far less than any request's work.
  std::optional<std::string> bad_field = FindInvalidUtf8Field(*request.GetDescriptor(), wire);
  if (bad_field.has_value()) return InvalidField(*bad_field, "must be valid UTF-8");
  if (!request.ParseFromString(wire)) {
    return InvalidField("", absl::StrCat("the request is not a well-formed ",
                                         request.GetDescriptor()->full_name(), " message"));
  }
  return absl::OkStatus();
}

grpc::ByteBuffer SerializeResponse(const google::protobuf::Message& response) {
  grpc::Slice slice(response.SerializeAsString());
  return grpc::ByteBuffer(&slice, 1);
}

bool IsValidSessionId(absl::string_view id) {
  if (id.empty() || id.size() > 63) return false;
  for (char c : id) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return id.front() != '-' && id.back() != '-';
}

std::string SessionNameProblem(absl::string_view name) {
  if (name.empty()) return "required: sessions/{session}";
  if (!absl::StartsWith(name, kSessionPrefix) ||
      !IsValidSessionId(name.substr(sizeof(kSessionPrefix) - 1))) {
    return absl::StrCat(QuoteValue(name),
                        " is not sessions/{session} with a session id of 1-63 lowercase "
                        "letters, digits and hyphens, not starting or ending with a hyphen");
  }
  return "";
}

absl::StatusOr<std::string> ParseSessionName(absl::string_view name, absl::string_view field) {
  std::string problem = SessionNameProblem(name);
  if (!problem.empty()) return InvalidField(std::string(field), std::move(problem));
  return std::string(name.substr(sizeof(kSessionPrefix) - 1));
}

absl::StatusOr<ParsedCheckpoint> ParseCheckpointName(absl::string_view name,
                                                     absl::string_view field) {
  auto invalid = [&] {
    return InvalidField(
        std::string(field),
        absl::StrCat(QuoteValue(name), " is not sessions/{session}/checkpoints/{token position}"));
  };
  if (name.empty()) {
    return InvalidField(std::string(field), "required: sessions/{session}/checkpoints/{position}");
  }
  const size_t infix = name.find(kCheckpointInfix);
  if (!absl::StartsWith(name, kSessionPrefix) || infix == absl::string_view::npos) return invalid();
  ParsedCheckpoint out;
  out.session_id =
      std::string(name.substr(sizeof(kSessionPrefix) - 1, infix - (sizeof(kSessionPrefix) - 1)));
  const absl::string_view number = name.substr(infix + sizeof(kCheckpointInfix) - 1);
  if (!IsValidSessionId(out.session_id) || number.empty() || number.size() > 12 ||
      (number.size() > 1 && number[0] == '0') ||
      !std::all_of(number.begin(), number.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      !absl::SimpleAtoi(number, &out.position)) {
    return invalid();
  }
  return out;
}

void ValidateTokenIds(const v1::TokenIds& ids, int64_t vocab_size, const std::string& field,
                      FieldErrors& errors) {
  if (ids.ids_size() == 0) {
    errors.Add(field + ".ids", "at least one token id is required");
    return;
  }
  for (int i = 0; i < ids.ids_size(); ++i) {
    if (ids.ids(i) < 0 || ids.ids(i) >= vocab_size) {
      errors.Add(absl::StrCat(field, ".ids[", i, "]"),
                 absl::StrCat("must be in [0, ", vocab_size, "), got ", ids.ids(i)));
    }
  }
}

void ValidateChatRole(v1::ChatMessage::Role role, bool first, const std::string& field,
                      FieldErrors& errors) {
  if (RoleName(role).empty()) {
    errors.Add(field, "must be SYSTEM, USER, ASSISTANT or TOOL");
  } else if (role == v1::ChatMessage::SYSTEM && !first) {
    errors.Add(field, "a SYSTEM message must be the first message");
  }
}

namespace {

// Why `name` is not a tool name (1 to 64 of [A-Za-z0-9_.-]); "" when it is one.
std::string ToolNameProblem(absl::string_view name) {
  if (name.empty()) return "is required";
  if (name.size() > kMaxToolNameBytes) {
    return absl::StrCat("at most ", kMaxToolNameBytes, " characters, got ", name.size());
  }
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-') {
      return "only letters, digits, '_', '.' and '-'";
    }
  }
  return "";
}

// Adds an error unless `text` is empty (when `may_be_empty`) or a JSON object.
void ValidateJsonObject(const std::string& text, bool may_be_empty, const std::string& field,
                        FieldErrors& errors) {
  if (text.empty() && may_be_empty) return;
  const nlohmann::json parsed = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_object()) errors.Add(field, "must be a JSON object");
}

void ValidateChatMessage(const v1::ChatMessage& message, bool first, const std::string& field,
                         FieldErrors& errors) {
  ValidateChatRole(message.role(), first, field + ".role", errors);
  const bool assistant = message.role() == v1::ChatMessage::ASSISTANT;
  if (!assistant && message.tool_calls_size() > 0) {
    errors.Add(field + ".tool_calls", "only an ASSISTANT message calls tools");
  }
  if (!assistant && !message.reasoning().empty()) {
    errors.Add(field + ".reasoning", "only an ASSISTANT message has reasoning");
  }
  if (message.role() != v1::ChatMessage::TOOL && !message.tool_call_id().empty()) {
    errors.Add(field + ".tool_call_id", "only a TOOL message answers a call");
  }
  for (int i = 0; i < message.tool_calls_size(); ++i) {
    const v1::ToolCall& call = message.tool_calls(i);
    const std::string at = absl::StrCat(field, ".tool_calls[", i, "]");
    if (std::string problem = ToolNameProblem(call.name()); !problem.empty()) {
      errors.Add(at + ".name", std::move(problem));
    }
    ValidateJsonObject(call.arguments(), /*may_be_empty=*/false, at + ".arguments", errors);
  }
}

}  // namespace

void ValidateChatMessages(const v1::ChatMessages& messages, const std::string& field,
                          FieldErrors& errors) {
  if (messages.messages_size() == 0) {
    errors.Add(field + ".messages", "at least one message is required");
  }
  for (int i = 0; i < messages.messages_size(); ++i) {
    ValidateChatMessage(messages.messages(i), i == 0, absl::StrCat(field, ".messages[", i, "]"),
                        errors);
  }
  if (messages.tools_size() > kMaxTools) {
    errors.Add(field + ".tools",
               absl::StrCat("at most ", kMaxTools, " tools, got ", messages.tools_size()));
  }
  std::set<std::string> names;
  for (int i = 0; i < messages.tools_size() && i < kMaxTools; ++i) {
    const v1::Tool& tool = messages.tools(i);
    const std::string at = absl::StrCat(field, ".tools[", i, "]");
    if (std::string problem = ToolNameProblem(tool.name()); !problem.empty()) {
      errors.Add(at + ".name", std::move(problem));
    } else if (!names.insert(tool.name()).second) {
      errors.Add(at + ".name", absl::StrCat("\"", tool.name(), "\" is offered twice"));
    }
    ValidateJsonObject(tool.parameters(), /*may_be_empty=*/true, at + ".parameters", errors);
  }
  if (messages.documents_size() > kMaxDocuments) {
    errors.Add(field + ".documents", absl::StrCat("at most ", kMaxDocuments, " documents, got ",
                                                  messages.documents_size()));
  }
  for (int i = 0; i < messages.documents_size() && i < kMaxDocuments; ++i) {
    if (messages.documents(i).text().empty()) {
      errors.Add(absl::StrCat(field, ".documents[", i, "].text"), "must not be empty");
    }
  }
  ValidateJsonObject(messages.template_variables(), /*may_be_empty=*/true,
                     field + ".template_variables", errors);
}

void ValidateToolChoice(const v1::ToolChoice& choice, const v1::ChatMessages* chat,
                        FieldErrors& errors) {
  const bool offered = chat != nullptr && chat->tools_size() > 0;
  switch (choice.mode()) {
    case v1::ToolChoice::MODE_UNSPECIFIED:
    case v1::ToolChoice::AUTO:
    case v1::ToolChoice::NONE:
      if (!choice.function().empty()) {
        errors.Add("tool_choice.function", "is only for mode FUNCTION");
      }
      return;
    case v1::ToolChoice::REQUIRED:
      if (!offered) errors.Add("tool_choice.mode", "REQUIRED needs tools in the messages");
      if (!choice.function().empty()) {
        errors.Add("tool_choice.function", "is only for mode FUNCTION");
      }
      return;
    case v1::ToolChoice::FUNCTION: {
      if (std::string problem = ToolNameProblem(choice.function()); !problem.empty()) {
        errors.Add("tool_choice.function", std::move(problem));
        return;
      }
      if (!offered) return;  // a tool the session's conversation was given
      for (const v1::Tool& tool : chat->tools()) {
        if (tool.name() == choice.function()) return;
      }
      errors.Add("tool_choice.function",
                 absl::StrCat("\"", choice.function(), "\" is not one of the tools offered"));
      return;
    }
    default:
      errors.Add("tool_choice.mode", absl::StrCat("unknown mode ", choice.mode()));
  }
}

void ValidateDisplayName(absl::string_view name, const std::string& field, FieldErrors& errors) {
  int64_t chars = 0;
  for (char c : name) chars += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  if (chars > kMaxDisplayNameChars) {
    errors.Add(field, absl::StrCat("at most ", kMaxDisplayNameChars, " characters, got ", chars));
  }
}

absl::Status ValidateGenerateRequest(const v1::GenerateRequest& request,
                                     const RequestLimits& limits) {
  FieldErrors errors;
  switch (request.input_case()) {
    case v1::GenerateRequest::INPUT_NOT_SET:
      errors.Add("input", "one of prompt, prompt_token_ids, messages or session is required");
      break;
    case v1::GenerateRequest::kPrompt:
      if (request.prompt().empty()) errors.Add("prompt", "must not be empty");
      break;
    case v1::GenerateRequest::kPromptTokenIds:
      ValidateTokenIds(request.prompt_token_ids(), limits.vocab_size, "prompt_token_ids", errors);
      if (request.prompt_token_ids().ids_size() > limits.max_prompt_tokens) {
        errors.AddContextLength(
            "prompt_token_ids.ids",
            absl::StrCat(request.prompt_token_ids().ids_size(),
                         " tokens exceed max_prompt_tokens (", limits.max_prompt_tokens, ")"));
      }
      break;
    case v1::GenerateRequest::kMessages:
      ValidateChatMessages(request.messages(), "messages", errors);
      break;
    case v1::GenerateRequest::kSession: {
      const v1::SessionInput& session = request.session();
      if (std::string problem = SessionNameProblem(session.session()); !problem.empty()) {
        errors.Add("session.session", std::move(problem));
      }
      switch (session.content_case()) {
        case v1::SessionInput::kText:
          if (session.text().empty()) errors.Add("session.text", "must not be empty when set");
          break;
        case v1::SessionInput::kTokenIds:
          ValidateTokenIds(session.token_ids(), limits.vocab_size, "session.token_ids", errors);
          break;
        case v1::SessionInput::kMessages:
          ValidateChatMessages(session.messages(), "session.messages", errors);
          break;
        case v1::SessionInput::CONTENT_NOT_SET:
          break;
      }
      break;
    }
  }
  const v1::ChatMessages* chat = request.has_messages() ? &request.messages()
                                 : request.has_session() && request.session().has_messages()
                                     ? &request.session().messages()
                                     : nullptr;
  ValidateToolChoice(request.tool_choice(), chat, errors);
  if (request.has_max_tokens() &&
      (request.max_tokens() < 1 || request.max_tokens() > limits.max_completion_tokens)) {
    errors.Add("max_tokens", absl::StrCat("must be in [1, ", limits.max_completion_tokens,
                                          "], got ", request.max_tokens()));
  }
  ValidateSampling(request.sampling(), limits.vocab_size, errors);
  ValidateStop(request.stop(), limits.vocab_size, errors);
  if (request.top_logprobs() < 0 || request.top_logprobs() > kMaxTopLogprobs) {
    errors.Add("top_logprobs",
               absl::StrCat("must be in [0, ", kMaxTopLogprobs, "], got ", request.top_logprobs()));
  } else if (request.top_logprobs() > 0 && !request.include_logprobs()) {
    errors.Add("top_logprobs", "needs include_logprobs");
  }
  return errors.ToStatus();
}

absl::StatusOr<int> EffectivePageSize(int32_t page_size, int default_size) {
  if (page_size < 0) {
    return InvalidField("page_size", absl::StrCat("must not be negative, got ", page_size));
  }
  if (page_size == 0) return default_size;
  return std::min(page_size, kMaxPageSize);
}

std::string RoleName(v1::ChatMessage::Role role) {
  switch (role) {
    case v1::ChatMessage::SYSTEM:
      return "system";
    case v1::ChatMessage::USER:
      return "user";
    case v1::ChatMessage::ASSISTANT:
      return "assistant";
    case v1::ChatMessage::TOOL:
      return "tool";
    default:
      return "";
  }
}

}  // namespace jamba::service
