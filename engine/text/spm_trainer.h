// TrainSentencePieceModel: the engine's only view of sentencepiece::SentencePieceTrainer. Like
// spm_processor.h, it exposes standard types only, because sentencepiece's headers cannot share a
// translation unit with Abseil (TOOLCHAIN.md, trap 2).
#ifndef JAMBA_ENGINE_TEXT_SPM_TRAINER_H_
#define JAMBA_ENGINE_TEXT_SPM_TRAINER_H_

#include <string>
#include <utility>
#include <vector>

namespace jamba::engine {

// Trains a SentencePiece model in memory on `sentences` with trainer `options` (spm_train's flag
// names without "--", e.g. {"vocab_size", "4096"}; no "input" or "model_prefix"). On success
// stores the serialized model (the bytes of a tokenizer.model) in `serialized_model`; otherwise
// returns false and sets `error`. An option "minloglevel" changes SentencePiece's process-wide
// log level.
bool TrainSentencePieceModel(const std::vector<std::string>& sentences,
                             const std::vector<std::pair<std::string, std::string>>& options,
                             std::string& serialized_model, std::string& error);

}  // namespace jamba::engine

#endif  // JAMBA_ENGINE_TEXT_SPM_TRAINER_H_
