// Small file helpers shared by the loaders: whole-file reads with errors that name the path.
#ifndef JAMBA_ENGINE_FILE_UTIL_H_
#define JAMBA_ENGINE_FILE_UTIL_H_

#include <string>

#include "absl/status/statusor.h"

namespace jamba::engine {

absl::StatusOr<std::string> ReadFileToString(const std::string& path);
bool FileExists(const std::string& path);
// Joins a directory and a file name with exactly one '/'.
std::string JoinPath(const std::string& dir, const std::string& name);

}  // namespace jamba::engine

#endif  // JAMBA_ENGINE_FILE_UTIL_H_
