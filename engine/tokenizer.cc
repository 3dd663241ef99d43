// Loads tokenizer.model through SpmProcessor (SentencePiece stays behind that wrapper) and the
// Hugging Face special-token files. Decoding is done here, piece by piece from a table built at
// load time, so that StreamDecoder can continue a decode one token at a time with exactly the
// result of Decode.
#include "engine/tokenizer.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/file_util.h"
#include "engine/sha256.h"
#include "engine/spm_processor.h"
#include "engine/status_macros.h"
#include "engine/utf8.h"
#include "nlohmann/json.hpp"

namespace jamba::engine {
namespace {

using Json = nlohmann::json;

constexpr char kModelFile[] = "tokenizer.model";
constexpr char kTokenizerConfigFile[] = "tokenizer_config.json";
constexpr char kSpecialTokensMapFile[] = "special_tokens_map.json";
constexpr char kGenerationConfigFile[] = "generation_config.json";
constexpr std::string_view kSpaceMarker = "\xE2\x96\x81";  // U+2581, SentencePiece's space
// Bounds the table a malformed added_tokens_decoder could make us allocate.
constexpr int64_t kMaxAddedTokens = 1 << 20;

// The parsed JSON object in <dir>/<name>, or null when the file does not exist.
absl::StatusOr<Json> ReadOptionalJsonObject(const std::string& dir, const char* name) {
  const std::string path = JoinPath(dir, name);
  if (!FileExists(path)) return Json();
  JAMBA_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  Json json = Json::parse(text, /*cb=*/nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": malformed JSON"));
  }
  if (!json.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": expected a JSON object"));
  }
  return json;
}

absl::Status FileFieldError(const std::string& path, const std::string& field,
                            const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": '", field, "' ", what));
}

// A token given as "text" or {"content": "text", ...}; nullopt when absent or null.
absl::StatusOr<std::optional<std::string>> ReadTokenContent(const Json& value,
                                                            const std::string& path,
                                                            const std::string& field) {
  if (value.is_null()) return std::nullopt;
  if (value.is_string()) return value.get<std::string>();
  if (value.is_object()) {
    auto content = value.find("content");
    if (content != value.end() && content->is_string()) return content->get<std::string>();
  }
  return FileFieldError(path, field,
                        absl::StrCat("must be a string or {\"content\": ...}, got ", value.dump()));
}

// A token id given as an integer; nullopt when absent or null.
absl::StatusOr<std::optional<int64_t>> ReadTokenId(const Json& object, const std::string& path,
                                                   const std::string& field) {
  auto it = object.find(field);
  if (it == object.end() || it->is_null()) return std::nullopt;
  if (!it->is_number_integer()) {
    return FileFieldError(path, field, absl::StrCat("must be an integer, got ", it->dump()));
  }
  return it->get<int64_t>();
}

}  // namespace

namespace tokenizer_internal {

// A special token named by one of the JSON files, and which file named it (for errors).
struct NamedToken {
  std::string content;
  std::string path;
  std::string field;
};

struct AddedToken {
  int64_t id = 0;
  std::string content;
  bool special = false;
  std::string path;  // the file that lists it
};

// Everything the JSON files say about special tokens.
struct SpecialTokenSettings {
  std::optional<NamedToken> bos, eos, pad, unk;
  std::vector<NamedToken> additional;
  std::vector<AddedToken> added;
  std::string generation_config_path;
  std::optional<int64_t> generation_bos, generation_pad;
  std::optional<std::vector<int64_t>> generation_eos;
};

}  // namespace tokenizer_internal

namespace {

using tokenizer_internal::AddedToken;
using tokenizer_internal::NamedToken;
using tokenizer_internal::SpecialTokenSettings;

// Reads bos/eos/pad/unk and additional_special_tokens from a tokenizer_config.json or
// special_tokens_map.json object; fields already set (by a file read earlier) are kept.
absl::Status ReadNamedTokens(const Json& json, const std::string& path,
                             SpecialTokenSettings& settings) {
  const std::pair<const char*, std::optional<NamedToken>*> fields[] = {
      {"bos_token", &settings.bos},
      {"eos_token", &settings.eos},
      {"pad_token", &settings.pad},
      {"unk_token", &settings.unk}};
  for (const auto& [field, target] : fields) {
    auto it = json.find(field);
    if (it == json.end() || target->has_value()) continue;
    JAMBA_ASSIGN_OR_RETURN(std::optional<std::string> content, ReadTokenContent(*it, path, field));
    if (content.has_value()) *target = NamedToken{*content, path, field};
  }
  auto additional = json.find("additional_special_tokens");
  if (additional != json.end() && !additional->is_null()) {
    if (!additional->is_array()) {
      return FileFieldError(path, "additional_special_tokens", "must be a list");
    }
    for (const Json& entry : *additional) {
      JAMBA_ASSIGN_OR_RETURN(std::optional<std::string> content,
                             ReadTokenContent(entry, path, "additional_special_tokens"));
      if (content.has_value()) {
        settings.additional.push_back({*content, path, "additional_special_tokens"});
      }
    }
  }
  return absl::OkStatus();
}

// added_tokens_decoder: {"<id>": {"content": "...", "special": true, ...}, ...}.
absl::Status ReadAddedTokens(const Json& json, const std::string& path,
                             SpecialTokenSettings& settings) {
  auto decoder = json.find("added_tokens_decoder");
  if (decoder == json.end() || decoder->is_null()) return absl::OkStatus();
  if (!decoder->is_object())
    return FileFieldError(path, "added_tokens_decoder", "must be an object");
  for (const auto& [key, entry] : decoder->items()) {
    const std::string field = absl::StrCat("added_tokens_decoder.", key);
    AddedToken token;
    token.path = path;
    if (!absl::SimpleAtoi(key, &token.id) || token.id < 0) {
      return FileFieldError(path, field, "is not a token id");
    }
    JAMBA_ASSIGN_OR_RETURN(std::optional<std::string> content,
                           ReadTokenContent(entry, path, field));
    if (!content.has_value()) return FileFieldError(path, field, "has no content");
    token.content = *content;
    if (entry.is_object()) {
      auto special = entry.find("special");
      if (special != entry.end() && !special->is_null()) {
        if (!special->is_boolean()) return FileFieldError(path, field, "'special' must be a bool");
        token.special = special->get<bool>();
      }
    }
    settings.added.push_back(std::move(token));
  }
  return absl::OkStatus();
}

absl::Status ReadGenerationConfig(const Json& json, const std::string& path,
                                  SpecialTokenSettings& settings) {
  settings.generation_config_path = path;
  JAMBA_ASSIGN_OR_RETURN(settings.generation_bos, ReadTokenId(json, path, "bos_token_id"));
  JAMBA_ASSIGN_OR_RETURN(settings.generation_pad, ReadTokenId(json, path, "pad_token_id"));
  auto eos = json.find("eos_token_id");
  if (eos == json.end() || eos->is_null()) return absl::OkStatus();
  std::vector<int64_t> ids;
  if (eos->is_number_integer()) {
    ids.push_back(eos->get<int64_t>());
  } else if (eos->is_array()) {
    for (const Json& id : *eos) {
      if (!id.is_number_integer()) {
        return FileFieldError(
            path, "eos_token_id",
            absl::StrCat("must be an integer or a list of integers, got ", eos->dump()));
      }
      ids.push_back(id.get<int64_t>());
    }
  } else {
    return FileFieldError(
        path, "eos_token_id",
        absl::StrCat("must be an integer or a list of integers, got ", eos->dump()));
  }
  settings.generation_eos = std::move(ids);
  return absl::OkStatus();
}

absl::StatusOr<SpecialTokenSettings> ReadSpecialTokenSettings(const std::string& dir) {
  SpecialTokenSettings settings;
  // tokenizer_config.json first: its values win over special_tokens_map.json's.
  for (const char* name : {kTokenizerConfigFile, kSpecialTokensMapFile}) {
    JAMBA_ASSIGN_OR_RETURN(Json json, ReadOptionalJsonObject(dir, name));
    if (json.is_null()) continue;
    const std::string path = JoinPath(dir, name);
    JAMBA_RETURN_IF_ERROR(ReadNamedTokens(json, path, settings));
    JAMBA_RETURN_IF_ERROR(ReadAddedTokens(json, path, settings));
  }
  JAMBA_ASSIGN_OR_RETURN(Json generation, ReadOptionalJsonObject(dir, kGenerationConfigFile));
  if (!generation.is_null()) {
    JAMBA_RETURN_IF_ERROR(
        ReadGenerationConfig(generation, JoinPath(dir, kGenerationConfigFile), settings));
  }
  return settings;
}

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

}  // namespace

Tokenizer::Tokenizer(PrivateTag) {}
Tokenizer::~Tokenizer() = default;

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::Load(const std::string& model_dir,
                                                           const ModelConfig& config) {
  const std::string model_path = JoinPath(model_dir, kModelFile);
  if (!FileExists(model_path)) {
    return absl::NotFoundError(absl::StrCat(model_dir, ": no ", kModelFile,
                                            " (SentencePiece model); only token ids can be used"));
  }
  JAMBA_ASSIGN_OR_RETURN(std::string model_bytes, ReadFileToString(model_path));
  std::string spm_error;
  std::unique_ptr<SpmProcessor> spm = SpmProcessor::Load(model_bytes, spm_error);
  if (spm == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(model_path, ": not a SentencePiece model: ", spm_error));
  }
  JAMBA_ASSIGN_OR_RETURN(SpecialTokenSettings settings, ReadSpecialTokenSettings(model_dir));

  auto tokenizer = std::make_unique<Tokenizer>(PrivateTag());
  tokenizer->spm_ = std::move(spm);
  JAMBA_RETURN_IF_ERROR(tokenizer->BuildPieceTable(model_path, settings));
  JAMBA_RETURN_IF_ERROR(tokenizer->ResolveSpecialIds(model_dir, config, settings));
  JAMBA_RETURN_IF_ERROR(tokenizer->MeasureSentencePieceRules(model_path));
  JAMBA_ASSIGN_OR_RETURN(tokenizer->content_hash_, tokenizer->ComputeContentHash(model_bytes));
  return tokenizer;
}

absl::Status Tokenizer::BuildPieceTable(const std::string& model_path,
                                        const SpecialTokenSettings& settings) {
  const int32_t model_pieces = spm_->num_pieces();
  int64_t total_pieces = model_pieces;
  for (const AddedToken& added : settings.added) {
    if (added.id >= model_pieces + kMaxAddedTokens) {
      return FileFieldError(added.path, absl::StrCat("added_tokens_decoder.", added.id),
                            "is implausibly large for a token id");
    }
    total_pieces = std::max(total_pieces, added.id + 1);
  }
  pieces_.resize(total_pieces);
  for (int32_t id = 0; id < model_pieces; ++id) {
    Piece& piece = pieces_[id];
    const std::string& text = spm_->IdToPiece(id);
    switch (spm_->Kind(id)) {
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
    Piece& piece = pieces_[added.id];
    if (added.id < model_pieces) {
      const std::string& text = spm_->IdToPiece(static_cast<int32_t>(added.id));
      if (text != added.content) {
        return FileFieldError(added.path, absl::StrCat("added_tokens_decoder.", added.id),
                              absl::StrCat("is '", added.content, "' but ", kModelFile, " has '",
                                           text, "' at that id"));
      }
    } else {
      piece.kind = PieceKind::kText;
      piece.bytes = added.content;
      added_piece_ids_[added.content] = static_cast<int32_t>(added.id);
    }
    piece.special = piece.special || added.special;
  }
  return absl::OkStatus();
}

absl::Status Tokenizer::ResolveSpecialIds(const std::string& model_dir, const ModelConfig& config,
                                          const SpecialTokenSettings& settings) {
  // Tokens named in the JSON files must be pieces.
  auto resolve = [this](const NamedToken& token) -> absl::StatusOr<int32_t> {
    std::optional<int32_t> id = PieceToId(token.content);
    if (!id.has_value()) {
      return FileFieldError(
          token.path, token.field,
          absl::StrCat("is '", token.content, "', which is not a piece of ", kModelFile));
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
  if (!tokenizer_eos.has_value() && spm_->eos_id() >= 0) tokenizer_eos = spm_->eos_id();

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
  for (int32_t id : special_ids) pieces_[id].special = true;
  return absl::OkStatus();
}

absl::Status Tokenizer::MeasureSentencePieceRules(const std::string& model_path) {
  // The leading-space rule, measured: decode a piece that starts with one space marker (P)
  // alone, then after a whitespace-only piece (W), or else a piece starting with several markers.
  std::optional<int32_t> one_space, whitespace_only, many_spaces;
  for (int32_t id = 0; id < spm_->num_pieces(); ++id) {
    const Piece& piece = pieces_[id];
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
  auto decode_alone = [this](std::initializer_list<int32_t> ids) {
    return spm_->Decode(std::span<const int32_t>(ids.begin(), ids.size()));
  };
  auto without_spaces = [this](int32_t id) {
    const std::string& text = pieces_[id].bytes;
    return text.substr(CountLeadingSpaces(text));
  };
  if (one_space.has_value() && decode_alone({*one_space}) == pieces_[*one_space].bytes) {
    leading_space_rule_ = LeadingSpaceRule::kKeep;
  } else if (one_space.has_value() && whitespace_only.has_value()) {
    leading_space_rule_ = decode_alone({*whitespace_only, *one_space}) == without_spaces(*one_space)
                              ? LeadingSpaceRule::kStripAllLeading
                              : LeadingSpaceRule::kStripOne;
  } else if (many_spaces.has_value()) {
    leading_space_rule_ = decode_alone({*many_spaces}) == without_spaces(*many_spaces)
                              ? LeadingSpaceRule::kStripAllLeading
                              : LeadingSpaceRule::kStripOne;
  } else {
    leading_space_rule_ = LeadingSpaceRule::kStripOne;  // the two differ on no sequence
  }

  // add_dummy_prefix: does a lone word come out as a word start?
  std::vector<int32_t> probe;
  std::string error;
  if (!spm_->Encode("x", probe, error)) {
    return absl::InvalidArgumentError(absl::StrCat(model_path, ": cannot encode: ", error));
  }
  adds_space_prefix_ = !probe.empty() && spm_->IdToPiece(probe.front()).starts_with(kSpaceMarker);
  return absl::OkStatus();
}

absl::StatusOr<std::string> Tokenizer::ComputeContentHash(const std::string& model_bytes) const {
  // Everything decided from the JSON files, in a canonical text form.
  std::vector<int32_t> all_special;
  for (int64_t id = 0; id < num_pieces(); ++id) {
    if (pieces_[id].special) all_special.push_back(static_cast<int32_t>(id));
  }
  std::string settings =
      absl::StrCat("bos=", bos_id_, "\neos=", absl::StrJoin(eos_ids_, ","), "\npad=", pad_id_,
                   "\nspecial=", absl::StrJoin(all_special, ","), "\n");
  std::set<std::pair<int32_t, std::string>> added_pieces;
  for (const auto& [content, id] : added_piece_ids_) added_pieces.emplace(id, content);
  for (const auto& [id, content] : added_pieces) {
    absl::StrAppend(&settings, "added=", id, ":", content.size(), ":", content, "\n");
  }
  Sha256 hash;
  hash.Update("jamba-tokenizer-v1\n");
  hash.Update(absl::StrCat(model_bytes.size(), "\n"));
  hash.Update(model_bytes);
  hash.Update(settings);
  return hash.HexDigest();
}

absl::StatusOr<std::vector<int32_t>> Tokenizer::Encode(std::string_view text, bool add_bos) const {
  if (const size_t bad = FindInvalidUtf8(text); bad != std::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("text to encode is not valid UTF-8 (byte offset ", bad, ")"));
  }
  std::vector<int32_t> ids;
  if (add_bos) {
    if (bos_id_ < 0) return absl::FailedPreconditionError("the model has no BOS token");
    ids.push_back(bos_id_);
  }
  std::vector<int32_t> pieces;
  std::string error;
  if (!spm_->Encode(text, pieces, error)) {
    return absl::InternalError(absl::StrCat("SentencePiece encode failed: ", error));
  }
  ids.insert(ids.end(), pieces.begin(), pieces.end());
  return ids;
}

void Tokenizer::AppendTokenBytes(int32_t id, bool skip_special_tokens, bool& at_start,
                                 std::string& bytes) const {
  if (id < 0 || id >= num_pieces()) return;
  const Piece& piece = pieces_[id];
  if (piece.kind == PieceKind::kAbsent) return;
  if (piece.special) {
    if (skip_special_tokens) return;
    bytes += piece.bytes;
    // SentencePiece shows nothing for control pieces, so they do not end the start of the text.
    if (piece.kind != PieceKind::kControl) at_start = false;
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
      switch (leading_space_rule_) {
        case LeadingSpaceRule::kKeep:
          at_start = false;
          break;
        case LeadingSpaceRule::kStripOne:
          // Even a piece that was only the stripped marker ends the start.
          if (spaces > 0) text.remove_prefix(1);
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

std::string Tokenizer::Decode(std::span<const int32_t> ids, bool skip_special_tokens) const {
  std::string bytes;
  bool at_start = true;
  for (int32_t id : ids) AppendTokenBytes(id, skip_special_tokens, at_start, bytes);
  std::string text;
  text.reserve(bytes.size());
  AppendRepairedUtf8(bytes, /*end_of_input=*/true, text);
  return text;
}

std::string Tokenizer::IdToPiece(int32_t id) const {
  if (id < 0 || id >= num_pieces()) return "";
  if (id < spm_->num_pieces()) return spm_->IdToPiece(id);
  return pieces_[id].bytes;  // an added token ("" where none is defined)
}

std::optional<int32_t> Tokenizer::PieceToId(std::string_view piece) const {
  if (auto it = added_piece_ids_.find(std::string(piece)); it != added_piece_ids_.end()) {
    return it->second;
  }
  const int32_t id = spm_->PieceToId(piece);
  if (id < 0 || id >= spm_->num_pieces()) return std::nullopt;
  // SentencePiece answers unk_id for pieces it does not know.
  if (id == spm_->unk_id() && spm_->IdToPiece(id) != piece) return std::nullopt;
  return id;
}

bool Tokenizer::IsEos(int32_t id) const {
  return std::find(eos_ids_.begin(), eos_ids_.end(), id) != eos_ids_.end();
}

bool Tokenizer::IsSpecial(int32_t id) const {
  return id >= 0 && id < num_pieces() && pieces_[id].special;
}

}  // namespace jamba::engine
