// Session and tokenization steps shared by GenerationService (session inputs) and SessionService:
// looking a session up for the caller's tenant with the API's error details, etag checks, and
// turning text, token ids and chat messages into the tokens that continue a sequence.
#ifndef JAMBA_SERVICE_SESSION_SUPPORT_H_
#define JAMBA_SERVICE_SESSION_SUPPORT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "jamba/types.h"
#include "jamba/v1/generation.pb.h"
#include "service/call.h"
#include "service/proto_mapping.h"

namespace jamba::service {

// FAILED_PRECONDITION (SESSIONS_DISABLED) when the server has no session directory.
absl::Status RequireSessions(const ServiceContext& ctx);
// The session `id` of `tenant`; another tenant's session is NOT_FOUND like a missing one.
absl::StatusOr<SessionView> LookupSession(const ServiceContext& ctx, const std::string& tenant,
                                          const std::string& id);
// The SDK options of a new session as the API creates it: a model without BOS, or `skip_bos`,
// labels it skip-bos (see proto_mapping.h).
CreateSessionOptions NewSessionOptions(const ServiceContext& ctx, std::string id,
                                       std::string display_name, bool skip_bos);
// Creates the session `id` of `tenant` unless it exists (an existing one, or one created
// concurrently by another call, is fine).
absl::Status CreateSessionIfMissing(const ServiceContext& ctx, const std::string& tenant,
                                    const std::string& id);
// ABORTED (ETAG_MISMATCH) unless `etag` is empty or the session's.
absl::Status CheckEtag(const SessionView& session, const std::string& etag);

// FAILED_PRECONDITION (CHAT_TEMPLATE_MISSING) naming `field` when the model has no chat template.
absl::Status RequireChatTemplate(const ServiceContext& ctx, const std::string& field);
// FAILED_PRECONDITION (TOKENIZER_MISSING) when the model has no tokenizer (token ids only).
absl::Status RequireTokenizer(const ServiceContext& ctx, const std::string& field);

// A chat input for the engine: each message with its tool calls, result id, name and reasoning;
// the tools, documents and template variables beside them. `continuation`: the messages continue
// a conversation already in the sequence (Input::continue_conversation).
Input ToSdkChat(const v1::ChatMessages& messages, bool add_generation_prompt, bool continuation);
// How a text field becomes tokens, and the most tokens it may take.
struct TextTokenOptions {
  bool add_bos = false;
  bool parse_special_tokens = false;  // the request's parse_special_tokens flag
  int64_t max_tokens = 0;  // the limit: past it, INVALID_ARGUMENT CONTEXT_LENGTH_EXCEEDED
  std::string limit_name;  // what the limit is called in that error
};
// Text as Generate tokenizes it. Tokenizing stops one token past the limit, so an over-long text
// costs no more than the limit allows.
absl::StatusOr<std::vector<int32_t>> TextTokens(const ServiceContext& ctx, const std::string& text,
                                                const TextTokenOptions& options,
                                                const std::string& field);
// A chat input rendered with the template (with the assistant-turn header when it asks for the
// generation prompt). As a new conversation (its BOS dropped unless `with_bos`), or, with
// `chat.continue_conversation`, as what the messages add to a conversation already in the
// session (no BOS, no opening turns).
absl::StatusOr<std::vector<int32_t>> ChatTokens(const ServiceContext& ctx, const Input& chat,
                                                bool with_bos, const std::string& field);
// The template's assistant-turn header alone (what add_generation_prompt appends after a
// conversation).
absl::StatusOr<std::vector<int32_t>> AssistantHeader(const ServiceContext& ctx,
                                                     const std::string& field);
// The template's frame around the content of one message with `role` continuing a conversation:
// (header, end of turn), each tokenized on its own.
absl::StatusOr<std::pair<std::vector<int32_t>, std::vector<int32_t>>> MessageFrame(
    const ServiceContext& ctx, const std::string& role, const std::string& field);

}  // namespace jamba::service

#endif  // JAMBA_SERVICE_SESSION_SUPPORT_H_
