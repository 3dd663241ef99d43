// libFuzzer target: arbitrary text as a chat template, parsed and rendered with a small fixed
// conversation under tight render limits. Every input must either fail to parse with
// InvalidArgument, or render to OK / InvalidArgument / ResourceExhausted, and a rendered output
// must be well-formed: segments alternate in flag and stay within the output limit.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "engine/text/jinja/template.h"
#include "nlohmann/json.hpp"

namespace {

using jamba::engine::jinja::FromJson;
using jamba::engine::jinja::Value;

const std::map<std::string, Value>& Variables() {
  static const auto* vars = [] {
    const auto messages = nlohmann::ordered_json::parse(R"([
      {"role": "system", "content": "Be brief."},
      {"role": "user", "content": "Hi <|eom|> there", "name": "bob"},
      {"role": "assistant", "content": null, "tool_calls": [
        {"type": "function", "function": {"name": "f", "arguments": {"x": 1, "y": [true, null, 2.5]}}}]},
      {"role": "tool", "content": "{\"ok\": 1}"},
      {"role": "user", "content": [{"type": "text", "text": "emoji 🙂"}, {"type": "image"}]}
    ])");
    const auto tools = nlohmann::ordered_json::parse(R"([
      {"type": "function", "function": {"name": "f", "description": "d",
       "parameters": {"type": "object", "properties": {"x": {"type": "integer"}}}}}])");
    auto* v = new std::map<std::string, Value>{
        {"messages", FromJson(messages, true)},
        {"tools", FromJson(tools, true)},
        {"documents",
         FromJson(nlohmann::ordered_json::parse(R"([{"title": "t", "text": "x"}])"), true)},
        {"bos_token", Value::String("<s>", false)},
        {"eos_token", Value::String("</s>", false)},
        {"add_generation_prompt", Value::Bool(true)},
    };
    return v;
  }();
  return *vars;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 16384) return 0;
  const std::string source(reinterpret_cast<const char*>(data), size);
  const auto tmpl = jamba::engine::jinja::Template::Parse(source);
  if (!tmpl.ok()) {
    if (tmpl.status().code() != absl::StatusCode::kInvalidArgument) abort();
    if (tmpl.status().message().find("line ") != 0) abort();
    return 0;
  }
  jamba::engine::jinja::RenderOptions options;
  options.limits.max_output_bytes = 1 << 16;
  options.limits.max_loop_iterations = 5000;
  options.limits.max_call_depth = 16;
  options.now = absl::FromUnixSeconds(1700000000);
  const auto out = tmpl->Render(Variables(), options);
  if (!out.ok()) {
    const absl::StatusCode code = out.status().code();
    if (code != absl::StatusCode::kInvalidArgument &&
        code != absl::StatusCode::kResourceExhausted) {
      abort();
    }
    return 0;
  }
  size_t total = 0;
  for (size_t i = 0; i < out->segments.size(); ++i) {
    if (out->segments[i].text.empty()) abort();
    if (i > 0 && out->segments[i].user_data == out->segments[i - 1].user_data) abort();
    total += out->segments[i].text.size();
  }
  if (total > options.limits.max_output_bytes || out->Text().size() != total) abort();
  return 0;
}
