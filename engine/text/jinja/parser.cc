// Recursive-descent parser (see parser.h). Precedence, lowest first: ternary, or, and, not,
// comparison and membership, + - ~, * / // %, **, is, |, unary sign, call/member, primary.
#include "engine/text/jinja/parser.h"

#include <charconv>
#include <cstdlib>
#include <initializer_list>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/status_macros.h"
#include "engine/text/jinja/builtins.h"
#include "engine/text/jinja/text_util.h"

namespace jamba::engine::jinja {
namespace {

// Deep nesting would overflow the stack of the parser and later of the interpreter.
constexpr int kMaxNesting = 128;

constexpr std::string_view kUnsupportedStatements[] = {
    "include", "import", "from", "extends", "block", "with", "raw", "autoescape", "do", "trans"};

bool IsKeyword(std::string_view name) {
  return name == "and" || name == "or" || name == "not" || name == "if" || name == "else" ||
         name == "in" || name == "is";
}

// Whether `name` is read anywhere in `body` (for a macro's varargs / kwargs).
bool Reads(const Expr* e, std::string_view name);
bool Reads(const Body& body, std::string_view name);

bool Reads(const Expr* e, std::string_view name) {
  if (e == nullptr) return false;
  if (e->kind == ExprKind::kName && e->name == name) return true;
  if (Reads(e->a.get(), name) || Reads(e->b.get(), name) || Reads(e->c.get(), name)) return true;
  for (const ExprPtr& item : e->items) {
    if (Reads(item.get(), name)) return true;
  }
  for (const Arg& arg : e->args) {
    if (Reads(arg.value.get(), name)) return true;
  }
  return false;
}

bool Reads(const Body& body, std::string_view name) {
  for (const StmtPtr& s : body) {
    if (Reads(s->expr.get(), name) || Reads(s->condition.get(), name) || Reads(s->body, name) ||
        Reads(s->else_body, name)) {
      return true;
    }
    for (const Param& p : s->params) {
      if (Reads(p.default_value.get(), name)) return true;
    }
  }
  return false;
}

class Parser {
 public:
  Parser(const std::vector<Token>& tokens, const LineIndex& lines)
      : tokens_(tokens), lines_(lines) {}

  absl::StatusOr<Body> ParseTemplate() {
    Body body;
    while (!AtEnd()) {
      if (Peek().kind == TokenKind::kOpenStatement && Peek(1).kind == TokenKind::kName) {
        const std::string& name = Peek(1).value;
        if (name.starts_with("end") || name == "else" || name == "elif") {
          return Error(Peek(1), Cat("unexpected '", name, "' (no open block to close)"));
        }
      }
      JAMBA_ASSIGN_OR_RETURN(StmtPtr stmt, ParseAny());
      if (stmt != nullptr) body.push_back(std::move(stmt));
    }
    return body;
  }

 private:
  // --- token helpers -------------------------------------------------------------------------

  bool AtEnd() const { return pos_ >= tokens_.size(); }
  const Token& Peek(size_t ahead = 0) const {
    static const Token kEnd{TokenKind::kText, "", 0};
    return pos_ + ahead < tokens_.size() ? tokens_[pos_ + ahead] : kEnd;
  }
  bool Is(TokenKind kind, size_t ahead = 0) const {
    return pos_ + ahead < tokens_.size() && tokens_[pos_ + ahead].kind == kind;
  }
  bool IsName(std::string_view name, size_t ahead = 0) const {
    return Is(TokenKind::kName, ahead) && tokens_[pos_ + ahead].value == name;
  }
  // `{% name` for any of `names`.
  bool IsStatement(std::initializer_list<std::string_view> names) const {
    if (!Is(TokenKind::kOpenStatement) || !Is(TokenKind::kName, 1)) return false;
    for (std::string_view name : names) {
      if (tokens_[pos_ + 1].value == name) return true;
    }
    return false;
  }

  size_t EndOffset() const { return tokens_.empty() ? 0 : tokens_.back().offset; }

  absl::Status Error(const Token& at, std::string_view what) const {
    const size_t offset = AtEnd() && &at == &Peek() ? EndOffset() : at.offset;
    return absl::InvalidArgumentError(Cat(lines_.Describe(offset), ": ", what));
  }
  absl::Status ErrorHere(std::string_view what) const {
    if (AtEnd()) {
      return absl::InvalidArgumentError(
          Cat(lines_.Describe(EndOffset()), ": ", what, " (template ended)"));
    }
    return Error(Peek(), what);
  }

  absl::Status Expect(TokenKind kind, std::string_view what) {
    if (!Is(kind)) return ErrorHere(Cat("expected ", what));
    ++pos_;
    return absl::OkStatus();
  }
  absl::Status ExpectName(std::string_view name) {
    if (!IsName(name)) return ErrorHere(Cat("expected '", name, "'"));
    ++pos_;
    return absl::OkStatus();
  }
  // `{% name %}` closing a block opened at `open`.
  absl::Status ExpectEnd(std::string_view name, const Token& open) {
    if (!IsStatement({name})) {
      return ErrorHere(Cat("expected '{% ", name, " %}' to close the block opened at ",
                           lines_.Describe(open.offset)));
    }
    pos_ += 2;
    return Expect(TokenKind::kCloseStatement, "'%}'");
  }

  class NestingGuard {
   public:
    explicit NestingGuard(int& depth) : depth_(depth) { ++depth_; }
    ~NestingGuard() { --depth_; }
    NestingGuard(const NestingGuard&) = delete;
    NestingGuard& operator=(const NestingGuard&) = delete;

   private:
    int& depth_;
  };
  absl::Status CheckNesting() const {
    if (depth_ > kMaxNesting) return ErrorHere("template nested too deeply");
    return absl::OkStatus();
  }

  static ExprPtr MakeExpr(ExprKind kind, size_t offset) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->offset = offset;
    return e;
  }
  static StmtPtr MakeStmt(StmtKind kind, size_t offset) {
    auto s = std::make_unique<Stmt>();
    s->kind = kind;
    s->offset = offset;
    return s;
  }

  // --- statements ----------------------------------------------------------------------------

  // One text, output or statement; null for a comment.
  absl::StatusOr<StmtPtr> ParseAny() {
    NestingGuard guard(depth_);
    JAMBA_RETURN_IF_ERROR(CheckNesting());
    const Token& token = Peek();
    switch (token.kind) {
      case TokenKind::kComment:
        ++pos_;
        return StmtPtr();
      case TokenKind::kText: {
        ++pos_;
        StmtPtr s = MakeStmt(StmtKind::kText, token.offset);
        s->text = token.value;
        return s;
      }
      case TokenKind::kOpenExpression: {
        ++pos_;
        StmtPtr s = MakeStmt(StmtKind::kOutput, token.offset);
        JAMBA_ASSIGN_OR_RETURN(s->expr, ParseExpression());
        JAMBA_RETURN_IF_ERROR(Expect(TokenKind::kCloseExpression, "'}}'"));
        return s;
      }
      case TokenKind::kOpenStatement:
        return ParseStatement();
      default:
        return ErrorHere("unexpected token outside a tag");
    }
  }

  // Statements up to (not including) one of `ends`.
  absl::StatusOr<Body> ParseBody(std::initializer_list<std::string_view> ends, const Token& open,
                                 std::string_view block) {
    Body body;
    while (!IsStatement(ends)) {
      if (AtEnd()) {
        return Error(open, Cat("'", block, "' block is never closed (expected '{% ", *ends.begin(),
                               " %}')"));
      }
      JAMBA_ASSIGN_OR_RETURN(StmtPtr stmt, ParseAny());
      if (stmt != nullptr) body.push_back(std::move(stmt));
    }
    return body;
  }

  absl::StatusOr<StmtPtr> ParseStatement() {
    const Token& open = Peek();
    ++pos_;
    if (!Is(TokenKind::kName)) return ErrorHere("expected a statement name after '{%'");
    const Token& name_token = Peek();
    const std::string& name = name_token.value;
    ++pos_;
    if (name == "if") return ParseIf(open);
    if (name == "for") return ParseFor(open);
    if (name == "set") return ParseSet(open);
    if (name == "macro") return ParseMacro(open);
    if (name == "call") return ParseCallBlock(open);
    if (name == "filter") return ParseFilterBlock(open);
    if (name == "break" || name == "continue") {
      if (loop_depth_ == 0) return Error(name_token, Cat("'", name, "' outside a loop"));
      JAMBA_RETURN_IF_ERROR(Expect(TokenKind::kCloseStatement, "'%}'"));
      return MakeStmt(name == "break" ? StmtKind::kBreak : StmtKind::kContinue, open.offset);
    }
    for (std::string_view unsupported : kUnsupportedStatements) {
      if (name == unsupported) {
        return Error(name_token, Cat("unsupported statement '", name, "'"));
      }
    }
    if (name.starts_with("end") || name == "else" || name == "elif") {
      return Error(name_token, Cat("unexpected '", name, "'"));
    }
    return Error(name_token, Cat("unknown statement '", name, "'"));
  }

  absl::StatusOr<StmtPtr> ParseIf(const Token& open) {
    StmtPtr s = MakeStmt(StmtKind::kIf, open.offset);
    JAMBA_ASSIGN_OR_RETURN(s->expr, ParseExpression());
    JAMBA_RETURN_IF_ERROR(Expect(TokenKind::kCloseStatement, "'%}'"));
    JAMBA_ASSIGN_OR_RETURN(s->body, ParseBody({"elif", "else", "endif"}, open, "if"));
    if (IsStatement({"elif"})) {
      const Token& elif = Peek();
      pos_ += 2;
      JAMBA_ASSIGN_OR_RETURN(StmtPtr nested, ParseIf(elif));
      s->else_body.push_back(std::move(nested));
      return s;  // the innermost elif consumed the endif
    }
    if (IsStatement({"else"})) {
      pos_ += 2;
      JAMBA_RETURN_IF_ERROR(Expect(TokenKind::kCloseStatement, "'%}'"));
      JAMBA_ASSIGN_OR_RETURN(s->else_body, ParseBody({"endif"}, open, "if"));
    }
    JAMBA_RETURN_IF_ERROR(ExpectEnd("endif", open));
    return s;
  }

  absl::StatusOr<StmtPtr> ParseFor(const Token& open) {
    StmtPtr s = MakeStmt(StmtKind::kFor, open.offset);
    JAMBA_ASSIGN_OR_RETURN(s->target, ParseExpressionSequence(/*primary=*/true));
    if (s->target->kind == ExprKind::kTuple) {
      for (const ExprPtr& item : s->target->items) {
        if (item->kind != ExprKind::kName) return ErrorHere("loop variables must be names");
      }
    } else if (s->target->kind != ExprKind::kName) {
      return ErrorHere("loop variable must be a name or names");
    }
    JAMBA_RETURN_IF_ERROR(ExpectName("in"));
    JAMBA_ASSIGN_OR_RETURN(ExprPtr iterable, ParseExpression());
    if (iterable->kind == ExprKind::kSelect) {
      s->expr = std::move(iterable->a);
      s->condition = std::move(iterable->b);
    } else {
      s->expr = std::move(iterable);
    }
    if (IsName("recursive")) return ErrorHere("unsupported construct 'for ... recursive'");
    JAMBA_RETURN_IF_ERROR(Expect(TokenKind::kCloseStatement, "'%}'"));
    ++loop_depth_;
    absl::StatusOr<Body> body = ParseBody({"endfor", "else"}, open, "for");
    --loop_depth_;
    if (!body.ok()) return body.status();
    s->body = *std::move(body);
    if (IsStatement({"else"})) {
      pos_ += 2;
      JAMBA_RETURN_IF_ERROR(Expect(TokenKind::kCloseStatement, "'%}'"));
      JAMBA_ASSIGN_OR_RETURN(s->else_body, ParseBody({"endfor"}, open, "for"));
    }
    JAMBA_RETURN_IF_ERROR(ExpectEnd("endfor", open));
    return s;
  }

  absl::StatusOr<StmtPtr> ParseSet(const Token& open) {
    StmtPtr s = MakeStmt(StmtKind::kSet, open.offset);
    JAMBA_ASSIGN_OR_RETURN(s->target, ParseExpressionSequence(/*primary=*/false));
    const Expr& t = *s->target;
    bool valid = t.kind == ExprKind::kName || (t.kind == ExprKind::kGetAttr);
    if (t.kind == ExprKind::kTuple) {
      valid = true;
      for (const ExprPtr& item : t.items) valid = valid && item->kind == ExprKind::kName;
    }
    if (!valid) return Error(open, "'set' can only assign to names, name tuples or ns.attribute");
    if (Is(TokenKind::kEquals)) {
      ++pos_;
      JAMBA_ASSIGN_OR_RETURN(s->expr, ParseExpressionSequence(/*primary=*/false));
    } else {
      JAMBA_RETURN_IF_ERROR(Expect(TokenKind::kCloseStatement, "'=' or '%}'"));
      JAMBA_ASSIGN_OR_RETURN(s->body, ParseBody({"endset"}, open, "set"));
      pos_ += 2;
    }
    JAMBA_RETURN_IF_ERROR(Expect(TokenKind::kCloseStatement, "'%}'"));
    return s;
  }

  absl::StatusOr<std::vector<Param>> ParseParams() {
    JAMBA_RETURN_IF_ERROR(Expect(TokenKind::kLParen, "'('"));
    std::vector<Param> params;
    bool saw_default = false;
    while (!Is(TokenKind::kRParen)) {
      if (!Is(TokenKind::kName)) return ErrorHere("expected a parameter name");
      Param p;
      p.name = Peek().value;
      for (const Param& other : params) {
        if (other.name == p.name) return ErrorHere("duplicate parameter name");
      }
      ++pos_;
      if (Is(TokenKind::kEquals)) {
        ++pos_;
        JAMBA_ASSIGN_OR_RETURN(p.default_value, ParseExpression());
        saw_default = true;
      } else if (saw_default) {
        return ErrorHere("parameter without default follows one with a default");
      }
      params.push_back(std::move(p));
      if (Is(TokenKind::kComma)) {
        ++pos_;
      } else if (!Is(TokenKind::kRParen)) {
        return ErrorHere("expected ',' or ')'");
      }
    }
    ++pos_;
    return params;
  }

  absl::StatusOr<StmtPtr> ParseMacro(const Token& open) {
    StmtPtr s = MakeStmt(StmtKind::kMacro, open.offset);
    if (!Is(TokenKind::kName)) return ErrorHere("expected the macro's name");
    s->name = Peek().value;
    ++pos_;
    JAMBA_ASSIGN_OR_RETURN(s->params, ParseParams());
    JAMBA_RETURN_IF_ERROR(Expect(TokenKind::kCloseStatement, "'%}'"));
    const int saved_loops = std::exchange(loop_depth_, 0);
    absl::StatusOr<Body> body = ParseBody({"endmacro"}, open, "macro");
    loop_depth_ = saved_loops;
    if (!body.ok()) return body.status();
    s->body = *std::move(body);
    s->uses_varargs = Reads(s->body, "varargs");
    s->uses_kwargs = Reads(s->body, "kwargs");
    JAMBA_RETURN_IF_ERROR(ExpectEnd("endmacro", open));
    return s;
  }

  absl::StatusOr<StmtPtr> ParseCallBlock(const Token& open) {
    StmtPtr s = MakeStmt(StmtKind::kCallBlock, open.offset);
    if (Is(TokenKind::kLParen)) {
      JAMBA_ASSIGN_OR_RETURN(s->params, ParseParams());
    }
    JAMBA_ASSIGN_OR_RETURN(s->expr, ParseExpression());
    if (s->expr->kind != ExprKind::kCall) return Error(open, "'call' needs a macro call");
    JAMBA_RETURN_IF_ERROR(Expect(TokenKind::kCloseStatement, "'%}'"));
    const int saved_loops = std::exchange(loop_depth_, 0);
    absl::StatusOr<Body> body = ParseBody({"endcall"}, open, "call");
    loop_depth_ = saved_loops;
    if (!body.ok()) return body.status();
    s->body = *std::move(body);
    s->uses_varargs = Reads(s->body, "varargs");
    s->uses_kwargs = Reads(s->body, "kwargs");
    JAMBA_RETURN_IF_ERROR(ExpectEnd("endcall", open));
    return s;
  }

  absl::StatusOr<StmtPtr> ParseFilterBlock(const Token& open) {
    StmtPtr s = MakeStmt(StmtKind::kFilterBlock, open.offset);
    JAMBA_ASSIGN_OR_RETURN(s->expr, ParseFilterCall(nullptr));
    JAMBA_RETURN_IF_ERROR(Expect(TokenKind::kCloseStatement, "'%}'"));
    JAMBA_ASSIGN_OR_RETURN(s->body, ParseBody({"endfilter"}, open, "filter"));
    JAMBA_RETURN_IF_ERROR(ExpectEnd("endfilter", open));
    return s;
  }

  // --- expressions ---------------------------------------------------------------------------

  absl::StatusOr<ExprPtr> ParseExpression() {
    NestingGuard guard(depth_);
    JAMBA_RETURN_IF_ERROR(CheckNesting());
    JAMBA_ASSIGN_OR_RETURN(ExprPtr a, ParseOr());
    if (!IsName("if")) return a;
    const size_t offset = Peek().offset;
    ++pos_;
    JAMBA_ASSIGN_OR_RETURN(ExprPtr test, ParseOr());
    if (IsName("else")) {
      ++pos_;
      ExprPtr e = MakeExpr(ExprKind::kTernary, offset);
      e->a = std::move(a);
      e->b = std::move(test);
      JAMBA_ASSIGN_OR_RETURN(e->c, ParseExpression());
      return e;
    }
    ExprPtr e = MakeExpr(ExprKind::kSelect, offset);
    e->a = std::move(a);
    e->b = std::move(test);
    return e;
  }

  // `a, b, c` as a tuple (used by for, set and parentheses); a single expression otherwise.
  absl::StatusOr<ExprPtr> ParseExpressionSequence(bool primary) {
    const size_t offset = Peek().offset;
    JAMBA_ASSIGN_OR_RETURN(ExprPtr first, primary ? ParsePrimary() : ParseExpression());
    if (!Is(TokenKind::kComma)) return first;
    ExprPtr tuple = MakeExpr(ExprKind::kTuple, offset);
    tuple->items.push_back(std::move(first));
    while (Is(TokenKind::kComma)) {
      ++pos_;
      JAMBA_ASSIGN_OR_RETURN(ExprPtr next, primary ? ParsePrimary() : ParseExpression());
      tuple->items.push_back(std::move(next));
    }
    return tuple;
  }

  ExprPtr MakeBinary(std::string op, size_t offset, ExprPtr a, ExprPtr b) {
    ExprPtr e = MakeExpr(ExprKind::kBinary, offset);
    e->name = std::move(op);
    e->a = std::move(a);
    e->b = std::move(b);
    return e;
  }

  absl::StatusOr<ExprPtr> ParseOr() {
    JAMBA_ASSIGN_OR_RETURN(ExprPtr left, ParseAnd());
    while (IsName("or")) {
      const size_t offset = Peek().offset;
      ++pos_;
      JAMBA_ASSIGN_OR_RETURN(ExprPtr right, ParseAnd());
      left = MakeBinary("or", offset, std::move(left), std::move(right));
    }
    return left;
  }

  absl::StatusOr<ExprPtr> ParseAnd() {
    JAMBA_ASSIGN_OR_RETURN(ExprPtr left, ParseNot());
    while (IsName("and")) {
      const size_t offset = Peek().offset;
      ++pos_;
      JAMBA_ASSIGN_OR_RETURN(ExprPtr right, ParseNot());
      left = MakeBinary("and", offset, std::move(left), std::move(right));
    }
    return left;
  }

  absl::StatusOr<ExprPtr> ParseNot() {
    if (!IsName("not")) return ParseComparison();
    NestingGuard guard(depth_);
    JAMBA_RETURN_IF_ERROR(CheckNesting());
    ExprPtr e = MakeExpr(ExprKind::kUnary, Peek().offset);
    ++pos_;
    e->name = "not";
    JAMBA_ASSIGN_OR_RETURN(e->a, ParseNot());
    return e;
  }

  absl::StatusOr<ExprPtr> ParseComparison() {
    JAMBA_ASSIGN_OR_RETURN(ExprPtr left, ParseAdditive());
    while (true) {
      const size_t offset = Peek().offset;
      std::string op;
      if (IsName("not") && IsName("in", 1)) {
        op = "not in";
        pos_ += 2;
      } else if (IsName("in")) {
        op = "in";
        ++pos_;
      } else if (Is(TokenKind::kComparison)) {
        op = Peek().value;
        ++pos_;
      } else {
        return left;
      }
      JAMBA_ASSIGN_OR_RETURN(ExprPtr right, ParseAdditive());
      left = MakeBinary(std::move(op), offset, std::move(left), std::move(right));
    }
  }

  absl::StatusOr<ExprPtr> ParseAdditive() {
    JAMBA_ASSIGN_OR_RETURN(ExprPtr left, ParseMultiplicative());
    while (Is(TokenKind::kAdditive)) {
      const Token& op = Peek();
      ++pos_;
      JAMBA_ASSIGN_OR_RETURN(ExprPtr right, ParseMultiplicative());
      left = MakeBinary(op.value, op.offset, std::move(left), std::move(right));
    }
    return left;
  }

  absl::StatusOr<ExprPtr> ParseMultiplicative() {
    JAMBA_ASSIGN_OR_RETURN(ExprPtr left, ParsePower());
    while (Is(TokenKind::kMultiplicative)) {
      const Token& op = Peek();
      ++pos_;
      JAMBA_ASSIGN_OR_RETURN(ExprPtr right, ParsePower());
      left = MakeBinary(op.value, op.offset, std::move(left), std::move(right));
    }
    return left;
  }

  absl::StatusOr<ExprPtr> ParsePower() {
    JAMBA_ASSIGN_OR_RETURN(ExprPtr left, ParseTest());
    while (Is(TokenKind::kPower)) {
      const Token& op = Peek();
      ++pos_;
      JAMBA_ASSIGN_OR_RETURN(ExprPtr right, ParseTest());
      left = MakeBinary("**", op.offset, std::move(left), std::move(right));
    }
    return left;
  }

  absl::StatusOr<ExprPtr> ParseTest() {
    JAMBA_ASSIGN_OR_RETURN(ExprPtr operand, ParseFilter());
    while (IsName("is")) {
      ExprPtr e = MakeExpr(ExprKind::kTest, Peek().offset);
      ++pos_;
      if (IsName("not")) {
        e->negate = true;
        ++pos_;
      }
      if (!Is(TokenKind::kName) && !IsName("none")) return ErrorHere("expected a test name");
      const Token& name = Peek();
      if (!IsSupportedTest(name.value)) {
        return Error(name, Cat("unknown test '", name.value, "'"));
      }
      e->name = name.value;
      ++pos_;
      if (Is(TokenKind::kLParen)) {
        JAMBA_ASSIGN_OR_RETURN(e->args, ParseArgs());
      } else if (TestTakesArgument(e->name) &&
                 (Is(TokenKind::kNumber) || Is(TokenKind::kString) || Is(TokenKind::kLBracket) ||
                  Is(TokenKind::kLBrace) || (Is(TokenKind::kName) && !IsKeyword(Peek().value)))) {
        Arg arg;
        JAMBA_ASSIGN_OR_RETURN(arg.value, ParseCallMember());
        e->args.push_back(std::move(arg));
      }
      e->a = std::move(operand);
      operand = std::move(e);
    }
    return operand;
  }

  // `| name` or `| name(args)`, applied to `operand` (null for a filter block).
  absl::StatusOr<ExprPtr> ParseFilterCall(ExprPtr operand) {
    if (!Is(TokenKind::kName)) return ErrorHere("expected a filter name");
    const Token& name = Peek();
    if (!IsSupportedFilter(name.value)) {
      return Error(name, Cat("unknown filter '", name.value, "'"));
    }
    ExprPtr e = MakeExpr(ExprKind::kFilter, name.offset);
    e->name = name.value;
    ++pos_;
    if (Is(TokenKind::kLParen)) {
      JAMBA_ASSIGN_OR_RETURN(e->args, ParseArgs());
    }
    e->a = std::move(operand);
    return e;
  }

  absl::StatusOr<ExprPtr> ParseFilter() {
    JAMBA_ASSIGN_OR_RETURN(ExprPtr operand, ParseUnarySign());
    while (Is(TokenKind::kPipe)) {
      ++pos_;
      JAMBA_ASSIGN_OR_RETURN(operand, ParseFilterCall(std::move(operand)));
    }
    return operand;
  }

  absl::StatusOr<ExprPtr> ParseUnarySign() {
    if ((Is(TokenKind::kUnary) || Is(TokenKind::kAdditive)) &&
        (Peek().value == "-" || Peek().value == "+")) {
      NestingGuard guard(depth_);
      JAMBA_RETURN_IF_ERROR(CheckNesting());
      ExprPtr e = MakeExpr(ExprKind::kUnary, Peek().offset);
      e->name = Peek().value;
      ++pos_;
      JAMBA_ASSIGN_OR_RETURN(e->a, ParseUnarySign());
      return e;
    }
    return ParseCallMember();
  }

  absl::StatusOr<ExprPtr> ParseCallMember() {
    JAMBA_ASSIGN_OR_RETURN(ExprPtr e, ParsePrimary());
    while (true) {
      if (Is(TokenKind::kDot) || Is(TokenKind::kLBracket)) {
        JAMBA_ASSIGN_OR_RETURN(e, ParseMember(std::move(e)));
      } else if (Is(TokenKind::kLParen)) {
        ExprPtr call = MakeExpr(ExprKind::kCall, Peek().offset);
        JAMBA_ASSIGN_OR_RETURN(call->args, ParseArgs());
        call->a = std::move(e);
        e = std::move(call);
      } else {
        return e;
      }
    }
  }

  absl::StatusOr<ExprPtr> ParseMember(ExprPtr object) {
    const Token& op = Peek();
    ++pos_;
    if (op.kind == TokenKind::kDot) {
      if (!Is(TokenKind::kName) && !Is(TokenKind::kNumber)) {
        return ErrorHere("expected an attribute name after '.'");
      }
      if (Is(TokenKind::kNumber) &&
          Peek().value.find_first_not_of("0123456789") != std::string::npos) {
        return ErrorHere("expected an attribute name or index after '.'");
      }
      ExprPtr e =
          MakeExpr(Is(TokenKind::kName) ? ExprKind::kGetAttr : ExprKind::kGetItem, op.offset);
      if (e->kind == ExprKind::kGetAttr) {
        e->name = Peek().value;
      } else {
        JAMBA_ASSIGN_OR_RETURN(e->b, ParseNumber(Peek()));
      }
      ++pos_;
      e->a = std::move(object);
      return e;
    }
    // [index] or [start:stop:step]
    std::vector<ExprPtr> parts;
    bool slice = false;
    while (!Is(TokenKind::kRBracket)) {
      if (AtEnd()) return ErrorHere("expected ']'");
      if (Is(TokenKind::kColon)) {
        parts.push_back(nullptr);
        ++pos_;
        slice = true;
      } else {
        JAMBA_ASSIGN_OR_RETURN(ExprPtr part, ParseExpression());
        parts.push_back(std::move(part));
        if (Is(TokenKind::kColon)) {
          ++pos_;
          slice = true;
        } else if (!Is(TokenKind::kRBracket)) {
          return ErrorHere("expected ']' or ':'");
        }
      }
    }
    ++pos_;
    if (parts.empty()) return Error(op, "empty subscript '[]'");
    if (slice) {
      if (parts.size() > 3) return Error(op, "a slice has at most three parts");
      ExprPtr e = MakeExpr(ExprKind::kSlice, op.offset);
      parts.resize(3);
      e->items = std::move(parts);
      e->a = std::move(object);
      return e;
    }
    ExprPtr e = MakeExpr(ExprKind::kGetItem, op.offset);
    e->a = std::move(object);
    e->b = std::move(parts[0]);
    return e;
  }

  absl::StatusOr<std::vector<Arg>> ParseArgs() {
    JAMBA_RETURN_IF_ERROR(Expect(TokenKind::kLParen, "'('"));
    std::vector<Arg> args;
    bool saw_keyword = false;
    bool saw_spread = false;
    while (!Is(TokenKind::kRParen)) {
      if (AtEnd()) return ErrorHere("expected ')'");
      Arg arg;
      if (Is(TokenKind::kPower)) {
        ++pos_;
        arg.kind = Arg::Kind::kKeywordSpread;
        JAMBA_ASSIGN_OR_RETURN(arg.value, ParseExpression());
        args.push_back(std::move(arg));
        if (Is(TokenKind::kComma)) ++pos_;
        if (!Is(TokenKind::kRParen)) return ErrorHere("'**' must be the last argument");
        break;
      }
      if (Is(TokenKind::kMultiplicative) && Peek().value == "*") {
        if (saw_spread) return ErrorHere("only one '*' argument is allowed");
        ++pos_;
        saw_spread = true;
        arg.kind = Arg::Kind::kSpread;
        JAMBA_ASSIGN_OR_RETURN(arg.value, ParseExpression());
      } else if (Is(TokenKind::kName) && Is(TokenKind::kEquals, 1)) {
        arg.kind = Arg::Kind::kKeyword;
        arg.keyword = Peek().value;
        pos_ += 2;
        JAMBA_ASSIGN_OR_RETURN(arg.value, ParseExpression());
        saw_keyword = true;
      } else {
        if (saw_keyword) return ErrorHere("positional argument follows keyword argument");
        if (saw_spread) return ErrorHere("positional argument follows '*' argument");
        JAMBA_ASSIGN_OR_RETURN(arg.value, ParseExpression());
      }
      args.push_back(std::move(arg));
      if (Is(TokenKind::kComma)) {
        ++pos_;
      } else if (!Is(TokenKind::kRParen)) {
        return ErrorHere("expected ',' or ')'");
      }
    }
    ++pos_;
    return args;
  }

  absl::StatusOr<ExprPtr> ParseNumber(const Token& token) {
    ExprPtr e = MakeExpr(ExprKind::kLiteral, token.offset);
    const std::string& text = token.value;
    if (text.find('.') != std::string::npos) {
      e->literal = Value::Float(std::strtod(text.c_str(), nullptr));
      return e;
    }
    int64_t value = 0;
    const char* begin = text.data() + (text[0] == '+' ? 1 : 0);
    const auto [end, error] = std::from_chars(begin, text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size()) {
      return Error(token, Cat("integer literal out of range: ", text));
    }
    e->literal = Value::Int(value);
    return e;
  }

  absl::StatusOr<ExprPtr> ParsePrimary() {
    NestingGuard guard(depth_);
    JAMBA_RETURN_IF_ERROR(CheckNesting());
    if (AtEnd()) return ErrorHere("expected an expression");
    const Token& token = Peek();
    ++pos_;
    switch (token.kind) {
      case TokenKind::kNumber:
        return ParseNumber(token);
      case TokenKind::kString: {
        ExprPtr e = MakeExpr(ExprKind::kLiteral, token.offset);
        std::string text = token.value;
        while (Is(TokenKind::kString)) text += tokens_[pos_++].value;
        e->literal = Value::String(std::move(text), /*user_data=*/false);
        return e;
      }
      case TokenKind::kName: {
        ExprPtr e = MakeExpr(ExprKind::kLiteral, token.offset);
        const std::string& name = token.value;
        if (name == "true" || name == "True") {
          e->literal = Value::Bool(true);
        } else if (name == "false" || name == "False") {
          e->literal = Value::Bool(false);
        } else if (name == "none" || name == "None") {
          e->literal = Value::None();
        } else {
          e->kind = ExprKind::kName;
          e->name = name;
        }
        return e;
      }
      case TokenKind::kLParen: {
        JAMBA_ASSIGN_OR_RETURN(ExprPtr e, ParseExpressionSequence(/*primary=*/false));
        JAMBA_RETURN_IF_ERROR(Expect(TokenKind::kRParen, "')'"));
        return e;
      }
      case TokenKind::kLBracket: {
        ExprPtr e = MakeExpr(ExprKind::kList, token.offset);
        while (!Is(TokenKind::kRBracket)) {
          if (AtEnd()) return ErrorHere("expected ']'");
          JAMBA_ASSIGN_OR_RETURN(ExprPtr item, ParseExpression());
          e->items.push_back(std::move(item));
          if (Is(TokenKind::kComma)) {
            ++pos_;
          } else if (!Is(TokenKind::kRBracket)) {
            return ErrorHere("expected ',' or ']'");
          }
        }
        ++pos_;
        return e;
      }
      case TokenKind::kLBrace: {
        ExprPtr e = MakeExpr(ExprKind::kDict, token.offset);
        while (!Is(TokenKind::kRBrace)) {
          if (AtEnd()) return ErrorHere("expected '}'");
          JAMBA_ASSIGN_OR_RETURN(ExprPtr key, ParseExpression());
          JAMBA_RETURN_IF_ERROR(Expect(TokenKind::kColon, "':' in a dict literal"));
          JAMBA_ASSIGN_OR_RETURN(ExprPtr value, ParseExpression());
          e->items.push_back(std::move(key));
          e->items.push_back(std::move(value));
          if (Is(TokenKind::kComma)) {
            ++pos_;
          } else if (!Is(TokenKind::kRBrace)) {
            return ErrorHere("expected ',' or '}'");
          }
        }
        ++pos_;
        return e;
      }
      default:
        --pos_;
        return ErrorHere(Cat("unexpected '", token.value, "' in an expression"));
    }
  }

  const std::vector<Token>& tokens_;
  const LineIndex& lines_;
  size_t pos_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;
};

}  // namespace

absl::StatusOr<Body> Parse(const std::vector<Token>& tokens, const LineIndex& lines) {
  return Parser(tokens, lines).ParseTemplate();
}

}  // namespace jamba::engine::jinja
