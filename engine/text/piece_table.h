// PieceTable: what every token id decodes to, whatever file format the tokenizer came from.
// Decoding is table-driven and piece by piece, so StreamDecoder can continue a decode one token at
// a time with exactly the result of a whole Decode.
#ifndef JAMBA_ENGINE_TEXT_PIECE_TABLE_H_
#define JAMBA_ENGINE_TEXT_PIECE_TABLE_H_

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace jamba::engine {

enum class PieceKind : uint8_t {
  kText,     // ordinary or added piece: `bytes` is its text with the space marker read as a space
  kByte,     // byte-fallback piece <0xHH>: `bytes` is that one byte
  kControl,  // SentencePiece's BOS, EOS, PAD: `bytes` is the piece, shown only when special tokens
             // are, and even then it does not end the start of the text (SentencePiece shows
             // nothing for it)
  kUnknown,  // `bytes` is the piece
  kAbsent,   // an id inside the vocabulary that no file defines: decodes to nothing
};

// What a decode does at the start of the text (it depends on the tokenizer's normalizer or its
// decoder pipeline): nothing; drop the first space of the first visible piece (a dummy prefix, or
// tokenizer.json's Strip decoder; pieces that decode to nothing do not count); drop every space
// before the first other character; or decode the first piece as `first_piece_bytes` says
// (tokenizer.json's Metaspace decoder, which removes every space marker of the first token).
enum class LeadingSpaceRule : uint8_t { kKeep, kStripOne, kStripAllLeading, kFirstPieceOwnText };

struct Piece {
  std::string bytes;
  PieceKind kind = PieceKind::kAbsent;
  bool special = false;
  // A special piece that is output markup the chat layer reads (<think>, <tool_call>): a
  // completion's text keeps it even when special tokens are skipped (keep_markup), so its
  // structure can be read; ordinary decodes drop it like any special token.
  bool markup = false;
};

struct PieceTable {
  std::vector<Piece> pieces;  // indexed by id
  LeadingSpaceRule leading_space_rule = LeadingSpaceRule::kStripOne;
  // kFirstPieceOwnText: what each id decodes to as the first piece (indexed by id).
  std::vector<std::string> first_piece_bytes;
  // Shown special pieces go through the start rule like text (tokenizer.json decoders see them
  // as tokens); otherwise they are appended as they are (SentencePiece).
  bool specials_follow_text_rules = false;

  int64_t size() const { return static_cast<int64_t>(pieces.size()); }

  // Appends the bytes of token `id` to `bytes` (before UTF-8 repair). `at_start` is true until
  // the decode has produced visible text; it is updated. Ids outside the table add nothing.
  // `keep_markup`: markup pieces are shown even when special tokens are skipped.
  void AppendTokenBytes(int32_t id, bool skip_special_tokens, bool& at_start, std::string& bytes,
                        bool keep_markup = false) const;

  // Always valid UTF-8: bytes that do not form valid UTF-8 become U+FFFD, one per byte.
  std::string Decode(std::span<const int32_t> ids, bool skip_special_tokens,
                     bool keep_markup = false) const;
};

}  // namespace jamba::engine

#endif  // JAMBA_ENGINE_TEXT_PIECE_TABLE_H_
