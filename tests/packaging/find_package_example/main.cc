// Generates from a prompt with the installed libjamba (C++ API), and reads the library version
// through the C ABI, and reads a conversation in the OpenAI JSON shape (jamba/chat_json.h), so
// every installed header is compiled and linked from libjamba.so.1.
//   generate_example MODEL_DIR PROMPT
#include <cstdio>
#include <iostream>

#include "jamba/chat_json.h"
#include "jamba/engine.h"
#include "jamba/jamba_c.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: generate_example MODEL_DIR PROMPT\n";
    return 2;
  }
  std::cout << "libjamba " << JambaGetApiBase()->GetVersionString() << "\n";
  auto engine = jamba::Engine::Open(argv[1], {.threads = 2});
  if (!engine.ok()) {
    std::cerr << engine.status() << "\n";
    return 1;
  }
  auto messages = jamba::ChatMessagesFromJson(R"([{"role": "user", "content": "hi"}])");
  if (!messages.ok() || messages->size() != 1 || messages->front().content != "hi") {
    std::cerr << "chat_json: " << messages.status() << "\n";
    return 1;
  }
  jamba::GenerateOptions options;
  options.sampling.temperature = 0;
  options.stop.max_tokens = 8;
  auto result = (*engine)->Generate(jamba::Input::Text(argv[2]), options);
  if (!result.ok()) {
    std::cerr << result.status() << "\n";
    return 1;
  }
  std::cout << "generated " << result->tokens.size() << " tokens ("
            << jamba::FinishReasonName(result->finish_reason) << "): " << result->text << "\n";
  return result->tokens.empty() ? 1 : 0;
}
