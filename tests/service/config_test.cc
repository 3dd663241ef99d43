// config: `key = value` files and flags, and errors that name the key and where it came from.
#include "service/config.h"

#include "gtest/gtest.h"
#include "tests/util/test_util.h"

namespace jamba::service {
namespace {

TEST(ConfigTest, FileValuesOfEveryKind) {
  JambadConfig config;
  const char* text =
      "# jambad\n"
      "model = /models/jamba-mini   # the model\n"
      "threads = 8\n"
      "activations = bf16\n"
      "weight_memory = mapped\n"
      "tool_call_format = hermes\n"
      "reasoning_format = none\n"
      "tls_require_client_cert = yes\n"
      "session_memory = 512MiB\n"
      "session_disk_quota = 2G\n"
      "session_ttl = 7d\n"
      "session_lease_ttl = 4s\n"
      "replica_id = jambad-2\n"
      "drain_timeout = 1m30s\n"
      "metrics_listen = \"\"\n"
      "\n"
      "log_level = debug\n";
  ASSERT_TRUE(ApplyConfigText(text, "jambad.conf", config).ok());
  EXPECT_EQ(config.model, "/models/jamba-mini");
  EXPECT_EQ(config.threads, 8);
  EXPECT_EQ(config.activations, "bf16");
  EXPECT_EQ(config.weight_memory, "mapped");
  EXPECT_EQ(config.tool_call_format, "hermes");
  EXPECT_EQ(config.reasoning_format, "none");
  EXPECT_TRUE(config.tls_require_client_cert);
  EXPECT_EQ(config.session_memory_bytes, int64_t{512} << 20);
  EXPECT_EQ(config.session_disk_quota_bytes, int64_t{2} << 30);
  EXPECT_EQ(config.session_ttl, absl::Hours(24 * 7));
  EXPECT_EQ(config.session_lease_ttl, absl::Seconds(4));
  EXPECT_EQ(config.replica_id, "jambad-2");
  EXPECT_EQ(config.drain_timeout, absl::Seconds(90));
  EXPECT_EQ(config.metrics_listen, "");
  EXPECT_EQ(config.log_level, "debug");
  EXPECT_EQ(config.listen, "127.0.0.1:50051");  // untouched keys keep their defaults
}

TEST(ConfigTest, PrecisionKeysDefaultToAutoAndTakeTheirValues) {
  JambadConfig config;
  EXPECT_EQ(config.precision, "auto");
  EXPECT_EQ(config.kv_dtype, "");
  EXPECT_EQ(config.kv_memory_bytes, 0);
  ASSERT_TRUE(
      ApplyConfigText("precision = exact\nkv_dtype = int8\nkv_memory = 6GiB\n", "c", config).ok());
  EXPECT_EQ(config.precision, "exact");
  EXPECT_EQ(config.kv_dtype, "int8");
  EXPECT_EQ(config.kv_memory_bytes, int64_t{6} << 30);
  EXPECT_FALSE(ApplyConfigText("precision = medium\n", "c", config).ok());
  EXPECT_FALSE(ApplyConfigText("kv_dtype = fp8_e4m3\n", "c", config).ok());
}

TEST(ConfigTest, UnknownKeysAndBadValuesNameTheKeyAndLine) {
  JambadConfig config;
  absl::Status unknown = ApplyConfigText("threads = 2\nthreadz = 3\n", "jambad.conf", config);
  EXPECT_EQ(unknown.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(unknown.message().find("jambad.conf:2"), std::string::npos) << unknown;
  EXPECT_NE(unknown.message().find("threadz"), std::string::npos);

  absl::Status bad = ApplyConfigText("\n\nthreads = many\n", "jambad.conf", config);
  EXPECT_NE(bad.message().find("jambad.conf:3: threads"), std::string::npos) << bad;
  absl::Status no_equals = ApplyConfigText("model /x\n", "c", config);
  EXPECT_NE(no_equals.message().find("c:1"), std::string::npos);
  EXPECT_FALSE(ApplyConfigText("device = tpu\n", "c", config).ok());
  EXPECT_FALSE(ApplyConfigText("activations = fp16\n", "c", config).ok());
  EXPECT_FALSE(ApplyConfigText("weight_memory = swap\n", "c", config).ok());
  EXPECT_FALSE(ApplyConfigText("tool_call_format = xml\n", "c", config).ok());
  EXPECT_FALSE(ApplyConfigText("session_ttl = soon\n", "c", config).ok());
  EXPECT_FALSE(ApplyConfigText("session_memory = -1\n", "c", config).ok());
  EXPECT_FALSE(ApplyConfigText("tls_require_client_cert = maybe\n", "c", config).ok());
}

TEST(ConfigTest, FlagsOverrideTheFile) {
  testing::TempDir dir;
  testing::WriteFile(dir.File("jambad.conf"), "model = /from/file\nthreads = 4\n");
  auto command_line = ParseCommandLine({"--config", dir.File("jambad.conf"), "--threads=6",
                                        "--max-queued-requests", "3", "--port-file", "p"});
  ASSERT_TRUE(command_line.ok()) << command_line.status();
  EXPECT_EQ(command_line->port_file, "p");
  auto config = LoadConfig(*command_line);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->model, "/from/file");
  EXPECT_EQ(config->threads, 6);
  EXPECT_EQ(config->max_queued_requests, 3);
}

TEST(ConfigTest, UnknownFlagsAreRefused) {
  auto command_line = ParseCommandLine({"--modle", "/x"});
  EXPECT_EQ(command_line.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(command_line.status().message().find("--modle"), std::string::npos);
  EXPECT_FALSE(ParseCommandLine({"--threads"}).ok());  // no value
  EXPECT_FALSE(ParseCommandLine({"stray"}).ok());
}

TEST(ConfigTest, WithoutAModelTheServiceRefusesWithAClearMessage) {
  CommandLine command_line;
  command_line.config_path = "/nonexistent/jambad.conf";  // a missing default file is fine
  auto config = LoadConfig(command_line);
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(config.status().message().find("no model configured"), std::string::npos);
  command_line.config_path_given = true;  // a missing file that was asked for is not
  EXPECT_EQ(LoadConfig(command_line).status().code(), absl::StatusCode::kNotFound);
}

TEST(ConfigTest, CrossKeyChecks) {
  JambadConfig config;
  config.model = "/m";
  EXPECT_TRUE(ValidateConfig(config).ok());
  config.tls_cert = "cert.pem";
  EXPECT_FALSE(ValidateConfig(config).ok());  // no key
  config.tls_key = "key.pem";
  config.tls_require_client_cert = true;
  EXPECT_FALSE(ValidateConfig(config).ok());  // mTLS without a client CA
  config.tls_client_ca = "ca.pem";
  EXPECT_TRUE(ValidateConfig(config).ok());
  config.default_max_tokens = config.max_completion_tokens + 1;
  EXPECT_FALSE(ValidateConfig(config).ok());
  config.default_max_tokens = config.max_completion_tokens;
  EXPECT_EQ(config.session_lease_ttl, absl::Seconds(10));  // the default
  config.session_lease_ttl = absl::Milliseconds(500);
  const absl::Status short_lease = ValidateConfig(config);
  EXPECT_FALSE(short_lease.ok());
  EXPECT_NE(short_lease.message().find("session_lease_ttl"), absl::string_view::npos);
}

TEST(ConfigTest, TheShippedDefaultConfigParses) {
  JambadConfig config;
  const std::string text =
      testing::ReadFile(std::string(JAMBA_SOURCE_DIR) + "/packaging/jambad.conf");
  ASSERT_TRUE(ApplyConfigText(text, "packaging/jambad.conf", config).ok());
  // It leaves the model unset on purpose: the service must refuse to start without one.
  EXPECT_TRUE(config.model.empty());
  EXPECT_EQ(config.listen, "127.0.0.1:50051");
}

}  // namespace
}  // namespace jamba::service
