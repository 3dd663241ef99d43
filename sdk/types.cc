// Constructors and names for the public value types.
#include "jamba/types.h"

#include "engine/exhausted_resource.h"
#include "sdk/store/session_lease.h"

namespace jamba {

Input Input::Text(std::string text, bool add_bos) {
  Input input;
  input.kind = Kind::kText;
  input.text = std::move(text);
  input.add_special = add_bos;
  return input;
}

Input Input::Tokens(std::vector<int32_t> tokens) {
  Input input;
  input.kind = Kind::kTokens;
  input.tokens = std::move(tokens);
  return input;
}

Input Input::Chat(std::vector<ChatMessage> messages, bool add_generation_prompt) {
  Input input;
  input.kind = Kind::kChat;
  input.messages = std::move(messages);
  input.add_special = add_generation_prompt;
  return input;
}

const char* FinishReasonName(FinishReason reason) {
  switch (reason) {
    case FinishReason::kEos:
      return "eos";
    case FinishReason::kLength:
      return "length";
    case FinishReason::kStopString:
      return "stop_string";
    case FinishReason::kStopToken:
      return "stop_token";
    case FinishReason::kContextLength:
      return "context_length";
    case FinishReason::kCancelled:
      return "cancelled";
    case FinishReason::kToolCalls:
      return "tool_calls";
  }
  return "?";
}

ExhaustedResource ExhaustedResourceOf(const absl::Status& status) {
  switch (engine::ExhaustedResourceOf(status)) {
    case engine::ExhaustedResource::kRequestQueue:
      return ExhaustedResource::kRequestQueue;
    case engine::ExhaustedResource::kSessionQuota:
      return ExhaustedResource::kSessionQuota;
    case engine::ExhaustedResource::kStorage:
      return ExhaustedResource::kStorage;
    case engine::ExhaustedResource::kMemory:
      return ExhaustedResource::kMemory;
    case engine::ExhaustedResource::kUnknown:
      break;
  }
  return ExhaustedResource::kUnknown;
}

std::optional<SessionOwner> SessionOwnerOf(const absl::Status& status) {
  std::optional<sdk::LeaseOwner> owner = sdk::OwnedElsewhereOf(status);
  if (!owner.has_value()) return std::nullopt;
  return SessionOwner{std::move(owner->owner), owner->retry_after};
}

}  // namespace jamba
