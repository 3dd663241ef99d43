// Splits a template into tokens the way @huggingface/jinja does, after the same text
// preprocessing (trim_blocks, lstrip_blocks, the final newline, transformers' `generation`
// tags), and remembers where in the original source each token began.
#ifndef JAMBA_ENGINE_TEXT_JINJA_LEXER_H_
#define JAMBA_ENGINE_TEXT_JINJA_LEXER_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace jamba::engine::jinja {

enum class TokenKind {
  kText,             // template text between tags
  kNumber,           // 12, 1.5, -3 (a sign directly before digits where an operand is expected)
  kString,           // value already unescaped
  kName,             // identifiers and keywords alike
  kEquals,           // =
  kLParen,           // (
  kRParen,           // )
  kLBracket,         // [
  kRBracket,         // ]
  kLBrace,           // {
  kRBrace,           // }
  kComma,            // ,
  kDot,              // .
  kColon,            // :
  kPipe,             // |
  kAdditive,         // + - ~
  kMultiplicative,   // * / // %
  kPower,            // **
  kComparison,       // == != < > <= >=
  kUnary,            // + or - where an operand is expected and no digits follow
  kOpenStatement,    // {%
  kCloseStatement,   // %}
  kOpenExpression,   // {{
  kCloseExpression,  // }}
  kComment,          // {# ... #}
};

struct Token {
  TokenKind kind;
  std::string value;
  size_t offset;  // byte offset in the original source
};

// 1-based line and column (in code points) of a byte offset.
struct SourcePos {
  int line = 1;
  int column = 1;
};

// Maps byte offsets of a source to lines and columns; keeps its own copy of the source.
class LineIndex {
 public:
  explicit LineIndex(std::string_view source);
  SourcePos At(size_t offset) const;
  // "line L, column C"
  std::string Describe(size_t offset) const;

 private:
  std::string source_;
  std::vector<size_t> line_starts_;
};

// Errors: InvalidArgument "line L, column C: <what>", positions taken from `lines` (an index
// of the same source).
absl::StatusOr<std::vector<Token>> Tokenize(std::string_view source, const LineIndex& lines);

}  // namespace jamba::engine::jinja

#endif  // JAMBA_ENGINE_TEXT_JINJA_LEXER_H_
