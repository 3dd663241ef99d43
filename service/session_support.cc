// Session lookups and tokenization shared by the generation and session services.
#include "service/session_support.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "service/status_mapping.h"
#include "service/validation.h"

namespace jamba::service {

absl::Status RequireSessions(const ServiceContext& ctx) {
  if (ctx.sessions_enabled) return absl::OkStatus();
  return WithReason(
      absl::FailedPreconditionError("sessions are off on this server (no session_dir configured)"),
      kReasonSessionsDisabled);
}

absl::StatusOr<SessionView> LookupSession(const ServiceContext& ctx, const std::string& tenant,
                                          const std::string& id) {
  absl::StatusOr<SessionInfo> info = ctx.engine->GetSession(tenant, id);
  if (!info.ok()) {
    EngineErrorContext error;
    error.session_name = SessionName(id);
    error.field = "name";
    return AnnotateEngineError(info.status(), error);
  }
  return SessionView(*std::move(info), ctx.engine->model_info().bos_token_id);
}

CreateSessionOptions NewSessionOptions(const ServiceContext& ctx, std::string id,
                                       std::string display_name, bool skip_bos) {
  CreateSessionOptions options;
  options.id = std::move(id);
  options.display_name = std::move(display_name);
  if (skip_bos || ctx.engine->model_info().bos_token_id < 0) options.labels[kSkipBosLabel] = "true";
  return options;
}

absl::Status CreateSessionIfMissing(const ServiceContext& ctx, const std::string& tenant,
                                    const std::string& id) {
  absl::StatusOr<SessionInfo> existing = ctx.engine->GetSession(tenant, id);
  // Any other error is the lookup's to report, as the generation that follows does.
  if (existing.ok() || !absl::IsNotFound(existing.status())) return absl::OkStatus();
  absl::StatusOr<SessionInfo> created =
      ctx.engine->CreateSession(tenant, NewSessionOptions(ctx, id, "", /*skip_bos=*/false));
  if (created.ok() || absl::IsAlreadyExists(created.status())) return absl::OkStatus();
  EngineErrorContext error;
  error.session_name = SessionName(id);
  error.field = "session.session";
  error.retry_delay = ctx.retry_delay;
  return AnnotateEngineError(created.status(), error);
}

absl::Status CheckEtag(const SessionView& session, const std::string& etag) {
  if (etag.empty() || etag == session.info().etag) return absl::OkStatus();
  const std::string name = SessionName(session.info().id);
  return WithReason(
      WithResource(absl::AbortedError(absl::StrCat(name, " has changed: its etag is no longer ",
                                                   QuoteValue(etag), "; read it again and retry")),
                   kSessionType, name),
      kReasonEtagMismatch);
}

absl::Status RequireChatTemplate(const ServiceContext& ctx, const std::string& field) {
  if (ctx.engine->model_info().has_chat_template) return absl::OkStatus();
  return WithReason(absl::FailedPreconditionError(absl::StrCat(
                        field, ": the model has no chat template; send text or token ids")),
                    kReasonChatTemplateMissing);
}

absl::Status RequireTokenizer(const ServiceContext& ctx, const std::string& field) {
  if (ctx.engine->model_info().has_tokenizer) return absl::OkStatus();
  return WithReason(absl::FailedPreconditionError(absl::StrCat(
                        field, ": the model has no tokenizer (tokenizer.model); send token ids")),
                    kReasonTokenizerMissing);
}

Input ToSdkChat(const v1::ChatMessages& messages, bool add_generation_prompt, bool continuation) {
  std::vector<ChatMessage> out;
  out.reserve(messages.messages_size());
  for (const v1::ChatMessage& m : messages.messages()) {
    ChatMessage message{RoleName(m.role()), m.content()};
    for (const v1::ToolCall& call : m.tool_calls()) {
      message.tool_calls.push_back({call.id(), call.name(), call.arguments()});
    }
    message.tool_call_id = m.tool_call_id();
    message.name = m.name();
    message.reasoning = m.reasoning();
    out.push_back(std::move(message));
  }
  Input chat = Input::Chat(std::move(out), add_generation_prompt);
  for (const v1::Tool& tool : messages.tools()) {
    chat.tools.push_back(
        {tool.name(), tool.description(), tool.parameters().empty() ? "{}" : tool.parameters()});
  }
  for (const v1::Document& document : messages.documents()) {
    chat.documents.push_back({document.title(),
                              document.text(),
                              {document.metadata().begin(), document.metadata().end()}});
  }
  if (!messages.template_variables().empty()) {
    chat.template_variables = messages.template_variables();
  }
  chat.continue_conversation = continuation;
  return chat;
}

absl::StatusOr<std::vector<int32_t>> TextTokens(const ServiceContext& ctx, const std::string& text,
                                                const TextTokenOptions& options,
                                                const std::string& field) {
  absl::Status ready = RequireTokenizer(ctx, field);
  if (!ready.ok()) return ready;
  TokenizeOptions tokenize;
  tokenize.add_bos = options.add_bos;
  tokenize.parse_special_tokens = options.parse_special_tokens;
  tokenize.max_tokens = std::max<int64_t>(1, options.max_tokens);
  absl::StatusOr<std::vector<int32_t>> tokens = ctx.engine->Tokenize(text, tokenize);
  if (!tokens.ok()) {
    EngineErrorContext error;
    error.field = field;
    return AnnotateEngineError(tokens.status(), error);
  }
  if (static_cast<int64_t>(tokens->size()) > tokenize.max_tokens) {
    FieldErrors errors;
    errors.AddContextLength(field,
                            absl::StrCat("more than ", tokenize.max_tokens, " tokens exceed ",
                                         options.limit_name, " (", tokenize.max_tokens, ")"));
    return errors.ToStatus();
  }
  return tokens;
}

absl::StatusOr<std::vector<int32_t>> ChatTokens(const ServiceContext& ctx, const Input& chat,
                                                bool with_bos, const std::string& field) {
  absl::Status ready = RequireChatTemplate(ctx, field);
  if (!ready.ok()) return ready;
  absl::StatusOr<std::vector<int32_t>> tokens = ctx.engine->Tokenize(chat);
  if (!tokens.ok()) {
    EngineErrorContext error;
    error.field = field;
    return AnnotateEngineError(tokens.status(), error);
  }
  // A new conversation is rendered as a new sequence, which the template starts with BOS.
  const int32_t bos = ctx.engine->model_info().bos_token_id;
  if (!chat.continue_conversation && !with_bos && !tokens->empty() && tokens->front() == bos) {
    tokens->erase(tokens->begin());
  }
  return tokens;
}

absl::StatusOr<std::vector<int32_t>> AssistantHeader(const ServiceContext& ctx,
                                                     const std::string& field) {
  Input header = Input::Chat({}, /*add_generation_prompt=*/true);
  header.continue_conversation = true;
  return ChatTokens(ctx, header, /*with_bos=*/false, field);
}

absl::StatusOr<std::pair<std::vector<int32_t>, std::vector<int32_t>>> MessageFrame(
    const ServiceContext& ctx, const std::string& role, const std::string& field) {
  absl::Status ready = RequireChatTemplate(ctx, field);
  if (!ready.ok()) return ready;
  // The message rendered around a marker content, cut there.
  constexpr char kMarker[] = "JAMBA-MESSAGE-CONTENT-41c7";
  Input probe = Input::Chat({{role, kMarker}}, /*add_generation_prompt=*/false);
  probe.continue_conversation = true;
  absl::StatusOr<std::string> text = ctx.engine->RenderChat(probe);
  if (!text.ok()) {
    EngineErrorContext error;
    error.field = field;
    return AnnotateEngineError(text.status(), error);
  }
  const size_t at = text->find(kMarker);
  if (at == std::string::npos) {
    return absl::InternalError("the chat template dropped a message's content");
  }
  TokenizeOptions markup;
  markup.add_bos = false;
  markup.parse_special_tokens = true;
  absl::StatusOr<std::vector<int32_t>> header = ctx.engine->Tokenize(text->substr(0, at), markup);
  if (!header.ok()) return header.status();
  absl::StatusOr<std::vector<int32_t>> end_of_turn =
      ctx.engine->Tokenize(text->substr(at + sizeof(kMarker) - 1), markup);
  if (!end_of_turn.ok()) return end_of_turn.status();
  return std::make_pair(*std::move(header), *std::move(end_of_turn));
}

}  // namespace jamba::service
