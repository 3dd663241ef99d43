// The `jamba` subcommands. Each returns the process exit code and prints its own errors.
#ifndef JAMBA_TOOLS_CLI_COMMANDS_H_
#define JAMBA_TOOLS_CLI_COMMANDS_H_

#include <string>
#include <vector>

namespace jamba::cli {

using Args = std::vector<std::string>;

int RunInfo(const Args& args);
int RunGenerate(const Args& args);
int RunLogits(const Args& args);
int RunMakeDemoModel(const Args& args);
int RunBench(const Args& args);
int RunSession(const Args& args);
int RunTokenize(const Args& args);
int RunRenderChat(const Args& args);

}  // namespace jamba::cli

#endif  // JAMBA_TOOLS_CLI_COMMANDS_H_
