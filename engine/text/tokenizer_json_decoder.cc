// BuildTokenizerJsonTable: ids of the vocabulary and added tokens, then the decoder chain checked
// once and applied to every piece.
#include "engine/text/tokenizer_json_decoder.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "engine/status_macros.h"
#include "engine/text/text_normalizer.h"

namespace jamba::engine {
namespace {

// The decoder chain reduced to what each token becomes on its own plus one rule for the start.
struct CompiledChain {
  std::vector<const DecoderStep*> per_token;  // Replace, Strip, Metaspace, ByteFallback in order
  LeadingSpaceRule rule = LeadingSpaceRule::kKeep;
  bool join_with_spaces = false;  // "decoder": null
};

bool IsOneAsciiChar(const std::string& text) {
  return text.size() == 1 && static_cast<unsigned char>(text[0]) < 0x80;
}

bool IsOneChar(const std::string& text) {
  if (text.empty()) return false;
  const auto lead = static_cast<unsigned char>(text[0]);
  const size_t length = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
  return length == text.size();
}

absl::StatusOr<CompiledChain> Compile(const std::optional<std::vector<DecoderStep>>& decoder,
                                      const std::string& path) {
  CompiledChain chain;
  if (!decoder.has_value()) {
    chain.join_with_spaces = true;
    chain.rule = LeadingSpaceRule::kStripOne;
    return chain;
  }
  auto error = [&path](const DecoderStep& step, const std::string& why) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", step.json_path, " cannot be decoded piece by piece (", why, ")"));
  };
  bool fused = false, byte_fallback = false, first_rule = false;
  for (const DecoderStep& step : *decoder) {
    switch (step.kind) {
      case DecoderKind::kReplace:
        if (fused && !IsOneChar(step.pattern)) {
          return error(step, "a Replace after Fuse must replace one character");
        }
        if (byte_fallback && !IsOneAsciiChar(step.pattern)) {
          return error(step, "a Replace after ByteFallback must replace one ASCII character");
        }
        chain.per_token.push_back(&step);
        break;
      case DecoderKind::kByteFallback:
        if (fused) return error(step, "ByteFallback after Fuse");
        if (first_rule) return error(step, "ByteFallback after Metaspace");
        byte_fallback = true;
        chain.per_token.push_back(&step);
        break;
      case DecoderKind::kFuse:
        fused = true;
        break;
      case DecoderKind::kStrip:
        if (!fused) {
          if (byte_fallback) return error(step, "a Strip of each token after ByteFallback");
          chain.per_token.push_back(&step);
          break;
        }
        if (step.content != " " || step.start > 1 || step.stop != 0 || first_rule) {
          return error(step, "after Fuse only Strip(\" \", start 0 or 1, stop 0) is supported");
        }
        if (step.start == 1) chain.rule = LeadingSpaceRule::kStripOne;
        first_rule = step.start == 1;
        break;
      case DecoderKind::kMetaspace:
        if (fused) return error(step, "Metaspace after Fuse");
        if (byte_fallback) return error(step, "Metaspace after ByteFallback");
        if (step.prepend_scheme != PrependScheme::kNever) {
          if (first_rule) return error(step, "two rules for the start of the text");
          first_rule = true;
          chain.rule = LeadingSpaceRule::kFirstPieceOwnText;
        }
        chain.per_token.push_back(&step);
        break;
    }
  }
  return chain;
}

// tokenizers reads "<0xHH>" with Rust's u8::from_str_radix (which also takes "+H").
std::optional<char> ParseByteToken(const std::string& token) {
  if (token.size() != 6 || token.compare(0, 3, "<0x") != 0 || token[5] != '>') {
    return std::nullopt;
  }
  int value = 0;
  for (size_t i = token[3] == '+' ? 4 : 3; i < 5; ++i) {
    const char c = token[i];
    int digit;
    if (c >= '0' && c <= '9') {
      digit = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      digit = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      digit = c - 'A' + 10;
    } else {
      return std::nullopt;
    }
    value = value * 16 + digit;
  }
  return static_cast<char>(value);
}

std::string StripChars(std::string text, const std::string& content, int64_t start, int64_t stop) {
  for (int64_t i = 0; i < start && text.starts_with(content); ++i) text.erase(0, content.size());
  for (int64_t i = 0; i < stop && text.ends_with(content); ++i) {
    text.resize(text.size() - content.size());
  }
  return text;
}

// What `token` decodes to on its own (and, for kFirstPieceOwnText, as the first token).
void DecodePiece(const CompiledChain& chain, const std::string& token, Piece& piece,
                 std::string& first_text) {
  std::string text = chain.join_with_spaces ? " " + token : token;
  first_text = text;
  std::optional<char> byte;
  for (const DecoderStep* step : chain.per_token) {
    if (byte.has_value()) continue;  // only ASCII Replace may follow; ASCII bytes became text
    switch (step->kind) {
      case DecoderKind::kReplace:
        text = absl::StrReplaceAll(text, {{step->pattern, step->content}});
        first_text = absl::StrReplaceAll(first_text, {{step->pattern, step->content}});
        break;
      case DecoderKind::kStrip:
        text = StripChars(std::move(text), step->content, step->start, step->stop);
        first_text = StripChars(std::move(first_text), step->content, step->start, step->stop);
        break;
      case DecoderKind::kMetaspace:
        text = absl::StrReplaceAll(text, {{step->replacement, " "}});
        first_text = absl::StrReplaceAll(
            first_text,
            {{step->replacement, step->prepend_scheme == PrependScheme::kNever ? " " : ""}});
        break;
      case DecoderKind::kByteFallback:
        byte = ParseByteToken(text);
        if (byte.has_value() && static_cast<unsigned char>(*byte) < 0x80) {
          // A lone ASCII byte is a whole character: decode it as text, so the start rule and later
          // one-character Replace steps see it as tokenizers does.
          text.assign(1, *byte);
          first_text = text;
          byte.reset();
        }
        break;
      case DecoderKind::kFuse:
        break;
    }
  }
  if (byte.has_value()) {
    piece.kind = PieceKind::kByte;
    piece.bytes.assign(1, *byte);
    first_text = piece.bytes;
  } else {
    piece.kind = PieceKind::kText;
    piece.bytes = std::move(text);
  }
}

}  // namespace

absl::StatusOr<TokenizerJsonTable> BuildTokenizerJsonTable(const TokenizerJsonSpec& spec,
                                                           const std::string& path) {
  JAMBA_ASSIGN_OR_RETURN(CompiledChain chain, Compile(spec.decoder, path));
  int64_t size = 0;
  absl::flat_hash_map<std::string, int32_t> vocab;
  for (const auto& [piece, id] : spec.model.vocab) {
    size = std::max<int64_t>(size, id + 1);
    vocab.emplace(piece, id);
  }
  TokenizerJsonTable result;
  result.names.resize(size);
  for (const auto& [piece, id] : spec.model.vocab) result.names[id] = piece;

  // Added tokens: the id tokenizers gives each (its vocabulary id, else the next free one).
  const auto vocab_size = static_cast<int64_t>(spec.model.vocab.size());
  int64_t max_added = -1;
  absl::flat_hash_map<std::string, int32_t> added;
  const TextNormalizer normalizer(spec.normalizer);
  for (size_t i = 0; i < spec.added_tokens.size(); ++i) {
    const AddedTokenSpec& token = spec.added_tokens[i];
    const std::string at = absl::StrCat(path, ": added_tokens[", i, "] \"", token.content, "\"");
    if (added.contains(token.content)) return absl::InvalidArgumentError(at + " is listed twice");
    int64_t expected;
    if (auto it = vocab.find(token.content); it != vocab.end()) {
      expected = it->second;
    } else if (max_added < 0) {
      expected = vocab_size;
    } else {
      expected = max_added >= vocab_size || vocab_size == 0 ? max_added + 1 : vocab_size;
    }
    if (token.id != expected) {
      return absl::InvalidArgumentError(absl::StrCat(
          at, " has id ", token.id, " but Hugging Face's tokenizers gives it id ", expected));
    }
    max_added = std::max(max_added, expected);
    added.emplace(token.content, token.id);
    if (token.id >= size) {
      size = token.id + 1;
      result.names.resize(size);
    }
    // tokenizers keeps a normalized token under its normalized text: that is what it decodes
    // to and what id_to_token says ("<think>" with a Prepend normalizer: "▁<think>").
    result.names[token.id] = token.normalized ? normalizer.Normalize(token.content) : token.content;
  }

  PieceTable& table = result.table;
  table.pieces.resize(size);
  table.leading_space_rule = chain.rule;
  table.specials_follow_text_rules = true;
  if (chain.rule == LeadingSpaceRule::kFirstPieceOwnText) table.first_piece_bytes.resize(size);
  std::string first_text;
  for (int64_t id = 0; id < size; ++id) {
    if (result.names[id].empty()) continue;  // kAbsent
    DecodePiece(chain, result.names[id], table.pieces[id], first_text);
    if (!table.first_piece_bytes.empty()) table.first_piece_bytes[id] = std::move(first_text);
  }
  for (const AddedTokenSpec& token : spec.added_tokens) {
    if (token.special) table.pieces[token.id].special = true;
  }
  return result;
}

}  // namespace jamba::engine
