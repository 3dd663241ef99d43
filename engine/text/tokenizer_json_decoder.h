// BuildTokenizerJsonTable: the vocabulary of a tokenizer.json (model pieces and added tokens, with
// the ids tokenizers would give them) and its decoder chain compiled into a PieceTable, so that
// decoding stays piece by piece (StreamDecoder's guarantee) and gives tokenizers' text.
#ifndef JAMBA_ENGINE_TEXT_TOKENIZER_JSON_DECODER_H_
#define JAMBA_ENGINE_TEXT_TOKENIZER_JSON_DECODER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/text/piece_table.h"
#include "engine/text/tokenizer_json.h"

namespace jamba::engine {

struct TokenizerJsonTable {
  PieceTable table;
  std::vector<std::string> names;  // by id, the piece as stored ("" for an id no piece has)
};

// Decoder chains that compile (steps in order, nested Sequences flattened):
//   - per-token steps: Replace (String pattern), Strip, Metaspace, ByteFallback;
//   - Fuse, after which only Strip(" ", start <= 1, stop 0) and one-character Replace may follow;
//   - Metaspace (prepend_scheme other than never) removes every replacement character of the
//     first token: the table's kFirstPieceOwnText rule; it cannot follow ByteFallback or Fuse;
//   - null: tokens joined with spaces.
// Anything else is InvalidArgument naming the decoder's JSON path.
//
// One difference is by design: tokenizers' ByteFallback turns a whole run of byte pieces that is
// not valid UTF-8 into one U+FFFD per byte; here each byte that does not form valid UTF-8 becomes
// U+FFFD and the valid characters of the run are kept (a stream cannot take back what it already
// emitted). Ids that encoding produces never form such runs.
//
// Added tokens must have the ids tokenizers would give them (their vocabulary id, or the next id
// after the vocabulary); special ones are marked special. A token with "normalized": true is named
// (and decodes) by its normalized text, as in tokenizers.
absl::StatusOr<TokenizerJsonTable> BuildTokenizerJsonTable(const TokenizerJsonSpec& spec,
                                                           const std::string& path);

}  // namespace jamba::engine

#endif  // JAMBA_ENGINE_TEXT_TOKENIZER_JSON_DECODER_H_
