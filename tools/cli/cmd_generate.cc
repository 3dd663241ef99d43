// `jamba generate`: streams a continuation of a prompt (text, or token ids from .npy) to stdout,
// then reports prefill and decode speed on stderr. With --server it asks a running jambad instead
// (tools/cli/remote/generate.cc).
#include <cstdio>
#include <iostream>

#include "absl/strings/str_format.h"
#include "tools/cli/commands.h"
#include "tools/cli/common.h"
#include "tools/cli/remote/client.h"

namespace jamba::cli {

int RunGenerate(const Args& args) {
  if (remote::WantsServer(args)) return remote::RunGenerate(args);
  FlagSpec spec;
  AddEngineFlags(spec);
  AddSamplingFlags(spec);
  spec.values.insert({"prompt", "input-ids", "output-ids"});
  spec.booleans.insert({"quiet", "parse-special-tokens"});
  auto flags = Flags::Parse(args, spec);
  if (!flags.ok()) return Fail("generate", flags.status());
  auto model_dir = flags->Require("model");
  if (!model_dir.ok()) return Fail("generate", model_dir.status());
  if (flags->Has("prompt") == flags->Has("input-ids")) {
    return Fail("generate",
                absl::InvalidArgumentError("give exactly one of --prompt or --input-ids"));
  }
  auto engine_options = EngineOptionsFromFlags(*flags);
  if (!engine_options.ok()) return Fail("generate", engine_options.status());
  auto generate_options = GenerateOptionsFromFlags(*flags);
  if (!generate_options.ok()) return Fail("generate", generate_options.status());
  const GenerateOptions& options = *generate_options;

  Input input;
  if (auto path = flags->Get("input-ids")) {
    auto ids = ReadTokenIds(*path);
    if (!ids.ok()) return Fail("generate", ids.status());
    input = Input::Tokens(*std::move(ids));
  } else {
    input = Input::Text(*flags->Get("prompt"));
    input.parse_special_tokens = flags->GetBool("parse-special-tokens");
  }

  auto engine = Engine::Open(*model_dir, *engine_options);
  if (!engine.ok()) return Fail("generate", engine.status());
  const bool ids_only = !(*engine)->model_info().has_tokenizer;
  if (ids_only && input.kind == Input::Kind::kText) {
    return Fail("generate", absl::FailedPreconditionError(
                                "this model has no tokenizer (tokenizer.model): use --input-ids"));
  }
  auto result = (*engine)->Generate(input, options, [&](const GenerateChunk& chunk) {
    if (ids_only) {
      for (const GeneratedToken& t : chunk.tokens) std::cout << t.token << " ";
    } else {
      std::cout << chunk.text;
    }
    std::cout.flush();
    return true;
  });
  std::cout << "\n";
  if (!result.ok()) return Fail("generate", result.status());
  if (auto path = flags->Get("output-ids")) {
    if (absl::Status s = WriteTokenIds(*path, result->tokens); !s.ok()) return Fail("generate", s);
  }
  if (!flags->GetBool("quiet")) {
    const auto& t = result->timings;
    const double prefill_tps =
        t.prefill_seconds > 0 ? result->usage.prompt_tokens / t.prefill_seconds : 0;
    // The first token is sampled at the end of prefill; the rest are decode steps.
    const int64_t decode_tokens =
        std::max<int64_t>(0, static_cast<int64_t>(result->tokens.size()) - 1);
    const double decode_tps = t.decode_seconds > 0 ? decode_tokens / t.decode_seconds : 0;
    std::cerr << absl::StrFormat(
        "[%s] prompt %d tokens, prefill %.1f tok/s (%.3f s); generated %d tokens, decode %.1f "
        "tok/s "
        "(%.3f s); finish: %s; seed %d\n",
        (*engine)->model_info().backend, result->usage.prompt_tokens, prefill_tps,
        t.prefill_seconds, result->tokens.size(), decode_tps, t.decode_seconds,
        FinishReasonName(result->finish_reason), result->seed);
  }
  return 0;
}

}  // namespace jamba::cli
