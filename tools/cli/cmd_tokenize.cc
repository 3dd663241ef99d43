// `jamba tokenize`: the token ids (and with --pieces the pieces) of a text, as the engine feeds a
// prompt to the model, so a user can see exactly what a text becomes. Text is plain unless
// --parse-special-tokens: "<|eom|>" in it is then the special token, otherwise ordinary pieces.
// With --server it asks a running jambad (tools/cli/remote/tokenize.cc).
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tools/cli/commands.h"
#include "tools/cli/common.h"
#include "tools/cli/remote/client.h"

namespace jamba::cli {

int RunTokenize(const Args& args) {
  if (remote::WantsServer(args)) return remote::RunTokenize(args);
  const std::string command = "tokenize";
  FlagSpec spec;
  AddEngineFlags(spec);
  spec.values.insert({"text", "file"});
  spec.booleans.insert({"parse-special-tokens", "no-bos", "pieces"});
  auto flags = Flags::Parse(args, spec);
  if (!flags.ok()) return Fail(command, flags.status());
  auto model_dir = flags->Require("model");
  if (!model_dir.ok()) return Fail(command, model_dir.status());
  auto text = TextFromFlags(*flags);
  if (!text.ok()) return Fail(command, text.status());
  auto engine_options = EngineOptionsFromFlags(*flags);
  if (!engine_options.ok()) return Fail(command, engine_options.status());
  auto engine = Engine::Open(*model_dir, *engine_options);
  if (!engine.ok()) return Fail(command, engine.status());
  TokenizeOptions options;
  options.add_bos = !flags->GetBool("no-bos");
  options.parse_special_tokens = flags->GetBool("parse-special-tokens");
  auto ids = (*engine)->Tokenize(*text, options);
  if (!ids.ok()) return Fail(command, ids.status());
  std::cout << absl::StrJoin(*ids, " ") << "\n";
  if (flags->GetBool("pieces")) {
    for (const std::string& piece : (*engine)->TokenPieces(*ids)) std::cout << piece << "\n";
  }
  return 0;
}

}  // namespace jamba::cli
