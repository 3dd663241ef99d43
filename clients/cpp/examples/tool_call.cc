// Example: a tool-call round trip. The model is offered a weather tool; when it calls it, the
// example runs the tool and sends the result back, and the model answers from it. Reasoning is
// printed apart from the answer.
//
//   tool_call --server HOST:PORT --api-key KEY [--question "Weather in Oslo?"]
//       [--tool-choice auto|none|required|get_weather]
//
// (one line). The served model needs a chat template with tools (ModelInfo.tokenizer
// .tool_call_format "hermes" or "jamba", e.g. the reasoning-3b demo preset). A model with random
// weights rarely calls a tool by itself: --tool-choice get_weather (or required) makes the reply
// a call.
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "jamba/client/client.h"

namespace {

using jamba::client::Client;
using jamba::client::GenerateResult;

// The tool itself (a stand-in for a real weather service): its result as JSON.
std::string GetWeather(const std::string& arguments) {
  google::protobuf::Struct parsed;
  std::string city = "unknown";
  if (google::protobuf::util::JsonStringToMessage(arguments, &parsed).ok() &&
      parsed.fields().contains("city")) {
    city = parsed.fields().at("city").string_value();
  }
  return R"({"city": ")" + city + R"(", "temperature_c": 22, "conditions": "sunny"})";
}

// One assistant turn, streamed: reasoning as it comes (on stderr), tool calls once complete.
absl::StatusOr<GenerateResult> Reply(Client& client, const jamba::v1::ChatMessages& chat,
                                     const jamba::v1::ToolChoice& choice) {
  jamba::v1::GenerateRequest request = jamba::client::ChatRequest(chat);
  *request.mutable_tool_choice() = choice;
  request.set_max_tokens(64);
  request.mutable_sampling()->set_seed(7);
  absl::StatusOr<GenerateResult> result =
      client.Generate(request, [](const jamba::v1::GenerateResponse& delta) {
        std::cerr << delta.reasoning() << std::flush;
      });
  std::cerr << "\n";
  if (!result.ok()) return result.status();
  std::cout << "reasoning: '" << result->reasoning << "'\n";
  std::cout << "answer: '" << result->text << "'\n";
  std::cout << "[" << jamba::v1::FinishReason_Name(result->finish_reason) << "; "
            << result->usage.prompt_tokens() << " prompt tokens, "
            << result->usage.completion_tokens() << " generated]\n";
  return result;
}

absl::Status Run(std::map<std::string, std::string>& flags) {
  jamba::client::ClientOptions options{.target = flags["--server"], .api_key = flags["--api-key"]};
  if (flags.contains("--ca")) {
    jamba::client::TlsOptions tls;
    absl::StatusOr<std::string> ca = jamba::client::ReadFile(flags["--ca"]);
    if (!ca.ok()) return ca.status();
    tls.root_certificates = *ca;
    if (flags.contains("--cert")) {
      absl::StatusOr<std::string> cert = jamba::client::ReadFile(flags["--cert"]);
      absl::StatusOr<std::string> key = jamba::client::ReadFile(flags["--key"]);
      if (!cert.ok()) return cert.status();
      if (!key.ok()) return key.status();
      tls.certificate_chain = *cert;
      tls.private_key = *key;
    }
    options.tls = tls;
  }
  absl::StatusOr<jamba::v1::ToolChoice> choice =
      jamba::client::ParseToolChoice(flags["--tool-choice"]);
  if (!choice.ok()) return choice.status();
  absl::StatusOr<jamba::v1::Tool> weather =
      jamba::client::MakeTool("get_weather", "The current weather in a city",
                              R"({"type": "object", "properties": {"city": {"type": "string"}},)"
                              R"( "required": ["city"]})");
  if (!weather.ok()) return weather.status();
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Connect(options);
  if (!client.ok()) return client.status();

  absl::StatusOr<jamba::v1::ModelInfo> model = (*client)->GetModelInfo();
  if (!model.ok()) return model.status();
  std::cout << "tool calls read as '" << model->tokenizer().tool_call_format() << "'\n";
  jamba::v1::ChatMessages chat =
      jamba::client::Chat({jamba::client::UserMessage(flags["--question"])}, {*weather});
  absl::StatusOr<GenerateResult> first = Reply(**client, chat, *choice);
  if (!first.ok()) return first.status();
  if (first->tool_calls.empty()) return absl::OkStatus();  // answered without the tool
  *chat.add_messages() = first->AssistantMessage();        // the turn, with its calls
  for (const jamba::v1::ToolCall& call : first->tool_calls) {
    std::cout << "tool call " << call.id() << ": " << call.name() << " " << call.arguments()
              << "\n";
    const std::string result = GetWeather(call.arguments());
    std::cout << "tool result: " << result << "\n";
    *chat.add_messages() = jamba::client::ToolResultMessage(call, result);
  }
  // Generation continues from the result.
  return Reply(**client, chat, jamba::client::ToolChoiceOf(jamba::v1::ToolChoice::AUTO)).status();
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> flags = {{"--server", "127.0.0.1:50051"},
                                              {"--question", "What is the weather in Paris?"},
                                              {"--tool-choice", "auto"}};
  for (int i = 1; i + 1 < argc; i += 2) flags[argv[i]] = argv[i + 1];
  if (argc % 2 == 0) {
    std::cerr << "usage: " << argv[0]
              << " [--server HOST:PORT] [--api-key KEY] [--question TEXT]"
                 " [--tool-choice auto|none|required|NAME] [--ca FILE [--cert FILE --key FILE]]\n";
    return 2;
  }
  absl::Status status = Run(flags);
  if (!status.ok()) {
    std::cerr << "error: " << status << " (reason: " << jamba::client::ErrorReason(status) << ")\n";
    return 1;
  }
  return 0;
}
