// Parses a Hugging Face tokenizer.json (the `tokenizers` library's serialized pipeline) into plain
// structs, for the BPE tokenizers that Jamba and Llama-style checkpoints ship. Everything this
// engine cannot reproduce exactly is an InvalidArgument naming the file, the JSON path and the
// component, never a silent difference.
//
// Supported: model BPE (vocab; merges as "a b" or ["a", "b"]; byte_fallback, unk_token, fuse_unk,
// ignore_merges; dropout, continuing_subword_prefix and end_of_word_suffix null); added_tokens
// (special, lstrip, rstrip, single_word, normalized); normalizers null, Sequence, Prepend,
// Replace (String pattern), Strip; pre-tokenizers null, Sequence, Metaspace (replacement,
// prepend_scheme, split, legacy add_prefix_space), Split (String pattern, every behaviour,
// invert); decoders Sequence, Replace, ByteFallback, Fuse, Strip, Metaspace and null, as far as
// they compile into a piece table (tokenizer_json_decoder.h); post_processor null or
// TemplateProcessing (single sequence). Errors: other models, NFC/NFKC/NFD/NFKD and other
// normalizers, ByteLevel/Whitespace/other pre-tokenizers, Regex patterns, other decoders and
// post-processors. truncation and padding are ignored (as AutoTokenizer ignores them).
#ifndef JAMBA_ENGINE_TEXT_TOKENIZER_JSON_H_
#define JAMBA_ENGINE_TEXT_TOKENIZER_JSON_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace jamba::engine {

// model: {"type": "BPE", ...}. dropout, continuing_subword_prefix and end_of_word_suffix must be
// null (or empty): they change what the model produces and are not implemented.
struct BpeModelSpec {
  std::vector<std::pair<std::string, int32_t>> vocab;       // piece -> id, in file order
  std::vector<std::pair<std::string, std::string>> merges;  // by rank
  bool byte_fallback = false;
  std::optional<std::string> unk_token;
  bool fuse_unk = false;
  bool ignore_merges = false;
};

// added_tokens[i]: matched in text before the model sees it (special ones only where special
// tokens are parsed).
struct AddedTokenSpec {
  int32_t id = 0;
  std::string content;
  bool special = false;
  bool lstrip = false;
  bool rstrip = false;
  bool single_word = false;
  bool normalized = false;  // matched in the normalized text instead of the raw text
};

enum class NormalizerKind : uint8_t { kPrepend, kReplace, kStrip };
struct NormalizerStep {
  NormalizerKind kind = NormalizerKind::kPrepend;
  std::string text;     // kPrepend: what is prepended; kReplace: the (String) pattern
  std::string content;  // kReplace: its replacement
  bool strip_left = false, strip_right = false;  // kStrip
};

// How Metaspace adds the replacement character in front of a split.
enum class PrependScheme : uint8_t { kAlways, kFirst, kNever };
// How Split keeps the matches of its pattern (tokenizers' SplitDelimiterBehavior).
enum class SplitBehavior : uint8_t {
  kRemoved,
  kIsolated,
  kMergedWithPrevious,
  kMergedWithNext,
  kContiguous
};

enum class PreTokenizerKind : uint8_t { kMetaspace, kSplit };
struct PreTokenizerStep {
  PreTokenizerKind kind = PreTokenizerKind::kMetaspace;
  std::string replacement;  // kMetaspace: one character, UTF-8
  PrependScheme prepend_scheme = PrependScheme::kAlways;
  bool split = true;    // kMetaspace: split words before each replacement character
  std::string pattern;  // kSplit: a String pattern
  SplitBehavior behavior = SplitBehavior::kRemoved;
  bool invert = false;
};

enum class DecoderKind : uint8_t { kReplace, kByteFallback, kFuse, kStrip, kMetaspace };
struct DecoderStep {
  DecoderKind kind = DecoderKind::kFuse;
  std::string pattern, content;  // kReplace (String pattern); kStrip: content is one character
  int64_t start = 0, stop = 0;   // kStrip
  std::string replacement;       // kMetaspace
  PrependScheme prepend_scheme = PrependScheme::kAlways;
  std::string json_path;  // for errors about the chain, e.g. "decoder.decoders[3]"
};

// TemplateProcessing's single-sequence template: the special ids around the sequence.
struct TemplateSpec {
  std::vector<int32_t> prefix, suffix;
};

struct TokenizerJsonSpec {
  BpeModelSpec model;
  std::vector<AddedTokenSpec> added_tokens;
  std::vector<NormalizerStep> normalizer;  // Sequence flattened; empty when null
  std::vector<PreTokenizerStep> pre_tokenizer;
  // nullopt: "decoder": null (tokenizers then joins the token strings with spaces).
  std::optional<std::vector<DecoderStep>> decoder;
  std::optional<TemplateSpec> post_processor;  // nullopt: null
};

// `path` names the file in errors. Bounds: ids below 2^22, at most 2^22 merges.
absl::StatusOr<TokenizerJsonSpec> ParseTokenizerJson(std::string_view text,
                                                     const std::string& path);

}  // namespace jamba::engine

#endif  // JAMBA_ENGINE_TEXT_TOKENIZER_JSON_H_
