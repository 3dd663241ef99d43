// SpmEncoder: special-token splitting, cutting long runs at exact places, and the two SentencePiece
// variants (with and without the dummy prefix) the pieces are encoded with.
#include "engine/text/spm_encoder.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/status_macros.h"
#include "engine/text/spm_model_proto.h"

namespace jamba::engine {
namespace {

constexpr uint32_t kSpaceMarker = 0x2581;

// The code point starting at `pos` of valid UTF-8 `text`, and its length in bytes.
std::pair<uint32_t, size_t> CodePointAt(std::string_view text, size_t pos) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[pos + i]); };
  const unsigned char lead = byte(0);
  if (lead < 0x80) return {lead, 1};
  if (lead < 0xE0) return {((lead & 0x1Fu) << 6) | (byte(1) & 0x3Fu), 2};
  if (lead < 0xF0)
    return {((lead & 0x0Fu) << 12) | ((byte(1) & 0x3Fu) << 6) | (byte(2) & 0x3Fu), 3};
  return {((lead & 0x07u) << 18) | ((byte(1) & 0x3Fu) << 12) | ((byte(2) & 0x3Fu) << 6) |
              (byte(3) & 0x3Fu),
          4};
}

bool IsContinuationByte(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

uint64_t PairKey(uint32_t first, uint32_t second) {
  return (static_cast<uint64_t>(first) << 32) | second;
}

// Code points as SentencePiece sees them after escaping whitespace.
uint32_t AsModelSees(uint32_t code_point) { return code_point == ' ' ? kSpaceMarker : code_point; }

absl::StatusOr<std::unique_ptr<SpmProcessor>> LoadVariant(std::string_view model_bytes,
                                                          const SpmModelEdit& edit,
                                                          const std::string& model_path) {
  absl::StatusOr<std::string> edited = EditSpmModel(model_bytes, edit);
  if (!edited.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(model_path, ": ", edited.status().message()));
  }
  std::string error;
  std::unique_ptr<SpmProcessor> processor = SpmProcessor::Load(*edited, error);
  if (processor == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(model_path, ": cannot load it without its special pieces: ", error));
  }
  return processor;
}

}  // namespace

absl::StatusOr<std::unique_ptr<SpmEncoder>> SpmEncoder::Create(std::string_view model_bytes,
                                                               const PieceTable& table,
                                                               const std::string& model_path) {
  auto encoder = std::make_unique<SpmEncoder>(PrivateTag());
  JAMBA_ASSIGN_OR_RETURN(SpmNormalizerFacts normalizer, ReadSpmNormalizer(model_bytes));
  SpmModelEdit edit;
  std::vector<std::pair<std::string, int32_t>> special_strings;
  for (int64_t id = 0; id < table.size(); ++id) {
    const Piece& piece = table.pieces[id];
    if (!piece.special || piece.bytes.empty()) continue;
    special_strings.emplace_back(piece.bytes, static_cast<int32_t>(id));
    if (piece.kind == PieceKind::kText) edit.pieces_to_unused.push_back(static_cast<int32_t>(id));
  }
  encoder->specials_ = SpecialTokenMatcher(special_strings);
  JAMBA_ASSIGN_OR_RETURN(encoder->start_, LoadVariant(model_bytes, edit, model_path));
  edit.clear_dummy_prefix = true;
  JAMBA_ASSIGN_OR_RETURN(encoder->inner_, LoadVariant(model_bytes, edit, model_path));

  // Which characters a piece joins, over every piece SentencePiece can produce or merge through.
  for (int32_t id = 0; id < encoder->inner_->num_pieces(); ++id) {
    const SpmPieceKind kind = encoder->inner_->Kind(id);
    if (kind != SpmPieceKind::kNormal && kind != SpmPieceKind::kUnused) continue;
    const std::string& piece = encoder->inner_->IdToPiece(id);
    uint32_t previous = 0;
    for (size_t pos = 0; pos < piece.size();) {
      if (IsContinuationByte(piece[pos]))
        return absl::InvalidArgumentError(
            absl::StrCat(model_path, ": piece ", id, " is not valid UTF-8"));
      const auto [code_point, length] = CodePointAt(piece, pos);
      encoder->known_chars_.insert(code_point);
      if (pos > 0) encoder->joined_pairs_.insert(PairKey(previous, code_point));
      previous = code_point;
      pos += length;
    }
  }
  encoder->exact_cuts_ =
      (normalizer.name == "identity" || (normalizer.name.empty() && !normalizer.has_charsmap)) &&
      !normalizer.remove_extra_whitespaces && !normalizer.treat_whitespace_as_suffix;
  return encoder;
}

bool SpmEncoder::IsExactCut(std::string_view run, size_t at) const {
  if (!exact_cuts_) return false;
  size_t before = at - 1;
  while (before > 0 && IsContinuationByte(run[before])) --before;
  const uint32_t left = AsModelSees(CodePointAt(run, before).first);
  const uint32_t right = AsModelSees(CodePointAt(run, at).first);
  // A character no piece holds is unknown to the model, and SentencePiece may join neighbouring
  // unknown characters into one unknown token: never cut next to one.
  return known_chars_.contains(left) && known_chars_.contains(right) &&
         !joined_pairs_.contains(PairKey(left, right));
}

size_t SpmEncoder::NextCut(std::string_view run, size_t begin) const {
  if (run.size() - begin <= chunk_bytes_) return run.size();
  const size_t last = std::min(run.size(), begin + max_uncut_bytes_);
  for (size_t at = begin + chunk_bytes_; at < last; ++at) {
    if (!IsContinuationByte(run[at]) && IsExactCut(run, at)) return at;
  }
  if (last == run.size()) return last;
  size_t at = last;  // forced: the start of the character at `last`
  while (at > begin + 1 && IsContinuationByte(run[at])) --at;
  return at;
}

absl::Status SpmEncoder::EncodeRun(std::string_view run, bool at_text_start, size_t limit,
                                   std::vector<int32_t>& ids) const {
  std::vector<int32_t> piece_ids;
  std::string error;
  for (size_t begin = 0; begin < run.size() && ids.size() <= limit;) {
    const size_t end = NextCut(run, begin);
    const SpmProcessor& processor = at_text_start && begin == 0 ? *start_ : *inner_;
    if (!processor.Encode(run.substr(begin, end - begin), piece_ids, error)) {
      return absl::InternalError(absl::StrCat("SentencePiece encode failed: ", error));
    }
    ids.insert(ids.end(), piece_ids.begin(), piece_ids.end());
    begin = end;
  }
  return absl::OkStatus();
}

absl::Status SpmEncoder::Encode(std::span<const TextSegment> segments, int64_t max_tokens,
                                std::vector<int32_t>& ids) const {
  const size_t limit = max_tokens < 0 ? static_cast<size_t>(-1) : ids.size() + max_tokens;
  std::string run;  // text since the last special token, over segment boundaries
  bool run_at_start = true;
  auto flush = [&]() -> absl::Status {
    absl::Status status = EncodeRun(run, run_at_start, limit, ids);
    run.clear();
    run_at_start = false;
    return status;
  };
  for (const TextSegment& segment : segments) {
    std::string_view text = segment.text;
    if (segment.parse_special) {
      while (std::optional<SpecialTokenMatcher::Match> match = specials_.FindNext(text, 0)) {
        run.append(text.substr(0, match->begin));
        JAMBA_RETURN_IF_ERROR(flush());
        ids.push_back(match->id);
        if (ids.size() > limit) return absl::OkStatus();
        text.remove_prefix(match->begin + match->length);
      }
    }
    run.append(text);
  }
  return flush();
}

}  // namespace jamba::engine
