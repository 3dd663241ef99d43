// Debian's nginx on loopback for integration tests: deploy/nginx/jambad.conf pointed at jambad
// replicas' loopback ports (only the upstream server lines and the listen ports change), run in
// the foreground as the current user with a temporary prefix (tests/deploy/check-nginx writes the
// main config around it).
#ifndef JAMBA_TESTS_INTEGRATION_NGINX_PROCESS_H_
#define JAMBA_TESTS_INTEGRATION_NGINX_PROCESS_H_

#include <sys/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tests/util/test_util.h"

namespace jamba::testing {

inline constexpr char kNginxBinary[] = "/usr/sbin/nginx";

// A free loopback port (bound, then released for another process to take).
int FreePort();
// Whether something accepts connections on loopback `port`.
bool Accepts(int port);

// `conf` (deploy/nginx/jambad.conf) with each upstream block's server lines replaced by one line
// per port of `upstreams[name]` (keeping the shipped line's parameters), and each `listen PORT`
// replaced by `listens[PORT]` on loopback.
absl::StatusOr<std::string> PointAtReplicas(
    const std::string& conf, const std::map<std::string, std::vector<int>>& upstreams,
    const std::map<std::string, int>& listens);

// The shipped config pointed at the replicas' gRPC and HTTP ports, listening on the given ports.
absl::StatusOr<std::string> ShippedConfigFor(const std::vector<int>& grpc_ports,
                                             const std::vector<int>& http_ports, int grpc_listen,
                                             int http_listen);

// nginx -p PREFIX -c PREFIX/nginx.conf in the foreground, in a process group of its own so that
// its workers go with it; stopped on destruction.
class Nginx {
 public:
  // Starts it and waits until every port of `wait_for_ports` accepts connections.
  static absl::StatusOr<std::unique_ptr<Nginx>> Start(const std::string& conf,
                                                      const std::vector<int>& wait_for_ports);
  Nginx() = default;
  ~Nginx();
  Nginx(const Nginx&) = delete;
  Nginx& operator=(const Nginx&) = delete;

  std::string ErrorLog() const;
  std::string AccessLog(const std::string& name) const;

 private:
  std::unique_ptr<TempDir> dir_;
  pid_t pid_ = -1;
};

}  // namespace jamba::testing

#endif  // JAMBA_TESTS_INTEGRATION_NGINX_PROCESS_H_
