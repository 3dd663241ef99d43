// Tests of errors: syntax and unsupported constructs (named, with line and column), runtime type
// errors (with the line), raise_exception, and the render limits.
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/engine/text/jinja_test_util.h"

namespace jamba::engine::jinja::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

std::string ParseError(std::string_view source) {
  absl::StatusOr<Template> t = Template::Parse(source);
  if (t.ok()) return "parsed";
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(t.status().message());
}

TEST(JinjaErrors, UnsupportedConstructsNameLineAndConstruct) {
  EXPECT_EQ(ParseError("ok\n  {% include 'x.jinja' %}"),
            "line 2, column 6: unsupported statement 'include'");
  EXPECT_EQ(ParseError("{% extends 'base' %}"),
            "line 1, column 4: unsupported statement 'extends'");
  EXPECT_EQ(ParseError("a\nb {{ x | wordsoup }}"), "line 2, column 10: unknown filter 'wordsoup'");
  EXPECT_EQ(ParseError("{{ x is prime }}"), "line 1, column 9: unknown test 'prime'");
  EXPECT_EQ(ParseError("{% for x in xs recursive %}{% endfor %}"),
            "line 1, column 16: unsupported construct 'for ... recursive'");
  EXPECT_EQ(ParseError("{% frobnicate %}"), "line 1, column 4: unknown statement 'frobnicate'");
}

TEST(JinjaErrors, SyntaxErrors) {
  EXPECT_THAT(ParseError("{% if x %}never closed"), HasSubstr("'if' block is never closed"));
  EXPECT_THAT(ParseError("{{ 'unterminated }}"), HasSubstr("unexpected end of input"));
  EXPECT_THAT(ParseError("{{ (1 + }}"), StartsWith("line 1, column 9: "));
  EXPECT_THAT(ParseError("{% endfor %}"), HasSubstr("unexpected 'endfor'"));
  EXPECT_THAT(ParseError("{% break %}"), HasSubstr("'break' outside a loop"));
  EXPECT_THAT(ParseError("{{ '\\q' }}"), HasSubstr("unsupported escape sequence '\\q'"));
  EXPECT_THAT(ParseError("{{ 99999999999999999999 }}"), HasSubstr("integer literal out of range"));
  EXPECT_THAT(ParseError("{% macro m(a=1, b) %}{% endmacro %}"),
              HasSubstr("parameter without default follows"));
  EXPECT_THAT(ParseError("{{ " + std::string(200, '(') + "1" + std::string(200, ')') + " }}"),
              HasSubstr("nested too deeply"));
}

TEST(JinjaErrors, RuntimeErrorsNameTheLine) {
  EXPECT_EQ(Render("x\n{{ 1 + 'a' ~ none }}"),
            "ERROR: INVALID_ARGUMENT: line 2, column 12: cannot use '~' with none");
  EXPECT_EQ(
      Render("{{ [1] - 1 }}"),
      "ERROR: INVALID_ARGUMENT: line 1, column 8: unsupported operand types for '-': list and int");
  EXPECT_EQ(Render("\n{{ 5 | upper }}"),
            "ERROR: INVALID_ARGUMENT: line 2, column 8: filter 'upper/lower/title/capitalize' "
            "cannot be applied to a int");
  EXPECT_EQ(
      Render("{{ nothing() }}"),
      "ERROR: INVALID_ARGUMENT: line 1, column 11: 'nothing' is not callable (it is undefined)");
  EXPECT_EQ(Render("{{ 'a'.nope() }}"),
            "ERROR: INVALID_ARGUMENT: line 1, column 12: 'nope' is not callable (it is undefined)");
  EXPECT_EQ(Render("{{ 1 // 0 }}"), "ERROR: INVALID_ARGUMENT: line 1, column 6: division by zero");
  EXPECT_EQ(Render("{% set x.y = 1 %}"),
            "ERROR: INVALID_ARGUMENT: line 1, column 9: cannot set attribute 'y' of a undefined "
            "(only of a namespace)");
  EXPECT_EQ(Render("{% for a, b in [[1]] %}{% endfor %}"),
            "ERROR: INVALID_ARGUMENT: line 1, column 8: expected 2 values to unpack, got 1");
  EXPECT_EQ(
      Render("{% macro m(a) %}{% endmacro %}{{ m(1, 2) }}"),
      "ERROR: INVALID_ARGUMENT: line 1, column 35: macro 'm' takes at most 1 argument(s), got 2");
  EXPECT_EQ(Render("{{ 9223372036854775807 + 1 }}"),
            "ERROR: INVALID_ARGUMENT: line 1, column 24: integer overflow");
}

TEST(JinjaErrors, RaiseExceptionPassesTheMessageThrough) {
  absl::StatusOr<RenderOutput> out = RenderOutputOf(
      "{% if true %}\n{{ raise_exception('Conversation roles must alternate') }}{% endif %}");
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(out.status().message(), "Conversation roles must alternate");
}

TEST(JinjaErrors, RenderLimitsStopRunawayTemplates) {
  RenderOptions options;
  options.limits.max_loop_iterations = 1000;
  options.limits.max_output_bytes = 1 << 16;
  options.limits.max_call_depth = 8;
  auto code = [&](std::string_view source) {
    absl::StatusOr<RenderOutput> out = RenderOutputOf(source, {}, options);
    return out.ok() ? absl::StatusCode::kOk : out.status().code();
  };
  EXPECT_EQ(code("{% for i in range(2000) %}{% endfor %}"), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(code("{% for i in range(30) %}{% for j in range(40) %}{% endfor %}{% endfor %}"),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(code("{% set ns = namespace(s='ab') %}{% for i in range(40) %}"
                 "{% set ns.s = ns.s ~ ns.s %}{% endfor %}"),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(code("{% for i in range(900) %}{{ 'x' * 1 }}{{ '0123456789' * 1 }}{% endfor %}"),
            absl::StatusCode::kInvalidArgument);  // string * int is not supported
  EXPECT_EQ(code("{% macro r(n) %}{{ r(n + 1) }}{% endmacro %}{{ r(0) }}"),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(code("{% for i in range(500) %}{{ '0123456789abcdef' ~ i }}{% endfor %}"),
            absl::StatusCode::kOk);
}

TEST(JinjaErrors, NamespaceCyclesDoNotLeak) {
  // Runs under the sanitizer builds' leak checker: a namespace holding itself must be freed.
  EXPECT_EQ(Render("{% set ns = namespace() %}{% set ns.me = ns %}{% set ns.l = [ns] %}ok"), "ok");
}

}  // namespace
}  // namespace jamba::engine::jinja::testing
