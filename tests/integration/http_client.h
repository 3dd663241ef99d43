// Integration-test clients of jambad's OpenAI-compatible HTTP API: plain requests and streamed
// ones (server-sent events parsed as they arrive) with cpp-httplib, and the curl command line.
#ifndef JAMBA_TESTS_INTEGRATION_HTTP_CLIENT_H_
#define JAMBA_TESTS_INTEGRATION_HTTP_CLIENT_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"

namespace httplib {
class Client;
}  // namespace httplib

namespace jamba::testing {

// `Authorization: Bearer <key>` and other headers, by name.
using HttpHeaders = std::multimap<std::string, std::string>;
HttpHeaders Bearer(const std::string& key);

struct HttpReply {
  int status = 0;  // 0: no response (the connection failed)
  HttpHeaders headers;
  std::string body;
  nlohmann::json Json() const;  // the body parsed; discarded (is_discarded) when not JSON
  std::string Header(const std::string& name) const;
};

// A streamed reply: its events' payloads as they were parsed.
struct HttpStream {
  int status = 0;
  std::string body;                    // the whole body (an error object when status != 200)
  std::vector<nlohmann::json> events;  // every `data:` payload but [DONE]
  bool done = false;                   // ended with `data: [DONE]`
  std::string Text() const;            // the content (chat) or text (completions), concatenated
};

// Speaks HTTP/1.1 to 127.0.0.1:`port` (one keep-alive connection), or HTTPS with `ca_file`
// (and a client certificate when `cert_file` is set).
class HttpClient {
 public:
  explicit HttpClient(int port);
  HttpClient(int port, const std::string& ca_file, const std::string& cert_file = "",
             const std::string& key_file = "");
  ~HttpClient();

  HttpReply Get(const std::string& path, const HttpHeaders& headers = {});
  HttpReply Post(const std::string& path, const nlohmann::json& body,
                 const HttpHeaders& headers = {});
  HttpReply PostRaw(const std::string& path, const std::string& body,
                    const HttpHeaders& headers = {});
  // Posts and reads the event stream; `on_event` (optional) sees each payload as it arrives and
  // may return false to disconnect there.
  HttpStream Stream(const std::string& path, const nlohmann::json& body,
                    const HttpHeaders& headers = {},
                    const std::function<bool(const nlohmann::json&)>& on_event = {});
  // Closes the connection from another thread, ending a request in progress.
  void Abort();

 private:
  std::unique_ptr<httplib::Client> client_;
};

// `curl -sS <args>`: the status (from -w) and the body.
HttpReply Curl(const std::vector<std::string>& args);

}  // namespace jamba::testing

#endif  // JAMBA_TESTS_INTEGRATION_HTTP_CLIENT_H_
