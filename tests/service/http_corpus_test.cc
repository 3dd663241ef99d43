// The HTTP API against hostile input: a corpus of more than 200 malformed, truncated, oversized,
// deeply nested, wrongly typed and invalid-UTF-8 requests, sent to a jambad server running in
// this process (so that `scripts/test-sanitizers` runs it under ASan, UBSan and LSan), each
// answered with a 4xx status and OpenAI's error object; the server stays healthy and still
// serves a valid request afterwards.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "jamba/engine.h"
#include "nlohmann/json.hpp"
#include "service/auth.h"
#include "service/config.h"
#include "service/logging.h"
#include "service/server.h"
#include "tests/util/test_util.h"

namespace jamba::service {
namespace {

using Json = nlohmann::json;
using ::jamba::testing::BinaryDir;
using ::jamba::testing::TempDir;

constexpr char kKey[] = "corpus-key";

// One case: what is sent, and where.
struct Case {
  std::string name;
  std::string path = "/v1/chat/completions";
  std::string body;
  httplib::Headers headers = {{"Authorization", absl::StrCat("Bearer ", kKey)}};
};

class HttpCorpusTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // As jambad's main: a write to a client that has gone fails instead of killing the process.
    signal(SIGPIPE, SIG_IGN);
    dir_ = new TempDir();
    EngineOptions engine_options;
    engine_options.threads = 1;
    engine_options.session_dir = dir_->File("sessions");
    engine_ = Engine::Open(BinaryDir() + "/demo-model", engine_options).value().release();
    auth_ = new Authenticator(
        Authenticator::FromKeyFileText(KeyFileLine(kKey, "corpus"), "keys").value());
    logger_ = new Logger(LogLevel::kError);
    JambadConfig config;
    config.model = BinaryDir() + "/demo-model";
    config.listen = "127.0.0.1:0";
    config.metrics_listen = "";
    config.http_listen = "127.0.0.1:0";
    config.http_threads = 4;
    config.worker_threads = 2;
    config.session_dir = engine_options.session_dir;
    config.max_completion_tokens = 64;
    config.default_max_tokens = 8;
    config.http_timeout = absl::Seconds(1);  // a client that stalls is dropped quickly
    server_ = JambaServer::Start(*engine_, config, *auth_, *logger_).value().release();
  }

  static void TearDownTestSuite() {
    delete server_;
    delete logger_;
    delete auth_;
    delete engine_;
    delete dir_;
  }

  static httplib::Client Client() {
    httplib::Client client("127.0.0.1", server_->http_port());
    client.set_read_timeout(60, 0);
    return client;
  }

  // The status line's code of a raw exchange; 0 when the server closed without one (or sent
  // none within 5 s).
  static int RawStatus(const std::string& bytes) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address = {};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(server_->http_port()));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    EXPECT_EQ(send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(bytes.size()));
    // (The client keeps its side open: cpp-httplib answers nobody who has half-closed.)
    timeval timeout = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    std::string reply;
    char buffer[4096];
    ssize_t n = 0;
    while (reply.find("\r\n\r\n") == std::string::npos &&
           (n = recv(fd, buffer, sizeof(buffer), 0)) > 0) {
      reply.append(buffer, n);
    }
    close(fd);
    if (reply.rfind("HTTP/1.1 ", 0) != 0 || reply.size() < 12) return 0;
    return std::stoi(reply.substr(9, 3));
  }

  static inline TempDir* dir_ = nullptr;
  static inline Engine* engine_ = nullptr;
  static inline Authenticator* auth_ = nullptr;
  static inline Logger* logger_ = nullptr;
  static inline JambaServer* server_ = nullptr;
};

std::vector<Case> Corpus() {
  std::vector<Case> cases;
  auto chat = [&cases](std::string name, std::string body) {
    cases.push_back({std::move(name), "/v1/chat/completions", std::move(body)});
  };
  auto completion = [&cases](std::string name, std::string body) {
    cases.push_back({std::move(name), "/v1/completions", std::move(body)});
  };
  // Not JSON, or not an object.
  for (const char* body :
       {"",
        " ",
        "\n",
        "{",
        "}",
        "[",
        "]",
        "{}}",
        "nul",
        "tru",
        "null",
        "true",
        "42",
        "-",
        "\"text\"",
        "[]",
        "[{}]",
        "{'messages': []}",
        "{\"a\" 1}",
        "{\"a\": 1,}",
        "{\"a\": [1, 2,]}",
        "{\"a\": 01}",
        "{\"a\": 1e}",
        "{\"a\": .5}",
        "{\"a\": NaN}",
        "{\"a\": Infinity}",
        "{\"a\": -Infinity}",
        "{\"a\": \"\\x41\"}",
        "{\"a\": \"\\u12\"}",
        "{\"a\": \"\\ud800\"}",
        "{\"a\": \"\\udc00\\ud800\"}",
        "{\"a\": \"tab\there\"}",
        "{\"a\": 1 /* comment */}",
        "{\"a\": 1} // comment",
        "\xEF\xBB\xBF{\"a\": 1}x",
        "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]} trailing"}) {
    chat(absl::StrCat("malformed ", absl::CEscape(body)), body);
  }
  // A valid body cut short anywhere.
  const std::string valid =
      R"({"model": "demo-model", "messages": [{"role": "system", "content": "be brief"},)"
      R"( {"role": "user", "content": [{"type": "text", "text": "h\u00e9llo \"q\""}]}],)"
      R"( "max_tokens": 4, "temperature": 0.5, "stop": ["\n\n"], "seed": 7})";
  for (size_t cut = 1; cut < valid.size(); cut += 5) {
    chat(absl::StrCat("truncated at ", cut), valid.substr(0, cut));
  }
  // Invalid UTF-8, in values and in keys.
  for (const char* bytes : {"\xff", "\xfe\xff", "\xc0\xaf", "\xc3", "\xe2\x82", "\xf0\x9f\x98",
                            "\xed\xa0\x80", "\xf4\x90\x80\x80", "\x80",
                            "a\xbf"
                            "b",
                            "\xf8\x88\x80\x80\x80"}) {
    chat(absl::StrCat("utf-8 in content ", absl::CEscape(bytes)),
         absl::StrCat(R"({"messages": [{"role": "user", "content": ")", bytes, R"("}]})"));
    completion(absl::StrCat("utf-8 in key ", absl::CEscape(bytes)),
               absl::StrCat(R"({"prompt": "x", ")", bytes, R"(": 1})"));
  }
  // Deep nesting.
  for (int depth : {65, 100, 1000, 100000}) {
    chat(absl::StrCat("nested arrays ", depth), std::string(depth, '[') + std::string(depth, ']'));
    chat(absl::StrCat("nested in content ", depth),
         absl::StrCat(R"({"messages": [{"role": "user", "content": )", std::string(depth, '['),
                      std::string(depth, ']'), "}]}"));
  }
  std::string objects;
  for (int i = 0; i < 5000; ++i) objects += "{\"a\":";
  objects += "1" + std::string(5000, '}');
  chat("nested objects 5000", objects);
  chat("unclosed nesting", std::string(200000, '['));
  // Numbers too large, too small, fractional or negative where they cannot be.
  for (const char* field :
       {"max_tokens", "max_completion_tokens", "top_logprobs", "n", "seed", "top_k"}) {
    for (const char* value : {"1e400", "-1e400", "123456789012345678901234567890", "99999999999",
                              "2.5", "\"7\"", "[]", "true"}) {
      if (std::string(field) == "seed" && std::string(value) == "99999999999") continue;  // valid
      chat(absl::StrCat(field, " = ", value),
           absl::StrCat(R"({"messages": [{"role": "user", "content": "hi"}], ")", field,
                        "\": ", value, "}"));
    }
  }
  for (const char* value : {"1e308", "-3", "3", "\"hot\"", "1e-400e", "[0.5]"}) {
    chat(absl::StrCat("temperature = ", value),
         absl::StrCat(R"({"messages": [{"role": "user", "content": "hi"}], "temperature": )", value,
                      "}"));
  }
  // Wrong types and shapes.
  const char* const kHi = R"("messages": [{"role": "user", "content": "hi"}])";
  for (
      const char* extra :
      {R"("messages": 1)",
       R"("messages": "hi")",
       R"("messages": {})",
       R"("messages": [1])",
       R"("messages": [[]])",
       R"("messages": [{"role": 1, "content": "x"}])",
       R"("messages": [{"role": "user", "content": 1}])",
       R"("messages": [{"role": "user", "content": [1]}])",
       R"("messages": [{"role": "user", "content": [{"type": 1}]}])",
       R"("messages": [{"role": "user", "content": [{"type": "text"}]}])",
       R"("messages": [{"role": "user", "content": [{"type": "image_url"}]}])",
       R"("messages": [{"role": "bogus", "content": "x"}])",
       R"("messages": [{"role": "user"}])",
       R"("messages": [{"content": "x"}])",
       R"("messages": [{"role": "user", "content": "x", "name": 5}])",
       R"("messages": [{"role": "tool", "content": "x"}])",
       R"("messages": [{"role": "user", "content": "x"}, {"role": "tool", "content": "y"}])",
       R"("messages": [{"role": "user", "content": "x"}, {"role": "function", "name": "f", "content": "y"}])",
       R"("messages": [{"role": "assistant", "content": null, "tool_calls": [1]}])",
       R"("messages": [{"role": "assistant", "content": null, "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "[1]"}}]}])",
       R"("messages": [{"role": "assistant", "content": null, "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{"}}]}])",
       R"("messages": [{"role": "assistant", "content": null, "tool_calls": [{"id": "c", "type": "web", "function": {"name": "f"}}]}])",
       R"("messages": [{"role": "user", "content": "a"}, {"role": "system", "content": "b"}])",
       R"("messages": [])",
       R"("messages": null)"}) {
    chat(absl::StrCat("shape ", extra), absl::StrCat("{", extra, "}"));
  }
  for (
      const char* extra :
      {R"("stream": "yes")",
       R"("stream": 1)",
       R"("stop": 5)",
       R"("stop": [1])",
       R"("stop": "")",
       R"("stop": {"a": 1})",
       R"("top_p": [])",
       R"("top_p": 0)",
       R"("top_p": 2)",
       R"("seed": "1")",
       R"("logprobs": 1)",
       R"("top_logprobs": true)",
       R"("top_logprobs": 3)",
       R"("logprobs": true, "top_logprobs": 21)",
       R"("tools": {})",
       R"("tools": [1])",
       R"("tools": [{"type": "function"}])",
       R"("tools": [{"type": "function", "function": {"name": "f", "strict": true}}])",
       R"("tools": [{"type": "function", "function": {"name": "no spaces"}}])",
       R"("tools": [{"type": "function", "function": {"name": "f", "parameters": []}}])",
       R"("tools": [{"type": "function", "function": {"name": "f"}}, {"type": "function", "function": {"name": "f"}}])",
       R"("tool_choice": {"type": "function", "function": {"name": "g"}}, "tools": [{"type": "function", "function": {"name": "f"}}])",
       R"("documents": {})",
       R"("documents": [1])",
       R"("documents": [{"title": 1, "text": "x"}])",
       R"("documents": [{"title": "no text"}])",
       R"("chat_template_kwargs": 1)",
       R"("chat_template_kwargs": [true])",
       R"("tool_choice": 5)",
       R"("tool_choice": "required")",
       R"("tool_choice": {"type": "function"})",
       R"("functions": [{"name": "f"}])",
       R"("stream_options": 1)",
       R"("stream_options": {"include_usage": "yes"})",
       R"("user": 5)",
       R"("model": 5)",
       R"("model": "gpt-4o")",
       R"("session": 5)",
       R"("session": "bogus")",
       R"("session": "sessions/Bad_Id")",
       R"("session": "sessions/absent")",
       R"("session_commit": true)",
       R"("session": "sessions/x", "session_commit": "yes")",
       R"("response_format": {"type": "json_schema"})",
       R"("response_format": "json")",
       R"("n": 2)",
       R"("n": 0)",
       R"("logit_bias": {"1": 5})",
       R"("logit_bias": [])",
       R"("presence_penalty": 3)",
       R"("frequency_penalty": -3)",
       R"("min_p": 1)",
       R"("repetition_penalty": 0)",
       R"("stop_token_ids": [-1])",
       R"("ignore_eos": "no")",
       R"("max_tokens": 0)",
       R"("max_tokens": 65)",
       R"("max_tokens": -1)"}) {
    chat(absl::StrCat("field ", extra), absl::StrCat("{", kHi, ", ", extra, "}"));
  }
  for (const char* extra : {R"("prompt": 1)",
                            R"("prompt": {})",
                            R"("prompt": [])",
                            R"("prompt": [[]])",
                            R"("prompt": ["a", "b"])",
                            R"("prompt": [1, "a"])",
                            R"("prompt": [-1])",
                            R"("prompt": [1099511627776])",
                            R"("prompt": [1.5])",
                            R"("prompt": [[1], [2]])",
                            R"("prompt": "")",
                            R"("prompt": null)",
                            R"("prompt": "x", "echo": true)",
                            R"("prompt": "x", "suffix": "y")",
                            R"("prompt": "x", "best_of": 2)",
                            R"("prompt": "x", "logprobs": true)",
                            R"("prompt": "x", "logprobs": 21)",
                            R"("prompt": "x", "logprobs": -1)",
                            R"("prompt": "x", "stop": [""])",
                            R"("prompt": [999999])"}) {
    completion(absl::StrCat("completion ", extra), absl::StrCat("{", extra, "}"));
  }
  // A prompt far over the context window (tokenization stops one token past it).
  completion("prompt over the context",
             absl::StrCat(R"({"prompt": ")", std::string(1 << 20, 'a'), R"("})"));
  // Over max_request_bytes (4 MiB): 413 however the bytes look.
  completion("5 MiB of JSON", absl::StrCat(R"({"prompt": ")", std::string(5 << 20, 'a'), R"("})"));
  completion("10 MiB of JSON",
             absl::StrCat(R"({"prompt": ")", std::string(10 << 20, 'b'), R"("})"));
  chat("10 MiB of garbage", std::string(10 << 20, '\xff'));
  chat("10 MiB of nesting", std::string(10 << 20, '['));
  // Headers.
  Case no_key{"no key", "/v1/chat/completions", absl::StrCat("{", kHi, "}"), {}};
  cases.push_back(no_key);
  Case wrong_key = no_key;
  wrong_key.name = "wrong key";
  wrong_key.headers = {{"Authorization", "Bearer nope"}};
  cases.push_back(wrong_key);
  Case spaced_key = no_key;
  spaced_key.name = "key with a space";
  spaced_key.headers = {{"Authorization", absl::StrCat("Bearer  ", kKey)}};
  cases.push_back(spaced_key);
  for (const auto& [header, value] :
       std::vector<std::pair<std::string, std::string>>{{"X-Jamba-Timeout-Ms", "soon"},
                                                        {"X-Jamba-Timeout-Ms", "0"},
                                                        {"X-Jamba-Timeout-Ms", "-5"},
                                                        {"X-Jamba-Session", "Bad Name"},
                                                        {"X-Jamba-Session-Commit", "maybe"},
                                                        {"X-Jamba-Session-Create", "2"}}) {
    Case c{absl::StrCat("header ", header, ": ", value), "/v1/chat/completions",
           absl::StrCat("{", kHi, "}")};
    c.headers.emplace(header, value);
    cases.push_back(c);
  }
  // Routes.
  cases.push_back({"unknown route", "/v1/embeddings", "{}"});
  cases.push_back({"route with a bad byte", "/v1/\xff", "{}"});
  return cases;
}

TEST_F(HttpCorpusTest, EveryMalformedRequestGetsA4xxErrorObject) {
  const std::vector<Case> cases = Corpus();
  ASSERT_GE(cases.size(), 200u);
  std::cout << cases.size() << " requests\n";
  httplib::Client client = Client();
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    httplib::Result result = client.Post(c.path.c_str(), c.headers, c.body, "application/json");
    ASSERT_TRUE(result) << httplib::to_string(result.error());
    ASSERT_GE(result->status, 400) << result->body.substr(0, 300);
    EXPECT_LT(result->status, 500) << result->body.substr(0, 300);
    const Json body = Json::parse(result->body, nullptr, /*allow_exceptions=*/false);
    ASSERT_TRUE(body.is_object() && body.contains("error")) << result->body.substr(0, 300);
    EXPECT_TRUE(body["error"]["message"].is_string());
    EXPECT_TRUE(body["error"]["type"].is_string());
    EXPECT_TRUE(body["error"]["code"].is_string());
    EXPECT_LE(result->body.size(), 2048u);
  }
}

TEST_F(HttpCorpusTest, OversizedBodiesAre413AndMissingKeys401) {
  httplib::Client client = Client();
  httplib::Result big = client.Post(
      "/v1/completions", {{"Authorization", absl::StrCat("Bearer ", kKey)}},
      absl::StrCat(R"({"prompt": ")", std::string(10 << 20, 'c'), R"("})"), "application/json");
  ASSERT_TRUE(big);
  EXPECT_EQ(big->status, 413);
  EXPECT_EQ(Json::parse(big->body)["error"]["code"], "request_too_large");
  httplib::Result anonymous =
      client.Post("/v1/completions", R"({"prompt": "x"})", "application/json");
  ASSERT_TRUE(anonymous);
  EXPECT_EQ(anonymous->status, 401);
  EXPECT_EQ(Json::parse(anonymous->body)["error"]["code"], "api_key_missing");
}

TEST_F(HttpCorpusTest, BrokenHttpIsRefusedWithoutHarm) {
  const std::string body = R"({"prompt": "x"})";
  const std::vector<std::string> exchanges = {
      // The body is shorter than its Content-Length (the client gave up).
      absl::StrCat("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n", body),
      "GARBAGE\r\n\r\n",
      "POST /v1/completions HTTP/1.1\r\nHost x\r\n\r\n",
      absl::StrCat("POST /v1/completions HTTP/1.1\r\nHost: x\r\nX-Big: ", std::string(70000, 'h'),
                   "\r\n\r\n"),
      "POST /v1/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
      absl::StrCat("POST /v1/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
                   "4000000\r\n", std::string(1000, 'a')),
      "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
  };
  for (const std::string& bytes : exchanges) {
    const int status = RawStatus(bytes);
    EXPECT_TRUE(status == 0 || (status >= 400 && status < 500))
        << status << " for " << absl::CEscape(bytes.substr(0, 80));
  }
}

TEST_F(HttpCorpusTest, TheServerStillServesAfterTheCorpus) {
  httplib::Client client = Client();
  for (const Case& c : Corpus()) {
    if (c.body.size() < 4096) client.Post(c.path.c_str(), c.headers, c.body, "application/json");
  }
  httplib::Result health = client.Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  httplib::Result ok = client.Post(
      "/v1/chat/completions", {{"Authorization", absl::StrCat("Bearer ", kKey)}},
      R"({"messages": [{"role": "user", "content": "Once upon a time"}], "max_tokens": 4,
          "temperature": 0})",
      "application/json");
  ASSERT_TRUE(ok);
  ASSERT_EQ(ok->status, 200) << ok->body;
  const Json body = Json::parse(ok->body);
  EXPECT_EQ(body["object"], "chat.completion");
  EXPECT_GT(body["usage"]["completion_tokens"].get<int>(), 0);
}

}  // namespace
}  // namespace jamba::service
