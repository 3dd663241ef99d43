// Options for SentencePiece (through spm_trainer.h, which isolates its header) and the Hugging Face
// side files of the demo tokenizer.
#include "engine/text/tokenizer_trainer.h"

#include <filesystem>
#include <fstream>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/file_util.h"
#include "engine/status_macros.h"
#include "engine/text/special_tokens.h"
#include "engine/text/spm_processor.h"
#include "engine/text/spm_trainer.h"
#include "engine/text/tokenizer_json_writer.h"
#include "engine/text/utf8.h"
#include "nlohmann/json.hpp"

namespace jamba::engine {
namespace {

using Json = nlohmann::json;

// Ids 0..3 are set through SentencePiece's pad/bos/eos/unk options; user-defined symbols follow.
constexpr const char* kMetaPieces[] = {kPadToken, kBosToken, kEosToken, kUnkToken};
constexpr const char* kJambaChatPieces[] = {kBeginMessageToken, kEndMessageToken, kSystemRoleToken,
                                            kUserRoleToken, kAssistantRoleToken};

std::vector<std::string> ChatPieces(const DemoTokenizerOptions& options) {
  if (!options.chat_pieces.empty()) return options.chat_pieces;
  return std::vector<std::string>(std::begin(kJambaChatPieces), std::end(kJambaChatPieces));
}

// Non-blank lines, without a trailing '\r'.
std::vector<std::string> SplitSentences(const std::string& corpus) {
  std::vector<std::string> sentences;
  size_t start = 0;
  while (start < corpus.size()) {
    size_t end = corpus.find('\n', start);
    if (end == std::string::npos) end = corpus.size();
    std::string line = corpus.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") != std::string::npos) sentences.push_back(std::move(line));
    start = end + 1;
  }
  return sentences;
}

std::vector<std::pair<std::string, std::string>> TrainerOptions(
    int vocab_size, const std::vector<std::string>& chat_pieces) {
  return {
      {"model_type", "bpe"},
      {"vocab_size", absl::StrCat(vocab_size)},
      {"hard_vocab_limit", "false"},
      {"byte_fallback", "true"},
      // Rare characters go to bytes instead of taking vocabulary slots.
      {"character_coverage", "0.9995"},
      {"split_digits", "true"},
      {"allow_whitespace_only_pieces", "true"},
      // Identity normalization and kept whitespace make decode(encode(text)) == text.
      {"normalization_rule_name", "identity"},
      {"remove_extra_whitespaces", "false"},
      {"add_dummy_prefix", "true"},
      {"pad_id", "0"},
      {"bos_id", "1"},
      {"eos_id", "2"},
      {"unk_id", "3"},
      {"pad_piece", kPadToken},
      {"bos_piece", kBosToken},
      {"eos_piece", kEosToken},
      {"unk_piece", kUnkToken},
      {"user_defined_symbols", absl::StrJoin(chat_pieces, ",")},
      // One thread and no sampling of the input: the same corpus gives the same bytes.
      {"num_threads", "1"},
      {"input_sentence_size", "0"},
      {"shuffle_input_sentence", "false"},
      {"max_sentence_length", "65536"},
      {"minloglevel", "1"},
  };
}

// Checks the trained model has the piece layout TrainDemoTokenizer promises.
absl::Status CheckPieceLayout(const std::string& model,
                              const std::vector<std::string>& chat_pieces) {
  std::string error;
  std::unique_ptr<SpmProcessor> spm = SpmProcessor::Load(model, error);
  if (spm == nullptr)
    return absl::InternalError(absl::StrCat("trained model does not load: ", error));
  int32_t id = 0;
  for (const char* piece : kMetaPieces) {
    if (spm->IdToPiece(id) != piece) {
      return absl::InternalError(absl::StrCat("trained model has '", spm->IdToPiece(id), "' at id ",
                                              id, ", expected '", piece, "'"));
    }
    ++id;
  }
  for (const std::string& piece : chat_pieces) {
    if (spm->IdToPiece(id) != piece) {
      return absl::InternalError(absl::StrCat("trained model has '", spm->IdToPiece(id), "' at id ",
                                              id, ", expected '", piece, "'"));
    }
    ++id;
  }
  return absl::OkStatus();
}

// Writes through a temporary file and a rename, so a reader never sees half a file.
absl::Status WriteFileAtomically(const std::string& path, const std::string& bytes) {
  const std::string temp = path + ".tmp";
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) return absl::PermissionDeniedError(absl::StrCat(temp, ": cannot write"));
  }
  std::error_code error;
  std::filesystem::rename(temp, path, error);
  if (error) {
    return absl::PermissionDeniedError(
        absl::StrCat(path, ": cannot rename from ", temp, ": ", error.message()));
  }
  return absl::OkStatus();
}

// {"content": ..., "lstrip": false, ...} as transformers writes AddedToken.
Json AddedTokenJson(const char* content) {
  return Json{{"content", content},
              {"lstrip", false},
              {"normalized", false},
              {"rstrip", false},
              {"single_word", false}};
}

std::string TokenizerConfigJson(const std::vector<std::string>& chat_pieces,
                                const std::string& chat_template) {
  Json added = Json::object();
  int id = 0;
  for (const char* piece : kMetaPieces) {
    Json token = AddedTokenJson(piece);
    token["special"] = true;
    added[absl::StrCat(id++)] = token;
  }
  for (const std::string& piece : chat_pieces) {
    Json token = AddedTokenJson(piece.c_str());
    token["special"] = true;
    added[absl::StrCat(id++)] = token;
  }
  Json config = {
      {"add_bos_token", true},
      {"add_eos_token", false},
      {"added_tokens_decoder", added},
      {"additional_special_tokens", Json(chat_pieces)},
      {"bos_token", kBosToken},
      {"clean_up_tokenization_spaces", false},
      {"eos_token", kEosToken},
      {"legacy", true},
      {"pad_token", kPadToken},
      {"sp_model_kwargs", Json::object()},
      {"spaces_between_special_tokens", false},
      {"tokenizer_class", "LlamaTokenizer"},
      {"unk_token", kUnkToken},
  };
  if (!chat_template.empty()) config["chat_template"] = chat_template;
  return config.dump(2) + "\n";
}

std::string SpecialTokensMapJson(const std::vector<std::string>& chat_pieces) {
  Json additional = Json::array();
  for (const std::string& piece : chat_pieces) additional.push_back(AddedTokenJson(piece.c_str()));
  Json map = {
      {"additional_special_tokens", additional}, {"bos_token", AddedTokenJson(kBosToken)},
      {"eos_token", AddedTokenJson(kEosToken)},  {"pad_token", AddedTokenJson(kPadToken)},
      {"unk_token", AddedTokenJson(kUnkToken)},
  };
  return map.dump(2) + "\n";
}

}  // namespace

absl::StatusOr<std::string> DemoTokenizerJson(const std::string& model,
                                              const std::vector<std::string>& chat_pieces) {
  TokenizerJsonOptions options;
  // Metaspace with prepend_scheme "first": the space marker only at the very start of the text, as
  // SentencePiece itself and the tokenizer.model encoder do, so the two files give the same ids
  // for chat prompts too (the legacy normalizer prepends one after every special token).
  options.style = TokenizerJsonOptions::Style::kMetaspace;
  options.special_pieces.assign(std::begin(kMetaPieces), std::end(kMetaPieces));
  options.special_pieces.insert(options.special_pieces.end(), chat_pieces.begin(),
                                chat_pieces.end());
  options.bos_piece = kBosToken;
  return SentencePieceToTokenizerJson(model, options);
}

absl::Status TrainDemoTokenizer(const std::string& corpus_text, int vocab_size,
                                const std::string& output_dir) {
  return TrainDemoTokenizer(corpus_text, vocab_size, output_dir, DemoTokenizerOptions());
}

absl::Status TrainDemoTokenizer(const std::string& corpus_text, int vocab_size,
                                const std::string& output_dir,
                                const DemoTokenizerOptions& options) {
  const std::vector<std::string> chat_pieces = ChatPieces(options);
  if (vocab_size < kMinDemoVocabSize || vocab_size > kMaxDemoVocabSize) {
    return absl::InvalidArgumentError(absl::StrCat("demo tokenizer vocab_size must be in [",
                                                   kMinDemoVocabSize, ", ", kMaxDemoVocabSize,
                                                   "], got ", vocab_size));
  }
  if (const size_t bad = FindInvalidUtf8(corpus_text); bad != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("tokenizer corpus is not valid UTF-8 (byte offset ", bad, ")"));
  }
  const std::vector<std::string> sentences = SplitSentences(corpus_text);
  if (sentences.empty()) return absl::InvalidArgumentError("tokenizer corpus has no text");

  std::string model;
  std::string error;
  if (!TrainSentencePieceModel(sentences, TrainerOptions(vocab_size, chat_pieces), model, error)) {
    return absl::InvalidArgumentError(absl::StrCat("SentencePiece training failed: ", error));
  }
  JAMBA_RETURN_IF_ERROR(CheckPieceLayout(model, chat_pieces));

  std::error_code dir_error;
  std::filesystem::create_directories(output_dir, dir_error);
  if (dir_error) {
    return absl::PermissionDeniedError(
        absl::StrCat(output_dir, ": cannot create directory: ", dir_error.message()));
  }
  if (options.write_sentencepiece) {
    JAMBA_RETURN_IF_ERROR(WriteFileAtomically(JoinPath(output_dir, "tokenizer.model"), model));
  }
  JAMBA_RETURN_IF_ERROR(
      WriteFileAtomically(JoinPath(output_dir, "tokenizer_config.json"),
                          TokenizerConfigJson(chat_pieces, options.chat_template)));
  JAMBA_RETURN_IF_ERROR(WriteFileAtomically(JoinPath(output_dir, "special_tokens_map.json"),
                                            SpecialTokensMapJson(chat_pieces)));
  JAMBA_ASSIGN_OR_RETURN(std::string tokenizer_json, DemoTokenizerJson(model, chat_pieces));
  JAMBA_RETURN_IF_ERROR(
      WriteFileAtomically(JoinPath(output_dir, "tokenizer.json"), tokenizer_json));
  return absl::OkStatus();
}

}  // namespace jamba::engine
