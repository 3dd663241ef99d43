// tokenizer_bench: encode throughput of the tokenizer.json BPE (TokenizerJsonEncoder) against
// SentencePiece on the same text, both from the same demo tokenizer (TrainDemoTokenizer writes
// tokenizer.model and the tokenizer.json converted from it, which encode plain text to the same
// ids). Texts: the demo corpus repeated, and a mix of CJK, code and emoji. Each is encoded as one
// document and line by line; for tokenizer.json the first (cold word cache) pass and the best of
// the warm ones are both shown. Prints a table; --json writes the figures. Never passes or fails
// on time.
//
//   tokenizer_bench [--corpus FILE] [--megabytes 4] [--json OUT]
#include <sys/utsname.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "engine/file_util.h"
#include "engine/model_config.h"
#include "engine/text/tokenizer.h"
#include "engine/text/tokenizer_trainer.h"
#include "nlohmann/json.hpp"

namespace jamba::bench {
namespace {

using Clock = std::chrono::steady_clock;
using Json = nlohmann::json;
using engine::Tokenizer;

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "unknown";
}

std::string Utf8(uint32_t cp) {
  std::string out;
  if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
  }
  out += static_cast<char>(0x80 | (cp & 0x3F));
  return out;
}

// CJK prose, code lines and emoji, about `bytes` long, one "paragraph" per line.
std::string CjkCodeMix(size_t bytes) {
  std::mt19937 rng(7);
  const std::vector<std::string> code = {"for (int i = 0; i < n; ++i) { sum += x[i] * w[i]; }",
                                         "def encode(text: str) -> list[int]:",
                                         "    return [vocab[t] for t in text.split()]",
                                         "SELECT id, name FROM users WHERE age > 30;",
                                         "const ids = await tokenizer.encode(prompt);",
                                         "#include <vector>  // std::vector<int32_t>"};
  const std::vector<std::string> emoji = {"🎉", "👍🏽", "🦜", "🇯🇵", "👨‍👩‍👧", "☕"};
  std::string text;
  while (text.size() < bytes) {
    for (int i = 0, n = 20 + static_cast<int>(rng() % 60); i < n; ++i) {
      text += rng() % 3 == 0 ? Utf8(0x3040 + rng() % 0x60) : Utf8(0x4E00 + rng() % 3000);
    }
    text += "。" + code[rng() % code.size()] + " " + emoji[rng() % emoji.size()] + "\n";
  }
  return text;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  for (size_t start = 0; start < text.size();) {
    size_t end = text.find('\n', start);
    end = end == std::string::npos ? text.size() : end + 1;
    lines.push_back(text.substr(start, end - start));
    start = end;
  }
  return lines;
}

struct Pass {
  double seconds = 0;
  size_t tokens = 0;
};

// One pass over `text` as one document, or line by line.
Pass EncodeOnce(const Tokenizer& tokenizer, const std::string& text,
                const std::vector<std::string>& lines, bool by_line) {
  Pass pass;
  const auto start = Clock::now();
  if (by_line) {
    for (const std::string& line : lines) pass.tokens += tokenizer.Encode(line, {})->size();
  } else {
    pass.tokens = tokenizer.Encode(text, {})->size();
  }
  pass.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return pass;
}

int Run(int argc, char** argv) {
  std::string corpus_path = JAMBA_DEMO_CORPUS, json_path;
  double megabytes = 4;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--corpus") {
      corpus_path = argv[i + 1];
    } else if (flag == "--megabytes" && absl::SimpleAtod(argv[i + 1], &megabytes)) {
    } else if (flag == "--json") {
      json_path = argv[i + 1];
    } else {
      std::cerr << "usage: tokenizer_bench [--corpus FILE] [--megabytes N] [--json OUT]\n";
      return 2;
    }
  }
  auto corpus = engine::ReadFileToString(corpus_path);
  if (!corpus.ok()) {
    std::cerr << corpus.status() << "\n";
    return 1;
  }
  // The demo tokenizer, its two files in separate directories.
  const std::filesystem::path root =
      std::filesystem::temp_directory_path() / absl::StrCat("tokenizer_bench_", ::getpid());
  const std::string trained = root / "trained", spm_dir = root / "spm", json_dir = root / "json";
  if (auto status = engine::TrainDemoTokenizer(*corpus, 2048, trained); !status.ok()) {
    std::cerr << status << "\n";
    return 1;
  }
  for (const auto& [dir, left_out] :
       {std::pair{spm_dir, "tokenizer.json"}, std::pair{json_dir, "tokenizer.model"}}) {
    std::filesystem::create_directories(dir);
    for (const auto& entry : std::filesystem::directory_iterator(trained)) {
      if (entry.path().filename() != left_out) {
        std::filesystem::copy_file(entry.path(),
                                   std::filesystem::path(dir) / entry.path().filename());
      }
    }
  }
  auto spm = Tokenizer::Load(spm_dir, engine::ModelConfig());
  auto json = Tokenizer::Load(json_dir, engine::ModelConfig());
  if (!spm.ok() || !json.ok()) {
    std::cerr << spm.status() << " " << json.status() << "\n";
    return 1;
  }

  const size_t bytes = static_cast<size_t>(megabytes * (1 << 20));
  std::string repeated;
  while (repeated.size() < bytes) repeated += *corpus;
  const std::vector<std::pair<std::string, std::string>> texts = {
      {"demo corpus", repeated}, {"CJK/code/emoji mix", CjkCodeMix(bytes)}};

  Json results = Json::array();
  std::cout << absl::StrFormat("%-20s %-9s %-15s %10s %10s %12s %9s\n", "text", "mode", "tokenizer",
                               "MB/s cold", "MB/s warm", "tokens", "same ids");
  for (const auto& [name, text] : texts) {
    const std::vector<std::string> lines = Lines(text);
    for (bool by_line : {false, true}) {
      const bool same = *spm->get()->Encode(text, {}) == *json->get()->Encode(text, {});
      for (const std::string& dir : {spm_dir, json_dir}) {
        // A fresh load, so the cold pass starts with an empty word cache.
        auto fresh = Tokenizer::Load(dir, engine::ModelConfig());
        if (!fresh.ok()) {
          std::cerr << fresh.status() << "\n";
          return 1;
        }
        const Tokenizer& tokenizer = **fresh;
        Pass cold = EncodeOnce(tokenizer, text, lines, by_line);
        Pass warm = cold;
        for (int round = 0; round < 3; ++round) {
          const Pass pass = EncodeOnce(tokenizer, text, lines, by_line);
          if (pass.seconds < warm.seconds) warm = pass;
        }
        const double mb = static_cast<double>(text.size()) / (1 << 20);
        std::cout << absl::StrFormat("%-20s %-9s %-15s %10.2f %10.2f %12d %9s\n", name,
                                     by_line ? "lines" : "document", tokenizer.kind(),
                                     mb / cold.seconds, mb / warm.seconds, warm.tokens,
                                     same ? "yes" : "NO");
        results.push_back({{"text", name},
                           {"mode", by_line ? "lines" : "document"},
                           {"tokenizer", tokenizer.kind()},
                           {"bytes", text.size()},
                           {"tokens", warm.tokens},
                           {"mb_per_s_first_pass", mb / cold.seconds},
                           {"mb_per_s_best_of_3", mb / warm.seconds},
                           {"same_ids_as_sentencepiece", same}});
      }
    }
  }
  std::filesystem::remove_all(root);
  std::cout << "MB = 2^20 bytes of UTF-8 input, one thread; cold: the first pass (tokenizer.json's "
               "word cache empty), warm: best of the 3 after it.\n";
  if (!json_path.empty()) {
    struct utsname un = {};
    ::uname(&un);
    const Json out = {
        {"benchmark", "tokenizer_bench"},
        {"time", absl::FormatTime(absl::RFC3339_sec, absl::Now(), absl::UTCTimeZone())},
        {"machine",
         {{"cpu", CpuModel()},
          {"hardware_threads", std::thread::hardware_concurrency()},
          {"os", absl::StrCat(un.sysname, " ", un.release)}}},
        {"tokenizer",
         "demo tokenizer (2048 pieces, byte fallback), tokenizer.model vs tokenizer.json"},
        {"results", results}};
    std::ofstream file(json_path, std::ios::trunc);
    file << out.dump(2) << "\n";
    if (!file) {
      std::cerr << "cannot write " << json_path << "\n";
      return 1;
    }
    std::cout << "wrote " << json_path << "\n";
  }
  return 0;
}

}  // namespace
}  // namespace jamba::bench

int main(int argc, char** argv) { return jamba::bench::Run(argc, argv); }
