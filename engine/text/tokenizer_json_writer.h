// SentencePieceToTokenizerJson: converts a byte-fallback SentencePiece BPE model into a Llama-style
// Hugging Face tokenizer.json (what transformers' Llama converter writes), for the demo model and
// the test tokenizers.
#ifndef JAMBA_ENGINE_TEXT_TOKENIZER_JSON_WRITER_H_
#define JAMBA_ENGINE_TEXT_TOKENIZER_JSON_WRITER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/text/tokenizer_json.h"

namespace jamba::engine {

struct TokenizerJsonOptions {
  // kLegacyPrepend: normalizer Prepend("▁") + Replace(" ", "▁") and no pre-tokenizer, which
  // encodes plain text exactly as SentencePiece with a dummy prefix does (older Llama files).
  // kMetaspace: no normalizer, pre-tokenizer Metaspace(prepend_scheme "first", split false)
  // (newer files): a text that starts with a space gets no second marker.
  enum class Style { kLegacyPrepend, kMetaspace };
  Style style = Style::kLegacyPrepend;
  bool merges_as_pairs = false;  // ["a", "b"] instead of "a b"
  // Pieces of the model that are special added tokens (by content).
  std::vector<std::string> special_pieces;
  std::string bos_piece;  // TemplateProcessing adds it in front of a single sequence; "" for none
  // Tokens after the model's pieces (their ids are ignored: they follow the model's).
  std::vector<AddedTokenSpec> extra_tokens;
};

// Merges: every split of a learned piece into two pieces, ordered by the piece's id (SentencePiece
// BPE scores learned pieces by merge order) and then by the halves' ids, as the converter does.
absl::StatusOr<std::string> SentencePieceToTokenizerJson(const std::string& model_bytes,
                                                         const TokenizerJsonOptions& options);

}  // namespace jamba::engine

#endif  // JAMBA_ENGINE_TEXT_TOKENIZER_JSON_WRITER_H_
