// Tokenizer: text <-> token ids for a Jamba checkpoint, from its Hugging Face tokenizer.json or its
// SentencePiece tokenizer.model, and the special-token settings of the Hugging Face files beside it
// (spec section 5.3).
#ifndef JAMBA_ENGINE_TEXT_TOKENIZER_H_
#define JAMBA_ENGINE_TEXT_TOKENIZER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/model_config.h"
#include "engine/text/piece_table.h"
#include "engine/text/special_token_matcher.h"
#include "engine/text/text_encoder.h"
#include "engine/text/tokenizer_json.h"

namespace jamba::engine {

class SpmProcessor;
struct SpecialTokenSettings;  // special_token_files.h

// Immutable once loaded: every method is const and safe to call from any number of threads.
//
//   JAMBA_ASSIGN_OR_RETURN(auto tokenizer, Tokenizer::Load(dir, config));
//   JAMBA_ASSIGN_OR_RETURN(std::vector<int32_t> ids, tokenizer->Encode("Hello", {.add_bos =
//   true})); std::string text = tokenizer->Decode(ids, /*skip_special_tokens=*/true);  // "Hello"
//
// Special tokens are the SentencePiece control and unknown pieces, every token named in
// tokenizer_config.json / special_tokens_map.json (bos/eos/pad/unk, additional_special_tokens,
// added_tokens_decoder entries with "special": true) and the bos/eos/pad ids in use.
//
// Encoding never recognises special-token strings in text unless asked to (parse_special, or a
// segment's flag): text a user sent that spells "<|eom|>" stays ordinary text, so only the chat
// template's own markup can produce control tokens.
class Tokenizer {
  // Lets Load use std::make_unique while nobody else can construct a Tokenizer.
  struct PrivateTag {
    explicit PrivateTag() = default;
  };

 public:
  struct EncodeOptions {
    bool add_bos = false;
    // Recognise special-token strings ("<|eom|>") in the text as their tokens.
    bool parse_special = false;
    // When >= 0, encoding stops once the result holds more than this many ids (BOS included):
    // the caller learns the text is over the limit without paying for all of it.
    int64_t max_tokens = -1;
  };

  // Loads <model_dir>/tokenizer.json when it exists (as transformers' AutoTokenizer does), else
  // <model_dir>/tokenizer.model, plus, when present, tokenizer_config.json,
  // special_tokens_map.json and generation_config.json. NotFound when there is neither tokenizer
  // file (callers then work on token ids only); InvalidArgument, naming the file (and for
  // tokenizer.json the JSON path and component), for a malformed or unsupported file.
  //
  // tokenizer.json: ids are those of Hugging Face's tokenizers for the same file, with special
  // added tokens recognised only where special tokens are parsed (transformers'
  // split_special_tokens=True for plain text). add_bos adds what its TemplateProcessing
  // post-processor adds around a single sequence (without one: the BOS id below). The special
  // tokens the side files name are matched like tokenizer.json's special added tokens.
  //
  // Ids: BOS is generation_config.json's bos_token_id, else config.bos_token_id. EOS is
  // generation_config.json's eos_token_id (an int or a list), else config.eos_token_ids, plus the
  // tokenizer's own eos token, without duplicates. PAD is generation_config.json's pad_token_id,
  // else config.pad_token_id. A negative id means "none" (-1 below).
  //
  // added_tokens_decoder ids beyond tokenizer.model's pieces become extra pieces: they decode to
  // their content and PieceToId finds them; text encodes to them only where special tokens are
  // parsed.
  static absl::StatusOr<std::unique_ptr<Tokenizer>> Load(const std::string& model_dir,
                                                         const ModelConfig& config);
  explicit Tokenizer(PrivateTag);
  ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // InvalidArgument if `text` is not valid UTF-8 (the error gives the byte offset);
  // FailedPrecondition if `add_bos` and the model has no BOS token (nor a post-processor).
  absl::StatusOr<std::vector<int32_t>> Encode(std::string_view text,
                                              const EncodeOptions& options) const;
  // The concatenated segments as one text, special tokens recognised only where they begin in a
  // segment that asks for it (a token that begins in markup may run on into the next segment:
  // templates build tags like "<|" ~ role ~ "|>"); options.parse_special is ignored. Errors as
  // above, the offset counted over all.
  absl::StatusOr<std::vector<int32_t>> Encode(std::span<const TextSegment> segments,
                                              const EncodeOptions& options) const;

  // Always valid UTF-8. tokenizer.json: as Hugging Face's decoder chain decodes them (see
  // tokenizer_json_decoder.h for the one difference, on byte runs that are not UTF-8); special
  // tokens shown are tokens like the others there.
  // SentencePiece: ordinary pieces decode exactly as SentencePiece decodes them, including
  // how it drops the space marker(s) at the start of the text. Special tokens are left out or,
  // when !skip_special_tokens, shown as their piece text (control pieces such as BOS, which
  // SentencePiece shows as nothing, do not count as the start of the text). Bytes that do not form
  // valid UTF-8 become U+FFFD, one per byte, as in SentencePiece. Ids that are not pieces decode
  // to nothing.
  std::string Decode(std::span<const int32_t> ids, bool skip_special_tokens) const;

  // The piece as stored in the vocabulary ("▁the", "<0xE2>", "<|eom|>"); "" for a non-piece id.
  std::string IdToPiece(int32_t id) const;
  std::optional<int32_t> PieceToId(std::string_view piece) const;

  int32_t bos_id() const { return bos_id_; }
  const std::vector<int32_t>& eos_ids() const { return eos_ids_; }
  bool IsEos(int32_t id) const;
  int32_t pad_id() const { return pad_id_; }
  int64_t num_pieces() const { return table_.size(); }
  bool IsSpecial(int32_t id) const;
  // Whether Encode marks the start of the text as a word start (SentencePiece's add_dummy_prefix),
  // i.e. Encode("x") decodes after other text as " x". The chat template needs to know.
  bool adds_space_prefix() const { return adds_space_prefix_; }
  // How each id decodes (StreamDecoder continues a decode with it).
  const PieceTable& piece_table() const { return table_; }

  // Lower-case hex SHA-256 over the bytes of the tokenizer file used (tokenizer.json or
  // tokenizer.model) and the special-token settings above, so persisted state can be bound to
  // exactly this tokenizer.
  const std::string& ContentHash() const { return content_hash_; }
  // Which file the tokenizer came from: "tokenizer.json" or "sentencepiece".
  const std::string& kind() const { return kind_; }

 private:
  // Steps of Load.
  absl::Status BuildSentencePieceTable(const SpmProcessor& spm, const std::string& model_path,
                                       const SpecialTokenSettings& settings);
  // The decoding rules the piece table needs, measured on the loaded library.
  absl::Status MeasureSentencePieceRules(const SpmProcessor& spm, const std::string& model_path);
  absl::Status ResolveSpecialIds(const std::string& model_dir, const ModelConfig& config,
                                 const SpecialTokenSettings& settings,
                                 std::optional<int32_t> format_eos);  // the file's own EOS
  absl::StatusOr<std::string> ComputeContentHash(const std::string& model_bytes) const;
  void BuildSpecialMatcher();
  // `segments` re-cut so that every special token that begins in a parse_special segment lies
  // wholly inside one (the encoders match tokens within a segment); `storage` keeps the text.
  std::vector<TextSegment> SpanSpecialTokens(std::span<const TextSegment> segments,
                                             std::vector<std::string>& storage) const;
  static absl::StatusOr<std::unique_ptr<Tokenizer>> LoadTokenizerJson(const std::string& model_dir,
                                                                      const std::string& path,
                                                                      const ModelConfig& config);
  // Special-token side files for a tokenizer.json: their added tokens checked against (or added
  // to) the table; returns the added tokens beyond tokenizer.json's own.
  absl::StatusOr<std::vector<AddedTokenSpec>> ApplySideFileAddedTokens(
      const SpecialTokenSettings& settings, const TokenizerJsonSpec& spec);

  PieceTable table_;
  std::vector<std::string> piece_names_;  // indexed by id, as stored in the vocabulary
  std::unordered_map<std::string, int32_t> piece_ids_;
  std::vector<std::pair<int32_t, std::string>> added_pieces_;  // beyond the model's own pieces
  std::unique_ptr<TextEncoder> encoder_;
  SpecialTokenMatcher special_matcher_;  // every special piece's text
  // What add_bos puts around the text.
  std::vector<int32_t> bos_prefix_, bos_suffix_;
  std::string kind_;
  bool adds_space_prefix_ = true;
  int32_t bos_id_ = -1;
  std::vector<int32_t> eos_ids_;
  int32_t pad_id_ = -1;
  std::string content_hash_;
};

}  // namespace jamba::engine

#endif  // JAMBA_ENGINE_TEXT_TOKENIZER_H_
