// The `is` tests (see builtins.h).
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/text/jinja/builtins.h"
#include "engine/text/jinja/text_util.h"

namespace jamba::engine::jinja {
namespace {

constexpr std::string_view kArgumentTests[] = {"divisibleby", "equalto", "eq", "ne", "sameas",
                                               "in",          "lt",      "le", "gt", "ge"};
constexpr std::string_view kPlainTests[] = {
    "defined",  "undefined", "none",    "string", "mapping", "iterable",
    "sequence", "number",    "integer", "float",  "boolean", "true",
    "false",    "callable",  "odd",     "even",   "lower",   "upper"};

absl::StatusOr<const Value*> OneArgument(std::string_view test, const CallArgs& args) {
  if (args.positional.size() != 1 || !args.keyword.empty()) {
    return absl::InvalidArgumentError(Cat("test '", test, "' takes one argument"));
  }
  return &args.positional[0];
}

absl::StatusOr<int64_t> IntOperand(std::string_view test, const Value& v) {
  if (!v.is_int()) {
    return absl::InvalidArgumentError(
        Cat("test '", test, "' needs an integer, not a ", v.TypeName()));
  }
  return v.int_value();
}

}  // namespace

bool IsSupportedTest(std::string_view name) {
  for (std::string_view t : kPlainTests) {
    if (t == name) return true;
  }
  return TestTakesArgument(name);
}

bool TestTakesArgument(std::string_view name) {
  for (std::string_view t : kArgumentTests) {
    if (t == name) return true;
  }
  return false;
}

absl::StatusOr<bool> ApplyTest(std::string_view name, const Value& v, const CallArgs& args) {
  if (!TestTakesArgument(name) && (!args.positional.empty() || !args.keyword.empty())) {
    return absl::InvalidArgumentError(Cat("test '", name, "' takes no arguments"));
  }
  if (name == "defined") return !v.is_undefined();
  if (name == "undefined") return v.is_undefined();
  if (name == "none") return v.is_none();
  if (name == "string") return v.is_string();
  if (name == "mapping") return v.is_dict();
  if (name == "iterable" || name == "sequence") return v.is_list() || v.is_string() || v.is_dict();
  if (name == "number") return v.is_number();
  if (name == "integer") return v.is_int();
  if (name == "float") return v.is_float();
  if (name == "boolean") return v.is_bool();
  if (name == "true") return v.is_bool() && v.bool_value();
  if (name == "false") return v.is_bool() && !v.bool_value();
  if (name == "callable") return v.is_callable();
  if (name == "lower") return v.is_string() && ToLower(v.text()) == v.text();
  if (name == "upper") return v.is_string() && ToUpper(v.text()) == v.text();
  if (name == "odd" || name == "even") {
    absl::StatusOr<int64_t> i = IntOperand(name, v);
    if (!i.ok()) return i.status();
    return (*i % 2 != 0) == (name == "odd");
  }
  absl::StatusOr<const Value*> arg = OneArgument(name, args);
  if (!arg.ok()) return arg.status();
  const Value& other = **arg;
  if (name == "divisibleby") {
    absl::StatusOr<int64_t> a = IntOperand(name, v);
    absl::StatusOr<int64_t> b = IntOperand(name, other);
    if (!a.ok()) return a.status();
    if (!b.ok()) return b.status();
    if (*b == 0) return absl::InvalidArgumentError("divisibleby(0)");
    return *b == -1 || *a % *b == 0;
  }
  if (name == "equalto" || name == "eq") return ValuesEqual(v, other);
  if (name == "ne") return !ValuesEqual(v, other);
  if (name == "sameas") {
    if (v.kind() != other.kind()) return false;
    if (v.Identity() != nullptr) return v.Identity() == other.Identity();
    return ValuesEqual(v, other);
  }
  if (name == "in") {
    if (other.is_list()) {
      for (const Value& item : other.list()) {
        if (ValuesEqual(v, item)) return true;
      }
      return false;
    }
    if (other.is_string() && v.is_string()) return other.text().find(v.text()) != std::string::npos;
    if (other.is_dict()) return v.is_string() && other.dict().Find(v.text()) != nullptr;
    return absl::InvalidArgumentError(Cat("test 'in' needs a container, not a ", other.TypeName()));
  }
  // lt, le, gt, ge
  absl::StatusOr<int> c = CompareValues(v, other, /*case_sensitive=*/true);
  if (!c.ok()) return c.status();
  if (name == "lt") return *c < 0;
  if (name == "le") return *c <= 0;
  if (name == "gt") return *c > 0;
  return *c >= 0;
}

}  // namespace jamba::engine::jinja
