// `jamba logits --model DIR --input-ids IDS.npy --out LOGITS.npy [--chunk N]`: full-sequence
// logits as float32 [T, vocab], for comparing the engine with other implementations.
#include "engine/npy.h"
#include "tools/cli/commands.h"
#include "tools/cli/common.h"

namespace jamba::cli {

int RunLogits(const Args& args) {
  FlagSpec spec;
  AddEngineFlags(spec);
  spec.values.insert({"input-ids", "out", "chunk"});
  auto flags = Flags::Parse(args, spec);
  if (!flags.ok()) return Fail("logits", flags.status());
  auto model_dir = flags->Require("model");
  auto ids_path = flags->Require("input-ids");
  auto out_path = flags->Require("out");
  auto chunk = flags->GetInt("chunk", 512);
  for (const absl::Status& s :
       {model_dir.status(), ids_path.status(), out_path.status(), chunk.status()}) {
    if (!s.ok()) return Fail("logits", s);
  }
  if (*chunk <= 0) return Fail("logits", absl::InvalidArgumentError("--chunk must be positive"));
  auto engine_options = EngineOptionsFromFlags(*flags);
  if (!engine_options.ok()) return Fail("logits", engine_options.status());
  auto ids = ReadTokenIds(*ids_path);
  if (!ids.ok()) return Fail("logits", ids.status());
  auto engine = Engine::Open(*model_dir, *engine_options);
  if (!engine.ok()) return Fail("logits", engine.status());
  auto logits = (*engine)->ComputeLogits(*ids, *chunk);
  if (!logits.ok()) return Fail("logits", logits.status());
  const int64_t vocab = (*engine)->model_info().vocab_size;
  const absl::Status written = engine::WriteNpyFloat32(
      *out_path, {static_cast<int64_t>(ids->size()), vocab}, logits->data());
  if (!written.ok()) return Fail("logits", written);
  return 0;
}

}  // namespace jamba::cli
