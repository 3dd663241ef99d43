// Turns tokens into the syntax tree, with @huggingface/jinja's grammar and precedence plus the
// Jinja2 forms it lacks (tests with arguments). Everything it does not support is rejected here,
// naming the construct and where it is, so a template never renders differently by accident.
#ifndef JAMBA_ENGINE_TEXT_JINJA_PARSER_H_
#define JAMBA_ENGINE_TEXT_JINJA_PARSER_H_

#include <vector>

#include "absl/status/statusor.h"
#include "engine/text/jinja/ast.h"
#include "engine/text/jinja/lexer.h"

namespace jamba::engine::jinja {

// Errors: InvalidArgument "line L, column C: <what>".
absl::StatusOr<Body> Parse(const std::vector<Token>& tokens, const LineIndex& lines);

}  // namespace jamba::engine::jinja

#endif  // JAMBA_ENGINE_TEXT_JINJA_PARSER_H_
