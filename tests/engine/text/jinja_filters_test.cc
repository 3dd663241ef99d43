// Tests of the filters, `is` tests and string/dict methods.
#include "gtest/gtest.h"
#include "tests/engine/text/jinja_test_util.h"

namespace jamba::engine::jinja::testing {
namespace {

TEST(JinjaFilters, TojsonMatchesTransformersSeparatorsAndKeepsOrder) {
  const Vars vars = {
      {"t", User(R"({"name": "f", "p": {"z": [1, 2.5, null, true]}, "é": "ü\n\"q\""})")}};
  EXPECT_EQ(Render("{{ t | tojson }}", vars),
            R"({"name": "f", "p": {"z": [1, 2.5, null, true]}, "é": "ü\n\"q\""})");
  EXPECT_EQ(Render("{{ t.p | tojson(indent=2) }}", vars),
            "{\n  \"z\": [\n    1,\n    2.5,\n    null,\n    true\n  ]\n}");
  EXPECT_EQ(
      Render(
          "{{ 'é' | tojson(ensure_ascii=true) }} {{ {'b': 1, 'a': 2} | tojson(sort_keys=true) }}"),
      R"("\u00e9" {"a": 2, "b": 1})");
  EXPECT_EQ(
      Render("{{ [1, {'a': 2}] | tojson(separators=(',', ':')) }} {{ [] | tojson(indent=2) }}"),
      R"([1,{"a":2}] [])");
}

TEST(JinjaFilters, StringFilters) {
  EXPECT_EQ(
      Render("{{ '  x y \n' | trim }}|{{ 'xxhixx' | trim('x') }}|{{ 'héllo wörld' | upper }}"),
      "x y|hi|HÉLLO WÖRLD");
  EXPECT_EQ(Render("{{ 'ÀB' | lower }} {{ 'hello big_world' | title }} {{ 'hELLO' | capitalize }}"),
            "àb Hello Big_world HELLO");
  EXPECT_EQ(Render("{{ 'a-b-c' | replace('-', '+') }} {{ 'aaa' | replace('a', 'b', 2) }}"),
            "a+b+c bba");
  EXPECT_EQ(Render("{{ 'l1\nl2\n\nl4' | indent(2) }}|{{ 'a\nb' | indent(first=true) }}"),
            "l1\n  l2\n\n  l4|    a\n    b");
  EXPECT_EQ(
      Render("{{ 'héllo' | length }} {{ 'ab' | list }} {{ 'abc' | reverse }} {{ 'x' | first }}"),
      "5 [\"a\", \"b\"] cba x");
}

TEST(JinjaFilters, DefaultWithBooleanArgument) {
  EXPECT_EQ(Render("{{ missing | default('d') }} {{ '' | default('d') }} {{ '' | d('d', true) }}"
                   "{{ none | default('n', boolean=true) }}"),
            "d  dn");
}

TEST(JinjaFilters, ListFilters) {
  const Vars vars = {{"ms", User(R"([{"role": "user", "n": 3}, {"role": "Assistant", "n": 1},
                                     {"role": "user", "n": 2}, {"role": "tool"}])")}};
  EXPECT_EQ(Render("{{ ms | map(attribute='role') | join(',') }}", vars),
            "user,Assistant,user,tool");
  EXPECT_EQ(Render("{{ ms | map(attribute='n', default=0) | list }}", vars), "[3, 1, 2, 0]");
  EXPECT_EQ(Render("{{ ms | map(attribute='role') | map('upper') | unique | list }}", vars),
            "[\"USER\", \"ASSISTANT\", \"TOOL\"]");
  EXPECT_EQ(Render("{{ ms | selectattr('role', 'equalto', 'user') | list | length }} "
                   "{{ ms | rejectattr('n', 'defined') | map(attribute='role') | first }} "
                   "{{ ms | selectattr('n') | map(attribute='n') | sort | list }}",
                   vars),
            "2 tool [1, 2, 3]");
  EXPECT_EQ(Render("{{ ms | selectattr('n', 'defined') | sort(attribute='n', reverse=true) | "
                   "map(attribute='n') | join }}",
                   vars),
            "321");
  EXPECT_EQ(
      Render("{{ ['b', 'A', 'c'] | sort }} {{ ['b', 'A', 'c'] | sort(case_sensitive=true) }}"),
      "[\"A\", \"b\", \"c\"] [\"A\", \"b\", \"c\"]");
  EXPECT_EQ(Render("{{ [1, 2, 3, 4] | select('even') | list }} {{ [0, 1, ''] | reject | list }}"),
            "[2, 4] [0, \"\"]");
  EXPECT_EQ(
      Render(
          "{{ [3, 1] | first }}{{ [3, 1] | last }}{{ [] | first }}|{{ [1, 2] | reverse | list }}"),
      "31|[2, 1]");
  EXPECT_EQ(Render("{{ {'b': 1, 'a': 2} | dictsort }} {{ {'x': 1} | items | list }}"),
            "[[\"a\", 2], [\"b\", 1]] [[\"x\", 1]]");
}

TEST(JinjaFilters, NumberAndConversionFilters) {
  EXPECT_EQ(
      Render(
          "{{ '42' | int }} {{ '4.7' | int }} {{ 'x' | int(7) }} {{ 3.9 | int }} {{ -3.9 | int }}"),
      "42 4 7 3 -3");
  EXPECT_EQ(Render("{{ '2.5' | float }} {{ 3 | float }} {{ -4 | abs }} {{ -1.5 | abs }}"),
            "2.5 3.0 4 1.5");
  EXPECT_EQ(Render("{{ 12 | string ~ 'x' }} {{ [1, 'a'] | string }} {{ true | string }} {{ none | "
                   "string }}"),
            "12x [1, \"a\"] true None");
  EXPECT_EQ(Render("{{ 'a' | safe }} {{ [1, 2] | count }} {{ {'a': 1} | length }}"), "a 2 1");
}

TEST(JinjaTests, TypeAndValueTests) {
  const Vars vars = {
      {"d", User(R"({"s": "x", "i": 3, "f": 1.5, "b": true, "n": null, "l": [1]})")}};
  EXPECT_EQ(Render("{{ d.s is string }}{{ d.i is integer }}{{ d.f is float }}{{ d.f is number }}"
                   "{{ d.b is boolean }}{{ d.n is none }}{{ d is mapping }}{{ d.l is sequence }}"
                   "{{ d.l is iterable }}{{ d.zz is undefined }}{{ d.s is defined }}",
                   vars),
            "truetruetruetruetruetruetruetruetruetruetrue");
  EXPECT_EQ(
      Render("{{ 3 is odd }}{{ 3 is even }}{{ 9 is divisibleby(3) }}{{ 9 is divisibleby 4 }}"
             "{{ 2 is in [1, 2] }}{{ 'a' is eq 'a' }}{{ true is true }}{{ 1 is false }}"
             "{{ range is callable }}{{ 'ab' is lower }}{{ 'Ab' is upper }}{{ x is not defined }}"),
      "truefalsetruefalsetruetruetruefalsetruetruefalsetrue");
}

TEST(JinjaMethods, StringMethods) {
  EXPECT_EQ(Render("{{ '  a  '.strip() }}|{{ '\n\na b\n'.strip('\n') }}|{{ 'xxa'.lstrip('x') }}|"
                   "{{ 'a  '.rstrip() }}|"),
            "a|a b|a|a|");
  EXPECT_EQ(Render("{{ 'abc'.startswith('ab') }} {{ 'abc'.endswith(('x', 'c')) }} "
                   "{{ 'a,b,,c'.split(',') }} {{ ' a  b '.split() }} {{ 'a b c'.split(' ', 1) }}"),
            "true true [\"a\", \"b\", \"\", \"c\"] [\"a\", \"b\"] [\"a\", \"b c\"]");
  EXPECT_EQ(Render("{{ 'Hi {} and {name}!'.format('x', name='y') }} {{ '{0}{0}'.format(7) }} "
                   "{{ 'héllo'.find('l') }} {{ 'aXbXc'.count('X') }} {{ '-'.join(['a', 'b']) }}"),
            "Hi x and y! 77 2 2 a-b");
  EXPECT_EQ(
      Render("{{ 'ab'.upper() }}{{ 'AB'.lower() }}{{ 'ab cd'.title() }}{{ 'ab'.capitalize() }}"
             "{{ 'aba'.replace('a', 'x') }}"),
      "ABabAb CdAbxbx");
}

TEST(JinjaMethods, DictMethods) {
  const Vars vars = {{"d", User(R"({"a": 1, "b": [2]})")}};
  EXPECT_EQ(Render("{{ d.keys() | list }} {{ d.values() | list }} {{ d.items() | list }} "
                   "{{ d.get('a') }} {{ d.get('z') }} {{ d.get('z', 'dflt') }}",
                   vars),
            "[\"a\", \"b\"] [1, [2]] [[\"a\", 1], [\"b\", [2]]] 1  dflt");
}

}  // namespace
}  // namespace jamba::engine::jinja::testing
