// The `jamba` command-line tool: model inspection, generation, logits, demo checkpoints, sessions,
// benchmarks and a client for jambad. Each subcommand lives in tools/cli/cmd_*.cc.
#include <iostream>
#include <string>
#include <vector>

#include "tools/cli/commands.h"
#include "tools/cli/remote/client.h"

namespace {

struct Command {
  const char* name;
  int (*run)(const jamba::cli::Args& args);
  const char* usage;
};

const Command kCommands[] = {
    {"info", jamba::cli::RunInfo, "info --model DIR [--json]"},
    {"generate", jamba::cli::RunGenerate,
     "generate --model DIR (--prompt TEXT | --input-ids IDS.npy) [--max-tokens N] [--temperature "
     "T]\n"
     "           [--top-p P] [--top-k K] [--min-p P] [--repetition-penalty R] [--seed S] [--stop "
     "TEXT]\n"
     "           [--ignore-eos] [--output-ids OUT.npy] [--threads N] [--device cpu|cuda|auto]\n"
     "           [--simd avx512|avx2|scalar] [--weights bf16|int8] [--precision auto|exact|fast]\n"
     "           [--activations fp32|bf16] [--kv-dtype fp32|bf16|int8] [--kv-memory-bytes N]\n"
     "           [--weight-memory packed|mapped] [--parse-special-tokens] [--quiet]\n"
     "  jamba generate --server HOST:PORT (--prompt TEXT | --input-ids IDS.npy) [sampling flags]\n"
     "           [--output-ids OUT.npy] [--quiet]   (streams from a running jambad)"},
    {"chat", jamba::cli::remote::RunChat,
     "chat --server HOST:PORT [--session ID] [--system TEXT] [sampling flags] [--quiet]\n"
     "           (user lines from stdin; /reset, /exit; jamba chat --help)"},
    {"tokenize", jamba::cli::RunTokenize,
     "tokenize --model DIR (--text TEXT | --file F) [--parse-special-tokens] [--no-bos] "
     "[--pieces]\n"
     "  jamba tokenize --server HOST:PORT (--text TEXT | --file F) [same flags]\n"
     "           (text is plain unless --parse-special-tokens: \"<|eom|>\" in it stays text)"},
    {"render-chat", jamba::cli::RunRenderChat,
     "render-chat --model DIR --messages FILE.json [--tools FILE.json] [--documents "
     "FILE.json]\n"
     "           [--variables JSON] [--continue] [--no-generation-prompt] [--ids]\n"
     "           (the prompt the checkpoint's chat template renders, or its token ids)"},
    {"logits", jamba::cli::RunLogits,
     "logits --model DIR --input-ids IDS.npy --out LOGITS.npy [--chunk N] [--precision ...]"},
    {"bench", jamba::cli::RunBench,
     "bench --model DIR [--json OUT] [--threads N] [--simd T] [--weights bf16|int8]\n"
     "           [--precision auto|exact|fast] [--activations fp32|bf16] [--kv-dtype "
     "fp32|bf16|int8]\n"
     "           [--weight-memory packed|mapped] [--prefill 512,4096] [--batches 1,4,16]\n"
     "           [--contexts 1024,16384] [--steps N]\n"
     "  jamba bench --context-sweep --model DIR [--attention-model DIR] [--kv-dtype D] [--contexts "
     "...]\n"
     "           [--json OUT] [--svg OUT]\n"
     "  jamba bench --max-context --model DIR [--kv-dtype D] [--headroom-gib G] [--json OUT]"},
    {"make-demo-model", jamba::cli::RunMakeDemoModel,
     "make-demo-model --out DIR [--seed S] [--preset demo|bench|reasoning-3b] [--attn-period P]\n"
     "           [--shards N]"},
    {"session", jamba::cli::RunSession,
     "session create|append|generate|fork|rewind|checkpoints|list|delete --store DIR --model DIR\n"
     "           [--tenant T] ...   (jamba session --help)\n"
     "  jamba session create|append|ask|fork|rewind|checkpoints|list|delete --server HOST:PORT "
     "..."},
};

void PrintUsage(std::ostream& out) {
  out << "usage: jamba <command> [flags]\n\ncommands:\n";
  for (const Command& c : kCommands) out << "  " << c.usage << "\n";
  out << "\n" << jamba::cli::remote::kConnectionHelp << jamba::cli::remote::kExitCodesHelp;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "help") {
    PrintUsage(argc < 2 ? std::cerr : std::cout);
    return argc < 2 ? 2 : 0;
  }
  const std::string name = argv[1];
  const std::vector<std::string> args(argv + 2, argv + argc);
  for (const Command& c : kCommands) {
    if (name == c.name) return c.run(args);
  }
  std::cerr << "jamba: unknown command \"" << name << "\"\n";
  PrintUsage(std::cerr);
  return 2;
}
