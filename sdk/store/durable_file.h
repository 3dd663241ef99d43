// Crash-safe file primitives: a file becomes visible under its name only when it is complete and
// on disk (write to a temp name, fsync, rename, fsync the directory).
#ifndef JAMBA_SDK_STORE_DURABLE_FILE_H_
#define JAMBA_SDK_STORE_DURABLE_FILE_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace jamba::sdk {

// Atomically replaces (or creates) `dir`/`name` with `contents`. `before_rename`, when set, runs
// once the new file is complete and on disk, just before the rename that makes it visible: an
// error from it leaves `dir`/`name` untouched and is returned (so a caller can decide at the last
// moment whether the change happens at all).
absl::Status WriteFileDurably(const std::string& dir, const std::string& name,
                              const std::string& contents,
                              const std::function<absl::Status()>& before_rename = nullptr);
absl::StatusOr<std::string> ReadWholeFile(const std::string& path);
// fsyncs a directory so renames and unlinks inside it survive a crash.
absl::Status SyncDirectory(const std::string& dir);
// Creates `dir` (and parents) with mode 0700 if missing.
absl::Status MakeDirectories(const std::string& dir);
// Removes a directory tree; missing is fine.
absl::Status RemoveTree(const std::string& dir);
// Names of the entries of `dir` (no "." or ".."); NotFound if it does not exist.
absl::StatusOr<std::vector<std::string>> ListDirectory(const std::string& dir);
// Hard-links `from` to `to`, copying durably where links are impossible (another filesystem).
// ALREADY_EXISTS if `to` exists.
absl::Status LinkOrCopy(const std::string& from, const std::string& to_dir,
                        const std::string& to_name);
// Bytes used by the regular files directly inside `dir`.
uint64_t DirectoryBytes(const std::string& dir);

}  // namespace jamba::sdk

#endif  // JAMBA_SDK_STORE_DURABLE_FILE_H_
