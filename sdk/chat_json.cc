// OpenAI-style chat JSON <-> the SDK's chat types.
#include "jamba/chat_json.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/status_macros.h"
#include "nlohmann/json.hpp"

namespace jamba {
namespace {

using Json = nlohmann::ordered_json;

absl::Status FieldError(const std::string& path, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", what));
}

absl::StatusOr<Json> ParseList(std::string_view text, const std::string& what) {
  Json json = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return FieldError(what, "is not valid JSON");
  if (!json.is_array()) return FieldError(what, "must be a JSON list");
  return json;
}

// An optional string member of `object` ("" when absent or null).
absl::StatusOr<std::string> OptionalString(const Json& object, const char* key,
                                           const std::string& path) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return std::string();
  if (!it->is_string()) return FieldError(absl::StrCat(path, ".", key), "must be a string");
  return it->get<std::string>();
}

// Content as a string, or a list of {"type": "text", "text": ...} parts joined.
absl::StatusOr<std::string> Content(const Json& message, const std::string& path) {
  auto it = message.find("content");
  if (it == message.end() || it->is_null()) return std::string();
  if (it->is_string()) return it->get<std::string>();
  if (!it->is_array()) {
    return FieldError(path + ".content", "must be a string or a list of text parts");
  }
  std::string text;
  for (size_t i = 0; i < it->size(); ++i) {
    const Json& part = (*it)[i];
    const std::string part_path = absl::StrCat(path, ".content[", i, "]");
    if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") ||
        !part["text"].is_string()) {
      return FieldError(part_path, "must be {\"type\": \"text\", \"text\": ...}");
    }
    text += part["text"].get<std::string>();
  }
  return text;
}

absl::StatusOr<ToolCall> ParseToolCall(const Json& call, const std::string& path) {
  if (!call.is_object()) return FieldError(path, "must be an object");
  ToolCall out;
  JAMBA_ASSIGN_OR_RETURN(out.id, OptionalString(call, "id", path));
  const Json* function = &call;
  if (call.contains("function")) {
    function = &call["function"];
    if (!function->is_object()) return FieldError(path + ".function", "must be an object");
  }
  const std::string function_path = call.contains("function") ? path + ".function" : path;
  JAMBA_ASSIGN_OR_RETURN(out.name, OptionalString(*function, "name", function_path));
  if (out.name.empty()) return FieldError(function_path + ".name", "is required");
  auto arguments = function->find("arguments");
  if (arguments == function->end() || arguments->is_null()) {
    out.arguments = "{}";
  } else if (arguments->is_string()) {
    out.arguments = arguments->get<std::string>();
  } else if (arguments->is_object()) {
    out.arguments = arguments->dump();
  } else {
    return FieldError(function_path + ".arguments", "must be an object or its JSON text");
  }
  return out;
}

}  // namespace

absl::StatusOr<std::vector<ChatMessage>> ChatMessagesFromJson(std::string_view json) {
  JAMBA_ASSIGN_OR_RETURN(Json list, ParseList(json, "messages"));
  std::vector<ChatMessage> messages;
  for (size_t i = 0; i < list.size(); ++i) {
    const Json& message = list[i];
    const std::string path = absl::StrCat("messages[", i, "]");
    if (!message.is_object()) return FieldError(path, "must be an object");
    ChatMessage out;
    JAMBA_ASSIGN_OR_RETURN(out.role, OptionalString(message, "role", path));
    if (out.role.empty()) return FieldError(path + ".role", "is required");
    JAMBA_ASSIGN_OR_RETURN(out.content, Content(message, path));
    JAMBA_ASSIGN_OR_RETURN(out.name, OptionalString(message, "name", path));
    JAMBA_ASSIGN_OR_RETURN(out.tool_call_id, OptionalString(message, "tool_call_id", path));
    JAMBA_ASSIGN_OR_RETURN(out.reasoning, OptionalString(message, "reasoning_content", path));
    if (out.reasoning.empty()) {
      JAMBA_ASSIGN_OR_RETURN(out.reasoning, OptionalString(message, "reasoning", path));
    }
    if (auto calls = message.find("tool_calls"); calls != message.end() && !calls->is_null()) {
      if (!calls->is_array()) return FieldError(path + ".tool_calls", "must be a list");
      for (size_t j = 0; j < calls->size(); ++j) {
        JAMBA_ASSIGN_OR_RETURN(
            ToolCall call, ParseToolCall((*calls)[j], absl::StrCat(path, ".tool_calls[", j, "]")));
        out.tool_calls.push_back(std::move(call));
      }
    }
    messages.push_back(std::move(out));
  }
  return messages;
}

absl::StatusOr<std::vector<Tool>> ToolsFromJson(std::string_view json) {
  JAMBA_ASSIGN_OR_RETURN(Json list, ParseList(json, "tools"));
  std::vector<Tool> tools;
  for (size_t i = 0; i < list.size(); ++i) {
    std::string path = absl::StrCat("tools[", i, "]");
    const Json* function = &list[i];
    if (!function->is_object()) return FieldError(path, "must be an object");
    if (function->contains("function")) {
      const std::string type = function->value("type", "function");
      if (type != "function") {
        return FieldError(path + ".type", "only \"function\" tools are supported");
      }
      function = &(*function)["function"];
      path += ".function";
      if (!function->is_object()) return FieldError(path, "must be an object");
    }
    Tool tool;
    JAMBA_ASSIGN_OR_RETURN(tool.name, OptionalString(*function, "name", path));
    if (tool.name.empty()) return FieldError(path + ".name", "is required");
    JAMBA_ASSIGN_OR_RETURN(tool.description, OptionalString(*function, "description", path));
    if (auto parameters = function->find("parameters");
        parameters != function->end() && !parameters->is_null()) {
      if (!parameters->is_object()) return FieldError(path + ".parameters", "must be an object");
      tool.parameters = parameters->dump();
    }
    tools.push_back(std::move(tool));
  }
  return tools;
}

absl::StatusOr<std::vector<Document>> DocumentsFromJson(std::string_view json) {
  JAMBA_ASSIGN_OR_RETURN(Json list, ParseList(json, "documents"));
  std::vector<Document> documents;
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string path = absl::StrCat("documents[", i, "]");
    const Json& document = list[i];
    if (!document.is_object()) return FieldError(path, "must be an object");
    Document out;
    for (const auto& [key, value] : document.items()) {
      const std::string field = absl::StrCat(path, ".", key);
      std::string text;
      if (value.is_string()) {
        text = value.get<std::string>();
      } else if (value.is_number() || value.is_boolean()) {
        text = value.dump();
      } else if (!value.is_null()) {
        return FieldError(field, "must be a string, a number or a boolean");
      }
      if (key == "title") {
        out.title = std::move(text);
      } else if (key == "text") {
        out.text = std::move(text);
      } else {
        out.metadata[key] = std::move(text);
      }
    }
    documents.push_back(std::move(out));
  }
  return documents;
}

std::string ToolCallsToJson(const std::vector<ToolCall>& calls) {
  Json list = Json::array();
  for (const ToolCall& call : calls) {
    list.push_back({{"id", call.id},
                    {"type", "function"},
                    {"function", {{"name", call.name}, {"arguments", call.arguments}}}});
  }
  return list.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace jamba
