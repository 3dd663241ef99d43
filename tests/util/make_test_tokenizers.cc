// make_test_tokenizers: writes the two Llama-style tokenizer.json files the oracle tests use, both
// converted from SentencePiece BPE models trained here (deterministically: one thread, fixed
// corpus), with Jamba-like special tokens, ChatML and <think> added tokens:
//   <out>/llama_legacy_jamba.json  demo corpus, 4096 pieces, Prepend/Replace normalizer (old
//   Llama),
//                                  merges as "a b" strings
//   <out>/metaspace_65536.json     a generated multilingual corpus, 65,536 pieces, Metaspace
//                                  pre-tokenizer (newer Llama), merges as ["a", "b"] pairs
// Usage: make_test_tokenizers <demo_corpus.txt> <out dir>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/file_util.h"
#include "engine/text/spm_trainer.h"
#include "engine/text/tokenizer_json_writer.h"

namespace {

using jamba::engine::AddedTokenSpec;
using jamba::engine::TokenizerJsonOptions;

// UTF-8 of one code point.
std::string Utf8(uint32_t cp) {
  std::string out;
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
  return out;
}

// A multilingual corpus from a Zipf-distributed lexicon of made-up words (Latin, Cyrillic, Greek
// syllables; CJK and Hangul characters; code identifiers), so BPE finds tens of thousands of
// merges. Only the raw outputs of mt19937 are used: the same on every platform.
std::vector<std::string> GeneratedCorpus(size_t sentences) {
  std::mt19937 rng(20240601);
  auto pick = [&rng](size_t n) { return static_cast<size_t>(rng() % n); };
  const std::vector<std::string> latin_c = {"b", "c", "d", "f",  "g",  "h",  "k",
                                            "l", "m", "n", "p",  "r",  "s",  "t",
                                            "v", "w", "z", "th", "st", "ch", "qu"};
  const std::vector<std::string> latin_v = {"a", "e", "i", "o", "u", "ai", "ou", "é", "ü"};
  const std::vector<std::string> cyr_c = {"б", "в", "г", "д", "ж", "з", "к", "л",
                                          "м", "н", "п", "р", "с", "т", "ш"};
  const std::vector<std::string> cyr_v = {"а", "е", "и", "о", "у", "я", "ы"};
  const std::vector<std::string> greek_c = {"β", "γ", "δ", "κ", "λ", "μ", "ν", "π", "ρ", "σ", "τ"};
  const std::vector<std::string> greek_v = {"α", "ε", "ι", "ο", "υ", "ω", "η"};
  std::vector<std::string> lexicon;
  for (int i = 0; i < 120000; ++i) {
    std::string word;
    const size_t script = pick(10);
    const size_t syllables = 1 + pick(4);
    if (script < 4) {
      for (size_t s = 0; s < syllables; ++s)
        word += latin_c[pick(latin_c.size())] + latin_v[pick(latin_v.size())];
      if (pick(3) == 0) word += latin_c[pick(latin_c.size())];
      if (pick(8) == 0) word[0] = static_cast<char>(word[0] - 'a' + 'A');
    } else if (script == 4) {
      for (size_t s = 0; s < syllables; ++s)
        word += cyr_c[pick(cyr_c.size())] + cyr_v[pick(cyr_v.size())];
    } else if (script == 5) {
      for (size_t s = 0; s < syllables; ++s)
        word += greek_c[pick(greek_c.size())] + greek_v[pick(greek_v.size())];
    } else if (script == 6) {
      for (size_t s = 0; s < 1 + syllables; ++s)
        word += Utf8(0x4E00 + static_cast<uint32_t>(pick(2500)));
    } else if (script == 7) {
      for (size_t s = 0; s < syllables; ++s)
        word += Utf8(0xAC00 + static_cast<uint32_t>(pick(1500)));
    } else {
      for (size_t s = 0; s < syllables; ++s) {
        if (s > 0) word += pick(2) ? "_" : "";
        word += latin_c[pick(latin_c.size())] + latin_v[pick(latin_v.size())];
      }
      if (pick(2)) word += pick(2) ? "()" : "[i]";
    }
    lexicon.push_back(std::move(word));
  }
  const std::vector<std::string> joins = {" ", " ", " ", " ", ", ", ". ", " = ", "; ", "  ", "\t"};
  std::vector<std::string> corpus;
  for (size_t i = 0; i < sentences; ++i) {
    std::string line;
    const size_t words = 4 + pick(16);
    for (size_t w = 0; w < words; ++w) {
      // Zipf-like: rank ~ 1 / u^2 over the lexicon.
      const double u = (static_cast<double>(rng()) + 1.0) / 4294967297.0;
      const size_t rank = static_cast<size_t>(static_cast<double>(lexicon.size()) * u * u * u);
      if (w > 0) line += joins[pick(joins.size())];
      line += lexicon[std::min(rank, lexicon.size() - 1)];
      if (pick(20) == 0) line += absl::StrCat(" ", rng() % 10000);
    }
    corpus.push_back(std::move(line));
  }
  return corpus;
}

std::vector<std::pair<std::string, std::string>> TrainerOptions(int vocab_size) {
  return {{"model_type", "bpe"},
          {"vocab_size", absl::StrCat(vocab_size)},
          {"hard_vocab_limit", "true"},
          {"byte_fallback", "true"},
          {"character_coverage", "0.9995"},
          {"split_digits", "true"},
          {"allow_whitespace_only_pieces", "true"},
          {"normalization_rule_name", "identity"},
          {"remove_extra_whitespaces", "false"},
          {"add_dummy_prefix", "true"},
          {"pad_id", "0"},
          {"bos_id", "1"},
          {"eos_id", "2"},
          {"unk_id", "3"},
          {"pad_piece", "<|pad|>"},
          {"bos_piece", "<|startoftext|>"},
          {"eos_piece", "<|endoftext|>"},
          {"unk_piece", "<|unk|>"},
          {"user_defined_symbols", "<|bom|>,<|eom|>,<|system|>,<|user|>,<|assistant|>"},
          {"num_threads", "1"},
          {"input_sentence_size", "0"},
          {"shuffle_input_sentence", "false"},
          {"max_sentence_length", "65536"},
          {"minloglevel", "1"}};
}

const std::vector<std::string>& SpecialPieces() {
  static const std::vector<std::string> pieces = {"<|pad|>",    "<|startoftext|>", "<|endoftext|>",
                                                  "<|unk|>",    "<|bom|>",         "<|eom|>",
                                                  "<|system|>", "<|user|>",        "<|assistant|>"};
  return pieces;
}

bool Write(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  return static_cast<bool>(out);
}

int Make(const std::vector<std::string>& corpus, int vocab_size, TokenizerJsonOptions options,
         const std::string& path) {
  std::string model, error;
  if (!jamba::engine::TrainSentencePieceModel(corpus, TrainerOptions(vocab_size), model, error)) {
    std::cerr << path << ": training failed: " << error << "\n";
    return 1;
  }
  options.special_pieces = SpecialPieces();
  options.bos_piece = "<|startoftext|>";
  auto json = jamba::engine::SentencePieceToTokenizerJson(model, options);
  if (!json.ok() || !Write(path, *json)) {
    std::cerr << path << ": " << (json.ok() ? "cannot write" : json.status().ToString()) << "\n";
    return 1;
  }
  std::cout << "wrote " << path << " (" << json->size() << " bytes)\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: make_test_tokenizers <demo_corpus.txt> <out dir>\n";
    return 2;
  }
  auto corpus_text = jamba::engine::ReadFileToString(argv[1]);
  if (!corpus_text.ok()) {
    std::cerr << corpus_text.status() << "\n";
    return 1;
  }
  std::vector<std::string> demo_lines;
  for (size_t start = 0; start < corpus_text->size();) {
    size_t end = corpus_text->find('\n', start);
    if (end == std::string::npos) end = corpus_text->size();
    if (end > start) demo_lines.push_back(corpus_text->substr(start, end - start));
    start = end + 1;
  }
  const std::string out = argv[2];

  TokenizerJsonOptions legacy;
  legacy.style = TokenizerJsonOptions::Style::kLegacyPrepend;
  legacy.extra_tokens = {
      {.content = "<|tool|>", .special = true},
      {.content = "<|im_start|>", .special = true},
      {.content = "<|im_end|>", .special = true},
      // Non-special, normalized: matched in the normalized text, where the Prepend normalizer
      // also turned the pattern into "▁<think>".
      {.content = "<think>", .special = false, .normalized = true},
      {.content = "</think>", .special = false, .lstrip = true, .rstrip = true},
  };
  if (Make(demo_lines, 4096, legacy, out + "/llama_legacy_jamba.json") != 0) return 1;

  TokenizerJsonOptions metaspace;
  metaspace.style = TokenizerJsonOptions::Style::kMetaspace;
  metaspace.merges_as_pairs = true;
  metaspace.extra_tokens = {
      {.content = "<|tool|>", .special = true},
      {.content = "<|im_start|>", .special = true},
      {.content = "<|im_end|>", .special = true},
      {.content = "<think>", .special = true},
      {.content = "</think>", .special = true},
      {.content = "<tool_call>", .special = false, .single_word = true},
  };
  return Make(GeneratedCorpus(300000), 65536, metaspace, out + "/metaspace_65536.json");
}
