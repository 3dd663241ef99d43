// `jamba generate --server ADDR`: a stateless Generate call on a running jambad, streamed to
// stdout (text for --prompt, token ids for --input-ids), with a summary line on stderr.
#include <iostream>

#include "absl/strings/str_cat.h"
#include "tools/cli/common.h"
#include "tools/cli/remote/client.h"

namespace jamba::cli::remote {

int RunGenerate(const Args& args) {
  const std::string command = "generate";
  FlagSpec spec;
  AddConnectionFlags(spec);
  AddSamplingFlags(spec);
  spec.values.insert({"prompt", "input-ids", "output-ids"});
  spec.booleans.insert({"quiet", "parse-special-tokens"});
  auto flags = Flags::Parse(args, spec);
  if (!flags.ok()) return Fail(command, flags.status());
  if (!flags->positional().empty()) {
    return Fail(command, absl::InvalidArgumentError(absl::StrCat(
                             "unexpected argument \"", flags->positional().front(), "\"")));
  }
  if (flags->Has("prompt") == flags->Has("input-ids")) {
    return Fail(command, absl::InvalidArgumentError("give exactly one of --prompt or --input-ids"));
  }
  v1::GenerateRequest request;
  const bool ids = flags->Has("input-ids");
  if (ids) {
    auto tokens = ReadTokenIds(*flags->Get("input-ids"));
    if (!tokens.ok()) return Fail(command, absl::InvalidArgumentError(tokens.status().message()));
    request.mutable_prompt_token_ids()->mutable_ids()->Add(tokens->begin(), tokens->end());
  } else {
    request.set_prompt(*flags->Get("prompt"));
    request.set_parse_special_tokens(flags->GetBool("parse-special-tokens"));
  }
  if (absl::Status s = ApplySamplingFlags(*flags, request); !s.ok()) return Fail(command, s);
  auto connection = Connection::FromFlags(*flags);
  if (!connection.ok()) return Fail(command, connection.status());

  // A prompt of token ids is answered in token ids (the model may have no tokenizer at all).
  bool printed = false;
  auto result = StreamGenerate(**connection, request, [&](const v1::GenerateResponse& r) {
    printed = true;
    if (ids) {
      for (const int32_t t : r.token_ids()) std::cout << t << " ";
    } else {
      std::cout << r.text();
    }
    std::cout.flush();
  });
  if (printed || result.ok()) std::cout << std::endl;  // before the summary on stderr
  if (!result.ok()) return Fail(command, result.status());
  if (auto path = flags->Get("output-ids")) {
    if (absl::Status s = WriteTokenIds(*path, result->tokens); !s.ok()) return Fail(command, s);
  }
  if (!flags->GetBool("quiet")) {
    std::cerr << "[" << (*connection)->address() << "] " << StreamSummary(*result) << "\n";
  }
  return 0;
}

}  // namespace jamba::cli::remote
