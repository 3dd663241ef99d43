// JambadProcess: posix_spawn of the jambad binary, readiness from its stdout, and client helpers.
#include "tests/integration/jambad_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "httplib.h"
#include "nlohmann/json.hpp"

extern char** environ;

namespace jamba::testing {
namespace {

std::string JambadBinary() { return BinaryDir() + "/service/jambad"; }

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

template <typename Detail>
std::optional<Detail> FindDetail(const grpc::Status& status) {
  const google::rpc::Status details = ErrorDetails(status);
  for (const google::protobuf::Any& any : details.details()) {
    Detail detail;
    if (any.UnpackTo(&detail)) return detail;
  }
  return std::nullopt;
}

}  // namespace

std::string DemoModelDir() { return BinaryDir() + "/demo-model"; }
std::string ReasoningDemoModelDir() { return BinaryDir() + "/demo-model-reasoning-3b"; }
std::string GoldenModelDir() { return GoldenDir("hybrid8_moe_f32_sharded"); }

absl::StatusOr<std::unique_ptr<JambadProcess>> JambadProcess::Start(const JambadOptions& options) {
  auto process = std::make_unique<JambadProcess>(PrivateTag());
  process->dir_ = std::make_unique<TempDir>();
  const TempDir& dir = *process->dir_;
  process->session_dir_ = options.session_dir.empty() ? dir.File("sessions") : options.session_dir;
  WriteFile(dir.File("jambad.conf"), "# empty: the tests pass flags\n");
  std::vector<std::string> args = {JambadBinary(),
                                   "--config",
                                   dir.File("jambad.conf"),
                                   "--model",
                                   options.model_dir,
                                   "--listen",
                                   "127.0.0.1:0",
                                   "--metrics-listen",
                                   "127.0.0.1:0",
                                   "--http-listen",
                                   "127.0.0.1:0",
                                   "--session-dir",
                                   process->session_dir_,
                                   "--threads",
                                   "2",
                                   "--drain-timeout",
                                   "20s"};
  args.insert(args.end(), options.flags.begin(), options.flags.end());
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);

  const std::string out_path = dir.File("stdout");
  const std::string err_path = dir.File("stderr");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  const int spawned = posix_spawn(&process->pid_, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0) {
    return absl::InternalError(absl::StrCat("cannot start ", argv[0], ": errno ", spawned));
  }
  // Generous: a loaded 2-core machine may take a while; the demo model loads in well under 1 s.
  const absl::Time give_up = absl::Now() + absl::Seconds(120);
  while (absl::Now() < give_up) {
    std::istringstream lines(Slurp(out_path));
    std::string line;
    while (std::getline(lines, line)) {
      nlohmann::json json = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (json.is_object() && json.value("event", "") == "listening") {
        process->port_ = json.value("port", 0);
        process->metrics_port_ = json.value("metrics_port", 0);
        process->http_port_ = json.value("http_port", 0);
        return process;
      }
    }
    int status = 0;
    if (waitpid(process->pid_, &status, WNOHANG) == process->pid_) {
      process->exited_ = true;
      return absl::InternalError(
          absl::StrCat("jambad exited before listening (status ", status, "):\n", Slurp(err_path)));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return absl::DeadlineExceededError(
      absl::StrCat("jambad did not start listening:\n", Slurp(err_path)));
}

JambadProcess::~JambadProcess() {
  if (pid_ > 0 && !exited_) {
    kill(pid_, SIGKILL);
    Wait();
  }
}

std::string JambadProcess::address() const { return absl::StrCat("127.0.0.1:", port_); }

std::shared_ptr<grpc::Channel> JambadProcess::Channel() const {
  return Channel(grpc::InsecureChannelCredentials());
}

std::shared_ptr<grpc::Channel> JambadProcess::Channel(
    const std::shared_ptr<grpc::ChannelCredentials>& credentials) const {
  grpc::ChannelArguments arguments;
  // A fresh connection per channel, so that tests never share one by accident.
  arguments.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(address(), credentials, arguments);
}

void JambadProcess::Signal(int signal) const { kill(pid_, signal); }

int JambadProcess::Wait() {
  if (exited_) return exit_code_;
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  exited_ = true;
  exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return exit_code_;
}

std::string JambadProcess::Log() const { return Slurp(dir_->File("stderr")); }

std::string JambadProcess::HttpGet(const std::string& path) const {
  httplib::Client client("127.0.0.1", metrics_port_);
  httplib::Result result = client.Get(path.c_str());
  return result ? result->body : "";
}

void Authorize(grpc::ClientContext& context, const std::string& key) {
  if (!key.empty()) context.AddMetadata("authorization", "Bearer " + key);
}

google::rpc::Status ErrorDetails(const grpc::Status& status) {
  google::rpc::Status details;
  details.ParseFromString(status.error_details());
  return details;
}

std::vector<std::string> BadRequestFields(const grpc::Status& status) {
  std::vector<std::string> fields;
  if (auto bad_request = FindDetail<google::rpc::BadRequest>(status); bad_request.has_value()) {
    for (const auto& violation : bad_request->field_violations()) {
      fields.push_back(violation.field());
    }
  }
  return fields;
}

std::string ErrorReason(const grpc::Status& status) {
  auto info = FindDetail<google::rpc::ErrorInfo>(status);
  return info.has_value() ? info->reason() : "";
}

std::optional<google::rpc::ResourceInfo> ResourceInfo(const grpc::Status& status) {
  return FindDetail<google::rpc::ResourceInfo>(status);
}

std::optional<google::rpc::RetryInfo> RetryInfo(const grpc::Status& status) {
  return FindDetail<google::rpc::RetryInfo>(status);
}

GenerateOutcome Generate(v1::GenerationService::Stub& stub, const v1::GenerateRequest& request,
                         const std::string& key, std::optional<absl::Duration> timeout) {
  GenerateOutcome outcome;
  grpc::ClientContext context;
  Authorize(context, key);
  if (timeout.has_value()) {
    context.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(*timeout));
  }
  std::unique_ptr<grpc::ClientReader<v1::GenerateResponse>> reader =
      stub.Generate(&context, request);
  v1::GenerateResponse response;
  while (reader->Read(&response)) {
    outcome.text += response.text();
    outcome.tokens.insert(outcome.tokens.end(), response.token_ids().begin(),
                          response.token_ids().end());
    outcome.responses.push_back(response);
  }
  outcome.status = reader->Finish();
  if (!outcome.responses.empty()) outcome.last = outcome.responses.back();
  return outcome;
}

absl::Status MakeCertificates(const std::string& dir) {
  WriteFile(dir + "/server.ext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n");
  WriteFile(dir + "/client.ext", "extendedKeyUsage=clientAuth\n");
  const std::string key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
  const std::vector<std::string> commands = {
      absl::StrCat("openssl req -x509 ", key, " -keyout ca.key -out ca.pem -days 2 ",
                   "-subj '/CN=jamba test CA' -addext basicConstraints=critical,CA:TRUE ",
                   "-addext keyUsage=critical,keyCertSign,cRLSign"),
      absl::StrCat("openssl req ", key, " -keyout server.key -out server.csr -subj /CN=localhost"),
      "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
      "-extfile server.ext -out server.pem",
      absl::StrCat("openssl req ", key, " -keyout client.key -out client.csr -subj /CN=client"),
      "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
      "-extfile client.ext -out client.pem",
  };
  for (const std::string& command : commands) {
    const std::string full = absl::StrCat("cd '", dir, "' && ", command, " >openssl.log 2>&1");
    if (std::system(full.c_str()) != 0) {
      return absl::InternalError(
          absl::StrCat("`", command, "` failed:\n", Slurp(dir + "/openssl.log")));
    }
  }
  return absl::OkStatus();
}

}  // namespace jamba::testing
