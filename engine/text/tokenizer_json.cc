// ParseTokenizerJson: nlohmann::json without exceptions, every type checked before it is read, and
// one error form: "<file>: <json path> <what is wrong>".
#include "engine/text/tokenizer_json.h"

#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "engine/status_macros.h"
#include "engine/text/utf8.h"
#include "nlohmann/json.hpp"

namespace jamba::engine {
namespace {

using Json = nlohmann::json;

constexpr int64_t kMaxId = int64_t{1} << 22;
constexpr size_t kMaxMerges = size_t{1} << 22;

class Parser {
 public:
  explicit Parser(const std::string& path) : path_(path) {}

  absl::Status Error(const std::string& at, const std::string& what) const {
    return absl::InvalidArgumentError(absl::StrCat(path_, ": ", at, " ", what));
  }
  absl::Status Unsupported(const std::string& at, const std::string& type,
                           const std::string& why = "") const {
    return Error(absl::StrCat(at, ".type"),
                 absl::StrCat("\"", type, "\" is not supported", why.empty() ? "" : ": ", why));
  }

  // The member `key` of `object` (null when absent or when `object` is no object).
  const Json& Member(const Json& object, const char* key) const {
    if (!object.is_object()) return null_;
    auto it = object.find(key);
    return it == object.end() ? null_ : *it;
  }

  absl::StatusOr<bool> Bool(const Json& object, const char* key, const std::string& at,
                            bool default_value) const {
    const Json& value = Member(object, key);
    if (value.is_null()) return default_value;
    if (!value.is_boolean()) return Error(absl::StrCat(at, ".", key), "must be true or false");
    return value.get<bool>();
  }
  absl::StatusOr<std::string> String(const Json& object, const char* key,
                                     const std::string& at) const {
    const Json& value = Member(object, key);
    if (!value.is_string()) return Error(absl::StrCat(at, ".", key), "must be a string");
    std::string text = value.get<std::string>();
    if (!IsValidUtf8(text)) return Error(absl::StrCat(at, ".", key), "is not valid UTF-8");
    return text;
  }
  absl::StatusOr<int64_t> Int(const Json& object, const char* key, const std::string& at) const {
    const Json& value = Member(object, key);
    if (!value.is_number_integer()) return Error(absl::StrCat(at, ".", key), "must be an integer");
    return value.get<int64_t>();
  }
  // One Unicode character, as Metaspace and Strip take.
  absl::StatusOr<std::string> Char(const Json& object, const char* key,
                                   const std::string& at) const {
    JAMBA_ASSIGN_OR_RETURN(std::string text, String(object, key, at));
    int length = 0;
    if (!text.empty()) {
      const auto lead = static_cast<unsigned char>(text[0]);
      length = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
    }
    if (text.empty() || static_cast<size_t>(length) != text.size()) {
      return Error(absl::StrCat(at, ".", key), "must be exactly one character");
    }
    return text;
  }
  // {"String": "..."}; {"Regex": ...} is an error naming the component.
  absl::StatusOr<std::string> Pattern(const Json& object, const std::string& at,
                                      const std::string& component) const {
    const Json& pattern = Member(object, "pattern");
    const std::string where = absl::StrCat(at, ".pattern");
    if (!pattern.is_object()) return Error(where, "must be {\"String\": ...}");
    if (pattern.contains("Regex")) {
      return Error(absl::StrCat(where, ".Regex"),
                   absl::StrCat("is not supported in ", component, " (String patterns only)"));
    }
    JAMBA_ASSIGN_OR_RETURN(std::string text, String(pattern, "String", where));
    if (text.empty()) return Error(absl::StrCat(where, ".String"), "must not be empty");
    return text;
  }
  absl::StatusOr<std::string> Type(const Json& object, const std::string& at) const {
    if (!object.is_object()) return Error(at, "must be an object or null");
    return String(object, "type", at);
  }

  absl::StatusOr<PrependScheme> MetaspaceScheme(const Json& object, const std::string& at) const {
    const Json& scheme = Member(object, "prepend_scheme");
    PrependScheme result = PrependScheme::kAlways;
    if (scheme == "first") {
      result = PrependScheme::kFirst;
    } else if (scheme == "never") {
      result = PrependScheme::kNever;
    } else if (!scheme.is_null() && scheme != "always") {
      return Error(absl::StrCat(at, ".prepend_scheme"),
                   "must be \"always\", \"first\" or \"never\"");
    }
    // Files written before prepend_scheme existed say add_prefix_space; tokenizers rejects a
    // false one unless the scheme is "never".
    JAMBA_ASSIGN_OR_RETURN(bool add_prefix_space, Bool(object, "add_prefix_space", at, true));
    if (!add_prefix_space && result != PrependScheme::kNever) {
      return Error(absl::StrCat(at, ".add_prefix_space"),
                   "is false but prepend_scheme is not \"never\"");
    }
    return result;
  }

  absl::Status Model(const Json& model, BpeModelSpec& spec) const;
  absl::Status AddedTokens(const Json& list, std::vector<AddedTokenSpec>& tokens) const;
  absl::Status Normalizer(const Json& node, const std::string& at,
                          std::vector<NormalizerStep>& steps) const;
  absl::Status PreTokenizer(const Json& node, const std::string& at,
                            std::vector<PreTokenizerStep>& steps) const;
  absl::Status Decoder(const Json& node, const std::string& at,
                       std::vector<DecoderStep>& steps) const;
  absl::StatusOr<std::optional<TemplateSpec>> PostProcessor(const Json& node) const;

 private:
  const std::string& path_;
  const Json null_;
};

absl::Status Parser::Model(const Json& model, BpeModelSpec& spec) const {
  if (!model.is_object()) return Error("model", "must be an object");
  const Json& type = Member(model, "type");
  if (!type.is_null() && type != "BPE") {
    return Unsupported("model", type.is_string() ? type.get<std::string>() : type.dump(),
                       "only BPE models are");
  }
  if (!Member(model, "dropout").is_null()) {
    return Error("model.dropout", "must be null (BPE dropout is random and not supported)");
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    const Json& value = Member(model, key);
    if (!value.is_null() && value != "") {
      return Error(absl::StrCat("model.", key), "must be null (not supported)");
    }
  }
  JAMBA_ASSIGN_OR_RETURN(spec.byte_fallback, Bool(model, "byte_fallback", "model", false));
  JAMBA_ASSIGN_OR_RETURN(spec.fuse_unk, Bool(model, "fuse_unk", "model", false));
  JAMBA_ASSIGN_OR_RETURN(spec.ignore_merges, Bool(model, "ignore_merges", "model", false));
  if (!Member(model, "unk_token").is_null()) {
    JAMBA_ASSIGN_OR_RETURN(spec.unk_token, String(model, "unk_token", "model"));
  }

  const Json& vocab = Member(model, "vocab");
  if (!vocab.is_object()) return Error("model.vocab", "must be an object {piece: id}");
  absl::flat_hash_set<int64_t> ids;
  spec.vocab.reserve(vocab.size());
  for (const auto& [piece, id] : vocab.items()) {
    const std::string at = absl::StrCat("model.vocab[\"", piece, "\"]");
    if (!id.is_number_integer()) return Error(at, "must be an integer id");
    const int64_t value = id.get<int64_t>();
    if (value < 0 || value >= kMaxId) return Error(at, absl::StrCat("is out of range: ", value));
    if (!ids.insert(value).second) return Error(at, absl::StrCat("repeats id ", value));
    if (piece.empty() || !IsValidUtf8(piece)) return Error(at, "is not a valid piece");
    spec.vocab.emplace_back(piece, static_cast<int32_t>(value));
  }

  const Json& merges = Member(model, "merges");
  if (merges.is_null()) return absl::OkStatus();
  if (!merges.is_array()) return Error("model.merges", "must be a list");
  if (merges.size() > kMaxMerges) return Error("model.merges", "has too many entries");
  spec.merges.reserve(merges.size());
  for (size_t i = 0; i < merges.size(); ++i) {
    const Json& merge = merges[i];
    const std::string at = absl::StrCat("model.merges[", i, "]");
    if (merge.is_string()) {
      // "a b": pieces never contain the separating space in the vocabularies this form is for.
      const std::string text = merge.get<std::string>();
      const size_t space = text.find(' ');
      if (space == std::string::npos || space == 0 || space + 1 == text.size() ||
          text.find(' ', space + 1) != std::string::npos) {
        return Error(at, "must be \"left right\" with exactly one space");
      }
      spec.merges.emplace_back(text.substr(0, space), text.substr(space + 1));
    } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() &&
               merge[1].is_string()) {
      spec.merges.emplace_back(merge[0].get<std::string>(), merge[1].get<std::string>());
    } else {
      return Error(at, "must be \"left right\" or [\"left\", \"right\"]");
    }
  }
  return absl::OkStatus();
}

absl::Status Parser::AddedTokens(const Json& list, std::vector<AddedTokenSpec>& tokens) const {
  if (list.is_null()) return absl::OkStatus();
  if (!list.is_array()) return Error("added_tokens", "must be a list");
  for (size_t i = 0; i < list.size(); ++i) {
    const Json& entry = list[i];
    const std::string at = absl::StrCat("added_tokens[", i, "]");
    if (!entry.is_object()) return Error(at, "must be an object");
    AddedTokenSpec token;
    JAMBA_ASSIGN_OR_RETURN(int64_t id, Int(entry, "id", at));
    if (id < 0 || id >= kMaxId) return Error(absl::StrCat(at, ".id"), "is out of range");
    token.id = static_cast<int32_t>(id);
    JAMBA_ASSIGN_OR_RETURN(token.content, String(entry, "content", at));
    if (token.content.empty()) return Error(absl::StrCat(at, ".content"), "must not be empty");
    JAMBA_ASSIGN_OR_RETURN(token.special, Bool(entry, "special", at, false));
    JAMBA_ASSIGN_OR_RETURN(token.lstrip, Bool(entry, "lstrip", at, false));
    JAMBA_ASSIGN_OR_RETURN(token.rstrip, Bool(entry, "rstrip", at, false));
    JAMBA_ASSIGN_OR_RETURN(token.single_word, Bool(entry, "single_word", at, false));
    JAMBA_ASSIGN_OR_RETURN(token.normalized, Bool(entry, "normalized", at, !token.special));
    tokens.push_back(std::move(token));
  }
  return absl::OkStatus();
}

absl::Status Parser::Normalizer(const Json& node, const std::string& at,
                                std::vector<NormalizerStep>& steps) const {
  if (node.is_null()) return absl::OkStatus();
  JAMBA_ASSIGN_OR_RETURN(std::string type, Type(node, at));
  NormalizerStep step;
  if (type == "Sequence") {
    const Json& list = Member(node, "normalizers");
    if (!list.is_array()) return Error(absl::StrCat(at, ".normalizers"), "must be a list");
    for (size_t i = 0; i < list.size(); ++i) {
      if (list[i].is_null()) return Error(absl::StrCat(at, ".normalizers[", i, "]"), "is null");
      JAMBA_RETURN_IF_ERROR(Normalizer(list[i], absl::StrCat(at, ".normalizers[", i, "]"), steps));
    }
    return absl::OkStatus();
  }
  if (type == "Prepend") {
    step.kind = NormalizerKind::kPrepend;
    JAMBA_ASSIGN_OR_RETURN(step.text, String(node, "prepend", at));
  } else if (type == "Replace") {
    step.kind = NormalizerKind::kReplace;
    JAMBA_ASSIGN_OR_RETURN(step.text, Pattern(node, at, "the Replace normalizer"));
    JAMBA_ASSIGN_OR_RETURN(step.content, String(node, "content", at));
  } else if (type == "Strip") {
    step.kind = NormalizerKind::kStrip;
    JAMBA_ASSIGN_OR_RETURN(step.strip_left, Bool(node, "strip_left", at, true));
    JAMBA_ASSIGN_OR_RETURN(step.strip_right, Bool(node, "strip_right", at, true));
  } else if (type == "NFC" || type == "NFKC" || type == "NFD" || type == "NFKD") {
    return Unsupported(at, type, "Unicode normalization tables are not built in");
  } else {
    return Unsupported(at, type);
  }
  steps.push_back(std::move(step));
  return absl::OkStatus();
}

absl::Status Parser::PreTokenizer(const Json& node, const std::string& at,
                                  std::vector<PreTokenizerStep>& steps) const {
  if (node.is_null()) return absl::OkStatus();
  JAMBA_ASSIGN_OR_RETURN(std::string type, Type(node, at));
  PreTokenizerStep step;
  if (type == "Sequence") {
    const Json& list = Member(node, "pretokenizers");
    if (!list.is_array()) return Error(absl::StrCat(at, ".pretokenizers"), "must be a list");
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string item = absl::StrCat(at, ".pretokenizers[", i, "]");
      if (list[i].is_null()) return Error(item, "is null");
      JAMBA_RETURN_IF_ERROR(PreTokenizer(list[i], item, steps));
    }
    return absl::OkStatus();
  }
  if (type == "Metaspace") {
    step.kind = PreTokenizerKind::kMetaspace;
    JAMBA_ASSIGN_OR_RETURN(step.replacement, Char(node, "replacement", at));
    JAMBA_ASSIGN_OR_RETURN(step.prepend_scheme, MetaspaceScheme(node, at));
    JAMBA_ASSIGN_OR_RETURN(step.split, Bool(node, "split", at, true));
  } else if (type == "Split") {
    step.kind = PreTokenizerKind::kSplit;
    JAMBA_ASSIGN_OR_RETURN(step.pattern, Pattern(node, at, "the Split pre-tokenizer"));
    JAMBA_ASSIGN_OR_RETURN(step.invert, Bool(node, "invert", at, false));
    JAMBA_ASSIGN_OR_RETURN(std::string behavior, String(node, "behavior", at));
    if (behavior == "Removed") {
      step.behavior = SplitBehavior::kRemoved;
    } else if (behavior == "Isolated") {
      step.behavior = SplitBehavior::kIsolated;
    } else if (behavior == "MergedWithPrevious") {
      step.behavior = SplitBehavior::kMergedWithPrevious;
    } else if (behavior == "MergedWithNext") {
      step.behavior = SplitBehavior::kMergedWithNext;
    } else if (behavior == "Contiguous") {
      step.behavior = SplitBehavior::kContiguous;
    } else {
      return Error(absl::StrCat(at, ".behavior"), absl::StrCat("\"", behavior, "\" is unknown"));
    }
  } else {
    return Unsupported(at, type);
  }
  steps.push_back(std::move(step));
  return absl::OkStatus();
}

absl::Status Parser::Decoder(const Json& node, const std::string& at,
                             std::vector<DecoderStep>& steps) const {
  JAMBA_ASSIGN_OR_RETURN(std::string type, Type(node, at));
  DecoderStep step;
  step.json_path = at;
  if (type == "Sequence") {
    const Json& list = Member(node, "decoders");
    if (!list.is_array()) return Error(absl::StrCat(at, ".decoders"), "must be a list");
    for (size_t i = 0; i < list.size(); ++i) {
      JAMBA_RETURN_IF_ERROR(Decoder(list[i], absl::StrCat(at, ".decoders[", i, "]"), steps));
    }
    return absl::OkStatus();
  }
  if (type == "Replace") {
    step.kind = DecoderKind::kReplace;
    JAMBA_ASSIGN_OR_RETURN(step.pattern, Pattern(node, at, "the Replace decoder"));
    JAMBA_ASSIGN_OR_RETURN(step.content, String(node, "content", at));
  } else if (type == "ByteFallback") {
    step.kind = DecoderKind::kByteFallback;
  } else if (type == "Fuse") {
    step.kind = DecoderKind::kFuse;
  } else if (type == "Strip") {
    step.kind = DecoderKind::kStrip;
    JAMBA_ASSIGN_OR_RETURN(step.content, Char(node, "content", at));
    JAMBA_ASSIGN_OR_RETURN(step.start, Int(node, "start", at));
    JAMBA_ASSIGN_OR_RETURN(step.stop, Int(node, "stop", at));
    if (step.start < 0 || step.stop < 0 || step.start > 1024 || step.stop > 1024) {
      return Error(absl::StrCat(at, ".start"), "and stop must be in [0, 1024]");
    }
  } else if (type == "Metaspace") {
    step.kind = DecoderKind::kMetaspace;
    JAMBA_ASSIGN_OR_RETURN(step.replacement, Char(node, "replacement", at));
    JAMBA_ASSIGN_OR_RETURN(step.prepend_scheme, MetaspaceScheme(node, at));
  } else {
    return Unsupported(at, type);
  }
  steps.push_back(std::move(step));
  return absl::OkStatus();
}

absl::StatusOr<std::optional<TemplateSpec>> Parser::PostProcessor(const Json& node) const {
  if (node.is_null()) return std::nullopt;
  const std::string at = "post_processor";
  JAMBA_ASSIGN_OR_RETURN(std::string type, Type(node, at));
  if (type != "TemplateProcessing") return Unsupported(at, type);
  const Json& single = Member(node, "single");
  const Json& specials = Member(node, "special_tokens");
  if (!single.is_array()) return Error("post_processor.single", "must be a list");
  if (!specials.is_object() && !specials.is_null()) {
    return Error("post_processor.special_tokens", "must be an object");
  }
  TemplateSpec spec;
  bool seen_sequence = false;
  for (size_t i = 0; i < single.size(); ++i) {
    const std::string item = absl::StrCat("post_processor.single[", i, "]");
    const Json& piece = single[i];
    if (!piece.is_object()) return Error(item, "must be an object");
    if (piece.contains("Sequence")) {
      const Json& sequence = piece["Sequence"];
      if (!sequence.is_object() || Member(sequence, "id") != "A" || seen_sequence) {
        return Error(item, "must be the one sequence {\"Sequence\": {\"id\": \"A\"}}");
      }
      seen_sequence = true;
      continue;
    }
    const Json& special = Member(piece, "SpecialToken");
    if (!special.is_object()) return Error(item, "must be a Sequence or a SpecialToken");
    JAMBA_ASSIGN_OR_RETURN(std::string name,
                           String(special, "id", absl::StrCat(item, ".SpecialToken")));
    const Json& entry = specials.is_object() ? Member(specials, name.c_str()) : specials;
    const std::string entry_at = absl::StrCat("post_processor.special_tokens[\"", name, "\"]");
    if (!entry.is_object() || !Member(entry, "ids").is_array()) {
      return Error(entry_at, "must exist and have a list of ids");
    }
    for (const Json& id : entry["ids"]) {
      if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() >= kMaxId) {
        return Error(absl::StrCat(entry_at, ".ids"), "must hold token ids");
      }
      (seen_sequence ? spec.suffix : spec.prefix)
          .push_back(static_cast<int32_t>(id.get<int64_t>()));
    }
  }
  if (!seen_sequence) return Error("post_processor.single", "has no sequence $A");
  return spec;
}

}  // namespace

absl::StatusOr<TokenizerJsonSpec> ParseTokenizerJson(std::string_view text,
                                                     const std::string& path) {
  const Parser parser(path);
  const Json json = Json::parse(text, /*cb=*/nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded())
    return absl::InvalidArgumentError(absl::StrCat(path, ": malformed JSON"));
  if (!json.is_object()) return parser.Error("(top level)", "must be a JSON object");
  // truncation and padding are ignored, as transformers' AutoTokenizer ignores them unless a call
  // asks for them.
  TokenizerJsonSpec spec;
  JAMBA_RETURN_IF_ERROR(parser.Model(parser.Member(json, "model"), spec.model));
  JAMBA_RETURN_IF_ERROR(parser.AddedTokens(parser.Member(json, "added_tokens"), spec.added_tokens));
  JAMBA_RETURN_IF_ERROR(
      parser.Normalizer(parser.Member(json, "normalizer"), "normalizer", spec.normalizer));
  JAMBA_RETURN_IF_ERROR(parser.PreTokenizer(parser.Member(json, "pre_tokenizer"), "pre_tokenizer",
                                            spec.pre_tokenizer));
  const Json& decoder = parser.Member(json, "decoder");
  if (!decoder.is_null()) {
    spec.decoder.emplace();
    JAMBA_RETURN_IF_ERROR(parser.Decoder(decoder, "decoder", *spec.decoder));
  }
  JAMBA_ASSIGN_OR_RETURN(spec.post_processor,
                         parser.PostProcessor(parser.Member(json, "post_processor")));
  return spec;
}

}  // namespace jamba::engine
