// Debian's nginx on loopback for integration tests (nginx_process.h).
#include "tests/integration/nginx_process.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <regex>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "tests/util/subprocess.h"

extern char** environ;

namespace jamba::testing {

int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    port = ntohs(address.sin_port);
  }
  close(fd);
  return port;
}

bool Accepts(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  close(fd);
  return ok;
}

absl::StatusOr<std::string> PointAtReplicas(
    const std::string& conf, const std::map<std::string, std::vector<int>>& upstreams,
    const std::map<std::string, int>& listens) {
  std::vector<std::string> out;
  std::string upstream;  // the upstream block we are in, if any
  std::set<std::string> filled;
  std::set<std::string> listened;
  const std::regex upstream_start(R"(^upstream (\w+) \{$)");
  const std::regex server_line(R"(^(\s*)server \S+:\d+( [^;]*)?;\s*$)");
  const std::regex listen_line(R"(^(\s*)listen (\d+)( [^;]*)?;(.*)$)");
  const std::vector<std::string> lines = absl::StrSplit(conf, '\n');
  for (const std::string& line : lines) {
    std::smatch m;
    if (std::regex_match(line, m, upstream_start)) {
      upstream = m[1];
    } else if (line == "}") {
      upstream.clear();
    }
    if (!upstream.empty() && std::regex_match(line, m, server_line)) {
      auto ports = upstreams.find(upstream);
      if (ports == upstreams.end()) return absl::NotFoundError("no ports for upstream " + upstream);
      if (filled.insert(upstream).second) {
        for (int port : ports->second) {
          out.push_back(absl::StrCat(m[1].str(), "server 127.0.0.1:", port, m[2].str(), ";"));
        }
      }
      continue;
    }
    if (std::regex_match(line, m, listen_line)) {
      auto port = listens.find(m[2]);
      if (port == listens.end()) return absl::NotFoundError("no port for listen " + m[2].str());
      listened.insert(m[2]);
      out.push_back(
          absl::StrCat(m[1].str(), "listen 127.0.0.1:", port->second, m[3].str(), ";", m[4].str()));
      continue;
    }
    out.push_back(line);
  }
  if (filled.size() != upstreams.size() || listened.size() != listens.size()) {
    return absl::NotFoundError(absl::StrCat("the config lacks an upstream or a listen line (",
                                            filled.size(), " upstreams, ", listened.size(),
                                            " listens filled)"));
  }
  return absl::StrJoin(out, "\n");
}

absl::StatusOr<std::string> ShippedConfigFor(const std::vector<int>& grpc_ports,
                                             const std::vector<int>& http_ports, int grpc_listen,
                                             int http_listen) {
  return PointAtReplicas(ReadFile(std::string(JAMBA_SOURCE_DIR) + "/deploy/nginx/jambad.conf"),
                         {{"jambad_grpc", grpc_ports}, {"jambad_http", http_ports}},
                         {{"50051", grpc_listen}, {"8000", http_listen}});
}

absl::StatusOr<std::unique_ptr<Nginx>> Nginx::Start(const std::string& conf,
                                                    const std::vector<int>& wait_for_ports) {
  auto nginx = std::make_unique<Nginx>();
  nginx->dir_ = std::make_unique<TempDir>();
  const std::string prefix = nginx->dir_->path();
  WriteFile(prefix + "/routing.conf", conf);
  const std::string check_nginx = std::string(JAMBA_SOURCE_DIR) + "/tests/deploy/check-nginx";
  ProcessResult rendered =
      RunProcess({"/bin/bash", "-c", "source \"$1\" && jamba_nginx_render \"$2\" \"$3\" plaintext",
                  "bash", check_nginx, prefix, prefix + "/routing.conf"});
  if (rendered.exit_code != 0) {
    return absl::InternalError("rendering the nginx config failed: " + rendered.err);
  }
  std::vector<std::string> args = {
      kNginxBinary,           "-p", prefix,       "-e", prefix + "/logs/error.log", "-c",
      prefix + "/nginx.conf", "-g", "daemon off;"};
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attributes, 0);
  const int spawned =
      posix_spawn(&nginx->pid_, argv[0], nullptr, &attributes, argv.data(), environ);
  posix_spawnattr_destroy(&attributes);
  if (spawned != 0) return absl::InternalError(absl::StrCat("cannot start nginx: errno ", spawned));
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  for (int port : wait_for_ports) {
    while (!Accepts(port)) {
      int status = 0;
      if (waitpid(nginx->pid_, &status, WNOHANG) == nginx->pid_) {
        nginx->pid_ = -1;
        return absl::InternalError("nginx exited: " + nginx->ErrorLog());
      }
      if (std::chrono::steady_clock::now() > give_up) {
        return absl::DeadlineExceededError("nginx does not listen: " + nginx->ErrorLog());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  return nginx;
}

Nginx::~Nginx() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);  // fast shutdown: the master stops its workers, then exits
  int status = 0;
  for (int i = 0; i < 250 && waitpid(pid_, &status, WNOHANG) == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(-pid_, SIGKILL);  // whatever of its group is left
  waitpid(pid_, &status, WNOHANG);
}

std::string Nginx::ErrorLog() const { return ReadFile(dir_->File("logs/error.log")); }
std::string Nginx::AccessLog(const std::string& name) const {
  return ReadFile(dir_->File("logs/" + name));
}

}  // namespace jamba::testing
