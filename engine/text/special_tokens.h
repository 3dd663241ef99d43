// The special tokens of Jamba's tokenizer (spec section 5.3): one list shared by the chat template,
// which looks them up, and the demo tokenizer trainer, which creates them.
#ifndef JAMBA_ENGINE_TEXT_SPECIAL_TOKENS_H_
#define JAMBA_ENGINE_TEXT_SPECIAL_TOKENS_H_

namespace jamba::engine {

inline constexpr char kPadToken[] = "<|pad|>";
inline constexpr char kBosToken[] = "<|startoftext|>";
inline constexpr char kEosToken[] = "<|endoftext|>";
inline constexpr char kUnkToken[] = "<|unk|>";

// Chat markup of Jamba 1.5 and later.
inline constexpr char kBeginMessageToken[] = "<|bom|>";
inline constexpr char kEndMessageToken[] = "<|eom|>";
inline constexpr char kSystemRoleToken[] = "<|system|>";
inline constexpr char kUserRoleToken[] = "<|user|>";
inline constexpr char kAssistantRoleToken[] = "<|assistant|>";

}  // namespace jamba::engine

#endif  // JAMBA_ENGINE_TEXT_SPECIAL_TOKENS_H_
