// The C++ client's conformance program: runs clients/conformance/scenario.json against a live
// jambad with jamba::client::Client and prints one JSON line per step (see
// clients/conformance/README.md).
//
// Usage: jamba_client_conformance --server HOST:PORT [--servers NAME=HOST:PORT,...]
//            --scenario FILE --prefix NAME
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "jamba/client/client.h"
#include "nlohmann/json.hpp"

namespace jamba::client {
namespace {

using Json = nlohmann::json;

// The canonical code name: "OK", "NOT_FOUND", ... (absl spells them as gRPC does).
std::string CodeName(absl::StatusCode code) { return absl::StatusCodeToString(code); }

// A JSON array of ints.
Json Ints(const std::vector<int32_t>& values) { return Json(values); }

class Scenario {
 public:
  // `servers`: "" is the default server, then the scenario's named ones.
  Scenario(std::map<std::string, std::string> servers, const std::string& path, std::string prefix)
      : servers_(std::move(servers)),
        base_dir_(std::filesystem::path(path).parent_path()),
        prefix_(std::move(prefix)) {
    absl::StatusOr<std::string> text = ReadFile(path);
    if (!text.ok()) throw std::runtime_error(std::string(text.status().message()));
    scenario_ = Json::parse(*text);
  }

  const Json& steps() const { return scenario_.at("steps"); }

  // Runs one step; the values it can record, or its error.
  absl::StatusOr<Json> Run(const Json& step) {
    const std::string call = step.at("call");
    if (call == "RestartServer") {
      Restart(step.at("server"));
      return Json::object();
    }
    Client& client = ClientFor(step);
    const std::string session = step.contains("session_id") ? Expand(step["session_id"]) : "";
    if (call == "CreateSession") return SessionValues(client.CreateSession(session));
    if (call == "GetSession") return SessionValues(client.GetSession(session));
    if (call == "DeleteSession") {
      absl::Status status = client.DeleteSession(session);
      if (!status.ok()) return status;
      return Json::object();
    }
    if (call == "AppendToSession") {
      AppendOptions options;
      options.chunk_bytes = step.at("chunk_bytes").get<size_t>();
      options.on_progress = [](const v1::AppendProgress&) {};
      const std::string file = (base_dir_ / step.at("text_file").get<std::string>()).string();
      return SessionValues(client.AppendFile(session, file, options));
    }
    if (call == "ForkSession") {
      return SessionValues(client.ForkSession(session, Expand(step.at("new_session_id"))));
    }
    if (call == "ListCheckpoints") {
      absl::StatusOr<Listing<v1::Checkpoint>> listing = client.ListCheckpoints(session);
      if (!listing.ok()) return listing.status();
      Json positions = Json::array();
      for (const v1::Checkpoint& checkpoint : listing->items) {
        positions.push_back(checkpoint.token_count());
      }
      return Json{{"positions", positions}, {"pages", listing->pages}};
    }
    if (call == "RewindSession") {
      absl::StatusOr<Listing<v1::Checkpoint>> listing = client.ListCheckpoints(session);
      if (!listing.ok()) return listing.status();
      const int index =
          static_cast<int>(listing->items.size()) - 1 - step.at("checkpoint_from_end").get<int>();
      if (index < 0 || index >= static_cast<int>(listing->items.size())) {
        throw std::out_of_range("no such checkpoint before the last");
      }
      return SessionValues(client.RewindSession(session, listing->items[index].name()));
    }
    if (call == "ListSessions") {
      const std::string wanted = Expand(step.value("session_id_prefix", ""));
      absl::StatusOr<Listing<v1::Session>> listing =
          client.ListSessions(step.value("page_size", 0));
      if (!listing.ok()) return listing.status();
      Json ids = Json::array();
      for (const v1::Session& item : listing->items) {
        const std::string id = SessionId(item.name());
        if (absl::StartsWith(id, wanted)) ids.push_back(Unexpand(id));
      }
      return Json{{"session_ids", ids}, {"pages", listing->pages}};
    }
    if (call == "Generate") return Generate(client, step, session);
    throw std::invalid_argument("unknown call " + call);
  }

 private:
  Client& ClientFor(const Json& step) {
    std::string key;
    if (step.contains("api_key")) {
      key = step["api_key"];
    } else if (step.contains("key")) {
      key = scenario_.at("api_keys").at(step["key"].get<std::string>());
    }
    const std::string server = step.value("server", "");
    std::unique_ptr<Client>& client = clients_[{server, key}];
    if (client == nullptr) {
      absl::StatusOr<std::unique_ptr<Client>> connected =
          Client::Connect({.target = servers_.at(server), .api_key = key});
      if (!connected.ok()) throw std::runtime_error(connected.status().ToString());
      client = *std::move(connected);
    }
    return *client;
  }

  // Asks the runner to restart a server (a control line on stdout) and waits for its new
  // address on stdin.
  void Restart(const std::string& server) {
    std::erase_if(clients_, [&](const auto& entry) { return entry.first.first == server; });
    std::cout << Json{{"control", "restart"}, {"server", server}}.dump() << std::endl;
    std::string reply;
    std::getline(std::cin, reply);
    const std::vector<std::string> parts = absl::StrSplit(reply, absl::MaxSplits('=', 1));
    if (parts.size() != 2 || parts[0] != server || parts[1].empty()) {
      throw std::runtime_error("the runner did not restart " + server + ": " + reply);
    }
    servers_[server] = parts[1];
  }

  // The step's chat, if it has one: the history of an earlier step with its reply
  // ("history_from"), the step's own messages, tools, documents and template variables, then a
  // result for each tool call of an earlier step's reply ("tool_results").
  std::optional<v1::ChatMessages> Conversation(const Json& step) const {
    bool chat = step.contains("tool_results");
    for (const char* key :
         {"history_from", "messages", "tools", "documents", "template_variables"}) {
      chat |= step.contains(key);
    }
    if (!chat) return std::nullopt;
    v1::ChatMessages conversation;
    if (step.contains("history_from")) {
      const auto& [earlier, reply] = chats_.at(step["history_from"].get<std::string>());
      conversation = earlier;
      *conversation.add_messages() = reply.AssistantMessage();
    }
    for (const Json& m : step.value("messages", Json::array())) {
      v1::ChatMessage::Role role;
      if (!v1::ChatMessage::Role_Parse(m.at("role").get<std::string>(), &role)) {
        throw std::invalid_argument("unknown role " + m.at("role").dump());
      }
      v1::ChatMessage message = UserMessage(m.at("content").get<std::string>());
      message.set_role(role);
      *conversation.add_messages() = message;
    }
    if (step.contains("tools")) {
      conversation.clear_tools();
      for (const Json& t : step["tools"]) {
        absl::StatusOr<v1::Tool> tool = MakeTool(
            t.at("name").get<std::string>(), t.value("description", ""), t.value("parameters", ""));
        if (!tool.ok()) throw std::invalid_argument(tool.status().ToString());
        *conversation.add_tools() = *tool;
      }
    }
    if (step.contains("documents")) {
      conversation.clear_documents();
      for (const Json& d : step["documents"]) {
        *conversation.add_documents() =
            MakeDocument(d.at("text").get<std::string>(), d.value("title", ""),
                         d.value("metadata", std::map<std::string, std::string>()));
      }
    }
    if (step.contains("template_variables")) {
      conversation.set_template_variables(step["template_variables"].get<std::string>());
    }
    if (step.contains("tool_results")) {
      const Json& results = step["tool_results"];
      const GenerateResult& reply = chats_.at(results.at("for").get<std::string>()).second;
      const Json& contents = results.at("contents");
      if (reply.tool_calls.size() != contents.size()) {
        throw std::invalid_argument("the step has " + std::to_string(contents.size()) +
                                    " tool results for " + std::to_string(reply.tool_calls.size()) +
                                    " calls");
      }
      for (size_t i = 0; i < contents.size(); ++i) {
        *conversation.add_messages() =
            ToolResultMessage(reply.tool_calls[i], contents[i].get<std::string>());
      }
    }
    return conversation;
  }

  std::string Expand(const std::string& value) const {
    return absl::StrReplaceAll(value, {{"{prefix}", prefix_}});
  }

  // A session id with this client's prefix written back as {prefix}.
  std::string Unexpand(const std::string& id) const {
    if (absl::StartsWith(id, prefix_)) return "{prefix}" + id.substr(prefix_.size());
    return id;
  }

  absl::StatusOr<Json> SessionValues(const absl::StatusOr<v1::Session>& session) const {
    if (!session.ok()) return session.status();
    return Json{{"session_name", "sessions/" + Unexpand(SessionId(session->name()))},
                {"token_count", session->token_count()}};
  }

  absl::StatusOr<Json> Generate(Client& client, const Json& step, const std::string& session) {
    v1::GenerateRequest request;
    const std::optional<v1::ChatMessages> conversation = Conversation(step);
    if (step.contains("session_id")) {
      if (conversation.has_value()) {
        request = SessionChatRequest(session, *conversation, step.value("commit", false));
      } else {
        v1::SessionInput* input = request.mutable_session();
        input->set_session(SessionName(session));
        if (step.contains("text")) input->set_text(step["text"].get<std::string>());
        input->set_commit(step.value("commit", false));
      }
    } else if (conversation.has_value()) {
      request = ChatRequest(*conversation);
    } else {
      request.set_prompt(step.at("prompt").get<std::string>());
    }
    if (step.contains("tool_choice")) {
      const Json& choice = step["tool_choice"];
      v1::ToolChoice::Mode mode;
      if (!v1::ToolChoice::Mode_Parse(choice.at("mode").get<std::string>(), &mode)) {
        throw std::invalid_argument("unknown tool choice mode " + choice.at("mode").dump());
      }
      *request.mutable_tool_choice() = mode == v1::ToolChoice::FUNCTION
                                           ? ForceTool(choice.at("function").get<std::string>())
                                           : ToolChoiceOf(mode);
    }
    if (step.contains("max_tokens")) request.set_max_tokens(step["max_tokens"].get<int>());
    v1::SamplingParams* sampling = request.mutable_sampling();
    if (step.contains("temperature")) sampling->set_temperature(step["temperature"].get<float>());
    if (step.contains("top_p")) sampling->set_top_p(step["top_p"].get<float>());
    if (step.contains("seed")) sampling->set_seed(step["seed"].get<uint64_t>());
    absl::StatusOr<GenerateResult> result = client.Generate(request);
    if (!result.ok()) return result.status();
    if (conversation.has_value()) chats_[step.at("name")] = {*conversation, *result};
    const v1::Usage& usage = result->usage;
    Json calls = Json::array();
    for (const v1::ToolCall& call : result->tool_calls) {
      calls.push_back({{"id", call.id()}, {"name", call.name()}, {"arguments", call.arguments()}});
    }
    Json values = {{"token_ids", Ints(result->token_ids)},
                   {"finish_reason", v1::FinishReason_Name(result->finish_reason)},
                   {"usage",
                    {{"prompt_tokens", usage.prompt_tokens()},
                     {"restored_tokens", usage.restored_tokens()},
                     {"recomputed_tokens", usage.recomputed_tokens()},
                     {"completion_tokens", usage.completion_tokens()}}},
                   {"text", result->text},
                   {"reasoning", result->reasoning},
                   {"tool_calls", calls},
                   {"malformed_tool_call", result->malformed_tool_call}};
    if (result->session.has_value()) values["session_token_count"] = result->session->token_count();
    return values;
  }

  std::map<std::string, std::string> servers_;
  std::filesystem::path base_dir_;
  std::string prefix_;
  Json scenario_;
  std::map<std::pair<std::string, std::string>, std::unique_ptr<Client>> clients_;
  // What each chat Generate step sent and got back, for the steps that continue it.
  std::map<std::string, std::pair<v1::ChatMessages, GenerateResult>> chats_;
};

int Main(int argc, char** argv) {
  std::map<std::string, std::string> flags;
  for (int i = 1; i + 1 < argc; i += 2) flags[argv[i]] = argv[i + 1];
  const size_t known = flags.contains("--servers") ? 4 : 3;
  if (argc % 2 != 1 || flags.size() != known || !flags.contains("--server") ||
      !flags.contains("--scenario") || !flags.contains("--prefix")) {
    std::cerr << "usage: " << argv[0]
              << " --server HOST:PORT [--servers NAME=HOST:PORT,...] --scenario FILE"
                 " --prefix NAME\n";
    return 2;
  }
  std::map<std::string, std::string> servers = {{"", flags["--server"]}};
  for (absl::string_view entry : absl::StrSplit(flags["--servers"], ',', absl::SkipEmpty())) {
    const std::vector<std::string> parts = absl::StrSplit(entry, absl::MaxSplits('=', 1));
    if (parts.size() != 2 || parts[0].empty() || parts[1].empty()) {
      std::cerr << "--servers: " << entry << " is not NAME=HOST:PORT\n";
      return 2;
    }
    servers[parts[0]] = parts[1];
  }
  std::optional<Scenario> scenario;
  try {
    scenario.emplace(servers, flags["--scenario"], flags["--prefix"]);
  } catch (const std::exception& error) {
    std::cerr << "cannot read the scenario: " << error.what() << "\n";
    return 2;
  }
  for (const Json& step : scenario->steps()) {
    const std::string name = step.at("name");
    std::string code;
    Json values = Json::object();
    try {
      absl::StatusOr<Json> result = scenario->Run(step);
      if (result.ok()) {
        code = "OK";
        values = *std::move(result);
      } else {
        code = CodeName(result.status().code());
        std::cerr << name << ": " << code << ": " << result.status().message() << " (reason "
                  << ErrorReason(result.status()) << ")\n";
      }
    } catch (const std::exception& error) {  // a client-side failure: recorded, the run goes on
      code = "CLIENT_ERROR";
      std::cerr << name << ": " << error.what() << "\n";
    }
    Json recorded = Json::object();
    for (const Json& key : step.value("record", Json::array())) {
      if (values.contains(key.get<std::string>())) recorded[key] = values[key];
    }
    std::cout << Json{{"step", name}, {"code", code}, {"values", recorded}}.dump() << std::endl;
  }
  return 0;
}

}  // namespace
}  // namespace jamba::client

int main(int argc, char** argv) { return jamba::client::Main(argc, argv); }
