// The names of the filters, tests, string/dict methods and global functions templates may use,
// and their implementations (filters.cc, tests.cc, methods.cc). The parser checks filter and
// test names against these lists so an unsupported one fails at parse time.
#ifndef JAMBA_ENGINE_TEXT_JINJA_BUILTINS_H_
#define JAMBA_ENGINE_TEXT_JINJA_BUILTINS_H_

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/text/jinja/value.h"

namespace jamba::engine::jinja {

// Evaluated call arguments: positional values, then keyword values in call order.
struct CallArgs {
  List positional;
  std::vector<std::pair<std::string, Value>> keyword;

  // The argument at `index` or named `name`, or null.
  const Value* Get(size_t index, std::string_view name) const;
  // Error unless every keyword is one of `names` and at most `max_positional` are positional.
  absl::Status Check(std::string_view what, size_t max_positional,
                     std::initializer_list<std::string_view> names) const;
};

bool IsSupportedFilter(std::string_view name);
bool IsSupportedTest(std::string_view name);
// Tests that take an argument, which may follow without parentheses (`x is divisibleby 3`).
bool TestTakesArgument(std::string_view name);

// `tojson`, `map`, ... applied to `operand`. Errors name the filter.
absl::StatusOr<Value> ApplyFilter(std::string_view name, const Value& operand,
                                  const CallArgs& args);
absl::StatusOr<bool> ApplyTest(std::string_view name, const Value& operand, const CallArgs& args);

// A method of a string, dict or list (`s.strip()`, `d.items()`), or null if there is none of
// that name. `receiver.length` style properties come back through GetProperty.
bool HasMethod(const Value& receiver, std::string_view name);
absl::StatusOr<Value> CallMethod(const Value& receiver, std::string_view name,
                                 const CallArgs& args);

// Python-style comparison for sort: numbers with numbers, strings with strings.
absl::StatusOr<int> CompareValues(const Value& a, const Value& b, bool case_sensitive);

// Looks up `path` ("a.b.0") in `item` as the `attribute=` argument of map/sort/selectattr does.
Value GetAttributePath(const Value& item, std::string_view path);

}  // namespace jamba::engine::jinja

#endif  // JAMBA_ENGINE_TEXT_JINJA_BUILTINS_H_
