// The syntax tree of a parsed template. Nodes are immutable after parsing and shared by every
// render of the template (so rendering may only read them). Positions are byte offsets into the
// source; Template turns them into "line L, column C" for messages.
#ifndef JAMBA_ENGINE_TEXT_JINJA_AST_H_
#define JAMBA_ENGINE_TEXT_JINJA_AST_H_

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "engine/text/jinja/value.h"

namespace jamba::engine::jinja {

struct Expr;
struct Stmt;
using ExprPtr = std::unique_ptr<Expr>;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

enum class ExprKind {
  kLiteral,  // literal
  kName,     // name
  kList,     // [items...]
  kTuple,    // (items...) and bare `a, b`
  kDict,     // {items[0]: items[1], items[2]: items[3], ...}
  kGetAttr,  // a.name
  kGetItem,  // a[b]
  kSlice,    // a[items[0]:items[1]:items[2]] (each may be null)
  kCall,     // a(args...)
  kFilter,   // a | name(args...); `a` is null for a {% filter %} block's filter
  kTest,     // a is [not] name(args...)
  kUnary,    // name a, name one of "not" "-" "+"
  kBinary,   // a name b, name an operator, "and", "or", "in" or "not in"
  kTernary,  // a if b else c
  kSelect,   // a if b (undefined when b is false)
};

struct Arg {
  enum class Kind { kPositional, kKeyword, kSpread, kKeywordSpread };
  Kind kind = Kind::kPositional;
  std::string keyword;  // kKeyword
  ExprPtr value;
};

struct Expr {
  ExprKind kind;
  size_t offset = 0;
  std::string name;
  Value literal;
  ExprPtr a, b, c;
  std::vector<ExprPtr> items;
  std::vector<Arg> args;
  bool negate = false;  // kTest: `is not`
};

struct Param {
  std::string name;
  ExprPtr default_value;  // may be null
};

enum class StmtKind {
  kText,         // text
  kOutput,       // {{ expr }}
  kIf,           // {% if expr %}body{% else %}else_body (elif nests an kIf in else_body)
  kFor,          // {% for target in expr [if condition] %}body{% else %}else_body
  kSet,          // {% set target = expr %}, or {% set target %}body{% endset %} when expr is null
  kMacro,        // {% macro name(params) %}body
  kCallBlock,    // {% call(params) expr %}body: expr is the kCall, body becomes `caller`
  kFilterBlock,  // {% filter expr %}body: expr is a kFilter without operand
  kBreak,
  kContinue,
};

struct Stmt {
  StmtKind kind;
  size_t offset = 0;
  std::string text;
  ExprPtr expr;
  ExprPtr target;
  ExprPtr condition;
  Body body;
  Body else_body;
  std::string name;
  std::vector<Param> params;
  // kMacro / kCallBlock: whether the body reads `varargs` / `kwargs` (then extra arguments
  // land there instead of being an error).
  bool uses_varargs = false;
  bool uses_kwargs = false;
};

}  // namespace jamba::engine::jinja

#endif  // JAMBA_ENGINE_TEXT_JINJA_AST_H_
