// Tests of the template language: text and whitespace control, statements, expressions, scoping.
#include <atomic>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tests/engine/text/jinja_test_util.h"

namespace jamba::engine::jinja::testing {
namespace {

TEST(JinjaSyntax, TextAndOutputAndComments) {
  EXPECT_EQ(Render("a{{ 1 }}b{# gone #}c"), "a1bc");
  EXPECT_EQ(Render("{{ x }}|{{ none }}|{{ true }}", {{"x", Value::String("v", false)}}), "v||true");
}

TEST(JinjaSyntax, TrimBlocksAndLstripBlocksLikeTransformers) {
  // The newline after a block tag goes, and so do the spaces before it on its line.
  EXPECT_EQ(Render("{% if true %}\n  yes\n    {% endif %}\nend"), "  yes\nend");
  // A single trailing newline of the template is dropped.
  EXPECT_EQ(Render("x\n"), "x");
  // Expressions are not blocks: their newline stays.
  EXPECT_EQ(Render("{{ 1 }}\n{{ 2 }}"), "1\n2");
}

TEST(JinjaSyntax, WhitespaceControlMarkers) {
  EXPECT_EQ(Render("a  {%- if true -%}  b  {%- endif -%}  c"), "abc");
  EXPECT_EQ(Render("a  {{- 'x' -}}  c"), "axc");
  EXPECT_EQ(Render("a \n {#- note -#} \n b"), "ab");
}

TEST(JinjaSyntax, StringLiteralEscapesAndConcatenation) {
  EXPECT_EQ(Render(R"({{ "a\n\t\"b\"\\" }})"), "a\n\t\"b\"\\");
  EXPECT_EQ(Render(R"({{ 'it\'s' "x" }})"), "it'sx");
  EXPECT_EQ(Render(R"({{ "\u00e9\x41" }})"),
            "\xC3\xA9"
            "A");
}

TEST(JinjaStatements, IfElifElse) {
  const char* t = "{% if n > 2 %}big{% elif n == 2 %}two{% else %}small{% endif %}";
  EXPECT_EQ(Render(t, {{"n", Value::Int(3)}}), "big");
  EXPECT_EQ(Render(t, {{"n", Value::Int(2)}}), "two");
  EXPECT_EQ(Render(t, {{"n", Value::Int(0)}}), "small");
}

TEST(JinjaStatements, ForLoopVariables) {
  EXPECT_EQ(
      Render("{% for x in ['a','b','c'] %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}"
             "{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }} {% endfor %}"),
      "1032truefalse3 2121falsefalse3 3210falsetrue3 ");
  EXPECT_EQ(
      Render("{% for x in [1,2,3] %}{{ loop.previtem }}<{{ x }}>{{ loop.nextitem }};{% endfor %}"),
      "<1>2;1<2>3;2<3>;");
}

TEST(JinjaStatements, ForWithFilterElseBreakContinue) {
  EXPECT_EQ(Render("{% for x in range(10) if x is odd %}{{ x }}{{ loop.length }},{% endfor %}"),
            "15,35,55,75,95,");
  EXPECT_EQ(Render("{% for x in [] %}x{% else %}empty{% endfor %}"), "empty");
  EXPECT_EQ(Render("{% for x in range(9) %}{% if x == 1 %}{% continue %}{% endif %}"
                   "{% if x == 4 %}{% break %}{% endif %}{{ x }}{% endfor %}"),
            "023");
  EXPECT_EQ(Render("{% for x in undefined_thing %}x{% else %}none{% endfor %}"), "none");
}

TEST(JinjaStatements, TupleUnpackingOverItems) {
  const Vars vars = {{"d", User(R"({"b": 1, "a": [2]})")}};
  EXPECT_EQ(Render("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}", vars), "b=1;a=[2];");
  EXPECT_EQ(Render("{% for k in d %}{{ k }}{% endfor %}", vars), "ba");
  EXPECT_EQ(Render("{% set a, b = [1, 2] %}{{ b }}{{ a }}"), "21");
}

TEST(JinjaStatements, SetScopingFollowsTheReference) {
  // A loop has one scope for all iterations; it does not leak out. `if` has none.
  EXPECT_EQ(Render("{% set x = 1 %}{% for i in [1,2] %}{{ x }}{% set x = 5 %}{% endfor %}{{ x }}"),
            "151");
  EXPECT_EQ(Render("{% if true %}{% set y = 2 %}{% endif %}{{ y }}"), "2");
  // A namespace is the way out of a loop.
  EXPECT_EQ(Render("{% set ns = namespace(n=0) %}{% for i in range(4) %}{% set ns.n = ns.n + i %}"
                   "{% endfor %}{{ ns.n }}"),
            "6");
  EXPECT_EQ(Render("{% set b %}in {{ 'block' }}{% endset %}[{{ b }}]"), "[in block]");
}

TEST(JinjaStatements, MacrosWithDefaultsKeywordsAndVarargs) {
  EXPECT_EQ(Render("{% macro m(a, b='B', c=a ~ '!') %}{{ a }}{{ b }}{{ c }}{% endmacro %}"
                   "{{ m(1) }} {{ m(1, c='C') }} {{ m(a=2, b=3) }}"),
            "1B1! 1BC 232!");
  EXPECT_EQ(
      Render("{% macro m(a) %}{{ a }}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1, 2, k=3) }}"),
      "1[2]{\"k\": 3}");
  // Macros are values: in lists, called with * unpacking.
  EXPECT_EQ(Render("{% macro m(a, b) %}{{ a - b }}{% endmacro %}{% set fs = [m] %}"
                   "{{ fs[0](*[5, 3]) }}"),
            "2");
}

TEST(JinjaStatements, CallBlockAndFilterBlock) {
  EXPECT_EQ(Render("{% macro box(t) %}[{{ t }}:{{ caller() }}]{% endmacro %}"
                   "{% call box('x') %}body{% endcall %}"),
            "[x:body]");
  EXPECT_EQ(Render("{% macro each(xs) %}{% for x in xs %}{{ caller(x) }}{% endfor %}{% endmacro %}"
                   "{% call(v) each([1, 2]) %}<{{ v }}>{% endcall %}"),
            "<1><2>");
  EXPECT_EQ(Render("{% filter upper %}ab{{ 'c' }}{% endfilter %}"), "ABC");
}

TEST(JinjaExpressions, ArithmeticAndPrecedence) {
  EXPECT_EQ(Render("{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }}"
                   " {{ -7 % 3 }} {{ 2 ** 10 }} {{ 7 / 2 }} {{ 4 / 2 }} {{ 0.1 + 0.2 }}"),
            "7 9 3 -4 1 2 1024 3.5 2.0 0.30000000000000004");
  EXPECT_EQ(Render("{{ 'a' ~ 1 ~ none ~ [1] }}"),
            "ERROR: INVALID_ARGUMENT: line 1, column 12: "
            "cannot use '~' with none");
  EXPECT_EQ(Render("{{ 'a' ~ 1 ~ [1, 'x'] }} {{ 'n' + 2 }}"), "a1[1, \"x\"] n2");
  EXPECT_EQ(Render("{{ [1] + [2] }} {{ -(3) }} {{ not 0 }}"), "[1, 2] -3 true");
}

TEST(JinjaExpressions, ComparisonsLogicAndMembership) {
  EXPECT_EQ(Render("{{ 1 < 2 and 'b' > 'a' }} {{ 0 or 'x' }} {{ '' and 1 }}|{{ 1 == 1.0 }}"),
            "true x |true");
  EXPECT_EQ(
      Render("{{ 'ell' in 'hello' }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 3 not in [3] }}"),
      "true true true false");
  EXPECT_EQ(Render("{{ [1, [2]] == [1, [2]] }} {{ {'a': 1} == {'a': 1} }}"), "true true");
  EXPECT_EQ(
      Render("{{ 'yes' if 1 else 'no' }}{{ 'hidden' if 0 }}|{{ 'a' if 0 else 'b' if 1 else 'c' }}"),
      "yes|b");
}

TEST(JinjaExpressions, AttributesSubscriptsAndSlices) {
  const Vars vars = {{"m", User(R"({"role": "user", "content": "héllo", "list": [1, 2, 3, 4]})")}};
  EXPECT_EQ(Render("{{ m.role }} {{ m['content'] }} {{ m.missing }}|{{ m.missing.deeper }}|", vars),
            "user héllo ||");
  EXPECT_EQ(Render("{{ m.list[-1] }} {{ m.list[1:3] }} {{ m.list[::-1] }} {{ m.list[::2] }}", vars),
            "4 [2, 3] [4, 3, 2, 1] [1, 3]");
  EXPECT_EQ(
      Render("{{ m.content[1] }} {{ m.content[1:3] }} {{ m.content[-2:] }} {{ m.list.0 }}", vars),
      "é él lo 1");
}

TEST(JinjaExpressions, LiteralsAndGlobals) {
  EXPECT_EQ(Render("{{ [1, 'a', true, none, 1.5] }} {{ {'k': (1, 2)} }} {{ True }}{{ False }}"),
            "[1, \"a\", true, null, 1.5] {\"k\": [1, 2]} truefalse");
  EXPECT_EQ(Render("{{ range(2, 8, 3) | list }} {{ dict(a=1) }} {{ namespace(x=1).x }}"),
            "[2, 5] {\"a\": 1} 1");
}

TEST(JinjaExpressions, StrftimeNowUsesTheGivenTime) {
  RenderOptions options;
  options.now = absl::FromCivil(absl::CivilSecond(2024, 7, 26, 13, 5, 0), absl::UTCTimeZone());
  absl::StatusOr<RenderOutput> out =
      RenderOutputOf("{{ strftime_now('%d %B %Y %H:%M') }}", {}, options);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->Text(), "26 July 2024 13:05");
}

TEST(JinjaTemplate, CopiesShareTheParsedProgramAndRenderConcurrently) {
  absl::StatusOr<Template> t =
      Template::Parse("{% for m in messages %}{{ m.content }}{% endfor %}");
  ASSERT_TRUE(t.ok());
  const Template copy = *t;
  const Vars vars = {{"messages", User(R"([{"content": "a"}, {"content": "b"}])")}};
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      const Template& mine = i % 2 == 0 ? copy : *t;
      for (int k = 0; k < 200; ++k) {
        absl::StatusOr<RenderOutput> out = mine.Render(vars);
        if (out.ok() && out->Text() == "ab") ++good;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(good.load(), 800);
}

}  // namespace
}  // namespace jamba::engine::jinja::testing
