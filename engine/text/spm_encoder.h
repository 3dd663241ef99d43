// SpmEncoder: TextEncoder for SentencePiece models (tokenizer.model), with special-token strings
// recognised only where a segment asks for it, and long texts encoded in bounded pieces.
#ifndef JAMBA_ENGINE_TEXT_SPM_ENCODER_H_
#define JAMBA_ENGINE_TEXT_SPM_ENCODER_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "engine/text/piece_table.h"
#include "engine/text/special_token_matcher.h"
#include "engine/text/spm_processor.h"
#include "engine/text/text_encoder.h"

namespace jamba::engine {

// SentencePiece itself matches user-defined pieces ("<|eom|>") anywhere in its input, so the
// encoder runs it on a variant of the checkpoint's model in which every special piece is UNUSED
// (never matched nor produced), and finds special-token strings itself, in segments that parse
// them. Text between special tokens is encoded as SentencePiece encodes it there: the dummy prefix
// (a space marker) only at the very start of the text.
//
// Memory: SentencePiece needs about 200 bytes per input character, so a long run of text is
// encoded in pieces of about 32 KiB, cut where no piece of the vocabulary joins the characters on
// either side (then the cut cannot change a token: no merge and no piece spans it). For models
// that normalize text (anything but identity, or collapsing whitespace), and for a run of 256 KiB
// in which no such place exists, the cut is made anyway at 256 KiB; that may split a token at the
// cut, once per 256 KiB, which only texts without any breakable pair of characters can meet.
class SpmEncoder final : public TextEncoder {
  struct PrivateTag {
    explicit PrivateTag() = default;
  };

 public:
  // `table` must mark the special pieces (they become inert for SentencePiece and matchable by
  // text). `model_path` names the file in errors.
  static absl::StatusOr<std::unique_ptr<SpmEncoder>> Create(std::string_view model_bytes,
                                                            const PieceTable& table,
                                                            const std::string& model_path);
  explicit SpmEncoder(PrivateTag) {}

  absl::Status Encode(std::span<const TextSegment> segments, int64_t max_tokens,
                      std::vector<int32_t>& ids) const override;

  // Test hooks: the size runs are cut at (and the size past which a cut is forced).
  void SetChunkBytesForTesting(size_t chunk_bytes, size_t max_uncut_bytes) {
    chunk_bytes_ = chunk_bytes;
    max_uncut_bytes_ = max_uncut_bytes;
  }

 private:
  // Encodes `run` (text between special tokens). `at_text_start`: the run begins the text.
  absl::Status EncodeRun(std::string_view run, bool at_text_start, size_t limit,
                         std::vector<int32_t>& ids) const;
  // The end of the next piece of `run` that starts at `begin` (run.size() for the rest).
  size_t NextCut(std::string_view run, size_t begin) const;
  bool IsExactCut(std::string_view run, size_t at) const;

  std::unique_ptr<SpmProcessor> start_;  // for the start of the text: the model's dummy prefix
  std::unique_ptr<SpmProcessor> inner_;  // elsewhere: no dummy prefix
  SpecialTokenMatcher specials_;
  // Pairs of adjacent characters (code points, a space as U+2581) inside some piece, and every
  // character some piece holds.
  absl::flat_hash_set<uint64_t> joined_pairs_;
  absl::flat_hash_set<uint32_t> known_chars_;
  bool exact_cuts_ = false;  // identity normalization, whitespace kept as it is
  size_t chunk_bytes_ = 32 << 10;
  size_t max_uncut_bytes_ = 256 << 10;
};

}  // namespace jamba::engine

#endif  // JAMBA_ENGINE_TEXT_SPM_ENCODER_H_
