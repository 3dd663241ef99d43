// The oracle test: every conversation of tests/data/chat_templates/cases.json rendered with each
// template of templates.json must equal, byte for byte, what @huggingface/jinja rendered
// (expected_<name>.json, made by tests/oracles/render_expected.mjs), and must fail where it failed.
// It also checks the provenance of the output: segments concatenate to the text, alternate in
// flag, and every message text that appears verbatim appears inside user-data segments.
#include <chrono>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "engine/text/jinja/template.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace jamba::engine::jinja {
namespace {

using Json = nlohmann::ordered_json;

std::string ReadSource(const std::string& relative) {
  std::ifstream in(std::string(JAMBA_SOURCE_DIR) + "/" + relative, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

Json ReadJson(const std::string& relative) {
  return Json::parse(ReadSource(relative), nullptr, /*allow_exceptions=*/false);
}

// Texts of a message's content: the string, or each text part.
std::vector<std::string> ContentTexts(const Json& content) {
  std::vector<std::string> texts;
  if (content.is_string()) texts.push_back(content.get<std::string>());
  if (content.is_array()) {
    for (const Json& part : content) {
      if (part.is_object() && part.contains("text") && part["text"].is_string()) {
        texts.push_back(part["text"].get<std::string>());
      }
    }
  }
  return texts;
}

// True if some occurrence of `needle` in the output lies wholly in user-data segments.
bool AppearsAsUserData(const RenderOutput& out, const std::string& text,
                       const std::string& needle) {
  std::vector<bool> user(text.size());
  size_t pos = 0;
  for (const RenderedSegment& s : out.segments) {
    std::fill(user.begin() + pos, user.begin() + pos + s.text.size(), s.user_data);
    pos += s.text.size();
  }
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
    if (std::all_of(user.begin() + at, user.begin() + at + needle.size(),
                    [](bool b) { return b; })) {
      return true;
    }
  }
  return false;
}

class OracleTest : public ::testing::TestWithParam<std::string> {};

TEST_P(OracleTest, RendersEveryCaseLikeTheReference) {
  const Json manifest = ReadJson("tests/data/chat_templates/templates.json");
  ASSERT_FALSE(manifest.is_discarded());
  const Json cases_file = ReadJson("tests/data/chat_templates/cases.json");
  ASSERT_FALSE(cases_file.is_discarded());
  const Json& cases = cases_file["cases"];
  ASSERT_GE(cases.size(), 500u);

  Json spec;
  for (const Json& t : manifest["templates"]) {
    if (t["name"] == GetParam()) spec = t;
  }
  ASSERT_TRUE(spec.is_object()) << GetParam();
  const Json expected = ReadJson("tests/data/chat_templates/expected_" + GetParam() + ".json");
  ASSERT_FALSE(expected.is_discarded());
  ASSERT_EQ(expected["outputs"].size(), cases.size());

  absl::StatusOr<Template> tmpl = Template::Parse(ReadSource(spec["path"].get<std::string>()));
  ASSERT_TRUE(tmpl.ok()) << tmpl.status();

  int identical = 0, failures_reported = 0, user_texts_checked = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const Json& c = cases[i];
    std::map<std::string, Value> vars = {
        {"bos_token", Value::String(spec["bos_token"].get<std::string>(), false)},
        {"eos_token", Value::String(spec["eos_token"].get<std::string>(), false)},
        {"messages", FromJson(c["messages"], true)}};
    for (const char* key : {"tools", "documents"}) {
      if (c.contains(key)) vars[key] = FromJson(c[key], true);
    }
    for (const char* key : {"add_generation_prompt", "enable_thinking"}) {
      if (c.contains(key)) vars[key] = Value::Bool(c[key].get<bool>());
    }
    const absl::StatusOr<RenderOutput> out = tmpl->Render(vars);
    const Json& want = expected["outputs"][i];
    if (want.is_object()) {
      EXPECT_FALSE(out.ok()) << "case " << i << ": the reference failed with " << want.dump()
                             << " but we rendered";
      if (!out.ok()) ++identical;
      continue;
    }
    if (!out.ok()) {
      if (failures_reported++ < 5) ADD_FAILURE() << "case " << i << ": " << out.status();
      continue;
    }
    const std::string text = out->Text();
    if (text == want.get<std::string>()) {
      ++identical;
    } else if (failures_reported++ < 5) {
      const std::string w = want.get<std::string>();
      size_t at = 0;
      while (at < text.size() && at < w.size() && text[at] == w[at]) ++at;
      ADD_FAILURE() << "case " << i << " differs at byte " << at
                    << "\n  ours: " << Json(text.substr(at > 40 ? at - 40 : 0, 120)).dump()
                    << "\n  want: " << Json(w.substr(at > 40 ? at - 40 : 0, 120)).dump();
    }
    for (size_t s = 1; s < out->segments.size(); ++s) {
      ASSERT_NE(out->segments[s - 1].user_data, out->segments[s].user_data) << "case " << i;
    }
    for (const Json& message : c["messages"]) {
      if (!message.contains("content")) continue;
      for (std::string t : ContentTexts(message["content"])) {
        // Templates may trim: the text's own surrounding whitespace may be markup's neighbour.
        t.erase(0, t.find_first_not_of(" \t\n"));
        t.erase(t.find_last_not_of(" \t\n") + 1);
        // Reasoning is re-wrapped by the template's own <think> markup: not verbatim user text.
        if (t.size() < 8 || t.find("</think>") != std::string::npos ||
            text.find(t) == std::string::npos) {
          continue;
        }
        ++user_texts_checked;
        EXPECT_TRUE(AppearsAsUserData(*out, text, t))
            << "case " << i << ": message text " << Json(t).dump() << " is not user data";
      }
    }
  }
  EXPECT_EQ(identical, static_cast<int>(cases.size()));
  EXPECT_GT(user_texts_checked, 100);
  std::printf("%s: %d of %zu identical, %d message texts checked as user data\n",
              GetParam().c_str(), identical, cases.size(), user_texts_checked);
}

// A 20-message conversation with tools renders in well under a millisecond (the figure is
// printed; the bound is loose so sanitizer builds pass too).
TEST(JinjaSpeed, RendersTwentyMessagesWithToolsQuickly) {
  Json messages = Json::array({{{"role", "system"}, {"content", "You are helpful."}}});
  for (int i = 0; i < 19; ++i) {
    messages.push_back(
        {{"role", i % 2 == 0 ? "user" : "assistant"},
         {"content", "message number " + std::to_string(i) + " with some text 🙂"}});
  }
  const Json tools = Json::parse(R"([{"type": "function", "function": {"name": "get_weather",
      "description": "Weather", "parameters": {"type": "object", "properties": {"city":
      {"type": "string"}}, "required": ["city"]}}}, {"type": "function", "function":
      {"name": "search", "parameters": {"type": "object", "properties": {}}}}])");
  const std::map<std::string, Value> vars = {{"messages", FromJson(messages, true)},
                                             {"tools", FromJson(tools, true)},
                                             {"bos_token", Value::String("<s>", false)},
                                             {"add_generation_prompt", Value::Bool(true)}};
  for (const char* path :
       {"engine/text/templates/jamba15.jinja", "engine/text/templates/chatml_tools_think.jinja"}) {
    absl::StatusOr<Template> tmpl = Template::Parse(ReadSource(path));
    ASSERT_TRUE(tmpl.ok()) << tmpl.status();
    constexpr int kRenders = 200;
    const auto start = std::chrono::steady_clock::now();
    size_t bytes = 0;
    for (int i = 0; i < kRenders; ++i) {
      absl::StatusOr<RenderOutput> out = tmpl->Render(vars);
      ASSERT_TRUE(out.ok()) << out.status();
      bytes += out->Text().size();
    }
    const double micros =
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
            .count() /
        kRenders;
    std::printf("%s: %.1f us per render (%zu bytes)\n", path, micros, bytes / kRenders);
    EXPECT_LT(micros, 5000.0);
  }
}

INSTANTIATE_TEST_SUITE_P(Templates, OracleTest,
                         ::testing::Values("jamba15", "chatml_tools_think", "llama3_like",
                                           "filters_loops"));

}  // namespace
}  // namespace jamba::engine::jinja
