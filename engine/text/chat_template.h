// ChatTemplate: a checkpoint's own chat template (a Jinja string in tokenizer_config.json, or
// chat_template.jinja), or the built-in Jamba 1.5+ template when it ships none, rendered with the
// Jinja interpreter and tokenized so that only the template's markup can produce special tokens:
// message content, tool definitions, documents and tool results are plain text.
#ifndef JAMBA_ENGINE_TEXT_CHAT_TEMPLATE_H_
#define JAMBA_ENGINE_TEXT_CHAT_TEMPLATE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/text/jinja/template.h"
#include "engine/text/tokenizer.h"
#include "nlohmann/json.hpp"

namespace jamba::engine {

// The output markup a template's family writes, which says how to read a completion.
enum class ToolCallFormat {
  kNone,
  kJamba,   // <tool_calls>[{"name": ..., "arguments": {...}}, ...]</tool_calls> (Jamba 1.5+)
  kHermes,  // <tool_call>\n{"name": ..., "arguments": {...}}\n</tool_call>, one block per call
};

// A conversation in the shape chat templates expect (as transformers passes it): messages with
// role, content (a string or a list of {"type": "text", "text": ...} parts), and for assistant
// turns "tool_calls" ([{"id", "type": "function", "function": {"name", "arguments"}}]) and
// "reasoning_content", for tool results "tool_call_id" and "name"; tools as
// [{"type": "function", "function": {"name", "description", "parameters"}}]; documents as
// [{"title", "text", ...metadata}]; `variables`: extra keyword variables (enable_thinking, ...).
struct ChatConversation {
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  nlohmann::ordered_json tools = nlohmann::ordered_json::array();
  nlohmann::ordered_json documents = nlohmann::ordered_json::array();
  nlohmann::ordered_json variables = nlohmann::ordered_json::object();
  bool add_generation_prompt = true;
};

class ChatTemplate {
  struct PrivateTag {
    explicit PrivateTag() = default;
  };

 public:
  // The checkpoint's template: chat_template.jinja, else tokenizer_config.json's "chat_template"
  // (a string, or a list of {"name", "template"}: the one named "default", else the first); else
  // the built-in Jamba 1.5+ template when the tokenizer has Jamba's chat tokens. NotFound when
  // there is none; InvalidArgument naming the file and line for a template that does not parse
  // or uses a construct the interpreter does not support.
  static absl::StatusOr<std::unique_ptr<ChatTemplate>> Load(const std::string& model_dir,
                                                            const Tokenizer& tokenizer);
  // A template from its source; `origin` says where it came from (for `jamba info`).
  static absl::StatusOr<std::unique_ptr<ChatTemplate>> FromSource(std::string_view source,
                                                                  std::string origin,
                                                                  const Tokenizer& tokenizer);
  // The built-in templates (engine/text/templates/*.jinja).
  static std::string_view BuiltinJambaSource();
  static std::string_view BuiltinChatmlSource();

  ChatTemplate(PrivateTag, jinja::Template program, std::string source, std::string origin,
               const Tokenizer& tokenizer);

  // "chat_template.jinja", "tokenizer_config.json", "tokenizer_config.json (default)",
  // "built-in (Jamba 1.5+)".
  const std::string& origin() const { return origin_; }
  const std::string& source() const { return source_; }
  // "jamba" (<|bom|>...<|eom|> turns), "chatml" (<|im_start|>...<|im_end|>) or "other", from the
  // markup the template writes.
  const std::string& family() const { return family_; }
  ToolCallFormat tool_call_format() const { return tool_call_format_; }
  // Whether the template writes <think> reasoning blocks.
  bool has_reasoning() const { return has_reasoning_; }

  // The conversation as a new sequence (with BOS when the template writes it).
  absl::StatusOr<jinja::RenderOutput> Render(const ChatConversation& conversation) const;
  // What the conversation's messages add after a conversation already in a sequence: no BOS, no
  // opening system turn; the messages rendered as the end of a conversation (so a template that
  // marks the last user turn marks the last of them), then the generation prompt when asked.
  // InvalidArgument if the template cannot be rendered that way.
  absl::StatusOr<jinja::RenderOutput> RenderContinuation(
      const ChatConversation& conversation) const;

  // The tokens the template writes after an assistant message's content when the conversation
  // goes on (ChatML's "<|im_end|>\n", Jamba's "<|eom|>"). A committed reply is closed with them, so
  // a session holds the turn as a rendering of the whole conversation would.
  absl::StatusOr<std::vector<int32_t>> AssistantTurnClosing() const;

  // Tokens of Render or RenderContinuation: markup with special tokens recognised, user data as
  // plain text. `max_tokens` as Tokenizer::EncodeOptions::max_tokens.
  absl::StatusOr<std::vector<int32_t>> Encode(const ChatConversation& conversation,
                                              bool continuation, int64_t max_tokens = -1) const;
  absl::StatusOr<std::vector<int32_t>> Encode(const jinja::RenderOutput& rendered,
                                              int64_t max_tokens = -1) const;

 private:
  // A probe conversation's rendering split after its last (sentinel) message's content: the
  // closing of that message, and what `conversation`'s messages add after it.
  struct ProbeSplit {
    std::string probe_role;  // the sentinel message's role
    jinja::RenderOutput closing;
    jinja::RenderOutput added;
  };
  absl::StatusOr<ProbeSplit> SplitAfterProbe(const ChatConversation& conversation) const;

  std::map<std::string, jinja::Value> Variables(const ChatConversation& conversation) const;

  jinja::Template program_;
  std::string source_;
  std::string origin_;
  std::string family_;
  ToolCallFormat tool_call_format_ = ToolCallFormat::kNone;
  bool has_reasoning_ = false;
  const Tokenizer* tokenizer_;  // not owned; outlives the template
  std::string bos_token_;       // the BOS piece's text ("" when the tokenizer has none)
  std::string eos_token_;
};

// The messages of `conversation` checked against the roles templates know (system, user,
// assistant, tool; system first only; tool results need content), naming the message at fault.
absl::Status ValidateChatMessages(const nlohmann::ordered_json& messages);

}  // namespace jamba::engine

#endif  // JAMBA_ENGINE_TEXT_CHAT_TEMPLATE_H_
