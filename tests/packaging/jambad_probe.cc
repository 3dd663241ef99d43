// jambad_probe: the client scripts/check-packages runs against the packaged jambad in a clean
// Debian root. Over real gRPC it checks the health service, reads the model info, and makes a
// session round trip: create, append text, generate from the session with commit, read the
// session back. It prints one line per step and exits 0 only if every step worked.
//
//   jambad_probe HOST:PORT [SESSION_ID]
//
// Built only with -DJAMBA_CHECK_PACKAGES=ON; it is a test tool, not part of any package.
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>

#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "jamba/v1/generation_service.grpc.pb.h"
#include "jamba/v1/model_service.grpc.pb.h"
#include "jamba/v1/session_service.grpc.pb.h"

namespace {

namespace v1 = ::jamba::v1;
using grpc::health::v1::Health;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

[[noreturn]] void Fail(const std::string& step, const grpc::Status& status) {
  std::cerr << "jambad_probe: " << step << " failed: " << status.error_code() << " "
            << status.error_message() << "\n";
  std::exit(1);
}

[[noreturn]] void Fail(const std::string& step, const std::string& why) {
  std::cerr << "jambad_probe: " << step << " failed: " << why << "\n";
  std::exit(1);
}

// A context with a deadline, so a hung server fails the check instead of stalling CI.
std::unique_ptr<grpc::ClientContext> Context() {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  return context;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::cerr << "usage: jambad_probe HOST:PORT [SESSION_ID]\n";
    return 2;
  }
  const std::string session_id = argc == 3 ? argv[2] : "package-check";
  const std::string name = "sessions/" + session_id;
  auto channel = grpc::CreateChannel(argv[1], grpc::InsecureChannelCredentials());

  // 1. Health: the server as a whole and the generation service.
  auto health = Health::NewStub(channel);
  for (const std::string service : {"", "jamba.v1.GenerationService"}) {
    HealthCheckRequest request;
    request.set_service(service);
    HealthCheckResponse response;
    grpc::Status status = health->Check(Context().get(), request, &response);
    if (!status.ok()) Fail("health check", status);
    if (response.status() != HealthCheckResponse::SERVING) {
      Fail("health check",
           "status " + std::to_string(response.status()) + " for \"" + service + "\"");
    }
  }
  std::cout << "health: SERVING\n";

  // 2. The model it serves.
  auto models = v1::ModelService::NewStub(channel);
  v1::ModelInfo info;
  grpc::Status status = models->GetModelInfo(Context().get(), v1::GetModelInfoRequest(), &info);
  if (!status.ok()) Fail("GetModelInfo", status);
  std::cout << "model: " << info.model_id() << " fingerprint " << info.fingerprint() << "\n";

  // 3. A session round trip.
  auto sessions = v1::SessionService::NewStub(channel);
  v1::CreateSessionRequest create;
  create.set_session_id(session_id);
  v1::Session created;
  status = sessions->CreateSession(Context().get(), create, &created);
  if (!status.ok()) Fail("CreateSession", status);
  std::cout << "created: " << created.name() << " tokens " << created.token_count() << "\n";

  {
    auto context = Context();
    auto stream = sessions->AppendToSession(context.get());
    v1::AppendToSessionRequest request;
    request.mutable_config()->set_session(name);
    if (!stream->Write(request)) Fail("AppendToSession", "the stream closed at the config");
    request.Clear();
    request.set_text("Once upon a time, in a small village by the sea, there lived");
    if (!stream->Write(request)) Fail("AppendToSession", "the stream closed at the text");
    stream->WritesDone();
    v1::AppendToSessionResponse response;
    v1::Session appended;
    while (stream->Read(&response)) {
      if (response.has_session()) appended = response.session();
    }
    status = stream->Finish();
    if (!status.ok()) Fail("AppendToSession", status);
    if (appended.token_count() <= created.token_count()) {
      Fail("AppendToSession", "the session did not grow");
    }
    std::cout << "appended: tokens " << appended.token_count() << "\n";
    created = appended;
  }

  v1::GenerateRequest generate;
  generate.mutable_session()->set_session(name);
  generate.mutable_session()->set_commit(true);
  generate.set_max_tokens(8);
  generate.mutable_sampling()->set_temperature(0);
  auto generation = v1::GenerationService::NewStub(channel);
  auto context = Context();
  auto reader = generation->Generate(context.get(), generate);
  v1::GenerateResponse response;
  std::string text;
  int tokens = 0;
  v1::Session committed;
  while (reader->Read(&response)) {
    text += response.text();
    tokens += response.token_ids_size();
    if (response.has_session()) committed = response.session();
  }
  status = reader->Finish();
  if (!status.ok()) Fail("Generate", status);
  if (tokens == 0) Fail("Generate", "no tokens");
  if (committed.token_count() != created.token_count() + tokens) {
    Fail("Generate", "the committed session has " + std::to_string(committed.token_count()) +
                         " tokens, expected " + std::to_string(created.token_count() + tokens));
  }
  std::cout << "generated: " << tokens << " tokens, committed; session tokens "
            << committed.token_count() << "\n";

  v1::GetSessionRequest get;
  get.set_name(name);
  v1::Session read_back;
  status = sessions->GetSession(Context().get(), get, &read_back);
  if (!status.ok()) Fail("GetSession", status);
  if (read_back.token_count() != committed.token_count()) Fail("GetSession", "token count differs");
  std::cout << "read back: " << read_back.name() << " tokens " << read_back.token_count()
            << " checkpoints " << read_back.checkpoint_count() << "\n";
  return 0;
}
