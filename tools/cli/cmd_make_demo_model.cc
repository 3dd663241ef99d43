// `jamba make-demo-model --out DIR [--seed S] [--preset demo|bench] [--attn-period P]`: writes a
// random-weight Jamba checkpoint (see tools/demo_model.h).
#include <iostream>

#include "tools/cli/commands.h"
#include "tools/cli/common.h"
#include "tools/demo_model.h"

namespace jamba::cli {

int RunMakeDemoModel(const Args& args) {
  FlagSpec spec;
  spec.values = {"out", "seed", "preset", "attn-period", "attn-offset", "shards"};
  auto flags = Flags::Parse(args, spec);
  if (!flags.ok()) return Fail("make-demo-model", flags.status());
  auto out = flags->Require("out");
  auto seed = flags->GetInt("seed", 0);
  auto shards = flags->GetInt("shards", 0);
  for (const absl::Status& s : {out.status(), seed.status(), shards.status()}) {
    if (!s.ok()) return Fail("make-demo-model", s);
  }
  tools::DemoModelOptions options;
  options.preset = flags->GetOr("preset", "demo");
  options.seed = static_cast<uint64_t>(*seed);
  options.num_shards = static_cast<int>(*shards);
  if (flags->Has("attn-period")) {
    auto period = flags->GetInt("attn-period", 8);
    if (!period.ok()) return Fail("make-demo-model", period.status());
    options.attn_layer_period = static_cast<int>(*period);
    options.attn_layer_offset = 0;
  }
  if (flags->Has("attn-offset")) {
    auto offset = flags->GetInt("attn-offset", 0);
    if (!offset.ok()) return Fail("make-demo-model", offset.status());
    options.attn_layer_offset = static_cast<int>(*offset);
  }
  if (absl::Status s = tools::WriteDemoModel(*out, options); !s.ok())
    return Fail("make-demo-model", s);
  std::cerr << "wrote " << options.preset << " model to " << *out << " (random weights)\n";
  return 0;
}

}  // namespace jamba::cli
