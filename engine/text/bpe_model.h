// BpeModel: the BPE model of a tokenizer.json, encoding one pre-tokenized word at a time exactly as
// Hugging Face's tokenizers does (byte_fallback, unk_token with fuse_unk, ignore_merges).
#ifndef JAMBA_ENGINE_TEXT_BPE_MODEL_H_
#define JAMBA_ENGINE_TEXT_BPE_MODEL_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "engine/text/tokenizer_json.h"

namespace jamba::engine {

// Speed: merges run on a priority queue of candidate pairs ordered by merge rank then position
// (stale entries are skipped when popped), O(n log n) per word instead of a rescan per merge.
// Words are first cut where the cut is exact: between two characters that are pieces on their own
// and that no vocabulary piece holds side by side (every merge makes a vocabulary piece, so no
// token can span such a place); the short parts are cached.
//
// Memory: a part is at most 256 KiB; a longer stretch without any exact place (e.g. one character
// repeated, when the vocabulary has pieces of it doubled) is cut there anyway, which may split a
// token at that place once per 256 KiB.
//
// Immutable but for the cache (internally locked): const methods are safe from any thread.
class BpeModel {
  struct PrivateTag {
    explicit PrivateTag() = default;
  };

 public:
  // Working space one encoding call reuses for every word.
  struct Scratch {
    struct Symbol {
      int32_t id;
      int32_t prev, next;
      bool alive;
    };
    struct Candidate {
      uint32_t rank;
      int32_t pos;
      int32_t result;
    };
    std::vector<Symbol> symbols;
    std::vector<Candidate> queue;
  };

  // InvalidArgument naming `path` for merges or an unk_token that the vocabulary lacks.
  static absl::StatusOr<std::unique_ptr<BpeModel>> Create(const BpeModelSpec& spec,
                                                          const std::string& path);
  explicit BpeModel(PrivateTag) {}

  // Appends the ids of `word` (valid UTF-8) to `ids`; may stop after a part once `ids` holds more
  // than `limit` ids.
  void Tokenize(std::string_view word, size_t limit, Scratch& scratch,
                std::vector<int32_t>& ids) const;

  std::optional<int32_t> PieceToId(std::string_view piece) const;
  // The id of the single-character piece `code_point`, or -1.
  int32_t CharId(uint32_t code_point) const;

  // Test hooks: whether words are cut at exact places, and the size past which a cut is forced.
  void SetCuttingForTesting(bool exact_cuts, size_t max_uncut_bytes) {
    exact_cuts_ = exact_cuts;
    max_uncut_bytes_ = max_uncut_bytes;
  }

 private:
  struct Merge {
    uint32_t rank;
    int32_t result;
  };
  static uint64_t PairKey(uint32_t left, uint32_t right) {
    return (static_cast<uint64_t>(left) << 32) | right;
  }
  // Cached below kMaxCachedBytes.
  void TokenizePart(std::string_view part, Scratch& scratch, std::vector<int32_t>& ids) const;
  void MergePart(std::string_view part, Scratch& scratch, std::vector<int32_t>& ids) const;
  const Merge* FindMerge(int32_t left, int32_t right) const;

  absl::flat_hash_map<std::string, int32_t> vocab_;
  absl::flat_hash_map<uint32_t, int32_t> char_ids_;
  std::array<int32_t, 256> byte_ids_{};  // -1: no <0xHH> piece
  absl::flat_hash_map<uint64_t, Merge> merges_;
  absl::flat_hash_set<uint64_t> joined_pairs_;  // code points side by side inside some piece
  int32_t unk_id_ = -1;
  bool byte_fallback_ = false;
  bool fuse_unk_ = false;
  bool ignore_merges_ = false;
  size_t max_uncut_bytes_ = 256 << 10;
  bool exact_cuts_ = true;

  // Tokens of short parts. Sharded so threads rarely wait for each other; a full shard is
  // emptied (the cache only saves time).
  static constexpr size_t kMaxCachedBytes = 96;
  static constexpr size_t kMaxEntriesPerShard = 8192;
  struct CacheShard {
    absl::Mutex mutex;
    absl::flat_hash_map<std::string, std::vector<int32_t>> entries ABSL_GUARDED_BY(mutex);
  };
  mutable std::array<CacheShard, 16> cache_;
};

}  // namespace jamba::engine

#endif  // JAMBA_ENGINE_TEXT_BPE_MODEL_H_
