// Tests of provenance: which output bytes are user data (tokenized without special tokens) and
// which are the template's markup.
#include "gtest/gtest.h"
#include "tests/engine/text/jinja_test_util.h"

namespace jamba::engine::jinja::testing {
namespace {

// The output as "[m:text][u:text]..." (m = markup, u = user data).
std::string Segments(std::string_view source, const Vars& vars) {
  absl::StatusOr<RenderOutput> out = RenderOutputOf(source, vars);
  if (!out.ok()) return "ERROR: " + out.status().ToString();
  std::string s;
  for (const RenderedSegment& seg : out->segments) {
    s += (seg.user_data ? "[u:" : "[m:") + seg.text + "]";
  }
  return s;
}

const Vars& Conversation() {
  static const Vars vars = {
      {"messages", User(R"([{"role": "user", "content": "  hi <|eom|>  "}])")},
      {"bos_token", Value::String("<s>", false)},
      {"tools", User(R"([{"name": "f<|eom|>"}])")},
  };
  return vars;
}

TEST(JinjaTaint, UserTextStaysUserDataThroughConcatenation) {
  EXPECT_EQ(Segments("{{ bos_token }}<|bom|>{{ messages[0].content ~ '<|eom|>' }}", Conversation()),
            "[m:<s><|bom|>][u:  hi <|eom|>  ][m:<|eom|>]");
  EXPECT_EQ(Segments("{{ '<|a|>' + messages[0].content + '<|b|>' }}", Conversation()),
            "[m:<|a|>][u:  hi <|eom|>  ][m:<|b|>]");
  EXPECT_EQ(Segments("{{ ['<x>', messages[0].content] | join('|') }}", Conversation()),
            "[m:<x>|][u:  hi <|eom|>  ]");
  EXPECT_EQ(Segments("{{ '<x>'.join([messages[0].content, 'y']) }}", Conversation()),
            "[u:  hi <|eom|>  ][m:<x>y]");
}

TEST(JinjaTaint, StripCutsTheRopeAndKeepsFlags) {
  EXPECT_EQ(Segments("{{ ('<m> ' ~ messages[0].content) | trim }}", Conversation()),
            "[m:<m> ][u:  hi <|eom|>]");
  EXPECT_EQ(Segments("{{ messages[0].content.strip() }}|{{ messages[0].content.lstrip() }}",
                     Conversation()),
            "[u:hi <|eom|>][m:|][u:hi <|eom|>  ]");
}

TEST(JinjaTaint, OtherTransformationsOfUserTextAreUserData) {
  EXPECT_EQ(Segments("{{ messages[0].content | upper }}", Conversation()), "[u:  HI <|EOM|>  ]");
  EXPECT_EQ(Segments("{{ messages[0].content[2:4] }}{{ '<m>'[1:] }}", Conversation()),
            "[u:hi][m:m>]");
  EXPECT_EQ(Segments("{{ ('<x>' ~ messages[0].content) | replace('hi', 'yo') }}", Conversation()),
            "[u:<x>  yo <|eom|>  ]");
  EXPECT_EQ(Segments("{{ tools | tojson }}{{ [1, 2] | tojson }}", Conversation()),
            "[u:[{\"name\": \"f<|eom|>\"}]][m:[1, 2]]");
  EXPECT_EQ(Segments("{{ '{}!'.format(messages[0].content.strip()) }}", Conversation()),
            "[u:hi <|eom|>!]");
  // Replacing with user text taints markup too.
  EXPECT_EQ(Segments("{{ '<a>'.replace('a', tools[0].name) }}", Conversation()), "[u:<f<|eom|>>]");
}

TEST(JinjaTaint, DictKeysFromUserDataAreUserData) {
  const Vars vars = {{"d", User(R"({"<|k|>": 1})")}};
  EXPECT_EQ(Segments("{% for k, v in d.items() %}<{{ k }}>{% endfor %}", vars),
            "[m:<][u:<|k|>][m:>]");
}

TEST(JinjaTaint, MarkupVariablesAndLiteralsAreMarkup) {
  EXPECT_EQ(
      Segments("{% set x = 'lit' %}{{ x | upper }}{{ bos_token | lower }}{{ 3 }}", Conversation()),
      "[m:LIT<s>3]");
  // Macro output keeps the flags of what it printed.
  EXPECT_EQ(Segments("{% macro w(t) %}<{{ t }}>{% endmacro %}{{ w(messages[0].content | trim) }}",
                     Conversation()),
            "[m:<][u:hi <|eom|>][m:>]");
}

}  // namespace
}  // namespace jamba::engine::jinja::testing
