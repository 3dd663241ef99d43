// How values become text: what `{{ }}`, `~`, `+` and the `string` filter print, and the `tojson`
// filter. Both follow @huggingface/jinja (JavaScript number formatting, `true`/`false`, lists
// and dicts printed as JSON), which is what the oracle test compares against.
#ifndef JAMBA_ENGINE_TEXT_JINJA_FORMAT_H_
#define JAMBA_ENGINE_TEXT_JINJA_FORMAT_H_

#include <optional>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "engine/text/jinja/value.h"

namespace jamba::engine::jinja {

// JavaScript's Number.prototype.toString (shortest round trip; exponent form outside
// 1e-7 < |x| < 1e21).
std::string FormatNumber(double value);
// A float as printed by a template: like FormatNumber but integral values keep ".0".
std::string FormatFloat(double value);

struct JsonOptions {
  std::optional<int> indent;  // pretty-print with this many spaces per level
  bool ensure_ascii = false;  // escape non-ASCII as \uXXXX
  bool sort_keys = false;
  std::optional<std::pair<std::string, std::string>> separators;  // (item, key)
  bool undefined_as_null = true;  // false when printing: undefined becomes `undefined`
};

// The JSON text of `value`; user data if any string in it (keys included) is. Errors for
// callables.
absl::StatusOr<Str> ToJson(const Value& value, const JsonOptions& options);

// The text a value prints as. Strings keep their runs; other values are markup unless they
// contain user strings. Undefined and none print as nothing. Errors for callables.
absl::StatusOr<Str> ToPrintable(const Value& value);

}  // namespace jamba::engine::jinja

#endif  // JAMBA_ENGINE_TEXT_JINJA_FORMAT_H_
