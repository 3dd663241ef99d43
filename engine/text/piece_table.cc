// PieceTable's decoding: the leading-space rule at the start of the text, special pieces shown or
// skipped, and the UTF-8 repair of the joined bytes.
#include "engine/text/piece_table.h"

#include "engine/text/utf8.h"

namespace jamba::engine {
namespace {

size_t CountLeadingSpaces(std::string_view text) {
  const size_t first = text.find_first_not_of(' ');
  return first == std::string_view::npos ? text.size() : first;
}

}  // namespace

void PieceTable::AppendTokenBytes(int32_t id, bool skip_special_tokens, bool& at_start,
                                  std::string& bytes, bool keep_markup) const {
  if (id < 0 || id >= size()) return;
  const Piece& piece = pieces[id];
  if (piece.kind == PieceKind::kAbsent) return;
  const bool shown_markup = keep_markup && piece.markup;
  if (piece.special && !shown_markup) {
    if (skip_special_tokens) return;
    if (!specials_follow_text_rules || piece.kind != PieceKind::kText) {
      bytes += piece.bytes;
      if (piece.kind != PieceKind::kControl) at_start = false;
      return;
    }
  }
  if (shown_markup) {
    bytes += piece.bytes;
    at_start = false;
    return;
  }
  switch (piece.kind) {
    case PieceKind::kByte:
      bytes += piece.bytes;
      at_start = false;
      return;
    case PieceKind::kText: {
      std::string_view text = piece.bytes;
      if (!at_start) {
        bytes.append(text);
        return;
      }
      const size_t spaces = CountLeadingSpaces(text);
      switch (leading_space_rule) {
        case LeadingSpaceRule::kKeep:
          at_start = false;
          break;
        case LeadingSpaceRule::kStripOne:
          if (text.empty()) return;
          // Even a piece that was only the stripped space ends the start.
          if (spaces > 0) text.remove_prefix(1);
          at_start = false;
          break;
        case LeadingSpaceRule::kFirstPieceOwnText:
          if (static_cast<size_t>(id) < first_piece_bytes.size()) text = first_piece_bytes[id];
          at_start = false;
          break;
        case LeadingSpaceRule::kStripAllLeading:
          text.remove_prefix(spaces);
          at_start = text.empty();
          break;
      }
      bytes.append(text);
      return;
    }
    case PieceKind::kControl:
    case PieceKind::kUnknown:
    case PieceKind::kAbsent:
      return;  // always special (or absent): handled above
  }
}

std::string PieceTable::Decode(std::span<const int32_t> ids, bool skip_special_tokens,
                               bool keep_markup) const {
  std::string bytes;
  bool at_start = true;
  for (int32_t id : ids) AppendTokenBytes(id, skip_special_tokens, at_start, bytes, keep_markup);
  std::string text;
  text.reserve(bytes.size());
  AppendRepairedUtf8(bytes, /*end_of_input=*/true, text);
  return text;
}

}  // namespace jamba::engine
