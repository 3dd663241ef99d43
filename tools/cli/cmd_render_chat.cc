// `jamba render-chat --model DIR --messages FILE.json [--tools FILE.json] [--documents FILE.json]
// [--variables JSON] [--continue] [--no-generation-prompt] [--ids]`: the prompt the model's chat
// template renders for a conversation (or its token ids), so a user can check a template outside
// the engine. The files hold OpenAI-style JSON (jamba/chat_json.h).
#include <iostream>

#include "absl/strings/str_join.h"
#include "engine/file_util.h"
#include "jamba/chat_json.h"
#include "tools/cli/commands.h"
#include "tools/cli/common.h"

namespace jamba::cli {

absl::StatusOr<Input> ChatInputFromFlags(const Flags& flags) {
  Input input = Input::Chat({}, !flags.GetBool("no-generation-prompt"));
  if (auto path = flags.Get("messages")) {
    auto text = engine::ReadFileToString(*path);
    if (!text.ok()) return text.status();
    auto messages = ChatMessagesFromJson(*text);
    if (!messages.ok()) return messages.status();
    input.messages = *std::move(messages);
  }
  if (auto path = flags.Get("tools")) {
    auto text = engine::ReadFileToString(*path);
    if (!text.ok()) return text.status();
    auto tools = ToolsFromJson(*text);
    if (!tools.ok()) return tools.status();
    input.tools = *std::move(tools);
  }
  if (auto path = flags.Get("documents")) {
    auto text = engine::ReadFileToString(*path);
    if (!text.ok()) return text.status();
    auto documents = DocumentsFromJson(*text);
    if (!documents.ok()) return documents.status();
    input.documents = *std::move(documents);
  }
  if (auto variables = flags.Get("variables")) input.template_variables = *variables;
  input.continue_conversation = flags.GetBool("continue");
  return input;
}

int RunRenderChat(const Args& args) {
  const std::string command = "render-chat";
  FlagSpec spec;
  AddEngineFlags(spec);
  spec.values.insert({"messages", "tools", "documents", "variables"});
  spec.booleans.insert({"no-generation-prompt", "ids", "continue"});
  auto flags = Flags::Parse(args, spec);
  if (!flags.ok()) return Fail(command, flags.status());
  auto model_dir = flags->Require("model");
  if (!model_dir.ok()) return Fail(command, model_dir.status());
  if (!flags->Has("messages") && !flags->GetBool("continue")) {
    return Fail(command, absl::InvalidArgumentError("--messages FILE.json is required"));
  }
  auto input = ChatInputFromFlags(*flags);
  if (!input.ok()) return Fail(command, input.status());
  auto engine_options = EngineOptionsFromFlags(*flags);
  if (!engine_options.ok()) return Fail(command, engine_options.status());
  auto engine = Engine::Open(*model_dir, *engine_options);
  if (!engine.ok()) return Fail(command, engine.status());
  if (flags->GetBool("ids")) {
    auto ids = (*engine)->Tokenize(*input);
    if (!ids.ok()) return Fail(command, ids.status());
    std::cout << absl::StrJoin(*ids, " ") << "\n";
    return 0;
  }
  auto text = (*engine)->RenderChat(*input);
  if (!text.ok()) return Fail(command, text.status());
  std::cout << *text;
  if (text->empty() || text->back() != '\n') std::cout << "\n";
  return 0;
}

}  // namespace jamba::cli
