// Helpers for the jinja_*_test files: render a template string and get its text or its error.
#ifndef JAMBA_TESTS_ENGINE_TEXT_JINJA_TEST_UTIL_H_
#define JAMBA_TESTS_ENGINE_TEXT_JINJA_TEST_UTIL_H_

#include <map>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "engine/text/jinja/template.h"
#include "nlohmann/json.hpp"

namespace jamba::engine::jinja::testing {

using Vars = std::map<std::string, Value>;

// JSON text as user data (as the engine passes messages).
inline Value User(std::string_view json) {
  return FromJson(nlohmann::ordered_json::parse(json), /*user_data=*/true);
}

inline absl::StatusOr<RenderOutput> RenderOutputOf(std::string_view source, const Vars& vars = {},
                                                   const RenderOptions& options = {}) {
  absl::StatusOr<Template> t = Template::Parse(source);
  if (!t.ok()) return t.status();
  return t->Render(vars, options);
}

// The rendered text, or "ERROR: <status>".
inline std::string Render(std::string_view source, const Vars& vars = {}) {
  absl::StatusOr<RenderOutput> out = RenderOutputOf(source, vars);
  if (!out.ok()) return "ERROR: " + out.status().ToString();
  return out->Text();
}

}  // namespace jamba::engine::jinja::testing

#endif  // JAMBA_TESTS_ENGINE_TEXT_JINJA_TEST_UTIL_H_
