// TrainDemoTokenizer: trains the tokenizer of the embedded demo model (`jamba make-demo-model`).
// Kept out of jamba_engine (library jamba_tokenizer_trainer) because only the CLI trains.
#ifndef JAMBA_ENGINE_TEXT_TOKENIZER_TRAINER_H_
#define JAMBA_ENGINE_TEXT_TOKENIZER_TRAINER_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace jamba::engine {

// Smallest vocabulary that holds the special pieces and the 256 byte pieces with room to learn.
inline constexpr int kMinDemoVocabSize = 512;
inline constexpr int kMaxDemoVocabSize = 65536;

// Trains a byte-fallback BPE SentencePiece model on `corpus_text` (one sentence per line) and
// writes, into `output_dir` (created if needed), tokenizer.model plus the tokenizer_config.json
// and special_tokens_map.json Hugging Face would write for it (LlamaTokenizer, BOS added), and
// the tokenizer.json of DemoTokenizerJson (Tokenizer::Load prefers it; both encode plain text to
// the same ids).
//
// Pieces: 0 <|pad|>, 1 <|startoftext|> (BOS), 2 <|endoftext|> (EOS), 3 <|unk|>, 4..8 <|bom|>,
// <|eom|>, <|system|>, <|user|>, <|assistant|>, then <0x00>..<0xFF>, then the learned pieces, up to
// `vocab_size` in all (fewer if the corpus is too small). Any UTF-8 text round-trips. The same
// corpus and size give byte-identical files. Training runs on one thread and, for a corpus of
// some tens of KB, takes well under a second.
//
// Sets SentencePiece's process-wide log level to warnings (its training log is long).
absl::Status TrainDemoTokenizer(const std::string& corpus_text, int vocab_size,
                                const std::string& output_dir);

// What a demo tokenizer looks like beyond the default (Jamba 1.5+ chat pieces, both files).
struct DemoTokenizerOptions {
  // The special pieces after the four meta pieces (ids 4, 5, ...); empty: Jamba 1.5+'s
  // <|bom|> <|eom|> <|system|> <|user|> <|assistant|>.
  std::vector<std::string> chat_pieces;
  bool write_sentencepiece = true;  // false: tokenizer.json only (as Jamba Reasoning 3B ships)
  std::string chat_template;        // written as tokenizer_config.json's chat_template when set
};
absl::Status TrainDemoTokenizer(const std::string& corpus_text, int vocab_size,
                                const std::string& output_dir, const DemoTokenizerOptions& options);

// The Llama-style tokenizer.json of a demo tokenizer.model: Metaspace pre-tokenization with
// prepend_scheme "first" (the space marker only at the start of the text, as SentencePiece's
// dummy prefix), the special pieces as special added tokens, BOS added by TemplateProcessing,
// and the Replace/ByteFallback/Fuse/Strip decoder.
absl::StatusOr<std::string> DemoTokenizerJson(const std::string& model,
                                              const std::vector<std::string>& chat_pieces);

}  // namespace jamba::engine

#endif  // JAMBA_ENGINE_TEXT_TOKENIZER_TRAINER_H_
