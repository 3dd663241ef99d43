// The version 2 functions of the C ABI: input options, tokenizing and rendering inputs, chat
// inputs from OpenAI-style JSON (tools, documents, tool calls), and a chat reply's reasoning and
// tool calls. Same rules as c_api.cc: Guard around every body, out-parameters written last.
#include <string>

#include "jamba/chat_json.h"
#include "sdk/c_api_internal.h"

namespace jamba::capi {
namespace {

using InputOptionKey = OptionKey<Input>;
constexpr InputOptionKey kTextInputOptionKeys[] = {
    {"parse_special_tokens",
     [](Input& o, absl::string_view v) { return Assign(o.parse_special_tokens, v); }},
};
constexpr InputOptionKey kChatInputOptionKeys[] = {
    {"continue_conversation",
     [](Input& o, absl::string_view v) { return Assign(o.continue_conversation, v); }},
};

}  // namespace

std::unique_ptr<JambaGenerateResult> NewGenerateResult(GenerateResult result) {
  auto handle = std::make_unique<JambaGenerateResult>();
  handle->tool_calls_json = ToolCallsToJson(result.tool_calls);
  handle->result = std::move(result);
  return handle;
}

JambaStatus* SetInputOption(JambaInput* input, const char* key, const char* value) {
  return Guard([&]() -> absl::Status {
    JAMBA_RETURN_IF_ERROR(Args("SetInputOption").NotNull(input, "input").status());
    switch (input->input.kind) {
      case Input::Kind::kText:
        return SetOption("SetInputOption", kTextInputOptionKeys, input->input, key, value);
      case Input::Kind::kChat:
        return SetOption("SetInputOption", kChatInputOptionKeys, input->input, key, value);
      case Input::Kind::kTokens:
        break;
    }
    return absl::FailedPreconditionError(
        "SetInputOption: token inputs have no options (text and chat inputs do)");
  });
}

JambaStatus* TokenizeInput(const JambaEngine* engine, const JambaInput* input, int32_t** out_tokens,
                           size_t* out_n_tokens) {
  return Guard([&]() -> absl::Status {
    JAMBA_RETURN_IF_ERROR(Args("TokenizeInput")
                              .NotNull(engine, "engine")
                              .NotNull(input, "input")
                              .NotNull(out_tokens, "out_tokens")
                              .NotNull(out_n_tokens, "out_n_tokens")
                              .status());
    JAMBA_ASSIGN_OR_RETURN(const std::vector<int32_t> tokens,
                           engine->engine->Tokenize(input->input));
    *out_tokens = NewArray<int32_t>(tokens);
    *out_n_tokens = tokens.size();
    return absl::OkStatus();
  });
}

JambaStatus* SetChatInputJson(JambaInput* input, const char* key, const char* json,
                              size_t json_len) {
  return Guard([&]() -> absl::Status {
    JAMBA_RETURN_IF_ERROR(Args("SetChatInputJson").NotNull(input, "input").status());
    if (input->input.kind != Input::Kind::kChat) {
      return absl::FailedPreconditionError(
          "SetChatInputJson: input was not created with CreateChatInput");
    }
    JAMBA_ASSIGN_OR_RETURN(const std::string k, StringArg("SetChatInputJson", "key", key));
    JAMBA_ASSIGN_OR_RETURN(const std::string text,
                           TextArg("SetChatInputJson", "json", json, json_len));
    Input& chat = input->input;
    if (k == "messages") {
      JAMBA_ASSIGN_OR_RETURN(std::vector<ChatMessage> messages, ChatMessagesFromJson(text));
      chat.messages.insert(chat.messages.end(), messages.begin(), messages.end());
    } else if (k == "tools") {
      JAMBA_ASSIGN_OR_RETURN(chat.tools, ToolsFromJson(text));
    } else if (k == "documents") {
      JAMBA_ASSIGN_OR_RETURN(chat.documents, DocumentsFromJson(text));
    } else if (k == "template_variables") {
      chat.template_variables = text;  // checked (a JSON object) when the input is used
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("SetChatInputJson: unknown key \"", k.substr(0, 64),
                       "\" (known: messages, tools, documents, template_variables)"));
    }
    return absl::OkStatus();
  });
}

JambaStatus* RenderChat(const JambaEngine* engine, const JambaInput* input, char** out_text,
                        size_t* out_text_len) {
  return Guard([&]() -> absl::Status {
    JAMBA_RETURN_IF_ERROR(Args("RenderChat")
                              .NotNull(engine, "engine")
                              .NotNull(input, "input")
                              .NotNull(out_text, "out_text")
                              .NotNull(out_text_len, "out_text_len")
                              .status());
    JAMBA_ASSIGN_OR_RETURN(const std::string text, engine->engine->RenderChat(input->input));
    *out_text = NewText(text);
    *out_text_len = text.size();
    return absl::OkStatus();
  });
}

JambaStatus* GenerateResultGetReasoning(const JambaGenerateResult* result, const char** text,
                                        size_t* text_len) {
  return Guard([&]() -> absl::Status {
    JAMBA_RETURN_IF_ERROR(Args("GenerateResultGetReasoning")
                              .NotNull(result, "result")
                              .NotNull(text, "text")
                              .status());
    *text = result->result.reasoning.c_str();
    if (text_len != nullptr) *text_len = result->result.reasoning.size();
    return absl::OkStatus();
  });
}

JambaStatus* GenerateResultGetToolCallsJson(const JambaGenerateResult* result, const char** json,
                                            size_t* json_len) {
  return Guard([&]() -> absl::Status {
    JAMBA_RETURN_IF_ERROR(Args("GenerateResultGetToolCallsJson")
                              .NotNull(result, "result")
                              .NotNull(json, "json")
                              .status());
    *json = result->tool_calls_json.c_str();
    if (json_len != nullptr) *json_len = result->tool_calls_json.size();
    return absl::OkStatus();
  });
}

JambaStatus* GenerateResultGetMalformedToolCall(const JambaGenerateResult* result, int* out) {
  return Guard([&]() -> absl::Status {
    JAMBA_RETURN_IF_ERROR(Args("GenerateResultGetMalformedToolCall")
                              .NotNull(result, "result")
                              .NotNull(out, "out")
                              .status());
    *out = result->result.malformed_tool_call ? 1 : 0;
    return absl::OkStatus();
  });
}

}  // namespace jamba::capi
