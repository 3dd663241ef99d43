// Builds the Jamba chat template from the special tokens' ids (EncodeChat) or their text
// (RenderChatText), after one shared validation of the conversation.
#include "engine/text/chat_template.h"

#include <algorithm>
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/status_macros.h"
#include "engine/text/special_tokens.h"

namespace jamba::engine {
namespace {

// The role token of `role`, or null for a role the template does not know.
const char* RoleToken(const std::string& role) {
  if (role == "system") return kSystemRoleToken;
  if (role == "user") return kUserRoleToken;
  if (role == "assistant") return kAssistantRoleToken;
  return nullptr;
}

absl::Status ValidateMessages(std::span<const ChatMessage> messages) {
  for (size_t i = 0; i < messages.size(); ++i) {
    const std::string& role = messages[i].role;
    if (RoleToken(role) == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("chat message ", i, ": unknown role '", role,
                                                     "' (expected system, user or assistant)"));
    }
    if (role == "system" && i != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("chat message ", i, ": a system message must be the first message"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<int32_t>> EncodeChat(const Tokenizer& tokenizer,
                                                std::span<const ChatMessage> messages,
                                                bool add_generation_prompt, bool add_bos,
                                                int64_t max_tokens) {
  JAMBA_RETURN_IF_ERROR(ValidateMessages(messages));
  if (add_bos && tokenizer.bos_id() < 0) {
    return absl::FailedPreconditionError("tokenizer has no BOS token for the chat template");
  }

  // Look up exactly the markup this conversation needs, and report everything that is missing.
  std::vector<std::string> missing;
  auto lookup = [&](const char* piece) -> int32_t {
    std::optional<int32_t> id = tokenizer.PieceToId(piece);
    if (id.has_value()) return *id;
    if (std::find(missing.begin(), missing.end(), piece) == missing.end()) missing.push_back(piece);
    return -1;
  };
  const bool needs_markup = !messages.empty() || add_generation_prompt;
  const int32_t begin_message = needs_markup ? lookup(kBeginMessageToken) : -1;
  const int32_t end_message = messages.empty() ? -1 : lookup(kEndMessageToken);
  std::vector<int32_t> role_ids;
  for (const ChatMessage& message : messages) role_ids.push_back(lookup(RoleToken(message.role)));
  const int32_t assistant = add_generation_prompt ? lookup(kAssistantRoleToken) : -1;
  if (!missing.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("tokenizer lacks the chat special tokens ", absl::StrJoin(missing, ", ")));
  }

  std::vector<int32_t> ids;
  if (add_bos) ids.push_back(tokenizer.bos_id());
  for (size_t i = 0; i < messages.size(); ++i) {
    ids.push_back(begin_message);
    ids.push_back(role_ids[i]);
    // The template's space after the role token.
    const std::string& content = messages[i].content;
    // Content is what the user wrote: special-token strings in it stay text.
    Tokenizer::EncodeOptions options;
    if (max_tokens >= 0) {
      options.max_tokens = std::max<int64_t>(0, max_tokens - static_cast<int64_t>(ids.size()));
    }
    auto content_ids = tokenizer.adds_space_prefix() ? tokenizer.Encode(content, options)
                                                     : tokenizer.Encode(" " + content, options);
    if (!content_ids.ok()) {
      return absl::Status(content_ids.status().code(),
                          absl::StrCat("chat message ", i, ": ", content_ids.status().message()));
    }
    ids.insert(ids.end(), content_ids->begin(), content_ids->end());
    ids.push_back(end_message);
    if (max_tokens >= 0 && static_cast<int64_t>(ids.size()) > max_tokens) return ids;
  }
  if (add_generation_prompt) {
    ids.push_back(begin_message);
    ids.push_back(assistant);
  }
  return ids;
}

absl::StatusOr<std::string> RenderChatText(std::span<const ChatMessage> messages,
                                           bool add_generation_prompt) {
  JAMBA_RETURN_IF_ERROR(ValidateMessages(messages));
  std::string text = kBosToken;
  for (const ChatMessage& message : messages) {
    absl::StrAppend(&text, kBeginMessageToken, RoleToken(message.role), " ", message.content,
                    kEndMessageToken);
  }
  if (add_generation_prompt) absl::StrAppend(&text, kBeginMessageToken, kAssistantRoleToken);
  return text;
}

}  // namespace jamba::engine
