// Chat building blocks: jamba.v1 messages for chats with tools, documents and reasoning.
#include "jamba/client/chat.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "jamba/client/client.h"

namespace jamba::client {

v1::ChatMessage SystemMessage(absl::string_view content) {
  v1::ChatMessage message;
  message.set_role(v1::ChatMessage::SYSTEM);
  message.set_content(std::string(content));
  return message;
}

v1::ChatMessage UserMessage(absl::string_view content) {
  v1::ChatMessage message;
  message.set_role(v1::ChatMessage::USER);
  message.set_content(std::string(content));
  return message;
}

v1::ChatMessage AssistantMessage(absl::string_view content,
                                 const std::vector<v1::ToolCall>& tool_calls,
                                 absl::string_view reasoning) {
  v1::ChatMessage message;
  message.set_role(v1::ChatMessage::ASSISTANT);
  message.set_content(std::string(content));
  message.mutable_tool_calls()->Add(tool_calls.begin(), tool_calls.end());
  message.set_reasoning(std::string(reasoning));
  return message;
}

v1::ChatMessage ToolResultMessage(const v1::ToolCall& call, absl::string_view content) {
  v1::ChatMessage message;
  message.set_role(v1::ChatMessage::TOOL);
  message.set_content(std::string(content));
  message.set_tool_call_id(call.id());
  message.set_name(call.name());
  return message;
}

absl::Status CheckJsonObject(absl::string_view json, absl::string_view what) {
  google::protobuf::Struct object;  // a JSON object, and nothing else, parses as a Struct
  if (!google::protobuf::util::JsonStringToMessage(std::string(json), &object).ok()) {
    return absl::InvalidArgumentError(absl::StrCat(what, " must be a JSON object, got ", json));
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::Tool> MakeTool(absl::string_view name, absl::string_view description,
                                  absl::string_view parameters_json) {
  if (name.empty()) return absl::InvalidArgumentError("a tool needs a name");
  if (!parameters_json.empty()) {
    absl::Status json =
        CheckJsonObject(parameters_json, absl::StrCat("the parameters of tool ", name));
    if (!json.ok()) return json;
  }
  v1::Tool tool;
  tool.set_name(std::string(name));
  tool.set_description(std::string(description));
  tool.set_parameters(std::string(parameters_json));
  return tool;
}

v1::Document MakeDocument(absl::string_view text, absl::string_view title,
                          const std::map<std::string, std::string>& metadata) {
  v1::Document document;
  document.set_text(std::string(text));
  document.set_title(std::string(title));
  document.mutable_metadata()->insert(metadata.begin(), metadata.end());
  return document;
}

v1::ToolChoice ToolChoiceOf(v1::ToolChoice::Mode mode) {
  v1::ToolChoice choice;
  choice.set_mode(mode);
  return choice;
}

v1::ToolChoice ForceTool(absl::string_view function) {
  v1::ToolChoice choice = ToolChoiceOf(v1::ToolChoice::FUNCTION);
  choice.set_function(std::string(function));
  return choice;
}

absl::StatusOr<v1::ToolChoice> ParseToolChoice(absl::string_view choice) {
  const std::string lower = absl::AsciiStrToLower(choice);
  if (lower == "auto") return ToolChoiceOf(v1::ToolChoice::AUTO);
  if (lower == "none") return ToolChoiceOf(v1::ToolChoice::NONE);
  if (lower == "required") return ToolChoiceOf(v1::ToolChoice::REQUIRED);
  if (choice.empty()) {
    return absl::InvalidArgumentError(
        "a tool choice is auto, none, required or the name of a tool");
  }
  return ForceTool(choice);
}

v1::ChatMessages Chat(std::vector<v1::ChatMessage> messages, std::vector<v1::Tool> tools,
                      std::vector<v1::Document> documents, absl::string_view template_variables) {
  v1::ChatMessages chat;
  for (v1::ChatMessage& message : messages) *chat.add_messages() = std::move(message);
  for (v1::Tool& tool : tools) *chat.add_tools() = std::move(tool);
  for (v1::Document& document : documents) *chat.add_documents() = std::move(document);
  chat.set_template_variables(std::string(template_variables));
  return chat;
}

v1::GenerateRequest ChatRequest(v1::ChatMessages chat) {
  v1::GenerateRequest request;
  *request.mutable_messages() = std::move(chat);
  return request;
}

v1::GenerateRequest SessionChatRequest(absl::string_view session, v1::ChatMessages chat,
                                       bool commit) {
  v1::GenerateRequest request;
  v1::SessionInput* input = request.mutable_session();
  input->set_session(SessionName(session));
  *input->mutable_messages() = std::move(chat);
  input->set_commit(commit);
  return request;
}

}  // namespace jamba::client
