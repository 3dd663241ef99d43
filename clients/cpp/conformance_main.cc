// The C++ client's conformance program: runs clients/conformance/scenario.json against a live
// jambad with jamba::client::Client and prints one JSON line per step (see
// clients/conformance/README.md).
//
// Usage: jamba_client_conformance --server HOST:PORT --scenario FILE --prefix NAME
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
#include "jamba/client/client.h"
#include "nlohmann/json.hpp"

namespace jamba::client {
namespace {

using Json = nlohmann::json;

// The canonical code name: "OK", "NOT_FOUND", ... (absl spells them as gRPC does).
std::string CodeName(absl::StatusCode code) { return absl::StatusCodeToString(code); }

class Scenario {
 public:
  Scenario(std::string server, const std::string& path, std::string prefix)
      : server_(std::move(server)),
        base_dir_(std::filesystem::path(path).parent_path()),
        prefix_(std::move(prefix)) {
    absl::StatusOr<std::string> text = ReadFile(path);
    if (!text.ok()) throw std::runtime_error(std::string(text.status().message()));
    scenario_ = Json::parse(*text);
  }

  const Json& steps() const { return scenario_.at("steps"); }

  // Runs one step; the values it can record, or its error.
  absl::StatusOr<Json> Run(const Json& step) {
    Client& client = ClientFor(step);
    const std::string call = step.at("call");
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
    std::unique_ptr<Client>& client = clients_[key];
    if (client == nullptr) {
      absl::StatusOr<std::unique_ptr<Client>> connected =
          Client::Connect({.target = server_, .api_key = key});
      if (!connected.ok()) throw std::runtime_error(connected.status().ToString());
      client = *std::move(connected);
    }
    return *client;
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
    if (step.contains("session_id")) {
      v1::SessionInput* input = request.mutable_session();
      input->set_session(SessionName(session));
      if (step.contains("text")) input->set_text(step["text"].get<std::string>());
      input->set_commit(step.value("commit", false));
    } else {
      request.set_prompt(step.at("prompt").get<std::string>());
    }
    if (step.contains("max_tokens")) request.set_max_tokens(step["max_tokens"].get<int>());
    v1::SamplingParams* sampling = request.mutable_sampling();
    if (step.contains("temperature")) sampling->set_temperature(step["temperature"].get<float>());
    if (step.contains("top_p")) sampling->set_top_p(step["top_p"].get<float>());
    if (step.contains("seed")) sampling->set_seed(step["seed"].get<uint64_t>());
    absl::StatusOr<GenerateResult> result = client.Generate(request);
    if (!result.ok()) return result.status();
    const v1::Usage& usage = result->usage;
    return Json{{"token_ids", result->token_ids},
                {"finish_reason", v1::FinishReason_Name(result->finish_reason)},
                {"usage",
                 {{"prompt_tokens", usage.prompt_tokens()},
                  {"restored_tokens", usage.restored_tokens()},
                  {"recomputed_tokens", usage.recomputed_tokens()},
                  {"completion_tokens", usage.completion_tokens()}}}};
  }

  std::string server_;
  std::filesystem::path base_dir_;
  std::string prefix_;
  Json scenario_;
  std::map<std::string, std::unique_ptr<Client>> clients_;
};

int Main(int argc, char** argv) {
  std::map<std::string, std::string> flags;
  for (int i = 1; i + 1 < argc; i += 2) flags[argv[i]] = argv[i + 1];
  if (argc != 7 || !flags.contains("--server") || !flags.contains("--scenario") ||
      !flags.contains("--prefix")) {
    std::cerr << "usage: " << argv[0] << " --server HOST:PORT --scenario FILE --prefix NAME\n";
    return 2;
  }
  std::optional<Scenario> scenario;
  try {
    scenario.emplace(flags["--server"], flags["--scenario"], flags["--prefix"]);
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
