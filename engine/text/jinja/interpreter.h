// Renders a parsed template: scopes, statements, expressions, macros and calls. Filters, tests
// and methods live in builtins.h. One Renderer per render call, so a shared Program is only read.
#ifndef JAMBA_ENGINE_TEXT_JINJA_INTERPRETER_H_
#define JAMBA_ENGINE_TEXT_JINJA_INTERPRETER_H_

#include <map>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "engine/text/jinja/ast.h"
#include "engine/text/jinja/lexer.h"
#include "engine/text/jinja/template.h"
#include "engine/text/jinja/value.h"

namespace jamba::engine::jinja {

// A parsed template.
struct Program {
  explicit Program(std::string_view source) : lines(source) {}
  LineIndex lines;
  Body body;
};

// Variables of one level. Scopes live in the renderer's arena for the whole render, so callables
// can point at them without owning them (which could make reference cycles).
struct Scope {
  absl::flat_hash_map<std::string, Value> vars;
  Scope* parent = nullptr;
};

struct Callable {
  enum class Type {
    kMacro,    // stmt is the {% macro %}
    kCaller,   // stmt is the {% call %} block, run in closure
    kBuiltin,  // a global function, by name
    kMethod,   // name is a method of receiver
  };
  Type type;
  std::string name;
  const Stmt* stmt = nullptr;
  Scope* closure = nullptr;
  Value receiver;
};

absl::StatusOr<Str> RenderProgram(const Program& program,
                                  const std::map<std::string, Value>& variables,
                                  const RenderOptions& options);

}  // namespace jamba::engine::jinja

#endif  // JAMBA_ENGINE_TEXT_JINJA_INTERPRETER_H_
