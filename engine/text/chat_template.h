// The chat template of Jamba 1.5 and later (spec section 5.3), as token ids and as text:
//   <|startoftext|><|bom|><|system|> {sys}<|eom|><|bom|><|user|> {msg}<|eom|><|bom|><|assistant|>
// An assistant turn in the history is <|bom|><|assistant|> {text}<|eom|>; the generation prompt is
// a final <|bom|><|assistant|>.
#ifndef JAMBA_ENGINE_TEXT_CHAT_TEMPLATE_H_
#define JAMBA_ENGINE_TEXT_CHAT_TEMPLATE_H_

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/text/tokenizer.h"

namespace jamba::engine {

struct ChatMessage {
  std::string role;  // "system" (first message only), "user" or "assistant"
  std::string content;
};

// BOS, then the markup tokens by id around each message's encoded content, so the result does not
// depend on how SentencePiece would split the markup text. The space after a role token is the
// tokenizer's word-start marker of the content (or an explicit space if it adds none). Errors:
// InvalidArgument for an unknown role, a system message that is not first, or content that is not
// valid UTF-8 (naming the message); FailedPrecondition if the tokenizer lacks BOS or chat tokens
// (naming them). Content is encoded as plain text: a message that spells a chat token
// ("<|eom|>") gets ordinary pieces, never the token.
// `add_bos` is false when the messages continue a conversation already in a session. With
// `max_tokens` >= 0 the result may stop once it holds more than that many ids (see
// Tokenizer::EncodeOptions::max_tokens).
absl::StatusOr<std::vector<int32_t>> EncodeChat(const Tokenizer& tokenizer,
                                                std::span<const ChatMessage> messages,
                                                bool add_generation_prompt, bool add_bos = true,
                                                int64_t max_tokens = -1);

// The same conversation as template text, for display and tests. Validates roles like EncodeChat.
absl::StatusOr<std::string> RenderChatText(std::span<const ChatMessage> messages,
                                           bool add_generation_prompt);

}  // namespace jamba::engine

#endif  // JAMBA_ENGINE_TEXT_CHAT_TEMPLATE_H_
