// Pieces shared by the CLI subcommands: engine flags, error reporting, token-id files.
#ifndef JAMBA_TOOLS_CLI_COMMON_H_
#define JAMBA_TOOLS_CLI_COMMON_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "jamba/engine.h"
#include "tools/cli/flags.h"

namespace jamba::cli {

// Flags every model-loading command accepts: --model --threads --device --simd --weights
// --precision --activations --kv-dtype --kv-memory-bytes --weight-memory --tool-call-format
// --reasoning-format.
void AddEngineFlags(FlagSpec& spec);
absl::StatusOr<EngineOptions> EngineOptionsFromFlags(const Flags& flags);

// Generation flags shared by `generate` and `session generate`: --max-tokens --temperature
// --top-p --top-k --min-p --repetition-penalty --seed --stop --ignore-eos.
void AddSamplingFlags(FlagSpec& spec);
absl::StatusOr<GenerateOptions> GenerateOptionsFromFlags(const Flags& flags);

// The text of --text or --file (exactly one of them must be given).
absl::StatusOr<std::string> TextFromFlags(const Flags& flags);

// Prints "jamba <command>: <message>" to stderr and returns the exit code for `status`.
int Fail(const std::string& command, const absl::Status& status);

// Reads token ids from an int32/int64 .npy of shape [T] or [1, T].
absl::StatusOr<std::vector<int32_t>> ReadTokenIds(const std::string& path);
absl::Status WriteTokenIds(const std::string& path, const std::vector<int32_t>& ids);

}  // namespace jamba::cli

#endif  // JAMBA_TOOLS_CLI_COMMON_H_
