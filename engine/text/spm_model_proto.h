// Reads and edits a serialized SentencePiece ModelProto (the bytes of tokenizer.model) at the wire
// level. Debian installs sentencepiece without its generated protobuf classes, and the engine
// needs variants of the checkpoint's own model (special pieces inert, no dummy prefix) to encode
// text exactly as SentencePiece would, without recognising special-token strings in it.
#ifndef JAMBA_ENGINE_TEXT_SPM_MODEL_PROTO_H_
#define JAMBA_ENGINE_TEXT_SPM_MODEL_PROTO_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace jamba::engine {

// NormalizerSpec fields that decide how text is cut before the model sees it (proto defaults
// apply to fields the file leaves out).
struct SpmNormalizerFacts {
  std::string name;  // "identity", "nmt_nfkc", ...; "" when not set
  bool has_charsmap = false;
  bool add_dummy_prefix = true;
  bool remove_extra_whitespaces = true;
  bool escape_whitespaces = true;
  bool treat_whitespace_as_suffix = false;  // TrainerSpec
};

struct SpmModelEdit {
  std::vector<int32_t> pieces_to_unused;  // these ids become UNUSED: never matched nor produced
  bool clear_dummy_prefix = false;
};

absl::StatusOr<SpmNormalizerFacts> ReadSpmNormalizer(std::string_view model);

// The model with `edit` applied. Its self-test samples are dropped: they describe the original.
absl::StatusOr<std::string> EditSpmModel(std::string_view model, const SpmModelEdit& edit);

}  // namespace jamba::engine

#endif  // JAMBA_ENGINE_TEXT_SPM_MODEL_PROTO_H_
