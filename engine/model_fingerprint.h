// A model fingerprint binds persisted sessions to the exact model: the config, the tokenizer and
// the weights. Hashing every byte of a 100 GB checkpoint at each start would take minutes, so the
// weights enter through each tensor's name, dtype, shape and 16 spread samples of its bytes (all of
// a tensor under 64 KiB): any retrained or fine-tuned weights change it.
#ifndef JAMBA_ENGINE_MODEL_FINGERPRINT_H_
#define JAMBA_ENGINE_MODEL_FINGERPRINT_H_

#include <string>

#include "engine/checkpoint.h"
#include "engine/model_config.h"

namespace jamba::engine {

// Hex SHA-256. `tokenizer_hash` is Tokenizer::ContentHash(), or empty without a tokenizer.
std::string ComputeModelFingerprint(const ModelConfig& config, const Checkpoint& checkpoint,
                                    const std::string& tokenizer_hash);

}  // namespace jamba::engine

#endif  // JAMBA_ENGINE_MODEL_FINGERPRINT_H_
