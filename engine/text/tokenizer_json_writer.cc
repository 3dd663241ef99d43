// SentencePieceToTokenizerJson: vocabulary, merges and the Llama pipeline as JSON.
#include "engine/text/tokenizer_json_writer.h"

#include <algorithm>
#include <memory>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

#include "absl/strings/str_cat.h"
#include "engine/text/spm_processor.h"
#include "nlohmann/json.hpp"

namespace jamba::engine {
namespace {

using Json = nlohmann::json;
// nlohmann::ordered_json keeps our key order, so the file reads like the ones transformers writes.
using OrderedJson = nlohmann::ordered_json;

constexpr char kMarker[] = "\xE2\x96\x81";  // U+2581

OrderedJson AddedTokenJson(int32_t id, const std::string& content, const AddedTokenSpec& flags) {
  return OrderedJson{{"id", id},
                     {"content", content},
                     {"single_word", flags.single_word},
                     {"lstrip", flags.lstrip},
                     {"rstrip", flags.rstrip},
                     {"normalized", flags.normalized},
                     {"special", flags.special}};
}

OrderedJson StringPattern(const char* text) { return OrderedJson{{"String", text}}; }

}  // namespace

absl::StatusOr<std::string> SentencePieceToTokenizerJson(const std::string& model_bytes,
                                                         const TokenizerJsonOptions& options) {
  std::string error;
  std::unique_ptr<SpmProcessor> spm = SpmProcessor::Load(model_bytes, error);
  if (spm == nullptr) return absl::InvalidArgumentError(absl::StrCat("not a model: ", error));
  const int32_t size = spm->num_pieces();
  const std::unordered_set<std::string> specials(options.special_pieces.begin(),
                                                 options.special_pieces.end());
  std::unordered_map<std::string, int32_t> ids;
  OrderedJson vocab = OrderedJson::object();
  for (int32_t id = 0; id < size; ++id) {
    ids.emplace(spm->IdToPiece(id), id);
    vocab[spm->IdToPiece(id)] = id;
  }

  // (piece id, left id, right id) for every split of a learned piece into two pieces.
  std::vector<std::tuple<int32_t, int32_t, int32_t>> merges;
  for (int32_t id = 0; id < size; ++id) {
    const std::string& piece = spm->IdToPiece(id);
    if (spm->Kind(id) != SpmPieceKind::kNormal || specials.contains(piece)) continue;
    for (size_t cut = 1; cut < piece.size(); ++cut) {
      if ((static_cast<unsigned char>(piece[cut]) & 0xC0) == 0x80) continue;
      auto left = ids.find(piece.substr(0, cut));
      auto right = ids.find(piece.substr(cut));
      if (left == ids.end() || right == ids.end()) continue;
      merges.emplace_back(id, left->second, right->second);
    }
  }
  std::sort(merges.begin(), merges.end());
  OrderedJson merge_list = OrderedJson::array();
  for (const auto& [id, left, right] : merges) {
    const std::string& l = spm->IdToPiece(left);
    const std::string& r = spm->IdToPiece(right);
    merge_list.push_back(options.merges_as_pairs ? OrderedJson::array({l, r})
                                                 : OrderedJson(absl::StrCat(l, " ", r)));
  }

  OrderedJson added = OrderedJson::array();
  for (int32_t id = 0; id < size; ++id) {
    if (!specials.contains(spm->IdToPiece(id))) continue;
    added.push_back(AddedTokenJson(id, spm->IdToPiece(id), {.special = true}));
  }
  int32_t next_id = size;
  for (const AddedTokenSpec& token : options.extra_tokens) {
    added.push_back(AddedTokenJson(next_id++, token.content, token));
  }

  OrderedJson normalizer = nullptr, pre_tokenizer = nullptr;
  if (options.style == TokenizerJsonOptions::Style::kLegacyPrepend) {
    normalizer = {{"type", "Sequence"},
                  {"normalizers",
                   {{{"type", "Prepend"}, {"prepend", kMarker}},
                    {{"type", "Replace"}, {"pattern", StringPattern(" ")}, {"content", kMarker}}}}};
  } else {
    pre_tokenizer = {{"type", "Metaspace"},
                     {"replacement", kMarker},
                     {"prepend_scheme", "first"},
                     {"split", false}};
  }
  OrderedJson post_processor = nullptr;
  if (!options.bos_piece.empty()) {
    auto bos = ids.find(options.bos_piece);
    if (bos == ids.end()) {
      return absl::InvalidArgumentError(absl::StrCat("no piece ", options.bos_piece));
    }
    const OrderedJson bos_item = {{"SpecialToken", {{"id", options.bos_piece}, {"type_id", 0}}}};
    post_processor = {
        {"type", "TemplateProcessing"},
        {"single", {bos_item, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
        {"pair",
         {bos_item,
          {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
          bos_item,
          {{"Sequence", {{"id", "B"}, {"type_id", 1}}}}}},
        {"special_tokens",
         {{options.bos_piece,
           {{"id", options.bos_piece}, {"ids", {bos->second}}, {"tokens", {options.bos_piece}}}}}}};
  }
  const OrderedJson decoder = {
      {"type", "Sequence"},
      {"decoders",
       {{{"type", "Replace"}, {"pattern", StringPattern(kMarker)}, {"content", " "}},
        {{"type", "ByteFallback"}},
        {{"type", "Fuse"}},
        {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}};
  const int32_t unk = spm->unk_id();
  OrderedJson model = {{"type", "BPE"},
                       {"dropout", nullptr},
                       {"unk_token", unk >= 0 ? OrderedJson(spm->IdToPiece(unk)) : OrderedJson()},
                       {"continuing_subword_prefix", nullptr},
                       {"end_of_word_suffix", nullptr},
                       {"fuse_unk", true},
                       {"byte_fallback", true},
                       {"ignore_merges", false},
                       {"vocab", vocab},
                       {"merges", merge_list}};
  const OrderedJson file = {{"version", "1.0"},
                            {"truncation", nullptr},
                            {"padding", nullptr},
                            {"added_tokens", added},
                            {"normalizer", normalizer},
                            {"pre_tokenizer", pre_tokenizer},
                            {"post_processor", post_processor},
                            {"decoder", decoder},
                            {"model", model}};
  return file.dump() + "\n";
}

}  // namespace jamba::engine
