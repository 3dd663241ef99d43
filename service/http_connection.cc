// ClientConnection: the socket found by its ends, watched with poll(POLLRDHUP).
#include "service/http_connection.h"

#include <dirent.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cstdlib>

namespace jamba::service {
namespace {

// (numeric host, port) of a socket address, formatted as cpp-httplib formats them.
bool HostAndPort(const sockaddr_storage& address, socklen_t length, std::string* host, int* port) {
  char name[NI_MAXHOST];
  char service[NI_MAXSERV];
  if (getnameinfo(reinterpret_cast<const sockaddr*>(&address), length, name, sizeof(name), service,
                  sizeof(service), NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
    return false;
  }
  *host = name;
  *port = std::atoi(service);
  return true;
}

bool Matches(int fd, const ConnectionEnds& ends) {
  struct stat info;
  if (fstat(fd, &info) != 0 || !S_ISSOCK(info.st_mode)) return false;
  sockaddr_storage address;
  socklen_t length = sizeof(address);
  std::string host;
  int port = -1;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0 ||
      !HostAndPort(address, length, &host, &port) || port != ends.remote_port ||
      host != ends.remote_address) {
    return false;
  }
  length = sizeof(address);
  return getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0 &&
         HostAndPort(address, length, &host, &port) && port == ends.local_port &&
         host == ends.local_address;
}

// Calls `visit` with every open descriptor of this process until it returns true.
template <typename Visit>
void ForEachDescriptor(Visit visit) {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return;
  const int own = dirfd(dir);
  while (const dirent* entry = readdir(dir)) {
    char* end = nullptr;
    const long fd = std::strtol(entry->d_name, &end, 10);
    if (end == entry->d_name || *end != '\0' || fd == own) continue;
    if (visit(static_cast<int>(fd))) break;
  }
  closedir(dir);
}

}  // namespace

ClientConnection::ClientConnection(const ConnectionEnds& ends) {
  ForEachDescriptor([&](int fd) {
    if (!Matches(fd, ends)) return false;
    fd_ = fd;
    return true;
  });
}

void ShutDownConnections(int local_port) {
  ForEachDescriptor([local_port](int fd) {
    struct stat info;
    sockaddr_storage address;
    socklen_t length = sizeof(address);
    std::string host;
    int port = -1;
    // Connected (a peer) and accepted on our port: not the listening socket, not another server's.
    if (fstat(fd, &info) == 0 && S_ISSOCK(info.st_mode) &&
        getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0 &&
        HostAndPort(address, length, &host, &port) && port == local_port) {
      length = sizeof(address);
      if (getpeername(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
        shutdown(fd, SHUT_RDWR);
      }
    }
    return false;
  });
}

bool ClientConnection::Closed() const {
  if (fd_ < 0) return false;
  pollfd watch = {fd_, POLLRDHUP, 0};
  if (poll(&watch, 1, 0) <= 0) return false;
  return (watch.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

}  // namespace jamba::service
