// Tokenizer: loads tokenizer.json (tokenizer_json*.h) or tokenizer.model (through SpmProcessor:
// SentencePiece stays behind that wrapper) and the Hugging Face special-token files into a
// PieceTable for decoding and a TextEncoder for encoding, and resolves the BOS/EOS/PAD ids.
#include "engine/text/tokenizer.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/file_util.h"
#include "engine/sha256.h"
#include "engine/status_macros.h"
#include "engine/text/special_token_files.h"
#include "engine/text/special_token_matcher.h"
#include "engine/text/spm_encoder.h"
#include "engine/text/spm_processor.h"
#include "engine/text/tokenizer_json_decoder.h"
#include "engine/text/tokenizer_json_encoder.h"
#include "engine/text/utf8.h"

namespace jamba::engine {
namespace {

constexpr char kModelFile[] = "tokenizer.model";
constexpr char kJsonFile[] = "tokenizer.json";
constexpr std::string_view kSpaceMarker = "\xE2\x96\x81";  // U+2581, SentencePiece's space
// Tags of a completion's structure that chat output parsers read: shown in decoded text even when
// the tokenizer calls them special.
constexpr std::string_view kOutputMarkupTags[] = {"<think>",      "</think>",     "<tool_call>",
                                                  "</tool_call>", "<tool_calls>", "</tool_calls>"};
// Bounds the table a malformed added_tokens_decoder could make us allocate.
constexpr int64_t kMaxAddedTokens = 1 << 20;

// Replaces every U+2581 with a space.
std::string SpaceMarkersToSpaces(std::string_view piece) {
  std::string text;
  text.reserve(piece.size());
  while (!piece.empty()) {
    if (piece.substr(0, kSpaceMarker.size()) == kSpaceMarker) {
      text.push_back(' ');
      piece.remove_prefix(kSpaceMarker.size());
    } else {
      text.push_back(piece.front());
      piece.remove_prefix(1);
    }
  }
  return text;
}

// The byte of a byte-fallback piece "<0xHH>".
std::optional<char> ParseBytePiece(const std::string& piece) {
  if (piece.size() != 6 || piece.compare(0, 3, "<0x") != 0 || piece[5] != '>') return std::nullopt;
  int value = 0;
  for (int i = 3; i < 5; ++i) {
    const char c = piece[i];
    int digit = 0;
    if (c >= '0' && c <= '9') {
      digit = c - '0';
    } else if (c >= 'A' && c <= 'F') {
      digit = c - 'A' + 10;
    } else if (c >= 'a' && c <= 'f') {
      digit = c - 'a' + 10;
    } else {
      return std::nullopt;
    }
    value = value * 16 + digit;
  }
  return static_cast<char>(value);
}

size_t CountLeadingSpaces(std::string_view text) {
  const size_t first = text.find_first_not_of(' ');
  return first == std::string_view::npos ? text.size() : first;
}

// Measures, on the loaded library, the leading-space rule the piece table needs: decode a piece
// that starts with one space marker (P) alone, then after a whitespace-only piece (W), or else a
// piece starting with several markers.
LeadingSpaceRule MeasureLeadingSpaceRule(const SpmProcessor& spm, const PieceTable& table) {
  std::optional<int32_t> one_space, whitespace_only, many_spaces;
  for (int32_t id = 0; id < spm.num_pieces(); ++id) {
    const Piece& piece = table.pieces[id];
    if (piece.kind != PieceKind::kText || piece.special || piece.bytes.empty()) continue;
    const size_t spaces = CountLeadingSpaces(piece.bytes);
    if (spaces == piece.bytes.size()) {
      if (!whitespace_only) whitespace_only = id;
    } else if (spaces == 1) {
      if (!one_space) one_space = id;
    } else if (spaces >= 2) {
      if (!many_spaces) many_spaces = id;
    }
  }
  auto decode_alone = [&spm](std::initializer_list<int32_t> ids) {
    return spm.Decode(std::span<const int32_t>(ids.begin(), ids.size()));
  };
  auto without_spaces = [&table](int32_t id) {
    const std::string& text = table.pieces[id].bytes;
    return text.substr(CountLeadingSpaces(text));
  };
  if (one_space.has_value() && decode_alone({*one_space}) == table.pieces[*one_space].bytes) {
    return LeadingSpaceRule::kKeep;
  }
  if (one_space.has_value() && whitespace_only.has_value()) {
    return decode_alone({*whitespace_only, *one_space}) == without_spaces(*one_space)
               ? LeadingSpaceRule::kStripAllLeading
               : LeadingSpaceRule::kStripOne;
  }
  if (many_spaces.has_value()) {
    return decode_alone({*many_spaces}) == without_spaces(*many_spaces)
               ? LeadingSpaceRule::kStripAllLeading
               : LeadingSpaceRule::kStripOne;
  }
  return LeadingSpaceRule::kStripOne;  // the two differ on no sequence
}

}  // namespace

Tokenizer::Tokenizer(PrivateTag) {}
Tokenizer::~Tokenizer() = default;

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::Load(const std::string& model_dir,
                                                           const ModelConfig& config) {
  const std::string json_path = JoinPath(model_dir, kJsonFile);
  if (FileExists(json_path)) return LoadTokenizerJson(model_dir, json_path, config);
  const std::string model_path = JoinPath(model_dir, kModelFile);
  if (!FileExists(model_path)) {
    return absl::NotFoundError(absl::StrCat(model_dir, ": no ", kJsonFile, " or ", kModelFile,
                                            "; only token ids can be used"));
  }
  JAMBA_ASSIGN_OR_RETURN(std::string model_bytes, ReadFileToString(model_path));
  std::string spm_error;
  std::unique_ptr<SpmProcessor> spm = SpmProcessor::Load(model_bytes, spm_error);
  if (spm == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(model_path, ": not a SentencePiece model: ", spm_error));
  }
  JAMBA_ASSIGN_OR_RETURN(SpecialTokenSettings settings, ReadSpecialTokenFiles(model_dir));
  auto tokenizer = std::make_unique<Tokenizer>(PrivateTag());
  JAMBA_RETURN_IF_ERROR(tokenizer->BuildSentencePieceTable(*spm, model_path, settings));
  std::optional<int32_t> spm_eos;
  if (spm->eos_id() >= 0) spm_eos = spm->eos_id();
  JAMBA_RETURN_IF_ERROR(tokenizer->ResolveSpecialIds(model_dir, config, settings, spm_eos));
  JAMBA_RETURN_IF_ERROR(tokenizer->MeasureSentencePieceRules(*spm, model_path));
  JAMBA_ASSIGN_OR_RETURN(tokenizer->encoder_,
                         SpmEncoder::Create(model_bytes, tokenizer->table_, model_path));
  tokenizer->BuildSpecialMatcher();
  tokenizer->kind_ = "sentencepiece";
  JAMBA_ASSIGN_OR_RETURN(tokenizer->content_hash_, tokenizer->ComputeContentHash(model_bytes));
  if (tokenizer->bos_id_ >= 0) tokenizer->bos_prefix_ = {tokenizer->bos_id_};
  return tokenizer;
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::LoadTokenizerJson(
    const std::string& model_dir, const std::string& path, const ModelConfig& config) {
  JAMBA_ASSIGN_OR_RETURN(std::string bytes, ReadFileToString(path));
  JAMBA_ASSIGN_OR_RETURN(TokenizerJsonSpec spec, ParseTokenizerJson(bytes, path));
  JAMBA_ASSIGN_OR_RETURN(SpecialTokenSettings settings, ReadSpecialTokenFiles(model_dir));
  JAMBA_ASSIGN_OR_RETURN(TokenizerJsonTable built, BuildTokenizerJsonTable(spec, path));
  auto tokenizer = std::make_unique<Tokenizer>(PrivateTag());
  tokenizer->kind_ = kJsonFile;
  tokenizer->table_ = std::move(built.table);
  tokenizer->piece_names_ = std::move(built.names);
  JAMBA_ASSIGN_OR_RETURN(std::vector<AddedTokenSpec> extra,
                         tokenizer->ApplySideFileAddedTokens(settings, spec));
  JAMBA_RETURN_IF_ERROR(tokenizer->ResolveSpecialIds(model_dir, config, settings, std::nullopt));

  // The encoder matches tokenizer.json's added tokens, those of the side files, and every other
  // special piece (transformers registers the side files' special tokens as added tokens).
  std::vector<AddedTokenSpec> added = spec.added_tokens;
  added.insert(added.end(), extra.begin(), extra.end());
  std::set<int32_t> listed;
  for (const AddedTokenSpec& token : added) listed.insert(token.id);
  for (int32_t id = 0; id < tokenizer->num_pieces(); ++id) {
    if (tokenizer->table_.pieces[id].special && !listed.contains(id) &&
        !tokenizer->piece_names_[id].empty()) {
      added.push_back({.id = id, .content = tokenizer->piece_names_[id], .special = true});
    }
  }
  auto encoder = TokenizerJsonEncoder::Create(spec, added, path);
  if (!encoder.ok()) return encoder.status();
  tokenizer->encoder_ = *std::move(encoder);
  tokenizer->BuildSpecialMatcher();

  if (spec.post_processor.has_value()) {
    for (const std::vector<int32_t>* ids :
         {&spec.post_processor->prefix, &spec.post_processor->suffix}) {
      for (int32_t id : *ids) {
        if (id >= tokenizer->num_pieces()) {
          return absl::InvalidArgumentError(absl::StrCat(
              path, ": post_processor.special_tokens has id ", id, ", which is not a piece"));
        }
      }
    }
    tokenizer->bos_prefix_ = spec.post_processor->prefix;
    tokenizer->bos_suffix_ = spec.post_processor->suffix;
  } else if (tokenizer->bos_id_ >= 0) {
    tokenizer->bos_prefix_ = {tokenizer->bos_id_};
  }
  // Does a lone word come out as a word start (decoding with a leading space after other text)?
  std::vector<int32_t> probe;
  const TextSegment x{"x", false};
  JAMBA_RETURN_IF_ERROR(tokenizer->encoder_->Encode({&x, 1}, -1, probe));
  tokenizer->adds_space_prefix_ =
      !probe.empty() && tokenizer->table_.pieces[probe.front()].bytes.starts_with(' ');
  JAMBA_ASSIGN_OR_RETURN(tokenizer->content_hash_, tokenizer->ComputeContentHash(bytes));
  return tokenizer;
}

absl::StatusOr<std::vector<AddedTokenSpec>> Tokenizer::ApplySideFileAddedTokens(
    const SpecialTokenSettings& settings, const TokenizerJsonSpec& spec) {
  std::vector<AddedTokenSpec> extra;
  const int64_t json_pieces = num_pieces();
  int64_t total = json_pieces;
  for (const AddedToken& added : settings.added) {
    if (added.id >= json_pieces + kMaxAddedTokens) {
      return FileFieldError(added.path, absl::StrCat("added_tokens_decoder.", added.id),
                            "is implausibly large for a token id");
    }
    total = std::max(total, added.id + 1);
  }
  table_.pieces.resize(total);
  piece_names_.resize(total);
  if (!table_.first_piece_bytes.empty()) table_.first_piece_bytes.resize(total);
  for (const AddedToken& added : settings.added) {
    Piece& piece = table_.pieces[added.id];
    const std::string field = absl::StrCat("added_tokens_decoder.", added.id);
    if (added.id < json_pieces && !piece_names_[added.id].empty()) {
      if (piece_names_[added.id] != added.content) {
        return FileFieldError(added.path, field,
                              absl::StrCat("is '", added.content, "' but ", kJsonFile, " has '",
                                           piece_names_[added.id], "' at that id"));
      }
    } else {
      piece.kind = PieceKind::kText;
      piece.bytes = added.content;
      piece_names_[added.id] = added.content;
      if (!table_.first_piece_bytes.empty()) table_.first_piece_bytes[added.id] = added.content;
      extra.push_back({.id = static_cast<int32_t>(added.id),
                       .content = added.content,
                       .special = added.special});
      added_pieces_.emplace_back(static_cast<int32_t>(added.id), added.content);
    }
    piece.special = piece.special || added.special;
  }
  // Added tokens first: their names win over a model piece spelled the same.
  for (const AddedTokenSpec& token : spec.added_tokens) piece_ids_.emplace(token.content, token.id);
  for (const auto& [id, content] : added_pieces_) piece_ids_.emplace(content, id);
  for (int32_t id = 0; id < num_pieces(); ++id) {
    if (!piece_names_[id].empty()) piece_ids_.emplace(piece_names_[id], id);
  }
  return extra;
}

absl::Status Tokenizer::BuildSentencePieceTable(const SpmProcessor& spm,
                                                const std::string& model_path,
                                                const SpecialTokenSettings& settings) {
  const int32_t model_pieces = spm.num_pieces();
  int64_t total_pieces = model_pieces;
  for (const AddedToken& added : settings.added) {
    if (added.id >= model_pieces + kMaxAddedTokens) {
      return FileFieldError(added.path, absl::StrCat("added_tokens_decoder.", added.id),
                            "is implausibly large for a token id");
    }
    total_pieces = std::max(total_pieces, added.id + 1);
  }
  table_.pieces.resize(total_pieces);
  piece_names_.resize(total_pieces);
  for (int32_t id = 0; id < model_pieces; ++id) {
    Piece& piece = table_.pieces[id];
    const std::string& text = spm.IdToPiece(id);
    piece_names_[id] = text;
    switch (spm.Kind(id)) {
      case SpmPieceKind::kNormal:
      case SpmPieceKind::kUnused:
        piece.kind = PieceKind::kText;
        piece.bytes = SpaceMarkersToSpaces(text);
        break;
      case SpmPieceKind::kByte:
        if (std::optional<char> byte = ParseBytePiece(text); byte.has_value()) {
          piece.kind = PieceKind::kByte;
          piece.bytes.assign(1, *byte);
        } else {
          return absl::InvalidArgumentError(
              absl::StrCat(model_path, ": byte piece ", id, " is '", text, "', not <0xHH>"));
        }
        break;
      case SpmPieceKind::kControl:
        piece.kind = PieceKind::kControl;
        piece.bytes = text;
        piece.special = true;
        break;
      case SpmPieceKind::kUnknown:
        piece.kind = PieceKind::kUnknown;
        piece.bytes = text;
        piece.special = true;
        break;
    }
  }
  for (const AddedToken& added : settings.added) {
    Piece& piece = table_.pieces[added.id];
    if (added.id < model_pieces) {
      const std::string& text = spm.IdToPiece(static_cast<int32_t>(added.id));
      if (text != added.content) {
        return FileFieldError(added.path, absl::StrCat("added_tokens_decoder.", added.id),
                              absl::StrCat("is '", added.content, "' but ", kModelFile, " has '",
                                           text, "' at that id"));
      }
    } else {
      piece.kind = PieceKind::kText;
      piece.bytes = added.content;
      piece_names_[added.id] = added.content;
      added_pieces_.emplace_back(static_cast<int32_t>(added.id), added.content);
    }
    piece.special = piece.special || added.special;
  }
  // Added tokens first: their names win over a model piece spelled the same.
  for (const auto& [id, content] : added_pieces_) piece_ids_.emplace(content, id);
  for (int32_t id = 0; id < model_pieces; ++id) piece_ids_.emplace(piece_names_[id], id);

  return absl::OkStatus();
}

absl::Status Tokenizer::MeasureSentencePieceRules(const SpmProcessor& spm,
                                                  const std::string& model_path) {
  table_.leading_space_rule = MeasureLeadingSpaceRule(spm, table_);
  std::string spm_error;
  // add_dummy_prefix: does a lone word come out as a word start?
  std::vector<int32_t> probe;
  if (!spm.Encode("x", probe, spm_error)) {
    return absl::InvalidArgumentError(absl::StrCat(model_path, ": cannot encode: ", spm_error));
  }
  adds_space_prefix_ = !probe.empty() && spm.IdToPiece(probe.front()).starts_with(kSpaceMarker);
  return absl::OkStatus();
}

absl::Status Tokenizer::ResolveSpecialIds(const std::string& model_dir, const ModelConfig& config,
                                          const SpecialTokenSettings& settings,
                                          std::optional<int32_t> format_eos) {
  // Tokens named in the JSON files must be pieces.
  auto resolve = [this](const NamedToken& token) -> absl::StatusOr<int32_t> {
    std::optional<int32_t> id = PieceToId(token.content);
    if (!id.has_value()) {
      return FileFieldError(
          token.path, token.field,
          absl::StrCat("is '", token.content, "', which is not a piece of the tokenizer"));
    }
    return *id;
  };
  std::vector<int32_t> special_ids;
  std::optional<int32_t> tokenizer_eos;
  for (const std::optional<NamedToken>* named :
       {&settings.bos, &settings.eos, &settings.pad, &settings.unk}) {
    if (!named->has_value()) continue;
    JAMBA_ASSIGN_OR_RETURN(int32_t id, resolve(**named));
    special_ids.push_back(id);
    if (named == &settings.eos) tokenizer_eos = id;
  }
  for (const NamedToken& named : settings.additional) {
    JAMBA_ASSIGN_OR_RETURN(int32_t id, resolve(named));
    special_ids.push_back(id);
  }
  if (!tokenizer_eos.has_value()) tokenizer_eos = format_eos;

  // BOS / EOS / PAD ids: generation_config.json, else config.json.
  auto check_id = [this](int64_t id, const std::string& source,
                         const std::string& field) -> absl::StatusOr<int32_t> {
    if (id < 0) return -1;
    if (id >= num_pieces()) {
      return FileFieldError(
          source, field,
          absl::StrCat("is ", id, ", outside the tokenizer's ", num_pieces(), " pieces"));
    }
    return static_cast<int32_t>(id);
  };
  const std::string config_path = JoinPath(model_dir, "config.json");
  const std::string& generation_path = settings.generation_config_path;
  JAMBA_ASSIGN_OR_RETURN(bos_id_,
                         settings.generation_bos.has_value()
                             ? check_id(*settings.generation_bos, generation_path, "bos_token_id")
                             : check_id(config.bos_token_id, config_path, "bos_token_id"));
  JAMBA_ASSIGN_OR_RETURN(pad_id_,
                         settings.generation_pad.has_value()
                             ? check_id(*settings.generation_pad, generation_path, "pad_token_id")
                             : check_id(config.pad_token_id, config_path, "pad_token_id"));
  const bool eos_from_generation = settings.generation_eos.has_value();
  for (int64_t candidate : eos_from_generation ? *settings.generation_eos : config.eos_token_ids) {
    JAMBA_ASSIGN_OR_RETURN(
        int32_t id,
        check_id(candidate, eos_from_generation ? generation_path : config_path, "eos_token_id"));
    if (id >= 0 && !IsEos(id)) eos_ids_.push_back(id);
  }
  if (tokenizer_eos.has_value() && !IsEos(*tokenizer_eos)) eos_ids_.push_back(*tokenizer_eos);

  special_ids.insert(special_ids.end(), eos_ids_.begin(), eos_ids_.end());
  for (int32_t id : {bos_id_, pad_id_}) {
    if (id >= 0) special_ids.push_back(id);
  }
  for (int32_t id : special_ids) table_.pieces[id].special = true;
  for (Piece& piece : table_.pieces) {
    if (!piece.special) continue;
    for (std::string_view tag : kOutputMarkupTags) piece.markup |= piece.bytes == tag;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> Tokenizer::ComputeContentHash(const std::string& model_bytes) const {
  // Everything decided from the JSON files, in a canonical text form.
  std::vector<int32_t> all_special;
  for (int64_t id = 0; id < num_pieces(); ++id) {
    if (table_.pieces[id].special) all_special.push_back(static_cast<int32_t>(id));
  }
  std::string settings =
      absl::StrCat("bos=", bos_id_, "\neos=", absl::StrJoin(eos_ids_, ","), "\npad=", pad_id_,
                   "\nspecial=", absl::StrJoin(all_special, ","), "\n");
  std::set<std::pair<int32_t, std::string>> added(added_pieces_.begin(), added_pieces_.end());
  for (const auto& [id, content] : added) {
    absl::StrAppend(&settings, "added=", id, ":", content.size(), ":", content, "\n");
  }
  Sha256 hash;
  // tokenizer.model keeps the original form (persisted sessions are bound to it).
  hash.Update(kind_ == kJsonFile ? "jamba-tokenizer-json-v1\n" : "jamba-tokenizer-v1\n");
  hash.Update(absl::StrCat(model_bytes.size(), "\n"));
  hash.Update(model_bytes);
  hash.Update(settings);
  return hash.HexDigest();
}

absl::StatusOr<std::vector<int32_t>> Tokenizer::Encode(std::string_view text,
                                                       const EncodeOptions& options) const {
  const TextSegment segment{text, options.parse_special};
  return Encode(std::span<const TextSegment>(&segment, 1), options);
}

absl::StatusOr<std::vector<int32_t>> Tokenizer::Encode(std::span<const TextSegment> segments,
                                                       const EncodeOptions& options) const {
  size_t offset = 0;
  for (const TextSegment& segment : segments) {
    if (const size_t bad = FindInvalidUtf8(segment.text); bad != std::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("text to encode is not valid UTF-8 (byte offset ", offset + bad, ")"));
    }
    offset += segment.text.size();
  }
  std::vector<int32_t> ids;
  if (options.add_bos) {
    if (bos_prefix_.empty() && bos_suffix_.empty()) {
      return absl::FailedPreconditionError("the model has no BOS token");
    }
    ids = bos_prefix_;
  }
  const int64_t budget =
      options.max_tokens < 0 ? -1 : std::max<int64_t>(0, options.max_tokens - ids.size());
  std::vector<std::string> storage;
  const std::vector<TextSegment> normalized = SpanSpecialTokens(segments, storage);
  JAMBA_RETURN_IF_ERROR(encoder_->Encode(normalized, budget, ids));
  if (options.add_bos) ids.insert(ids.end(), bos_suffix_.begin(), bos_suffix_.end());
  return ids;
}

std::vector<TextSegment> Tokenizer::SpanSpecialTokens(std::span<const TextSegment> segments,
                                                      std::vector<std::string>& storage) const {
  // Only a special token that begins in markup and runs on into user data needs work: chat
  // templates build tags from fixed names ("<|" ~ role ~ "|>"), and those are markup.
  bool mixed = false;
  for (size_t i = 0; i + 1 < segments.size() && !mixed; ++i) {
    mixed = segments[i].parse_special && !segments[i + 1].parse_special;
  }
  if (!mixed || special_matcher_.empty()) {
    return std::vector<TextSegment>(segments.begin(), segments.end());
  }
  std::string text;
  std::vector<bool> markup;  // per byte
  for (const TextSegment& segment : segments) {
    text.append(segment.text);
    markup.insert(markup.end(), segment.text.size(), segment.parse_special);
  }
  for (size_t from = 0;;) {
    const std::optional<SpecialTokenMatcher::Match> match = special_matcher_.FindNext(text, from);
    if (!match.has_value()) break;
    if (markup[match->begin]) {
      std::fill(markup.begin() + match->begin, markup.begin() + match->begin + match->length, true);
      from = match->begin + match->length;
    } else {
      from = match->begin + 1;  // begins in user data: never a token
    }
  }
  // The same text, cut where the flag changes.
  std::vector<TextSegment> out;
  storage.push_back(std::move(text));
  const std::string_view all = storage.back();
  for (size_t begin = 0; begin < all.size();) {
    size_t end = begin;
    while (end < all.size() && markup[end] == markup[begin]) ++end;
    out.push_back({all.substr(begin, end - begin), static_cast<bool>(markup[begin])});
    begin = end;
  }
  return out;
}

void Tokenizer::BuildSpecialMatcher() {
  std::vector<std::pair<std::string, int32_t>> specials;
  for (int64_t id = 0; id < num_pieces(); ++id) {
    const Piece& piece = table_.pieces[id];
    if (piece.special && !piece.bytes.empty()) {
      specials.emplace_back(piece.bytes, static_cast<int32_t>(id));
    }
  }
  special_matcher_ = SpecialTokenMatcher(specials);
}

std::string Tokenizer::Decode(std::span<const int32_t> ids, bool skip_special_tokens) const {
  return table_.Decode(ids, skip_special_tokens);
}

std::string Tokenizer::IdToPiece(int32_t id) const {
  if (id < 0 || id >= num_pieces()) return "";
  return piece_names_[id];
}

std::optional<int32_t> Tokenizer::PieceToId(std::string_view piece) const {
  auto it = piece_ids_.find(std::string(piece));
  if (it == piece_ids_.end()) return std::nullopt;
  return it->second;
}

bool Tokenizer::IsEos(int32_t id) const {
  return std::find(eos_ids_.begin(), eos_ids_.end(), id) != eos_ids_.end();
}

bool Tokenizer::IsSpecial(int32_t id) const {
  return id >= 0 && id < num_pieces() && table_.pieces[id].special;
}

}  // namespace jamba::engine
