// The manifest of one persisted session: which immutable files hold its KV segments and Mamba
// checkpoints, how many tokens are committed, and the model it is bound to. It is the only file
// that is ever replaced; replacing it is the commit. See docs/session-format.md.
#ifndef JAMBA_SDK_STORE_SESSION_MANIFEST_H_
#define JAMBA_SDK_STORE_SESSION_MANIFEST_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace jamba::sdk {

// Version 2 records the precision a session is computed with (kv_dtype, activations, precision).
// Version 3 manifests are generation-numbered files (MANIFEST.<generation>) published by whoever
// holds the session's lease, and record that lease, their lineage and deletions (tombstones).
// Version 1 manifests are still read: their sessions hold fp32 KV, with no record of the
// activations.
inline constexpr int kManifestVersion = 3;
inline constexpr int kOldestManifestVersion = 1;

// KV rows and token ids for positions [begin, end). After a rewind the last segments may extend
// past the session's length; rows at or past `length` (or past the next segment's begin) are
// unused.
struct SegmentRecord {
  std::string file;
  int64_t begin = 0;
  int64_t end = 0;
};

// Mamba state after `position` tokens, the logits of token position-1, and a hash of the
// token prefix [0, position) for prefix reuse.
struct CheckpointRecord {
  std::string file;
  int64_t position = 0;
  std::string reason;  // "interval", "append", "commit", "fork", "rewind"
  uint64_t prefix_hash = 0;
  int64_t create_time_us = 0;
};

struct SessionManifest {
  int version = kManifestVersion;
  std::string id;
  std::string tenant;
  std::string display_name;
  std::map<std::string, std::string> labels;
  std::string model_fingerprint;
  // What the session's state was computed with: the KV cache dtype its segments hold ("fp32",
  // "bf16", "int8"), the activations ("fp32", "bf16"; "" when unknown: a version 1 session) and
  // the precision preset ("exact", "fast", "custom"; "" when unknown).
  std::string kv_dtype = "fp32";
  std::string activations;
  std::string precision;
  int64_t length = 0;                         // committed tokens
  std::vector<SegmentRecord> segments;        // by begin
  std::vector<CheckpointRecord> checkpoints;  // by position; always one at `length` once length > 0
  int64_t create_time_us = 0;
  int64_t update_time_us = 0;
  int64_t access_time_us = 0;
  uint64_t next_file_number = 1;  // names new files uniquely within the session

  // Version 3: publication. `generation` is the N of its file MANIFEST.<N> (0: the plain MANIFEST
  // of versions 1 and 2); a commit publishes generation + 1 and fails if that exists.
  uint64_t generation = 0;
  uint64_t fencing = 0;   // the lease it was published under (0: before leases)
  std::string owner;      // the replica that published it
  std::string commit_id;  // random, unique per published manifest ("" before version 3)
  // The commit ids of the manifests it descends from, parent first (at most kAncestors): a
  // publisher that finds newer generations than its own checks here whether they build on it.
  std::vector<std::string> ancestors;
  static constexpr size_t kAncestors = 8;
  // A tombstone: the session was deleted (no segments, no checkpoints, length 0).
  bool deleted = false;

  const CheckpointRecord* CheckpointAt(int64_t position) const;
  // Segments with rows used for [0, length): each with the used row range.
  struct UsedSegment {
    const SegmentRecord* segment;
    int64_t begin;
    int64_t end;
  };
  std::vector<UsedSegment> UsedSegments(int64_t up_to) const;
};

std::string ManifestToJson(const SessionManifest& manifest);
// Parses and checks internal consistency (segments contiguous from 0, a checkpoint at length,
// file names plain). `name` is used in messages. Errors are DATA_LOSS.
absl::StatusOr<SessionManifest> ManifestFromJson(const std::string& json, const std::string& name);

// Hash of a token prefix, extended one token at a time (FNV-1a over the 4 bytes of each id).
uint64_t ExtendPrefixHash(uint64_t hash, int32_t token);
inline constexpr uint64_t kEmptyPrefixHash = 0xcbf29ce484222325ULL;

}  // namespace jamba::sdk

#endif  // JAMBA_SDK_STORE_SESSION_MANIFEST_H_
