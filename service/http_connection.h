// The client connection an HTTP request arrived on, watched for the client going away while the
// request waits on the engine, so that its generation is cancelled and its slot freed at once
// (a streamed response also notices when a write fails; a non-streamed one writes nothing until
// the end). cpp-httplib 0.11 gives a handler no handle to its connection, so the socket is found
// once, by its address pair, among the process's open descriptors; it is only ever polled,
// never read or written, and stays open until the handler returns. The same search ends the idle
// connections when the server stops.
#ifndef JAMBA_SERVICE_HTTP_CONNECTION_H_
#define JAMBA_SERVICE_HTTP_CONNECTION_H_

#include <string>

namespace jamba::service {

// The two ends of a TCP connection as cpp-httplib reports them (numeric host, port).
struct ConnectionEnds {
  std::string local_address;
  int local_port = -1;
  std::string remote_address;
  int remote_port = -1;
};

class ClientConnection {
 public:
  // Finds the socket of the connection with these ends. When none is found (it should not happen)
  // Closed() is always false: the call then runs to its end like before.
  explicit ClientConnection(const ConnectionEnds& ends);

  bool found() const { return fd_ >= 0; }
  // True once the client has closed or reset the connection (or shut down its sending side:
  // HTTP/1.1 clients do not do that while they wait for a response).
  bool Closed() const;

 private:
  int fd_ = -1;  // not owned
};

// Shuts down (without closing: their threads still own them) every connection accepted on
// `local_port`, so that cpp-httplib's threads waiting on idle keep-alive connections see the end
// at once instead of after their keep-alive timeout. For the end of a drain, once no call is left.
void ShutDownConnections(int local_port);

}  // namespace jamba::service

#endif  // JAMBA_SERVICE_HTTP_CONNECTION_H_
