// Chat building blocks of the jamba C++ client: messages of every role (with tool calls, tool
// results and reasoning), tool definitions with a JSON Schema, documents, the tool choice, and
// the GenerateRequest of a chat (stateless or on a session). They build the jamba.v1 messages;
// the builders that can be given bad input return absl::StatusOr with INVALID_ARGUMENT.
//
//   absl::StatusOr<v1::Tool> weather = jamba::client::MakeTool(
//       "get_weather", "The weather in a city",
//       R"({"type": "object", "properties": {"city": {"type": "string"}}})");
//   v1::ChatMessages chat = jamba::client::Chat({jamba::client::UserMessage("Weather in Oslo?")},
//                                               {*weather});
//   v1::GenerateRequest request = jamba::client::ChatRequest(chat);
//   *request.mutable_tool_choice() = jamba::client::ForceTool("get_weather");
//   absl::StatusOr<GenerateResult> reply = client->Generate(request);
//   *chat.add_messages() = reply->AssistantMessage();       // the turn, with its tool calls
//   *chat.add_messages() = jamba::client::ToolResultMessage(reply->tool_calls[0], "-3 C, snow");
#ifndef JAMBA_CLIENT_CHAT_H_
#define JAMBA_CLIENT_CHAT_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "jamba/v1/generation.pb.h"
#include "jamba/v1/generation_service.pb.h"

namespace jamba::client {

// Messages. A reply's own assistant message comes from GenerateResult::AssistantMessage().
v1::ChatMessage SystemMessage(absl::string_view content);
v1::ChatMessage UserMessage(absl::string_view content);
v1::ChatMessage AssistantMessage(absl::string_view content,
                                 const std::vector<v1::ToolCall>& tool_calls = {},
                                 absl::string_view reasoning = "");
// The result of a tool call, answering `call` (its id and name are copied).
v1::ChatMessage ToolResultMessage(const v1::ToolCall& call, absl::string_view content);

// INVALID_ARGUMENT unless `json` is a JSON object (`what` names it in the message).
absl::Status CheckJsonObject(absl::string_view json, absl::string_view what);

// A function the model may call: a name (1 to 64 of [A-Za-z0-9_.-]), what it does, and the JSON
// Schema of its arguments as a JSON object ("" for the server's default, {}). INVALID_ARGUMENT
// for an empty name or parameters that are not a JSON object.
absl::StatusOr<v1::Tool> MakeTool(absl::string_view name, absl::string_view description = "",
                                  absl::string_view parameters_json = "");

// A document the model may use: its text, an optional title, and more fields (author, date...).
v1::Document MakeDocument(absl::string_view text, absl::string_view title = "",
                          const std::map<std::string, std::string>& metadata = {});

// Tool choices: the model decides (AUTO), never calls a tool (NONE), must call one of the tools
// (REQUIRED), or must call `function`.
v1::ToolChoice ToolChoiceOf(v1::ToolChoice::Mode mode);
v1::ToolChoice ForceTool(absl::string_view function);
// "auto", "none", "required", or a tool's name (which forces that tool). INVALID_ARGUMENT for "".
absl::StatusOr<v1::ToolChoice> ParseToolChoice(absl::string_view choice);

// The ChatMessages of a request: messages, the tools and documents beside them, and extra
// chat-template variables as a JSON object ("" for none, e.g. R"({"enable_thinking": false})").
v1::ChatMessages Chat(std::vector<v1::ChatMessage> messages, std::vector<v1::Tool> tools = {},
                      std::vector<v1::Document> documents = {},
                      absl::string_view template_variables = "");

// A stateless chat request, and one that appends the chat to a session first (the reply is then
// committed with it when `commit`).
v1::GenerateRequest ChatRequest(v1::ChatMessages chat);
v1::GenerateRequest SessionChatRequest(absl::string_view session, v1::ChatMessages chat,
                                       bool commit);

}  // namespace jamba::client

#endif  // JAMBA_CLIENT_CHAT_H_
