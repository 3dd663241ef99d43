// libFuzzer target: arbitrary text as tokenizer.json through ParseTokenizerJson, the piece table
// and the encoder. Every input must give either an InvalidArgument error naming the file or a
// tokenizer that encodes a few texts (plain and parsing special tokens) to ids inside its table
// and decodes any ids to valid UTF-8.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/text/tokenizer_json.h"
#include "engine/text/tokenizer_json_decoder.h"
#include "engine/text/tokenizer_json_encoder.h"
#include "engine/text/utf8.h"

namespace {

void CheckError(const absl::Status& status) {
  if (status.code() != absl::StatusCode::kInvalidArgument) abort();
  if (status.message().find("tokenizer.json") == std::string::npos) abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace jamba::engine;
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto spec = ParseTokenizerJson(text, "tokenizer.json");
  if (!spec.ok()) {
    CheckError(spec.status());
    return 0;
  }
  auto table = BuildTokenizerJsonTable(*spec, "tokenizer.json");
  if (!table.ok()) {
    CheckError(table.status());
    return 0;
  }
  auto encoder = TokenizerJsonEncoder::Create(*spec, spec->added_tokens, "tokenizer.json");
  if (!encoder.ok()) {
    CheckError(encoder.status());
    return 0;
  }
  const std::string samples[] = {"", " Hello  world\n", "a<|eom|>b <think>x</think>",
                                 "東京 🦜 é", "\xE2\x96\x81\xE2\x96\x81 x"};
  for (const std::string& sample : samples) {
    for (bool parse_special : {false, true}) {
      const TextSegment segment{sample, parse_special};
      std::vector<int32_t> ids;
      if (!(*encoder)->Encode({&segment, 1}, 64, ids).ok()) abort();
      for (int32_t id : ids) {
        if (id < 0 || id >= table->table.size()) abort();
      }
      if (!IsValidUtf8(table->table.Decode(ids, parse_special))) abort();
    }
  }
  std::vector<int32_t> all;
  for (int32_t id = 0; id < table->table.size() && id < 512; ++id) all.push_back(id);
  if (!IsValidUtf8(table->table.Decode(all, false))) abort();
  return 0;
}
