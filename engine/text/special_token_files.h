// What a checkpoint's Hugging Face JSON files say about special tokens: tokenizer_config.json and
// special_tokens_map.json (bos/eos/pad/unk, additional_special_tokens, added_tokens_decoder) and
// generation_config.json (the ids generation starts and stops with). Shared by every tokenizer
// format.
#ifndef JAMBA_ENGINE_TEXT_SPECIAL_TOKEN_FILES_H_
#define JAMBA_ENGINE_TEXT_SPECIAL_TOKEN_FILES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace jamba::engine {

// A special token named by one of the JSON files, and which file named it (for errors).
struct NamedToken {
  std::string content;
  std::string path;
  std::string field;
};

struct AddedToken {
  int64_t id = 0;
  std::string content;
  bool special = false;
  std::string path;  // the file that lists it
};

struct SpecialTokenSettings {
  std::optional<NamedToken> bos, eos, pad, unk;
  std::vector<NamedToken> additional;
  std::vector<AddedToken> added;
  std::string generation_config_path;
  std::optional<int64_t> generation_bos, generation_pad;
  std::optional<std::vector<int64_t>> generation_eos;
};

// Reads the files that exist in `dir`; tokenizer_config.json's values win over
// special_tokens_map.json's. InvalidArgument naming the file and field for a malformed one.
absl::StatusOr<SpecialTokenSettings> ReadSpecialTokenFiles(const std::string& dir);

// InvalidArgument "<path>: '<field>' <what>".
absl::Status FileFieldError(const std::string& path, const std::string& field,
                            const std::string& what);

}  // namespace jamba::engine

#endif  // JAMBA_ENGINE_TEXT_SPECIAL_TOKEN_FILES_H_
