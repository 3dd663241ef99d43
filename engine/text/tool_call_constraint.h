// Constrained decoding for a chat reply that must call a tool (OpenAI's tool_choice "required" or
// a named function): the reply is forced into the template's tool-call markup, the model chooses
// among the allowed names and writes the arguments as any JSON object within a byte budget, and
// the turn then ends. Works token by token: TokenConstraint says which tokens may come next.
#ifndef JAMBA_ENGINE_TEXT_TOOL_CALL_CONSTRAINT_H_
#define JAMBA_ENGINE_TEXT_TOOL_CALL_CONSTRAINT_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/text/chat_template.h"
#include "engine/text/json_prefix.h"
#include "engine/text/tokenizer.h"

namespace jamba::engine {

// What a generation may produce next. One instance per generation, used from its thread.
class TokenConstraint {
 public:
  virtual ~TokenConstraint() = default;
  // The token that must come next, when the constraint dictates one.
  virtual std::optional<int32_t> ForcedToken() const = 0;
  // Whether `token` may come next (asked only when no token is forced).
  virtual bool Allows(int32_t token) const = 0;
  // Records the token that came.
  virtual void Accept(int32_t token) = 0;
  // The constrained output is complete: the generation ends with the last accepted token.
  virtual bool Finished() const = 0;
};

class ToolCallConstraint final : public TokenConstraint {
 public:
  // A call of one of `names` (at least one) in `format`, its arguments at most `max_argument_bytes`
  // bytes of JSON, then `end_of_turn` (the template's end-of-turn token). `close_reasoning`: the
  // prompt left the reply inside a <think> block, which the call closes first. `max_tokens` > 0:
  // the whole call fits in that many tokens (the arguments' budget shrinks to fit, since every
  // token writes at least one byte); too few for any call is InvalidArgument.
  static absl::StatusOr<std::unique_ptr<ToolCallConstraint>> Create(
      const Tokenizer& tokenizer, ToolCallFormat format, std::vector<std::string> names,
      int32_t end_of_turn, size_t max_argument_bytes = 1024, bool close_reasoning = false,
      int64_t max_tokens = 0);

  std::optional<int32_t> ForcedToken() const override;
  bool Allows(int32_t token) const override;
  void Accept(int32_t token) override;
  bool Finished() const override { return stage_ == Stage::kFinished; }

 private:
  enum class Stage { kPrefix, kName, kArguments, kSuffix, kFinished };
  ToolCallConstraint(const Tokenizer& tokenizer, std::vector<int32_t> prefix,
                     std::vector<std::string> names, std::vector<int32_t> suffix,
                     size_t max_argument_bytes);
  // The token's text when it may be written character by character (not a special piece).
  const std::string* TextOf(int32_t token) const;
  bool NameAllows(const std::string& text) const;
  bool ArgumentsAllow(const std::string& text) const;

  const Tokenizer& tokenizer_;
  const std::vector<int32_t> prefix_;     // forced: the opening markup up to the name
  const std::vector<std::string> names_;  // each followed by the markup before the arguments
  const std::vector<int32_t> suffix_;     // forced: the closing markup and end of turn
  const size_t max_argument_bytes_;
  Stage stage_ = Stage::kPrefix;
  size_t forced_at_ = 0;     // next token of prefix_ or suffix_
  std::string name_so_far_;  // what was written of the name stage
  JsonObjectPrefix arguments_;
};

}  // namespace jamba::engine

#endif  // JAMBA_ENGINE_TEXT_TOOL_CALL_CONSTRAINT_H_
