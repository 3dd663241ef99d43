// jambad's OpenAI-compatible HTTP API across the server's life: SIGTERM lets an HTTP stream finish
// while new calls get 503 with Retry-After, and cuts it with an error event once drain_timeout
// passes; a session resumed over HTTP after a restart continues exactly as one that never
// stopped; a session whose files were damaged on disk is a 500 that names no server path.
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/integration/http_client.h"
#include "tests/integration/jambad_process.h"

namespace jamba::testing {
namespace {

using Json = nlohmann::json;

constexpr char kKey[] = "lifecycle-http-key";

class HttpLifecycleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string command = absl::StrCat("'", BinaryDir(), "/service/jambad' hash-key acme ",
                                             kKey, " > '", dir_.File("api-keys"), "'");
    ASSERT_EQ(std::system(command.c_str()), 0);
  }

  std::unique_ptr<JambadProcess> Start(std::vector<std::string> flags) {
    flags.insert(flags.end(),
                 {"--api-key-file", dir_.File("api-keys"), "--max-completion-tokens", "200000"});
    auto server = JambadProcess::Start(
        {.model_dir = DemoModelDir(), .session_dir = dir_.File("sessions"), .flags = flags});
    EXPECT_TRUE(server.ok()) << server.status();
    return server.ok() ? *std::move(server) : nullptr;
  }

  // A session turn: only the new message is sent.
  static Json Turn(const std::string& content, int max_tokens) {
    return {{"messages", {{{"role", "user"}, {"content", content}}}},
            {"max_tokens", max_tokens},
            {"temperature", 0.9},
            {"seed", 5},
            {"logprobs", true}};
  }

  static HttpHeaders Session(const std::string& id) {
    HttpHeaders headers = Bearer(kKey);
    headers.emplace("X-Jamba-Session", id);
    headers.emplace("X-Jamba-Session-Create", "true");
    return headers;
  }

  // Waits (a generous minute at most) until the server's HTTP health says it drains.
  static void AwaitDraining(HttpClient& client) {
    for (int i = 0; i < 6000 && client.Get("/health").status != 503; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_EQ(client.Get("/health").status, 503);
  }

  TempDir dir_;
};

TEST_F(HttpLifecycleTest, SigtermLetsAStreamFinishAndAnswersNewCalls503) {
  auto server = Start({});
  ASSERT_NE(server, nullptr);
  HttpClient streaming(server->http_port());
  std::promise<void> first;
  std::future<HttpStream> stream = std::async(std::launch::async, [&] {
    bool signalled = false;
    HttpStream out = streaming.Stream("/v1/completions",
                                      {{"prompt", "Once upon a time"},
                                       {"max_tokens", 1000},
                                       {"ignore_eos", true},
                                       {"stream", true},
                                       {"stream_options", {{"include_usage", true}}}},
                                      Bearer(kKey), [&](const Json&) {
                                        if (!signalled) first.set_value();
                                        signalled = true;
                                        return true;
                                      });
    if (!signalled) first.set_value();
    return out;
  });
  first.get_future().wait();
  server->Signal(SIGTERM);
  HttpClient client(server->http_port());
  AwaitDraining(client);
  HttpReply refused =
      client.Post("/v1/chat/completions", {{"messages", {{{"role", "user"}, {"content", "hi"}}}}},
                  Bearer(kKey));
  EXPECT_EQ(refused.status, 503) << refused.body;
  EXPECT_EQ(refused.Header("Retry-After"), "1");
  EXPECT_EQ(refused.Json()["error"]["code"], "server_unavailable");

  const HttpStream finished = stream.get();
  EXPECT_EQ(finished.status, 200);
  EXPECT_TRUE(finished.done);
  ASSERT_GE(finished.events.size(), 2u);
  EXPECT_EQ(finished.events.back()["usage"]["completion_tokens"], 1000);
  EXPECT_EQ(server->Wait(), 0);
}

TEST_F(HttpLifecycleTest, TheDrainTimeoutCutsAStreamWithAnErrorEvent) {
  auto server = Start({"--drain-timeout", "1s"});
  ASSERT_NE(server, nullptr);
  HttpClient streaming(server->http_port());
  std::promise<void> first;
  std::future<HttpStream> stream = std::async(std::launch::async, [&] {
    bool signalled = false;
    HttpStream out = streaming.Stream("/v1/completions",
                                      {{"prompt", "Once upon a time"},
                                       {"max_tokens", 150000},
                                       {"ignore_eos", true},
                                       {"stream", true}},
                                      Bearer(kKey), [&](const Json&) {
                                        if (!signalled) first.set_value();
                                        signalled = true;
                                        return true;
                                      });
    if (!signalled) first.set_value();
    return out;
  });
  first.get_future().wait();
  server->Signal(SIGTERM);
  const HttpStream cut = stream.get();
  EXPECT_FALSE(cut.done);
  ASSERT_FALSE(cut.events.empty());
  const Json& last = cut.events.back();
  ASSERT_TRUE(last.contains("error")) << last.dump();
  EXPECT_EQ(last["error"]["code"], "server_unavailable");
  EXPECT_EQ(server->Wait(), 0);
}

TEST_F(HttpLifecycleTest, ASessionResumedAfterARestartContinuesExactlyAsOneThatNeverStopped) {
  Json control_reply;
  int64_t story_tokens = 0;
  {
    auto server = Start({});
    ASSERT_NE(server, nullptr);
    HttpClient client(server->http_port());
    // Two sessions get the same first turn; the control goes on at once.
    for (const char* id : {"story", "control"}) {
      HttpReply turn =
          client.Post("/v1/chat/completions", Turn("Tell me a story.", 8), Session(id));
      ASSERT_EQ(turn.status, 200) << turn.body;
      ASSERT_EQ(turn.Json()["session"]["committed"], true);
      story_tokens = turn.Json()["session"]["token_count"];
    }
    HttpReply control = client.Post("/v1/chat/completions", Turn("Go on.", 12), Session("control"));
    ASSERT_EQ(control.status, 200) << control.body;
    control_reply = control.Json();
    server->Signal(SIGTERM);
    ASSERT_EQ(server->Wait(), 0);
  }
  auto server = Start({});
  ASSERT_NE(server, nullptr);
  HttpClient client(server->http_port());
  HttpReply resumed = client.Post("/v1/chat/completions", Turn("Go on.", 12), Session("story"));
  ASSERT_EQ(resumed.status, 200) << resumed.body;
  const Json reply = resumed.Json();
  EXPECT_EQ(reply["choices"][0]["message"]["content"],
            control_reply["choices"][0]["message"]["content"]);
  // Token by token, to the last bit of every log-probability.
  EXPECT_EQ(reply["choices"][0]["logprobs"], control_reply["choices"][0]["logprobs"]);
  EXPECT_EQ(reply["usage"]["prompt_tokens"], control_reply["usage"]["prompt_tokens"]);
  // What the first turn left was restored from disk, not computed again.
  EXPECT_EQ(reply["usage"]["prompt_tokens_details"]["cached_tokens"], story_tokens);
  EXPECT_EQ(reply["session"]["token_count"], control_reply["session"]["token_count"]);
}

TEST_F(HttpLifecycleTest, ASessionDamagedOnDiskIsA500ThatNamesNoServerPath) {
  {
    auto server = Start({});
    ASSERT_NE(server, nullptr);
    HttpClient client(server->http_port());
    ASSERT_EQ(
        client.Post("/v1/chat/completions", Turn("Remember this.", 4), Session("broken")).status,
        200);
    server->Signal(SIGTERM);
    ASSERT_EQ(server->Wait(), 0);
  }
  int damaged = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir_.File("sessions"))) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_regular_file() || !absl::StrContains(entry.path().string(), "/broken/") ||
        !(absl::EndsWith(name, ".kv") || absl::EndsWith(name, ".state"))) {
      continue;
    }
    std::fstream file(entry.path(), std::ios::in | std::ios::out | std::ios::binary);
    file.seekg(0, std::ios::end);
    const std::streamoff middle = file.tellg() / 2;
    file.seekg(middle);
    const char byte = static_cast<char>(file.get() ^ 0x5a);
    file.seekp(middle);
    file.put(byte);
    ++damaged;
  }
  ASSERT_GT(damaged, 0);
  auto server = Start({});
  ASSERT_NE(server, nullptr);
  HttpClient client(server->http_port());
  HttpReply reply = client.Post("/v1/chat/completions", Turn("And now?", 4), Session("broken"));
  EXPECT_EQ(reply.status, 500) << reply.body;
  EXPECT_EQ(reply.Json()["error"]["type"], "server_error");
  EXPECT_EQ(reply.Json()["error"]["code"], "session_corrupted");
  EXPECT_FALSE(absl::StrContains(reply.body, dir_.path())) << reply.body;
}

}  // namespace
}  // namespace jamba::testing
