// OpenAI request bodies -> jamba.v1 GenerateRequest.
#include "service/openai_request.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "service/status_mapping.h"

namespace jamba::service {
namespace {

using Json = nlohmann::json;

constexpr char kSessionPrefix[] = "sessions/";

const char* TypeName(const Json& value) {
  switch (value.type()) {
    case Json::value_t::null:
      return "null";
    case Json::value_t::boolean:
      return "a boolean";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
    case Json::value_t::number_float:
      return "a number";
    case Json::value_t::string:
      return "a string";
    case Json::value_t::array:
      return "an array";
    case Json::value_t::object:
      return "an object";
    default:
      return "another type";
  }
}

// Whether `text` nests arrays and objects deeper than `limit` (strings are skipped, so brackets
// inside them do not count). Checked before parsing so a hostile body costs one pass, not a tree.
bool NestedDeeperThan(absl::string_view text, int limit) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > limit) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

absl::Status InvalidJson(std::string message) {
  return WithReason(absl::InvalidArgumentError(Truncate(message, kMaxErrorMessageBytes)),
                    kReasonInvalidJson);
}

// nlohmann's message without its exception tag and without the token it last read (client bytes
// of any length).
std::string ParseErrorMessage(const std::string& what) {
  absl::string_view message = what;
  if (const size_t tag = message.find("] ");
      absl::StartsWith(message, "[json.exception.") && tag != absl::string_view::npos) {
    message.remove_prefix(tag + 2);
  }
  if (const size_t last = message.find("; last read"); last != absl::string_view::npos) {
    message = message.substr(0, last);
  }
  return std::string(message);
}

// The member `key` of `object`; null when absent or JSON null (OpenAI's optional fields).
const Json* Member(const Json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

// Typed reads that add an error naming `path` for a value of the wrong type.
class Reader {
 public:
  explicit Reader(FieldErrors& errors) : errors_(errors) {}

  std::optional<bool> Bool(const Json* value, const std::string& path) {
    if (value == nullptr) return std::nullopt;
    if (!value->is_boolean()) {
      Wrong(path, "a boolean", *value);
      return std::nullopt;
    }
    return value->get<bool>();
  }

  std::optional<std::string> String(const Json* value, const std::string& path) {
    if (value == nullptr) return std::nullopt;
    if (!value->is_string()) {
      Wrong(path, "a string", *value);
      return std::nullopt;
    }
    return value->get<std::string>();
  }

  // A finite number.
  std::optional<double> Number(const Json* value, const std::string& path) {
    if (value == nullptr) return std::nullopt;
    if (!value->is_number()) {
      Wrong(path, "a number", *value);
      return std::nullopt;
    }
    const double number = value->get<double>();
    if (!std::isfinite(number)) {
      errors_.Add(path, "must be a finite number");
      return std::nullopt;
    }
    return number;
  }

  // An integer in [min, max] (the range the v1 field can hold; its own limits come later).
  std::optional<int64_t> Integer(const Json* value, const std::string& path, int64_t min,
                                 int64_t max) {
    if (value == nullptr) return std::nullopt;
    // nlohmann keeps a non-negative literal as unsigned, a negative one as signed.
    bool in_range = false;
    if (value->is_number_unsigned()) {
      const uint64_t n = value->get<uint64_t>();
      in_range = n <= static_cast<uint64_t>(max) && (min <= 0 || n >= static_cast<uint64_t>(min));
    } else if (value->is_number_integer()) {
      const int64_t n = value->get<int64_t>();
      in_range = n >= min && n <= max;
    }
    if (!in_range) {
      errors_.Add(path, value->is_number()
                            ? absl::StrCat("must be an integer in [", min, ", ", max, "], got ",
                                           value->dump())
                            : absl::StrCat("must be an integer, got ", TypeName(*value)));
      return std::nullopt;
    }
    return value->get<int64_t>();
  }

  std::optional<int32_t> Int32(const Json* value, const std::string& path) {
    std::optional<int64_t> n = Integer(value, path, std::numeric_limits<int32_t>::min(),
                                       std::numeric_limits<int32_t>::max());
    if (!n.has_value()) return std::nullopt;
    return static_cast<int32_t>(*n);
  }

  const Json* Array(const Json* value, const std::string& path) {
    if (value == nullptr) return nullptr;
    if (!value->is_array()) {
      Wrong(path, "an array", *value);
      return nullptr;
    }
    return value;
  }

  const Json* Object(const Json* value, const std::string& path) {
    if (value == nullptr) return nullptr;
    if (!value->is_object()) {
      Wrong(path, "an object", *value);
      return nullptr;
    }
    return value;
  }

  void Add(std::string path, std::string description) {
    errors_.Add(std::move(path), std::move(description));
  }

 private:
  void Wrong(const std::string& path, const char* expected, const Json& got) {
    errors_.Add(path, absl::StrCat("must be ", expected, ", got ", TypeName(got)));
  }

  FieldErrors& errors_;
};

// Turns one request body into an OpenAiRequest. Type errors are collected in `errors_`, the
// first field this server does not serve in `unsupported_`; type errors are reported first.
class Translator {
 public:
  Translator(OpenAiEndpoint endpoint, const Json& body, const OpenAiHeaders& headers)
      : body_(body), headers_(headers), read_(errors_) {
    out_.endpoint = endpoint;
  }

  absl::StatusOr<OpenAiRequest> Run() {
    const bool chat = out_.endpoint == OpenAiEndpoint::kChatCompletions;
    if (auto model = read_.String(Member(body_, "model"), "model")) out_.model = *model;
    if (auto user = read_.String(Member(body_, "user"), "user")) out_.user = *user;
    ReadStreaming();
    ReadSession();
    ReadSampling();
    ReadStop();
    ReadUnsupported(chat);
    if (chat) {
      ReadTools();
      ReadMessages();
    } else {
      ReadPrompt();
    }
    ReadLogprobs(chat);
    NameParams(chat);
    if (!errors_.empty()) return errors_.ToStatus();
    if (!unsupported_.ok()) return unsupported_;
    return std::move(out_);
  }

 private:
  void Unsupported(std::string field, std::string message) {
    if (unsupported_.ok()) unsupported_ = UnsupportedField(std::move(field), std::move(message));
  }

  void ReadStreaming() {
    out_.stream = read_.Bool(Member(body_, "stream"), "stream").value_or(false);
    const Json* options = read_.Object(Member(body_, "stream_options"), "stream_options");
    if (options == nullptr) return;
    out_.include_usage =
        read_.Bool(Member(*options, "include_usage"), "stream_options.include_usage")
            .value_or(false);
    out_.continuous_usage = read_
                                .Bool(Member(*options, "continuous_usage_stats"),
                                      "stream_options.continuous_usage_stats")
                                .value_or(false);
  }

  // A header's true/false.
  std::optional<bool> HeaderBool(const std::optional<std::string>& value, const char* header) {
    if (!value.has_value()) return std::nullopt;
    const std::string lower = absl::AsciiStrToLower(absl::StripAsciiWhitespace(*value));
    if (lower == "true" || lower == "1") return true;
    if (lower == "false" || lower == "0") return false;
    read_.Add(header, absl::StrCat("must be true or false, got ", QuoteValue(*value)));
    return std::nullopt;
  }

  void ReadSession() {
    std::optional<std::string> name = read_.String(Member(body_, "session"), "session");
    if (headers_.session.has_value()) {
      const std::string header = absl::StartsWith(*headers_.session, kSessionPrefix)
                                     ? *headers_.session
                                     : absl::StrCat(kSessionPrefix, *headers_.session);
      if (name.has_value() && *name != header) {
        read_.Add("session", absl::StrCat("the body names ", QuoteValue(*name),
                                          " and the X-Jamba-Session header ", QuoteValue(header),
                                          ": name one session"));
      }
      name = header;
    }
    std::optional<bool> commit = read_.Bool(Member(body_, "session_commit"), "session_commit");
    std::optional<bool> create = read_.Bool(Member(body_, "session_create"), "session_create");
    std::optional<std::string> etag = read_.String(Member(body_, "session_etag"), "session_etag");
    if (!commit.has_value()) commit = HeaderBool(headers_.session_commit, "X-Jamba-Session-Commit");
    if (!create.has_value()) create = HeaderBool(headers_.session_create, "X-Jamba-Session-Create");
    if (!etag.has_value()) etag = headers_.session_etag;
    if (!name.has_value()) {
      if (commit.has_value() || create.has_value() || etag.has_value()) {
        read_.Add("session", "session_commit, session_create and session_etag need a session");
      }
      return;
    }
    OpenAiSession session;
    session.name = *name;
    session.commit = commit.value_or(true);
    session.create = create.value_or(false);
    v1::SessionInput* input = out_.generate.mutable_session();
    input->set_session(session.name);
    input->set_commit(session.commit);
    if (etag.has_value()) input->set_etag(*etag);
    out_.session = std::move(session);
  }

  void ReadSampling() {
    v1::GenerateRequest& g = out_.generate;
    v1::SamplingParams* s = g.mutable_sampling();
    std::optional<int32_t> max_tokens =
        read_.Int32(Member(body_, "max_completion_tokens"), "max_completion_tokens");
    if (max_tokens.has_value()) {
      max_tokens_name_ = "max_completion_tokens";
    } else {
      max_tokens = read_.Int32(Member(body_, "max_tokens"), "max_tokens");
    }
    if (max_tokens.has_value()) g.set_max_tokens(*max_tokens);
    if (auto t = read_.Number(Member(body_, "temperature"), "temperature")) s->set_temperature(*t);
    if (auto p = read_.Number(Member(body_, "top_p"), "top_p")) s->set_top_p(*p);
    if (auto p = read_.Number(Member(body_, "presence_penalty"), "presence_penalty")) {
      s->set_presence_penalty(static_cast<float>(*p));
    }
    if (auto p = read_.Number(Member(body_, "frequency_penalty"), "frequency_penalty")) {
      s->set_frequency_penalty(static_cast<float>(*p));
    }
    // vLLM's sampling extensions, which the v1 request has too.
    // (top_k -1 is vLLM's "off", which the v1 request spells 0.)
    if (auto k = read_.Int32(Member(body_, "top_k"), "top_k")) s->set_top_k(*k == -1 ? 0 : *k);
    if (auto p = read_.Number(Member(body_, "min_p"), "min_p")) s->set_min_p(*p);
    if (auto p = read_.Number(Member(body_, "repetition_penalty"), "repetition_penalty")) {
      s->set_repetition_penalty(static_cast<float>(*p));
    }
    // Any integer a client may send: negative seeds are taken modulo 2^64.
    if (const Json* seed = Member(body_, "seed"); seed != nullptr) {
      if (seed->is_number_unsigned()) {
        s->set_seed(seed->get<uint64_t>());
      } else if (seed->is_number_integer()) {
        s->set_seed(static_cast<uint64_t>(seed->get<int64_t>()));
      } else {
        read_.Integer(seed, "seed", std::numeric_limits<int64_t>::min(),
                      std::numeric_limits<int64_t>::max());
      }
    }
  }

  void ReadStop() {
    v1::StopConditions* stop = out_.generate.mutable_stop();
    if (const Json* value = Member(body_, "stop"); value != nullptr) {
      if (value->is_string()) {
        stop->add_stop_strings(value->get<std::string>());
        stop_is_string_ = true;
      } else if (read_.Array(value, "stop") != nullptr) {
        for (size_t i = 0; i < value->size(); ++i) {
          auto text = read_.String(&(*value)[i], absl::StrCat("stop[", i, "]"));
          if (text.has_value()) stop->add_stop_strings(*text);
        }
      }
    }
    if (const Json* ids = read_.Array(Member(body_, "stop_token_ids"), "stop_token_ids")) {
      for (size_t i = 0; i < ids->size(); ++i) {
        auto id = read_.Int32(&(*ids)[i], absl::StrCat("stop_token_ids[", i, "]"));
        if (id.has_value()) stop->add_stop_token_ids(*id);
      }
    }
    if (auto ignore = read_.Bool(Member(body_, "ignore_eos"), "ignore_eos")) {
      stop->set_ignore_eos(*ignore);
    }
  }

  // Fields of OpenAI's API that this server cannot honour: refused rather than silently ignored,
  // since ignoring them would change what the client gets.
  void ReadUnsupported(bool chat) {
    if (auto n = read_.Integer(Member(body_, "n"), "n", 0, std::numeric_limits<int32_t>::max());
        n.has_value() && *n != 1) {
      Unsupported("n", "n must be 1: this server returns one choice per request");
    }
    if (const Json* bias = read_.Object(Member(body_, "logit_bias"), "logit_bias");
        bias != nullptr && !bias->empty()) {
      Unsupported("logit_bias", "logit_bias is not supported by this server version");
    }
    if (const Json* format = read_.Object(Member(body_, "response_format"), "response_format")) {
      auto type = read_.String(Member(*format, "type"), "response_format.type");
      if (type.has_value() && *type != "text") {
        Unsupported("response_format",
                    "response_format " + *type + " is not supported by this server version");
      }
    }
    if (chat) return;
    if (auto best_of = read_.Integer(Member(body_, "best_of"), "best_of", 0,
                                     std::numeric_limits<int32_t>::max());
        best_of.has_value() && *best_of != 1) {
      Unsupported("best_of", "best_of must be 1: this server returns one choice per request");
    }
    if (read_.Bool(Member(body_, "echo"), "echo").value_or(false)) {
      Unsupported("echo", "echo is not supported by this server version");
    }
    if (auto suffix = read_.String(Member(body_, "suffix"), "suffix");
        suffix.has_value() && !suffix->empty()) {
      Unsupported("suffix", "suffix is not supported by this server version");
    }
  }

  // tools, tool_choice and parallel_tool_calls; documents and chat_template_kwargs (vLLM's
  // names for what the chat template renders beside the messages). Tools go with the messages
  // (ReadMessages puts them there), tool_choice onto the request.
  void ReadTools() {
    if (const Json* tools = read_.Array(Member(body_, "tools"), "tools")) {
      for (size_t i = 0; i < tools->size(); ++i) {
        const std::string path = absl::StrCat("tools[", i, "]");
        const Json* tool = read_.Object(&(*tools)[i], path);
        if (tool == nullptr) continue;
        auto type = read_.String(Member(*tool, "type"), path + ".type");
        if (type.has_value() && *type != "function") {
          read_.Add(path + ".type", "must be \"function\"");
        }
        const Json* function = read_.Object(Member(*tool, "function"), path + ".function");
        if (function == nullptr) {
          if (Member(*tool, "function") == nullptr) read_.Add(path + ".function", "required");
          continue;
        }
        const Json* name_value = Member(*function, "name");
        auto name = read_.String(name_value, path + ".function.name");
        if (name_value == nullptr || (name.has_value() && name->empty())) {
          read_.Add(path + ".function.name", "required");
          continue;
        }
        if (!name.has_value()) continue;
        v1::Tool& parsed = *chat_.add_tools();
        parsed.set_name(*name);
        parsed.set_description(
            read_.String(Member(*function, "description"), path + ".function.description")
                .value_or(""));
        if (const Json* parameters =
                read_.Object(Member(*function, "parameters"), path + ".function.parameters")) {
          parsed.set_parameters(parameters->dump());
        }
        // Constrained decoding makes the arguments a JSON object, not one that follows the
        // schema: a client that asks for strict adherence must not believe it has it.
        if (read_.Bool(Member(*function, "strict"), path + ".function.strict").value_or(false)) {
          Unsupported(path + ".function.strict",
                      "strict is not supported: arguments are a JSON object, not checked against "
                      "the parameters schema");
        }
      }
    }
    if (const Json* functions = read_.Array(Member(body_, "functions"), "functions");
        functions != nullptr && !functions->empty()) {
      Unsupported("functions", "functions is deprecated by OpenAI and not supported: send tools");
    }
    if (const Json* choice = Member(body_, "tool_choice"); choice != nullptr) {
      v1::ToolChoice& out = *out_.generate.mutable_tool_choice();
      if (choice->is_string()) {
        const std::string mode = choice->get<std::string>();
        if (mode == "none") {
          out.set_mode(v1::ToolChoice::NONE);
        } else if (mode == "auto") {
          out.set_mode(v1::ToolChoice::AUTO);
        } else if (mode == "required") {
          out.set_mode(v1::ToolChoice::REQUIRED);
        } else {
          read_.Add("tool_choice", "must be \"none\", \"auto\", \"required\" or a function");
        }
      } else if (read_.Object(choice, "tool_choice") != nullptr) {
        const Json* function = read_.Object(Member(*choice, "function"), "tool_choice.function");
        auto name = function == nullptr
                        ? std::nullopt
                        : read_.String(Member(*function, "name"), "tool_choice.function.name");
        if (name.has_value()) {
          out.set_mode(v1::ToolChoice::FUNCTION);
          out.set_function(*name);
        } else {
          read_.Add("tool_choice.function.name", "required");
        }
      }
    }
    read_.Bool(Member(body_, "parallel_tool_calls"), "parallel_tool_calls");
    if (const Json* documents = read_.Array(Member(body_, "documents"), "documents")) {
      for (size_t i = 0; i < documents->size(); ++i) {
        const std::string path = absl::StrCat("documents[", i, "]");
        const Json* document = read_.Object(&(*documents)[i], path);
        if (document == nullptr) continue;
        v1::Document& parsed = *chat_.add_documents();
        // title and text as named; any other string member is metadata the template may show.
        for (const auto& [key, value] : document->items()) {
          auto text = read_.String(&value, absl::StrCat(path, ".", key));
          if (!text.has_value()) continue;
          if (key == "title") {
            parsed.set_title(*text);
          } else if (key == "text") {
            parsed.set_text(*text);
          } else {
            (*parsed.mutable_metadata())[key] = *text;
          }
        }
      }
    }
    if (const Json* kwargs =
            read_.Object(Member(body_, "chat_template_kwargs"), "chat_template_kwargs")) {
      chat_.set_template_variables(kwargs->dump());
    }
  }

  // An assistant message's tool_calls, in OpenAI's shape.
  void ReadToolCalls(const Json& message, const std::string& path, v1::ChatMessage& out) {
    const Json* calls = read_.Array(Member(message, "tool_calls"), path + ".tool_calls");
    if (calls == nullptr) return;
    for (size_t j = 0; j < calls->size(); ++j) {
      const std::string call_path = absl::StrCat(path, ".tool_calls[", j, "]");
      const Json* call = read_.Object(&(*calls)[j], call_path);
      if (call == nullptr) continue;
      v1::ToolCall& parsed = *out.add_tool_calls();
      parsed.set_id(read_.String(Member(*call, "id"), call_path + ".id").value_or(""));
      auto type = read_.String(Member(*call, "type"), call_path + ".type");
      if (type.has_value() && *type != "function") {
        read_.Add(call_path + ".type", "must be \"function\"");
      }
      const Json* function = read_.Object(Member(*call, "function"), call_path + ".function");
      if (function == nullptr) {
        if (Member(*call, "function") == nullptr) read_.Add(call_path + ".function", "required");
        continue;
      }
      parsed.set_name(
          read_.String(Member(*function, "name"), call_path + ".function.name").value_or(""));
      // Arguments are JSON text in OpenAI's shape; an object is taken too.
      const Json* arguments = Member(*function, "arguments");
      if (arguments != nullptr && arguments->is_object()) {
        parsed.set_arguments(arguments->dump());
      } else {
        parsed.set_arguments(
            read_.String(arguments, call_path + ".function.arguments").value_or("{}"));
      }
    }
  }

  // One message's content: a string, or text parts (joined with newlines, as vLLM does).
  std::optional<std::string> Content(const Json& message, const std::string& path, bool assistant) {
    const Json* content = Member(message, "content");
    if (content == nullptr) {
      if (assistant) return "";  // (content null: a reply that was only tool calls)
      read_.Add(path + ".content", "required");
      return std::nullopt;
    }
    if (content->is_string()) return content->get<std::string>();
    if (read_.Array(content, path + ".content") == nullptr) return std::nullopt;
    std::string text;
    for (size_t j = 0; j < content->size(); ++j) {
      const std::string part_path = absl::StrCat(path, ".content[", j, "]");
      const Json* part = read_.Object(&(*content)[j], part_path);
      if (part == nullptr) continue;
      auto type = read_.String(Member(*part, "type"), part_path + ".type");
      if (!type.has_value()) {
        if (Member(*part, "type") == nullptr) read_.Add(part_path + ".type", "required");
        continue;
      }
      if (*type != "text") {
        Unsupported(part_path + ".type",
                    "only text content parts are supported by this server version, got " +
                        QuoteValue(*type));
        continue;
      }
      auto part_text = read_.String(Member(*part, "text"), part_path + ".text");
      if (!part_text.has_value()) {
        if (Member(*part, "text") == nullptr) read_.Add(part_path + ".text", "required");
        continue;
      }
      if (j > 0) text += "\n";
      text += *part_text;
    }
    return text;
  }

  void ReadMessages() {
    const Json* messages = Member(body_, "messages");
    if (messages == nullptr && !out_.session.has_value()) {
      read_.Add("messages", "required");
      return;
    }
    v1::ChatMessages chat;
    if (read_.Array(messages, "messages") != nullptr) {
      for (size_t i = 0; i < messages->size(); ++i) {
        const std::string path = absl::StrCat("messages[", i, "]");
        const Json* message = read_.Object(&(*messages)[i], path);
        if (message == nullptr) continue;
        auto role = read_.String(Member(*message, "role"), path + ".role");
        if (!role.has_value()) {
          if (Member(*message, "role") == nullptr) read_.Add(path + ".role", "required");
          continue;
        }
        v1::ChatMessage::Role v1_role = v1::ChatMessage::ROLE_UNSPECIFIED;
        if (*role == "system" || *role == "developer") {
          v1_role = v1::ChatMessage::SYSTEM;
        } else if (*role == "user") {
          v1_role = v1::ChatMessage::USER;
        } else if (*role == "assistant") {
          v1_role = v1::ChatMessage::ASSISTANT;
        } else if (*role == "tool") {
          v1_role = v1::ChatMessage::TOOL;
        } else if (*role == "function") {
          Unsupported(path + ".role",
                      "the function role is deprecated by OpenAI and not supported: send a tool "
                      "message with tool_call_id");
          continue;
        } else {
          read_.Add(path + ".role", absl::StrCat("must be system, developer, user, assistant or "
                                                 "tool, got ",
                                                 QuoteValue(*role)));
          continue;
        }
        std::optional<std::string> content =
            Content(*message, path, v1_role == v1::ChatMessage::ASSISTANT);
        if (!content.has_value()) continue;
        v1::ChatMessage* out = chat.add_messages();
        out->set_role(v1_role);
        out->set_content(*std::move(content));
        if (auto name = read_.String(Member(*message, "name"), path + ".name")) {
          out->set_name(*name);
        }
        if (v1_role == v1::ChatMessage::ASSISTANT) {
          ReadToolCalls(*message, path, *out);
          // vLLM's name for a reply's reasoning, sent back with the conversation.
          out->set_reasoning(
              read_.String(Member(*message, "reasoning_content"), path + ".reasoning_content")
                  .value_or(""));
        } else if (v1_role == v1::ChatMessage::TOOL) {
          const Json* id = Member(*message, "tool_call_id");
          if (id == nullptr) read_.Add(path + ".tool_call_id", "required");
          out->set_tool_call_id(read_.String(id, path + ".tool_call_id").value_or(""));
        }
      }
    }
    const bool beside =
        chat_.tools_size() > 0 || chat_.documents_size() > 0 || !chat_.template_variables().empty();
    if (beside && chat.messages_size() == 0 && out_.session.has_value()) {
      read_.Add("messages", "tools, documents and chat_template_kwargs go with new messages");
    }
    *chat.mutable_tools() = std::move(*chat_.mutable_tools());
    *chat.mutable_documents() = std::move(*chat_.mutable_documents());
    chat.set_template_variables(chat_.template_variables());
    if (!out_.session.has_value()) {
      *out_.generate.mutable_messages() = std::move(chat);
    } else if (chat.messages_size() > 0) {
      *out_.generate.mutable_session()->mutable_messages() = std::move(chat);
    } else {
      // Nothing new: the reply continues the conversation the session holds.
      out_.generate.mutable_session()->set_start_assistant_turn(true);
    }
  }

  // A token id list from a JSON array of integers; nullopt (with errors) otherwise.
  std::optional<v1::TokenIds> TokenIds(const Json& array, const std::string& path) {
    v1::TokenIds ids;
    bool ok = true;
    for (size_t i = 0; i < array.size(); ++i) {
      auto id = read_.Int32(&array[i], absl::StrCat(path, "[", i, "]"));
      ok = ok && id.has_value();
      if (id.has_value()) ids.add_ids(*id);
    }
    if (!ok) return std::nullopt;
    return ids;
  }

  void ReadPrompt() {
    const Json* prompt = Member(body_, "prompt");
    if (prompt == nullptr) {
      if (!out_.session.has_value()) read_.Add("prompt", "required");
      return;
    }
    std::optional<std::string> text;
    std::optional<v1::TokenIds> ids;
    if (prompt->is_string()) {
      text = prompt->get<std::string>();
    } else if (prompt->is_array()) {
      const bool all_numbers =
          std::all_of(prompt->begin(), prompt->end(), [](const Json& v) { return v.is_number(); });
      if (prompt->empty()) {
        read_.Add("prompt", "must not be empty");
      } else if (all_numbers) {
        ids = TokenIds(*prompt, "prompt");
      } else if (prompt->size() > 1) {
        Unsupported("prompt", "one prompt per request: batches of prompts are not supported");
      } else if ((*prompt)[0].is_string()) {
        text = (*prompt)[0].get<std::string>();
      } else if ((*prompt)[0].is_array() && !(*prompt)[0].empty()) {
        ids = TokenIds((*prompt)[0], "prompt[0]");
      } else {
        read_.Add("prompt[0]", "must be a string or an array of token ids");
      }
    } else {
      read_.Add("prompt",
                absl::StrCat("must be a string or an array of token ids, got ", TypeName(*prompt)));
    }
    v1::GenerateRequest& g = out_.generate;
    if (out_.session.has_value()) {
      if (text.has_value()) g.mutable_session()->set_text(*std::move(text));
      if (ids.has_value()) *g.mutable_session()->mutable_token_ids() = *std::move(ids);
    } else {
      if (text.has_value()) g.set_prompt(*std::move(text));
      if (ids.has_value()) *g.mutable_prompt_token_ids() = *std::move(ids);
    }
  }

  void ReadLogprobs(bool chat) {
    v1::GenerateRequest& g = out_.generate;
    if (chat) {
      const bool logprobs = read_.Bool(Member(body_, "logprobs"), "logprobs").value_or(false);
      std::optional<int32_t> top = read_.Int32(Member(body_, "top_logprobs"), "top_logprobs");
      g.set_include_logprobs(logprobs);
      if (top.has_value()) {
        if (*top > 0 && !logprobs) read_.Add("top_logprobs", "needs \"logprobs\": true");
        g.set_top_logprobs(*top);
      }
      return;
    }
    // Completions: `logprobs` is the number of alternatives per token.
    std::optional<int32_t> top = read_.Int32(Member(body_, "logprobs"), "logprobs");
    if (!top.has_value()) return;
    g.set_include_logprobs(true);
    g.set_top_logprobs(*top);
  }

  // The client's names for the v1 fields the checks and the core name in their errors.
  void NameParams(bool chat) {
    auto& names = out_.param_names;
    const std::string input = chat ? "messages" : "prompt";
    if (stop_is_string_) names.emplace_back("stop.stop_strings[0]", "stop");
    names.insert(names.end(), {{"messages.tools", "tools"},
                               {"session.messages.tools", "tools"},
                               {"messages.documents", "documents"},
                               {"session.messages.documents", "documents"},
                               {"messages.template_variables", "chat_template_kwargs"},
                               {"session.messages.template_variables", "chat_template_kwargs"},
                               {"tool_choice.function", "tool_choice.function.name"},
                               {"tool_choice.mode", "tool_choice"},
                               {"sampling.temperature", "temperature"},
                               {"sampling.top_p", "top_p"},
                               {"sampling.top_k", "top_k"},
                               {"sampling.min_p", "min_p"},
                               {"sampling.repetition_penalty", "repetition_penalty"},
                               {"sampling.presence_penalty", "presence_penalty"},
                               {"sampling.frequency_penalty", "frequency_penalty"},
                               {"sampling.seed", "seed"},
                               {"stop.stop_strings", "stop"},
                               {"stop.stop_token_ids", "stop_token_ids"},
                               {"stop.ignore_eos", "ignore_eos"},
                               {"max_tokens", max_tokens_name_},
                               {"top_logprobs", chat ? "top_logprobs" : "logprobs"},
                               {"include_logprobs", "logprobs"},
                               {"session.session", "session"},
                               {"session.etag", "session_etag"},
                               {"session.messages.messages", "messages"},
                               {"session.messages", "messages"},
                               {"session.start_assistant_turn", "messages"},
                               {"session.text", "prompt"},
                               {"session.token_ids.ids", "prompt"},
                               {"session.token_ids", "prompt"},
                               {"messages.messages", "messages"},
                               {"prompt_token_ids.ids", "prompt"},
                               {"prompt_token_ids", "prompt"},
                               {"input", input}});
    if (out_.session.has_value()) names.emplace_back("name", "session");
  }

  const Json& body_;
  const OpenAiHeaders& headers_;
  FieldErrors errors_;
  Reader read_;
  absl::Status unsupported_;
  OpenAiRequest out_;
  v1::ChatMessages chat_;  // what goes beside the messages: tools, documents, template variables
  std::string max_tokens_name_ = "max_tokens";
  bool stop_is_string_ = false;
};

}  // namespace

namespace {

// v1 keeps a tool's and a tool call's fields flat; OpenAI nests them under `function`.
std::string NestUnderFunction(std::string path) {
  for (const char* list : {"tools[", "tool_calls["}) {
    for (size_t at = path.find(list); at != std::string::npos; at = path.find(list, at + 1)) {
      if (at > 0 && path[at - 1] != '.') continue;
      const size_t close = path.find("].", at);
      if (close == std::string::npos) break;
      const absl::string_view rest = absl::string_view(path).substr(close + 2);
      if (absl::StartsWith(rest, "name") || absl::StartsWith(rest, "description") ||
          absl::StartsWith(rest, "parameters") || absl::StartsWith(rest, "arguments")) {
        path.insert(close + 2, "function.");
      }
    }
  }
  return path;
}

}  // namespace

std::string OpenAiRequest::ParamName(absl::string_view v1_path) const {
  for (const auto& [prefix, name] : param_names) {
    if (v1_path == prefix) return NestUnderFunction(name);
    if (absl::StartsWith(v1_path, prefix) &&
        (v1_path[prefix.size()] == '.' || v1_path[prefix.size()] == '[')) {
      return NestUnderFunction(absl::StrCat(name, v1_path.substr(prefix.size())));
    }
  }
  return std::string(v1_path);
}

absl::StatusOr<OpenAiRequest> ParseOpenAiRequest(OpenAiEndpoint endpoint, absl::string_view body,
                                                 const OpenAiHeaders& headers) {
  if (absl::StripAsciiWhitespace(body).empty()) {
    return InvalidJson("the request body is empty: send a JSON object");
  }
  if (NestedDeeperThan(body, kMaxJsonDepth)) {
    return InvalidJson(
        absl::StrCat("the request body nests arrays and objects deeper than ", kMaxJsonDepth));
  }
  Json json;
  try {
    json = Json::parse(body.begin(), body.end());
  } catch (const Json::exception& error) {
    return InvalidJson(
        absl::StrCat("the request body is not valid JSON: ", ParseErrorMessage(error.what())));
  }
  if (!json.is_object()) {
    return InvalidJson(
        absl::StrCat("the request body must be a JSON object, got ", TypeName(json)));
  }
  return Translator(endpoint, json, headers).Run();
}

}  // namespace jamba::service
