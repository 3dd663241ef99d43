// `jamba tokenize --server ADDR`: ModelService.Tokenize on a running jambad, printed like the
// local command (ids on one line, then --pieces one per line).
#include <iostream>

#include "absl/strings/str_join.h"
#include "tools/cli/common.h"
#include "tools/cli/remote/client.h"

namespace jamba::cli::remote {

int RunTokenize(const Args& args) {
  const std::string command = "tokenize";
  FlagSpec spec;
  AddConnectionFlags(spec);
  spec.values.insert({"text", "file"});
  spec.booleans.insert({"parse-special-tokens", "no-bos", "pieces"});
  auto flags = Flags::Parse(args, spec);
  if (!flags.ok()) return Fail(command, flags.status());
  auto text = TextFromFlags(*flags);
  if (!text.ok()) return Fail(command, text.status());
  auto connection = Connection::FromFlags(*flags);
  if (!connection.ok()) return Fail(command, connection.status());
  v1::TokenizeRequest request;
  request.set_text(*text);
  request.set_skip_bos(flags->GetBool("no-bos"));
  request.set_parse_special_tokens(flags->GetBool("parse-special-tokens"));
  request.set_include_pieces(flags->GetBool("pieces"));
  v1::TokenizeResponse response;
  auto context = (*connection)->NewContext();
  if (absl::Status s =
          FromGrpc((*connection)->models().Tokenize(context.get(), request, &response));
      !s.ok()) {
    return Fail(command, s);
  }
  std::cout << absl::StrJoin(response.token_ids(), " ") << "\n";
  for (const std::string& piece : response.pieces()) std::cout << piece << "\n";
  return 0;
}

}  // namespace jamba::cli::remote
