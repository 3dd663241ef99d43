// Engine::Impl: owns the backend, the model, the tokenizer and the scheduler. Shared by the
// Engine facade and the sessions layer (sdk-internal header).
#ifndef JAMBA_SDK_ENGINE_IMPL_H_
#define JAMBA_SDK_ENGINE_IMPL_H_

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "engine/generation.h"
#include "engine/jamba_model.h"
#include "engine/scheduler.h"
#include "engine/text/chat_template.h"
#include "engine/text/output_parser.h"
#include "engine/text/tokenizer.h"
#include "jamba/engine.h"
#include "kernels/backend.h"

namespace jamba {
namespace sdk {
class SessionManager;
}  // namespace sdk

class Engine::Impl {
 public:
  static absl::StatusOr<std::unique_ptr<Impl>> Create(const std::string& model_dir,
                                                      const EngineOptions& options);
  ~Impl();

  const EngineOptions& options() const { return options_; }
  const ModelInfo& model_info() const { return info_; }
  const engine::JambaModel& model() const { return *model_; }
  const engine::Tokenizer* tokenizer() const { return tokenizer_.get(); }
  const engine::ChatTemplate* chat_template() const { return chat_template_.get(); }
  // What closes an assistant turn in this model's chat format (empty without a template, or
  // when the template cannot say).
  std::span<const int32_t> assistant_turn_closing() const { return assistant_turn_closing_; }
  engine::Scheduler& scheduler() { return *scheduler_; }
  // Null without a session directory.
  sdk::SessionManager* sessions() { return sessions_.get(); }
  absl::StatusOr<sdk::SessionManager*> RequireSessions();

  // Turns an Input into tokens for a sequence at `position` (BOS only at position 0). Errors name
  // the field: empty input, invalid UTF-8, ids outside the vocabulary, too many tokens.
  absl::StatusOr<std::vector<int32_t>> InputTokens(const Input& input, int64_t position) const;
  // Validates options and builds the decoding state machine.
  absl::StatusOr<engine::Generation> MakeGeneration(const GenerateOptions& options,
                                                    uint64_t* seed_used) const;

  absl::StatusOr<std::vector<int32_t>> Tokenize(const std::string& text,
                                                const TokenizeOptions& options) const;
  absl::StatusOr<std::string> Detokenize(std::span<const int32_t> tokens, bool skip_special) const;
  absl::StatusOr<GenerateResult> Generate(const Input& input, const GenerateOptions& options,
                                          const StreamCallback& on_chunk);
  absl::StatusOr<std::vector<float>> ComputeLogits(std::span<const int32_t> tokens, int64_t chunk);

  // How the completion of a generation is read: nullopt for plain text. `input` is what the
  // caller fed (null when generating from a session's state alone); `context` the sequence's
  // tokens before the completion (its tail tells whether the prompt opened a <think> block).
  std::optional<engine::OutputParserOptions> OutputParsing(const Input* input,
                                                           const GenerateOptions& options,
                                                           std::span<const int32_t> context) const;
  absl::StatusOr<std::string> RenderChat(const Input& input) const;
  // Constrains `generation` as options.tool_choice asks (a required call, or no tool markup);
  // `context` as for OutputParsing.
  absl::Status ApplyToolChoice(engine::Generation& generation, const GenerateOptions& options,
                               const Input* input, std::span<const int32_t> context) const;

  // Runs a prepared request (prompt already in `request`) and assembles the result, its text read
  // with `parsing` when set.
  absl::StatusOr<GenerateResult> RunGeneration(
      std::shared_ptr<engine::Request> request, const GenerateOptions& options, uint64_t seed,
      const StreamCallback& on_chunk,
      const std::optional<engine::OutputParserOptions>& parsing = std::nullopt);

 private:
  Impl() = default;
  // The chat template's view of a chat input.
  absl::StatusOr<engine::ChatConversation> Conversation(const Input& input) const;

  EngineOptions options_;
  std::unique_ptr<kernels::Backend> backend_;
  std::unique_ptr<engine::JambaModel> model_;
  std::unique_ptr<engine::Tokenizer> tokenizer_;
  std::unique_ptr<engine::ChatTemplate> chat_template_;
  std::vector<int32_t> assistant_turn_closing_;
  std::unique_ptr<engine::Scheduler> scheduler_;
  std::unique_ptr<sdk::SessionManager> sessions_;
  ModelInfo info_;
};

FinishReason ToPublic(engine::FinishReason reason);

}  // namespace jamba

#endif  // JAMBA_SDK_ENGINE_IMPL_H_
