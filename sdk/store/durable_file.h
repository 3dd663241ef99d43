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
// Creates `dir`/`name` with `contents` only if no file has that name: ALREADY_EXISTS otherwise.
// The file is complete and on disk before the name appears (temp file, fsync, link(2), fsync the
// directory); link fails with EEXIST atomically on local filesystems, NFS and CephFS alike, so of
// several processes (on several hosts) creating one name, exactly one succeeds.
absl::Status CreateFileDurably(const std::string& dir, const std::string& name,
                               const std::string& contents);
// The two halves of CreateFileDurably, for a caller that decides between them: a temp file in
// `dir` with `contents`, fsynced (its path is returned; the caller removes it when done), ...
absl::StatusOr<std::string> WriteTempFile(const std::string& dir, const std::string& name,
                                          const std::string& contents);
// ... and a new name for it: link(2), ALREADY_EXISTS when `path` exists. Neither removes the temp
// file nor syncs the directory.
absl::Status LinkNew(const std::string& temp, const std::string& path);
// Temp files (of every write above) are named with this prefix, then the final name.
inline constexpr char kTempPrefix[] = ".tmp-";
// Fails (FAILED_PRECONDITION, naming the directory) when `dir`'s filesystem cannot make hard
// links, which stores shared between processes need.
absl::Status CheckHardLinks(const std::string& dir);
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
