// Reading the special-token fields of tokenizer_config.json, special_tokens_map.json and
// generation_config.json.
#include "engine/text/special_token_files.h"

#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "engine/file_util.h"
#include "engine/status_macros.h"
#include "nlohmann/json.hpp"

namespace jamba::engine {
namespace {

using Json = nlohmann::json;

constexpr char kTokenizerConfigFile[] = "tokenizer_config.json";
constexpr char kSpecialTokensMapFile[] = "special_tokens_map.json";
constexpr char kGenerationConfigFile[] = "generation_config.json";

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

}  // namespace

absl::StatusOr<SpecialTokenSettings> ReadSpecialTokenFiles(const std::string& dir) {
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

absl::Status FileFieldError(const std::string& path, const std::string& field,
                            const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": '", field, "' ", what));
}

}  // namespace jamba::engine
