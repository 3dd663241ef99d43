// Example: ingest a document into a jambad session once, then resume it from a new process.
//
//   resume_document --step ingest --server HOST:PORT --api-key KEY --session notes
//       --document contract.txt --question "Who are the parties?"
//   resume_document --step resume --server HOST:PORT --api-key KEY --session notes
//       --question "When does it end?"
//
// (each command on one line).
//
// `ingest` creates the session, streams the file into it with progress, and asks a question
// without committing it; `resume` (any later process, even after a server restart) asks another
// question of the stored session: its usage shows the document's tokens restored, not
// recomputed. TLS: --ca FILE; mutual TLS: also --cert FILE --key FILE.
#include <iostream>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "jamba/client/client.h"

namespace {

using jamba::client::Client;

absl::Status Ask(Client& client, const std::string& session, const std::string& question) {
  jamba::v1::GenerateRequest request;
  request.mutable_session()->set_session(jamba::client::SessionName(session));
  request.mutable_session()->set_text("\n\nQuestion: " + question + "\nAnswer:");
  request.set_max_tokens(48);
  request.mutable_sampling()->set_temperature(0.7f);
  request.mutable_sampling()->set_seed(7);
  std::cout << "Q: " << question << "\nA:";
  absl::StatusOr<jamba::client::GenerateResult> result =
      client.Generate(request, [](const jamba::v1::GenerateResponse& delta) {
        std::cout << delta.text() << std::flush;  // the answer as it is generated
      });
  if (!result.ok()) return result.status();
  const jamba::v1::Usage& usage = result->usage;
  std::cout << "\n[" << jamba::v1::FinishReason_Name(result->finish_reason) << "; "
            << usage.prompt_tokens() << " prompt tokens: " << usage.restored_tokens()
            << " restored, " << usage.recomputed_tokens() << " computed; "
            << usage.completion_tokens() << " generated]\n";
  return absl::OkStatus();
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
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Connect(options);
  if (!client.ok()) return client.status();
  const std::string session = flags["--session"];

  if (flags["--step"] == "ingest") {
    absl::StatusOr<jamba::v1::Session> created = (*client)->CreateSession(session);
    if (!created.ok()) return created.status();
    jamba::client::AppendOptions append;
    append.chunk_bytes = 64 * 1024;
    append.on_progress = [](const jamba::v1::AppendProgress& progress) {
      std::cerr << "  " << progress.bytes_received() << " bytes, " << progress.tokens_processed()
                << "/" << progress.tokens_received() << " tokens processed\n";
    };
    absl::StatusOr<jamba::v1::Session> ingested =
        (*client)->AppendFile(session, flags["--document"], append);
    if (!ingested.ok()) return ingested.status();
    std::cout << "ingested " << ingested->name() << ": " << ingested->token_count() << " tokens\n";
  } else if (flags["--step"] == "resume") {
    absl::StatusOr<jamba::v1::Session> stored = (*client)->GetSession(session);
    if (!stored.ok()) return stored.status();
    std::cout << "resuming " << stored->name() << ": " << stored->token_count() << " tokens\n";
  } else {
    return absl::InvalidArgumentError("--step must be ingest or resume");
  }
  return Ask(**client, session, flags["--question"]);
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> flags = {{"--server", "127.0.0.1:50051"},
                                              {"--session", "example-document"},
                                              {"--question", "What is this document about?"}};
  for (int i = 1; i + 1 < argc; i += 2) flags[argv[i]] = argv[i + 1];
  if (argc % 2 == 0 || !flags.contains("--step") ||
      (flags["--step"] == "ingest" && !flags.contains("--document"))) {
    std::cerr << "usage: " << argv[0]
              << " --step ingest|resume [--server HOST:PORT] [--api-key KEY] [--session ID]"
                 " [--document FILE] [--question TEXT] [--ca FILE [--cert FILE --key FILE]]\n";
    return 2;
  }
  absl::Status status = Run(flags);
  if (!status.ok()) {
    // The gRPC code and, when the server sent one, the stable reason to match on.
    std::cerr << "error: " << status << " (reason: " << jamba::client::ErrorReason(status) << ")\n";
    return 1;
  }
  return 0;
}
