// Chat inputs and outputs in the JSON shapes the OpenAI API and Hugging Face chat templates use,
// for tools that read conversations from files (`jamba render-chat --messages FILE.json`) and for
// the C ABI:
//   messages:  [{"role": "user", "content": "..."},
//               {"role": "assistant", "content": "", "reasoning_content": "...",
//                "tool_calls": [{"id": "call_1", "type": "function",
//                                "function": {"name": "f", "arguments": "{\"x\": 1}"}}]},
//               {"role": "tool", "tool_call_id": "call_1", "name": "f", "content": "..."}]
//              (content may also be a list of {"type": "text", "text": ...} parts; arguments an
//              object or its JSON text; "reasoning" is accepted for "reasoning_content")
//   tools:     [{"type": "function", "function": {"name", "description", "parameters"}}]
//              (or the function objects alone)
//   documents: [{"title": "...", "text": "...", <other fields>: metadata}]
// Errors are INVALID_ARGUMENT naming the path of the bad field ("messages[2].tool_calls[0]...").
#ifndef JAMBA_SDK_CHAT_JSON_H_
#define JAMBA_SDK_CHAT_JSON_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "jamba/types.h"

namespace jamba {

absl::StatusOr<std::vector<ChatMessage>> ChatMessagesFromJson(std::string_view json);
absl::StatusOr<std::vector<Tool>> ToolsFromJson(std::string_view json);
absl::StatusOr<std::vector<Document>> DocumentsFromJson(std::string_view json);

// [{"id", "type": "function", "function": {"name", "arguments"}}], arguments as JSON text.
std::string ToolCallsToJson(const std::vector<ToolCall>& calls);

}  // namespace jamba

#endif  // JAMBA_SDK_CHAT_JSON_H_
