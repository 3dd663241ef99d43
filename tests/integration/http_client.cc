// HttpClient: cpp-httplib requests, SSE parsing; Curl: popen of the curl binary.
#include "tests/integration/http_client.h"

#include <csignal>
#include <cstdio>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "httplib.h"

namespace jamba::testing {
namespace {

using Json = nlohmann::json;

httplib::Headers ToHeaders(const HttpHeaders& headers) {
  return httplib::Headers(headers.begin(), headers.end());
}

HttpReply ToReply(const httplib::Result& result) {
  HttpReply reply;
  if (!result) return reply;
  reply.status = result->status;
  reply.headers = HttpHeaders(result->headers.begin(), result->headers.end());
  reply.body = result->body;
  return reply;
}

// A write to a connection the server has closed (a refused TLS handshake, a stream the server
// cut) must fail, not kill the test with SIGPIPE (OpenSSL writes with write(2)).
void IgnoreSigpipe() { signal(SIGPIPE, SIG_IGN); }

}  // namespace

HttpHeaders Bearer(const std::string& key) { return {{"Authorization", "Bearer " + key}}; }

Json HttpReply::Json() const { return Json::parse(body, nullptr, /*allow_exceptions=*/false); }

std::string HttpReply::Header(const std::string& name) const {
  for (const auto& [key, value] : headers) {
    if (absl::EqualsIgnoreCase(key, name)) return value;
  }
  return "";
}

std::string HttpStream::Text() const {
  std::string text;
  for (const Json& event : events) {
    if (!event.contains("choices") || event["choices"].empty()) continue;
    const Json& choice = event["choices"][0];
    if (choice.contains("text")) text += choice["text"].get<std::string>();
    if (choice.contains("delta") && choice["delta"].contains("content")) {
      text += choice["delta"]["content"].get<std::string>();
    }
  }
  return text;
}

HttpClient::HttpClient(int port) : client_(std::make_unique<httplib::Client>("127.0.0.1", port)) {
  IgnoreSigpipe();
  client_->set_tcp_nodelay(true);  // (headers and body are separate writes)
  client_->set_read_timeout(120, 0);
}

HttpClient::HttpClient(int port, const std::string& ca_file, const std::string& cert_file,
                       const std::string& key_file) {
  IgnoreSigpipe();
  const std::string url = absl::StrCat("https://127.0.0.1:", port);
  client_ = cert_file.empty() ? std::make_unique<httplib::Client>(url)
                              : std::make_unique<httplib::Client>(url, cert_file, key_file);
  client_->set_ca_cert_path(ca_file);
  client_->enable_server_certificate_verification(true);
  client_->set_tcp_nodelay(true);
  client_->set_read_timeout(120, 0);
}

HttpClient::~HttpClient() = default;

HttpReply HttpClient::Get(const std::string& path, const HttpHeaders& headers) {
  return ToReply(client_->Get(path, ToHeaders(headers)));
}

HttpReply HttpClient::Post(const std::string& path, const Json& body, const HttpHeaders& headers) {
  return PostRaw(path, body.dump(), headers);
}

HttpReply HttpClient::PostRaw(const std::string& path, const std::string& body,
                              const HttpHeaders& headers) {
  return ToReply(client_->Post(path, ToHeaders(headers), body, "application/json"));
}

HttpStream HttpClient::Stream(const std::string& path, const Json& body, const HttpHeaders& headers,
                              const std::function<bool(const Json&)>& on_event) {
  HttpStream stream;
  std::string pending;  // bytes of an event not yet complete
  httplib::Request request;
  request.method = "POST";
  request.path = path;
  request.headers = ToHeaders(headers);
  request.headers.emplace("Content-Type", "application/json");
  request.body = body.dump();
  request.content_receiver = [&](const char* data, size_t length, uint64_t, uint64_t) {
    stream.body.append(data, length);
    pending.append(data, length);
    size_t end = 0;
    while ((end = pending.find("\n\n")) != std::string::npos) {
      absl::string_view event(pending.data(), end);
      bool keep_going = true;
      if (absl::ConsumePrefix(&event, "data: ")) {
        if (event == "[DONE]") {
          stream.done = true;
        } else {
          stream.events.push_back(Json::parse(event, nullptr, /*allow_exceptions=*/false));
          if (on_event) keep_going = on_event(stream.events.back());
        }
      }
      pending.erase(0, end + 2);
      if (!keep_going) return false;
    }
    return true;
  };
  // cpp-httplib hands an error status's body to the receiver too.
  httplib::Result result = client_->send(request);
  if (result) {
    stream.status = result->status;
    if (stream.body.empty()) stream.body = result->body;
  }
  return stream;
}

void HttpClient::Abort() { client_->stop(); }

HttpReply Curl(const std::vector<std::string>& args) {
  std::string command = "curl -sS -w '\\n%{http_code}'";
  for (const std::string& arg : args) {
    absl::StrAppend(&command, " '", absl::StrReplaceAll(arg, {{"'", "'\\''"}}), "'");
  }
  absl::StrAppend(&command, " 2>&1");
  HttpReply reply;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return reply;
  char buffer[4096];
  size_t n = 0;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) reply.body.append(buffer, n);
  pclose(pipe);
  const size_t last = reply.body.rfind('\n');
  if (last != std::string::npos &&
      absl::SimpleAtoi(absl::StripAsciiWhitespace(reply.body.substr(last + 1)), &reply.status)) {
    reply.body.resize(last);
  }
  return reply;
}

}  // namespace jamba::testing
