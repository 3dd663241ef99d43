// metrics: the Prometheus text exposition of counters, histograms and gauges.
#include "service/metrics.h"

#include "gtest/gtest.h"

namespace jamba::service {
namespace {

bool Has(const std::string& text, const std::string& line) {
  return text.find(line + "\n") != std::string::npos;
}

TEST(MetricsTest, RendersCountersHistogramsAndGauges) {
  Metrics metrics;
  metrics.CountRequest("jamba.v1.GenerationService/Generate", "OK", 0.5);
  metrics.CountRequest("jamba.v1.GenerationService/Generate", "OK", 0.25);
  metrics.CountRequest("jamba.v1.SessionService/GetSession", "NOT_FOUND", 0.01);
  metrics.AddTokens(10, 4);
  metrics.AddPromptTokens(64, 2);
  metrics.ObserveTimeToFirstToken(0.02);
  metrics.ObserveTimeToFirstToken(7);
  metrics.ObserveInterTokenLatency(0.003);
  metrics.CountSessionLookup("hit", "prefix");
  GaugeSnapshot gauges;
  gauges.engine.queued_requests = 3;
  gauges.engine.last_batch_sequences = 2;
  gauges.engine.session_disk_bytes = 4096;
  const std::string text = metrics.Render(gauges);
  EXPECT_TRUE(Has(
      text, "jambad_requests_total{method=\"jamba.v1.GenerationService/Generate\",code=\"OK\"} 2"))
      << text;
  EXPECT_TRUE(Has(
      text,
      "jambad_requests_total{method=\"jamba.v1.SessionService/GetSession\",code=\"NOT_FOUND\"} 1"));
  EXPECT_TRUE(Has(text, "jambad_tokens_total{direction=\"in\"} 10"));
  EXPECT_TRUE(Has(text, "jambad_tokens_total{direction=\"out\"} 4"));
  EXPECT_TRUE(Has(text, "jambad_prompt_tokens_total{source=\"restored\"} 64"));
  EXPECT_TRUE(Has(text, "jambad_session_lookups_total{result=\"hit\",reason=\"prefix\"} 1"));
  // Buckets are cumulative: 0.02 is under 0.025, 7 only under 10.
  EXPECT_TRUE(Has(text, "jambad_time_to_first_token_seconds_bucket{le=\"0.025000000000000001\"} 1"))
      << text;
  EXPECT_TRUE(Has(text, "jambad_time_to_first_token_seconds_bucket{le=\"10\"} 2"));
  EXPECT_TRUE(Has(text, "jambad_time_to_first_token_seconds_bucket{le=\"+Inf\"} 2"));
  EXPECT_TRUE(Has(text, "jambad_time_to_first_token_seconds_count 2"));
  EXPECT_TRUE(Has(text, "jambad_inter_token_latency_seconds_count 1"));
  EXPECT_TRUE(Has(text, "jambad_queue_depth{queue=\"engine\"} 3"));
  EXPECT_TRUE(Has(text, "jambad_batch_size 2"));
  EXPECT_TRUE(Has(text, "jambad_session_disk_bytes 4096"));
}

TEST(MetricsTest, HostPortSplitting) {
  EXPECT_EQ(SplitHostPort("127.0.0.1:9464")->second, 9464);
  EXPECT_EQ(SplitHostPort("[::1]:0")->first, "::1");
  EXPECT_FALSE(SplitHostPort("localhost").ok());
  EXPECT_FALSE(SplitHostPort("host:99999").ok());
}

}  // namespace
}  // namespace jamba::service
