// ChatTemplate: finding the checkpoint's template, the variables transformers passes to it,
// rendering a continuation of a conversation already in a sequence, and tokenizing the rendered
// segments (markup with special tokens, user data without).
#include "engine/text/chat_template.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/file_util.h"
#include "engine/status_macros.h"
#include "engine/text/special_tokens.h"

namespace jamba::engine {

// Generated from engine/text/templates/*.jinja (cmake/EmbedFile.cmake).
std::string_view EmbeddedJamba15Template();
std::string_view EmbeddedChatmlToolsThinkTemplate();

namespace {

using Json = nlohmann::ordered_json;

constexpr char kTemplateFile[] = "chat_template.jinja";
constexpr char kTokenizerConfigFile[] = "tokenizer_config.json";
// Content no real message holds, to find where a probe conversation's last message ends.
constexpr char kSentinel[] = "JAMBA-CONTINUATION-7f3a9c1e";

bool HasJambaChatTokens(const Tokenizer& tokenizer) {
  for (const char* piece : {kBeginMessageToken, kEndMessageToken, kSystemRoleToken, kUserRoleToken,
                            kAssistantRoleToken}) {
    if (!tokenizer.PieceToId(piece).has_value()) return false;
  }
  return true;
}

// The template named in tokenizer_config.json, if any: (source, origin).
absl::StatusOr<std::optional<std::pair<std::string, std::string>>> TemplateFromTokenizerConfig(
    const std::string& model_dir) {
  const std::string path = JoinPath(model_dir, kTokenizerConfigFile);
  if (!FileExists(path)) return std::nullopt;
  JAMBA_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  const Json config = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (config.is_discarded() || !config.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": malformed JSON"));
  }
  auto it = config.find("chat_template");
  if (it == config.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) {
    return std::make_pair(it->get<std::string>(), std::string(kTokenizerConfigFile));
  }
  if (!it->is_array() || it->empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": 'chat_template' must be a string or a list of {\"name\", \"template\"}"));
  }
  const Json* chosen = nullptr;
  for (const Json& entry : *it) {
    if (!entry.is_object() || !entry.contains("template") || !entry["template"].is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": every 'chat_template' entry needs a string 'template'"));
    }
    const bool is_default = entry.contains("name") && entry["name"] == "default";
    if (chosen == nullptr || is_default) chosen = &entry;
    if (is_default) break;
  }
  const std::string name = chosen->contains("name") && (*chosen)["name"].is_string()
                               ? (*chosen)["name"].get<std::string>()
                               : "first";
  return std::make_pair((*chosen)["template"].get<std::string>(),
                        absl::StrCat(kTokenizerConfigFile, " (", name, ")"));
}

// `rendered` from byte `begin` on, each segment keeping its flag.
jinja::RenderOutput Suffix(const jinja::RenderOutput& rendered, size_t begin) {
  jinja::RenderOutput out;
  size_t offset = 0;
  for (const jinja::RenderedSegment& segment : rendered.segments) {
    const size_t end = offset + segment.text.size();
    if (end > begin) {
      const size_t skip = begin > offset ? begin - offset : 0;
      out.segments.push_back({segment.text.substr(skip), segment.user_data});
    }
    offset = end;
  }
  return out;
}

// The position of the one occurrence of `needle` in `text`, or npos when it occurs never or twice.
size_t FindOnce(const std::string& text, std::string_view needle) {
  const size_t first = text.find(needle);
  if (first == std::string::npos || text.find(needle, first + 1) != std::string::npos) {
    return std::string::npos;
  }
  return first;
}

}  // namespace

std::string_view ChatTemplate::BuiltinJambaSource() { return EmbeddedJamba15Template(); }
std::string_view ChatTemplate::BuiltinChatmlSource() { return EmbeddedChatmlToolsThinkTemplate(); }

absl::StatusOr<std::unique_ptr<ChatTemplate>> ChatTemplate::Load(const std::string& model_dir,
                                                                 const Tokenizer& tokenizer) {
  const std::string file = JoinPath(model_dir, kTemplateFile);
  if (FileExists(file)) {
    JAMBA_ASSIGN_OR_RETURN(std::string source, ReadFileToString(file));
    return FromSource(source, kTemplateFile, tokenizer);
  }
  JAMBA_ASSIGN_OR_RETURN(auto configured, TemplateFromTokenizerConfig(model_dir));
  if (configured.has_value()) {
    return FromSource(configured->first, configured->second, tokenizer);
  }
  if (HasJambaChatTokens(tokenizer)) {
    return FromSource(BuiltinJambaSource(), "built-in (Jamba 1.5+)", tokenizer);
  }
  return absl::NotFoundError(absl::StrCat(model_dir, ": no chat template (", kTemplateFile, " or ",
                                          kTokenizerConfigFile,
                                          " chat_template) and no Jamba chat tokens"));
}

absl::StatusOr<std::unique_ptr<ChatTemplate>> ChatTemplate::FromSource(std::string_view source,
                                                                       std::string origin,
                                                                       const Tokenizer& tokenizer) {
  absl::StatusOr<jinja::Template> program = jinja::Template::Parse(source);
  if (!program.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(origin, ": chat template: ", program.status().message()));
  }
  return std::make_unique<ChatTemplate>(PrivateTag(), *std::move(program), std::string(source),
                                        std::move(origin), tokenizer);
}

ChatTemplate::ChatTemplate(PrivateTag, jinja::Template program, std::string source,
                           std::string origin, const Tokenizer& tokenizer)
    : program_(std::move(program)),
      source_(std::move(source)),
      origin_(std::move(origin)),
      tokenizer_(&tokenizer) {
  if (absl::StrContains(source_, kBeginMessageToken)) {
    family_ = "jamba";
  } else if (absl::StrContains(source_, "<|im_start|>")) {
    family_ = "chatml";
  } else {
    family_ = "other";
  }
  if (absl::StrContains(source_, "<tool_calls>")) {
    tool_call_format_ = ToolCallFormat::kJamba;
  } else if (absl::StrContains(source_, "<tool_call>")) {
    tool_call_format_ = ToolCallFormat::kHermes;
  }
  has_reasoning_ = absl::StrContains(source_, "<think>");
  if (tokenizer.bos_id() >= 0) bos_token_ = tokenizer.IdToPiece(tokenizer.bos_id());
  if (!tokenizer.eos_ids().empty()) eos_token_ = tokenizer.IdToPiece(tokenizer.eos_ids().front());
}

std::map<std::string, jinja::Value> ChatTemplate::Variables(
    const ChatConversation& conversation) const {
  // What transformers passes: absent tools and documents are None, the special tokens markup.
  std::map<std::string, jinja::Value> variables;
  for (const auto& [key, value] : conversation.variables.items()) {
    variables[key] = jinja::FromJson(value, /*user_data=*/true);
  }
  variables["messages"] = jinja::FromJson(conversation.messages, /*user_data=*/true);
  variables["tools"] = conversation.tools.empty()
                           ? jinja::Value::None()
                           : jinja::FromJson(conversation.tools, /*user_data=*/true);
  variables["documents"] = conversation.documents.empty()
                               ? jinja::Value::None()
                               : jinja::FromJson(conversation.documents, /*user_data=*/true);
  variables["add_generation_prompt"] = jinja::Value::Bool(conversation.add_generation_prompt);
  if (!bos_token_.empty()) variables["bos_token"] = jinja::Value::String(bos_token_, false);
  if (!eos_token_.empty()) variables["eos_token"] = jinja::Value::String(eos_token_, false);
  return variables;
}

absl::StatusOr<jinja::RenderOutput> ChatTemplate::Render(
    const ChatConversation& conversation) const {
  JAMBA_RETURN_IF_ERROR(ValidateChatMessages(conversation.messages));
  absl::StatusOr<jinja::RenderOutput> rendered = program_.Render(Variables(conversation));
  if (!rendered.ok()) {
    return absl::Status(rendered.status().code(), absl::StrCat("chat template (", origin_,
                                                               "): ", rendered.status().message()));
  }
  return rendered;
}

absl::StatusOr<ChatTemplate::ProbeSplit> ChatTemplate::SplitAfterProbe(
    const ChatConversation& conversation) const {
  // Render a probe conversation P ending in a sentinel message, alone and followed by the
  // conversation's messages. When P renders the same up to the sentinel both times, and its own
  // closing of the sentinel's turn comes next both times, what follows is what the messages add.
  // Several probes, because templates differ in the orders of roles they accept and in what they
  // do to the last user turn.
  const Json probes[] = {
      Json::array(
          {{{"role", "user"}, {"content", "x"}}, {{"role", "assistant"}, {"content", kSentinel}}}),
      Json::array({{{"role", "user"}, {"content", kSentinel}}}),
      Json::array({{{"role", "system"}, {"content", kSentinel}}}),
  };
  absl::Status last_error = absl::InvalidArgumentError("no probe conversation rendered");
  for (const Json& probe : probes) {
    ChatConversation alone = conversation;
    alone.messages = probe;
    alone.add_generation_prompt = false;
    ChatConversation extended = conversation;
    extended.messages = probe;
    for (const Json& message : conversation.messages) extended.messages.push_back(message);
    absl::StatusOr<jinja::RenderOutput> a = program_.Render(Variables(alone));
    absl::StatusOr<jinja::RenderOutput> b = program_.Render(Variables(extended));
    if (!a.ok() || !b.ok()) {
      last_error = !a.ok() ? a.status() : b.status();
      continue;
    }
    const std::string a_text = a->Text();
    const std::string b_text = b->Text();
    const size_t a_at = FindOnce(a_text, kSentinel);
    const size_t b_at = FindOnce(b_text, kSentinel);
    if (a_at == std::string::npos || a_at != b_at ||
        a_text.compare(0, a_at, b_text, 0, b_at) != 0) {
      continue;
    }
    const size_t after = a_at + sizeof(kSentinel) - 1;
    const std::string_view closing = std::string_view(a_text).substr(after);
    if (std::string_view(b_text).substr(after, closing.size()) != closing) continue;
    return ProbeSplit{probe.back()["role"].get<std::string>(), Suffix(*a, after),
                      Suffix(*b, after + closing.size())};
  }
  return last_error;
}

absl::StatusOr<jinja::RenderOutput> ChatTemplate::RenderContinuation(
    const ChatConversation& conversation) const {
  JAMBA_RETURN_IF_ERROR(ValidateChatMessages(conversation.messages));
  absl::StatusOr<ProbeSplit> split = SplitAfterProbe(conversation);
  if (!split.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "chat template (", origin_,
        ") cannot render messages that continue a conversation: ", split.status().message()));
  }
  return std::move(split->added);
}

absl::StatusOr<std::vector<int32_t>> ChatTemplate::AssistantTurnClosing() const {
  ChatConversation conversation;
  conversation.messages = Json::array({{{"role", "user"}, {"content", "y"}}});
  absl::StatusOr<ProbeSplit> split = SplitAfterProbe(conversation);
  if (!split.ok()) return split.status();
  if (split->probe_role != "assistant") {
    return absl::FailedPreconditionError(absl::StrCat(
        "chat template (", origin_, ") does not render a user message after an assistant turn"));
  }
  return Encode(split->closing);
}

absl::StatusOr<std::vector<int32_t>> ChatTemplate::Encode(const ChatConversation& conversation,
                                                          bool continuation,
                                                          int64_t max_tokens) const {
  JAMBA_ASSIGN_OR_RETURN(jinja::RenderOutput rendered,
                         continuation ? RenderContinuation(conversation) : Render(conversation));
  return Encode(rendered, max_tokens);
}

absl::StatusOr<std::vector<int32_t>> ChatTemplate::Encode(const jinja::RenderOutput& rendered,
                                                          int64_t max_tokens) const {
  std::vector<TextSegment> segments;
  segments.reserve(rendered.segments.size());
  for (const jinja::RenderedSegment& segment : rendered.segments) {
    segments.push_back({segment.text, /*parse_special=*/!segment.user_data});
  }
  Tokenizer::EncodeOptions options;
  options.max_tokens = max_tokens;
  return tokenizer_->Encode(segments, options);
}

absl::Status ValidateChatMessages(const nlohmann::ordered_json& messages) {
  if (!messages.is_array()) return absl::InvalidArgumentError("messages must be a list");
  for (size_t i = 0; i < messages.size(); ++i) {
    const Json& message = messages[i];
    auto fail = [i](const std::string& what) {
      return absl::InvalidArgumentError(absl::StrCat("messages[", i, "]: ", what));
    };
    if (!message.is_object()) return fail("must be an object");
    const Json* role = message.contains("role") ? &message["role"] : nullptr;
    if (role == nullptr || !role->is_string()) return fail("needs a string 'role'");
    const std::string name = role->get<std::string>();
    if (name != "system" && name != "user" && name != "assistant" && name != "tool") {
      return fail(absl::StrCat("unknown role '", name.substr(0, 32),
                               "' (expected system, user, assistant or tool)"));
    }
    if (message.contains("content")) {
      const Json& content = message["content"];
      if (!content.is_string() && !content.is_array() && !content.is_null()) {
        return fail("'content' must be a string or a list of parts");
      }
    }
    if (message.contains("tool_calls") && !message["tool_calls"].is_null()) {
      if (name != "assistant") return fail("only assistant messages have tool_calls");
      if (!message["tool_calls"].is_array()) return fail("'tool_calls' must be a list");
    }
  }
  return absl::OkStatus();
}

}  // namespace jamba::engine
