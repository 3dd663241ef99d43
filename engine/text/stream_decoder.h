// StreamDecoder: turns generated tokens into text one token at a time, for streaming answers,
// without ever emitting half a UTF-8 character.
#ifndef JAMBA_ENGINE_TEXT_STREAM_DECODER_H_
#define JAMBA_ENGINE_TEXT_STREAM_DECODER_H_

#include <cstdint>
#include <string>

#include "engine/text/tokenizer.h"

namespace jamba::engine {

// The concatenation of everything Push and Finish return equals
// tokenizer.piece_table().Decode(all pushed tokens, skip_special_tokens, keep_markup) (which is
// tokenizer.Decode when keep_markup is false), and every returned string is valid
// UTF-8. Bytes of a character split over several byte-fallback tokens (<0xF0><0x9F>...) are held
// back until the character is complete.
//
// Decode works piece by piece, so the only context a suffix needs is what a prefix window would
// give it: whether visible text came before (SentencePiece drops the space marker of the first
// visible piece). The decoder keeps that flag and at most 3 pending bytes, so each Push costs
// O(length of the token's text), whatever the length of the stream.
//
// One decoder per stream, used from one thread at a time; the tokenizer must outlive it.
class StreamDecoder {
 public:
  // `keep_markup`: output markup tokens (<think>, <tool_call>) are kept even when special tokens
  // are skipped, as generation does so that chat replies can be read.
  explicit StreamDecoder(const Tokenizer& tokenizer, bool skip_special_tokens = true,
                         bool keep_markup = false);

  // The text that `token` completes: possibly empty, never ending inside a character.
  std::string Push(int32_t token);
  // Ends the stream: returns the held-back bytes, an incomplete sequence replaced by U+FFFD (one
  // per byte, as Decode does). The decoder is then ready for a new stream.
  std::string Finish();

 private:
  const Tokenizer* tokenizer_;  // not owned
  bool skip_special_tokens_;
  bool keep_markup_;
  bool at_start_ = true;  // no visible text yet (see PieceTable::AppendTokenBytes)
  std::string pending_;   // the start of a character whose other bytes have not arrived
};

}  // namespace jamba::engine

#endif  // JAMBA_ENGINE_TEXT_STREAM_DECODER_H_
