// The names of the files in a session directory and one listing of them, sorted by kind: the
// generation-numbered manifests, the lease files, the immutable data files and temp files. Every
// decision that depends on what a session directory holds starts from one such listing (a
// directory shared by several processes can change between two listings).
// See docs/session-format.md.
#ifndef JAMBA_SDK_STORE_SESSION_FILES_H_
#define JAMBA_SDK_STORE_SESSION_FILES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace jamba::sdk {

// "MANIFEST.<generation>"; generation 0 is the plain "MANIFEST" of format versions 1 and 2.
std::string ManifestFileName(uint64_t generation);
// "LEASE.<fencing>".
std::string LeaseFileName(uint64_t fencing);
// The number in a data file's name ("seg-<n>.kv", "ckpt-<n>.state"), or none.
std::optional<uint64_t> DataFileNumber(absl::string_view name);

// A writer holding the lease with fencing number f names its new files from f * this up, so two
// writers (one of them fenced off without knowing it yet) never make the same name.
inline constexpr uint64_t kFileNumbersPerLease = 1000000000;

struct SessionDirListing {
  std::vector<uint64_t> manifests;  // generations with a manifest file, ascending (0: "MANIFEST")
  std::vector<uint64_t> leases;     // fencing numbers with a lease file, ascending
  std::vector<std::string> data_files;  // seg-*.kv and ckpt-*.state
  std::vector<std::string> temps;       // .tmp-* (writes in progress or interrupted)

  // The highest manifest generation (the current state), if any manifest exists.
  std::optional<uint64_t> current_manifest() const;
  // The highest fencing number (the current lease); 0 when there is no lease file.
  uint64_t current_lease() const { return leases.empty() ? 0 : leases.back(); }
};

// NOT_FOUND when `dir` does not exist. Names that are none of the above are ignored.
absl::StatusOr<SessionDirListing> ListSessionDir(const std::string& dir);

}  // namespace jamba::sdk

#endif  // JAMBA_SDK_STORE_SESSION_FILES_H_
