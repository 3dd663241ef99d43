// libFuzzer target: arbitrary text as config.json through ParseModelConfig. Every input must give
// either an InvalidArgument error or a config whose derived figures (parameter counts, state
// sizes) compute without overflow (UndefinedBehaviorSanitizer aborts on it) and that survives
// ModelConfigToJson -> ParseModelConfig with the same canonical form.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/status/status.h"
#include "engine/model_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const auto config = jamba::engine::ParseModelConfig(text);
  if (!config.ok()) {
    if (config.status().code() != absl::StatusCode::kInvalidArgument) abort();
    if (config.status().message().find("config.json") == std::string::npos) abort();
    return 0;
  }
  const jamba::engine::ModelConfig& c = *config;
  if (static_cast<int>(c.layers.size()) != c.num_hidden_layers) abort();
  if (c.num_attention_layers() + c.num_mamba_layers() != c.num_hidden_layers) abort();
  const int64_t total = c.TotalParameters();
  const int64_t active = c.ActiveParameters();
  if (total <= 0 || active <= 0 || active > total) abort();
  if (c.KvBytesPerToken() < 0 || c.MambaStateBytes() < 0) abort();
  if (c.head_dim() * c.num_attention_heads != c.hidden_size) abort();
  const auto again = jamba::engine::ParseModelConfig(jamba::engine::ModelConfigToJson(c));
  if (!again.ok() || again->CanonicalString() != c.CanonicalString()) abort();
  return 0;
}
