// The tree-walking renderer (see interpreter.h). Scoping follows @huggingface/jinja: a for loop
// gets one scope for all its iterations, `if` none, and a macro runs in a scope whose parent is
// the scope of its caller.
#include "engine/text/jinja/interpreter.h"

#include <cmath>
#include <limits>
#include <memory>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "engine/status_macros.h"
#include "engine/text/jinja/builtins.h"
#include "engine/text/jinja/format.h"
#include "engine/text/jinja/text_util.h"

namespace jamba::engine::jinja {
namespace {

// Marks the status of raise_exception(), whose message is passed through unchanged.
constexpr absl::string_view kRaisedPayload = "jamba.jinja/raise_exception";

constexpr std::string_view kGlobalFunctions[] = {"range", "namespace", "dict", "raise_exception",
                                                 "strftime_now"};

enum class Flow { kNormal, kBreak, kContinue };

bool Overflows(int64_t a, int64_t b, char op, int64_t& out) {
  switch (op) {
    case '+':
      return __builtin_add_overflow(a, b, &out);
    case '-':
      return __builtin_sub_overflow(a, b, &out);
    default:
      return __builtin_mul_overflow(a, b, &out);
  }
}

int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

int64_t PyMod(int64_t a, int64_t b) {
  if (b == -1) return 0;
  int64_t r = a % b;
  if (r != 0 && ((r < 0) != (b < 0))) r += b;
  return r;
}

class Renderer {
 public:
  Renderer(const Program& program, const RenderOptions& options)
      : program_(program), options_(options) {
    const size_t max_bytes = options.limits.max_output_bytes;
    max_work_ = max_bytes > (std::numeric_limits<size_t>::max() >> 7) ? max_bytes : max_bytes * 64;
    max_work_ += 1 << 20;
  }
  ~Renderer() {
    for (const Value& ns : namespaces_) ns.mutable_namespace().Clear();
  }
  Renderer(const Renderer&) = delete;
  Renderer& operator=(const Renderer&) = delete;

  absl::StatusOr<Str> Run(const std::map<std::string, Value>& variables) {
    Scope* globals = NewScope(nullptr);
    for (std::string_view name : kGlobalFunctions) {
      auto fn = std::make_shared<Callable>();
      fn->type = Callable::Type::kBuiltin;
      fn->name = std::string(name);
      globals->vars[std::string(name)] = Value::MakeCallable(std::move(fn));
    }
    Scope* top = NewScope(globals);
    for (const auto& [name, value] : variables) top->vars[name] = value;
    Str out;
    JAMBA_RETURN_IF_ERROR(RenderBody(program_.body, top, out));
    return out;
  }

 private:
  // --- bookkeeping ---------------------------------------------------------------------------

  Scope* NewScope(Scope* parent) {
    scopes_.push_back(std::make_unique<Scope>());
    scopes_.back()->parent = parent;
    return scopes_.back().get();
  }

  static const Value* Lookup(const Scope* scope, std::string_view name) {
    for (; scope != nullptr; scope = scope->parent) {
      auto it = scope->vars.find(AsAbsl(name));
      if (it != scope->vars.end()) return &it->second;
    }
    return nullptr;
  }

  absl::Status Fail(size_t offset, std::string_view what) const {
    return absl::InvalidArgumentError(Cat(program_.lines.Describe(offset), ": ", what));
  }

  // Prefixes the position of `offset` to an error from a filter, test, method or builtin.
  absl::Status Annotate(absl::Status status, size_t offset) const {
    if (status.ok() || status.code() != absl::StatusCode::kInvalidArgument ||
        status.GetPayload(kRaisedPayload).has_value() ||
        absl::StartsWith(status.message(), "line ")) {
      return status;
    }
    return Fail(offset, std::string(status.message()));
  }

  absl::Status Exhausted(std::string_view what) const {
    return absl::ResourceExhaustedError(Cat("template render limit: ", what));
  }

  // Every string the render makes is charged, so doubling a string in a loop stops early.
  absl::Status Charge(size_t bytes) {
    if (bytes > options_.limits.max_output_bytes) {
      return Exhausted(Cat("a string exceeds ", options_.limits.max_output_bytes, " bytes"));
    }
    work_ += bytes;
    if (work_ > max_work_) return Exhausted("too much text produced");
    return absl::OkStatus();
  }

  absl::Status ChargeValue(const Value& v) {
    if (v.is_string()) return Charge(v.text().size());
    if (v.is_list()) return Charge(v.list().size() * 16);
    return absl::OkStatus();
  }

  absl::Status Append(Str& out, const Str& piece) {
    JAMBA_RETURN_IF_ERROR(Charge(out.size() + piece.size()));
    work_ -= out.size();  // only the new bytes count as work
    out.Append(piece);
    return absl::OkStatus();
  }

  // --- statements ----------------------------------------------------------------------------

  absl::Status RenderBody(const Body& body, Scope* scope, Str& out) {
    for (const StmtPtr& stmt : body) {
      JAMBA_RETURN_IF_ERROR(RenderStmt(*stmt, scope, out));
      if (flow_ != Flow::kNormal) break;
    }
    return absl::OkStatus();
  }

  absl::Status RenderStmt(const Stmt& stmt, Scope* scope, Str& out) {
    switch (stmt.kind) {
      case StmtKind::kText:
        return Append(out, Str(stmt.text, false));
      case StmtKind::kOutput: {
        JAMBA_ASSIGN_OR_RETURN(Value value, Eval(*stmt.expr, scope));
        absl::StatusOr<Str> text = ToPrintable(value);
        if (!text.ok()) return Annotate(text.status(), stmt.expr->offset);
        return Append(out, *text);
      }
      case StmtKind::kIf: {
        JAMBA_ASSIGN_OR_RETURN(Value test, Eval(*stmt.expr, scope));
        return RenderBody(test.Truthy() ? stmt.body : stmt.else_body, scope, out);
      }
      case StmtKind::kFor:
        return RenderFor(stmt, scope, out);
      case StmtKind::kSet:
        return RenderSet(stmt, scope);
      case StmtKind::kMacro: {
        auto fn = std::make_shared<Callable>();
        fn->type = Callable::Type::kMacro;
        fn->name = stmt.name;
        fn->stmt = &stmt;
        scope->vars[stmt.name] = Value::MakeCallable(std::move(fn));
        return absl::OkStatus();
      }
      case StmtKind::kCallBlock:
        return RenderCallBlock(stmt, scope, out);
      case StmtKind::kFilterBlock: {
        Str body;
        JAMBA_RETURN_IF_ERROR(RenderBody(stmt.body, scope, body));
        JAMBA_ASSIGN_OR_RETURN(CallArgs args, EvalArgs(stmt.expr->args, scope));
        absl::StatusOr<Value> filtered =
            ApplyFilter(stmt.expr->name, Value::String(std::move(body)), args);
        if (!filtered.ok()) return Annotate(filtered.status(), stmt.expr->offset);
        absl::StatusOr<Str> text = ToPrintable(*filtered);
        if (!text.ok()) return Annotate(text.status(), stmt.offset);
        return Append(out, *text);
      }
      case StmtKind::kBreak:
        flow_ = Flow::kBreak;
        return absl::OkStatus();
      case StmtKind::kContinue:
        flow_ = Flow::kContinue;
        return absl::OkStatus();
    }
    return absl::OkStatus();
  }

  absl::Status Bind(const Expr& target, const Value& value, Scope* scope) {
    if (target.kind == ExprKind::kName) {
      scope->vars[target.name] = value;
      return absl::OkStatus();
    }
    // A tuple of names.
    if (!value.is_list()) {
      return Fail(target.offset, Cat("cannot unpack a ", value.TypeName()));
    }
    if (value.list().size() != target.items.size()) {
      return Fail(target.offset, Cat("expected ", target.items.size(), " values to unpack, got ",
                                     value.list().size()));
    }
    for (size_t i = 0; i < target.items.size(); ++i) {
      scope->vars[target.items[i]->name] = value.list()[i];
    }
    return absl::OkStatus();
  }

  absl::Status RenderSet(const Stmt& stmt, Scope* scope) {
    Value value;
    if (stmt.expr != nullptr) {
      JAMBA_ASSIGN_OR_RETURN(value, Eval(*stmt.expr, scope));
    } else {
      Str body;
      JAMBA_RETURN_IF_ERROR(RenderBody(stmt.body, scope, body));
      value = Value::String(std::move(body));
    }
    const Expr& target = *stmt.target;
    if (target.kind != ExprKind::kGetAttr) return Bind(target, value, scope);
    JAMBA_ASSIGN_OR_RETURN(Value object, Eval(*target.a, scope));
    if (!object.is_namespace()) {
      return Fail(target.offset, Cat("cannot set attribute '", target.name, "' of a ",
                                     object.TypeName(), " (only of a namespace)"));
    }
    object.mutable_namespace().Set(Str(target.name, false), std::move(value));
    return absl::OkStatus();
  }

  absl::StatusOr<List> Iterate(const Value& iterable, size_t offset) {
    switch (iterable.kind()) {
      case Value::Kind::kUndefined:
        return List();
      case Value::Kind::kList:
        return iterable.list();
      case Value::Kind::kDict: {
        List keys;
        for (const Dict::Entry& entry : iterable.dict().entries()) {
          keys.push_back(Value::String(entry.key));
        }
        return keys;
      }
      case Value::Kind::kString: {
        List chars;
        const std::string& text = iterable.text();
        const bool user = iterable.str().AnyUserData();
        const std::vector<size_t> offsets = CodePointOffsets(text);
        for (size_t i = 0; i + 1 < offsets.size(); ++i) {
          chars.push_back(
              Value::String(text.substr(offsets[i], offsets[i + 1] - offsets[i]), user));
        }
        return chars;
      }
      default:
        return Fail(offset, Cat("cannot iterate over a ", iterable.TypeName()));
    }
  }

  absl::Status RenderFor(const Stmt& stmt, Scope* scope, Str& out) {
    Scope* loop_scope = NewScope(scope);
    JAMBA_ASSIGN_OR_RETURN(Value iterable, Eval(*stmt.expr, loop_scope));
    JAMBA_ASSIGN_OR_RETURN(List all, Iterate(iterable, stmt.expr->offset));
    List items;
    if (stmt.condition == nullptr) {
      items = std::move(all);
    } else {
      Scope* test_scope = NewScope(loop_scope);
      for (Value& item : all) {
        JAMBA_RETURN_IF_ERROR(CountIteration());
        test_scope->vars.clear();
        JAMBA_RETURN_IF_ERROR(Bind(*stmt.target, item, test_scope));
        JAMBA_ASSIGN_OR_RETURN(Value keep, Eval(*stmt.condition, test_scope));
        if (keep.Truthy()) items.push_back(std::move(item));
      }
    }
    const int64_t n = static_cast<int64_t>(items.size());
    for (int64_t i = 0; i < n; ++i) {
      JAMBA_RETURN_IF_ERROR(CountIteration());
      Dict loop;
      loop.Set(Str("index", false), Value::Int(i + 1));
      loop.Set(Str("index0", false), Value::Int(i));
      loop.Set(Str("revindex", false), Value::Int(n - i));
      loop.Set(Str("revindex0", false), Value::Int(n - i - 1));
      loop.Set(Str("first", false), Value::Bool(i == 0));
      loop.Set(Str("last", false), Value::Bool(i == n - 1));
      loop.Set(Str("length", false), Value::Int(n));
      loop.Set(Str("previtem", false), i > 0 ? items[i - 1] : Value());
      loop.Set(Str("nextitem", false), i + 1 < n ? items[i + 1] : Value());
      loop_scope->vars["loop"] = Value::MakeDict(std::move(loop));
      JAMBA_RETURN_IF_ERROR(Bind(*stmt.target, items[i], loop_scope));
      JAMBA_RETURN_IF_ERROR(RenderBody(stmt.body, loop_scope, out));
      const Flow flow = std::exchange(flow_, Flow::kNormal);
      if (flow == Flow::kBreak) break;
    }
    if (items.empty()) return RenderBody(stmt.else_body, loop_scope, out);
    return absl::OkStatus();
  }

  absl::Status CountIteration() {
    if (++iterations_ > options_.limits.max_loop_iterations) {
      return Exhausted(Cat("more than ", options_.limits.max_loop_iterations, " loop iterations"));
    }
    return absl::OkStatus();
  }

  absl::Status RenderCallBlock(const Stmt& stmt, Scope* scope, Str& out) {
    const Expr& call = *stmt.expr;
    JAMBA_ASSIGN_OR_RETURN(Value callee, Eval(*call.a, scope));
    if (!callee.is_callable()) return Fail(call.offset, "'call' needs a macro");
    JAMBA_ASSIGN_OR_RETURN(CallArgs args, EvalArgs(call.args, scope));
    auto caller = std::make_shared<Callable>();
    caller->type = Callable::Type::kCaller;
    caller->name = "caller";
    caller->stmt = &stmt;
    caller->closure = scope;
    const Value caller_value = Value::MakeCallable(std::move(caller));
    JAMBA_ASSIGN_OR_RETURN(Value result,
                           Invoke(callee, std::move(args), scope, call.offset, &caller_value));
    absl::StatusOr<Str> text = ToPrintable(result);
    if (!text.ok()) return Annotate(text.status(), call.offset);
    return Append(out, *text);
  }

  // --- calls ---------------------------------------------------------------------------------

  absl::StatusOr<CallArgs> EvalArgs(const std::vector<Arg>& args, Scope* scope) {
    CallArgs out;
    for (const Arg& arg : args) {
      if (arg.kind == Arg::Kind::kPositional) {
        JAMBA_ASSIGN_OR_RETURN(Value v, Eval(*arg.value, scope));
        out.positional.push_back(std::move(v));
      } else if (arg.kind == Arg::Kind::kSpread) {
        JAMBA_ASSIGN_OR_RETURN(Value v, Eval(*arg.value, scope));
        if (!v.is_list()) {
          return Fail(arg.value->offset, Cat("cannot unpack a ", v.TypeName(), " with *"));
        }
        for (const Value& item : v.list()) out.positional.push_back(item);
      }
    }
    for (const Arg& arg : args) {
      if (arg.kind == Arg::Kind::kKeyword) {
        JAMBA_ASSIGN_OR_RETURN(Value v, Eval(*arg.value, scope));
        out.keyword.emplace_back(arg.keyword, std::move(v));
      } else if (arg.kind == Arg::Kind::kKeywordSpread) {
        JAMBA_ASSIGN_OR_RETURN(Value v, Eval(*arg.value, scope));
        if (!v.is_dict()) {
          return Fail(arg.value->offset, Cat("cannot unpack a ", v.TypeName(), " with **"));
        }
        for (const Dict::Entry& entry : v.dict().entries()) {
          out.keyword.emplace_back(entry.key.text(), entry.value);
        }
      } else {
        continue;
      }
      for (size_t i = 0; i + 1 < out.keyword.size(); ++i) {
        if (out.keyword[i].first == out.keyword.back().first) {
          return Fail(arg.value->offset,
                      Cat("keyword argument '", out.keyword[i].first, "' given twice"));
        }
      }
    }
    return out;
  }

  absl::StatusOr<Value> Invoke(const Value& callee, CallArgs args, Scope* scope, size_t offset,
                               const Value* caller) {
    const Callable& fn = callee.callable();
    switch (fn.type) {
      case Callable::Type::kMacro:
        return CallMacro(*fn.stmt, std::move(args), scope, caller, offset);
      case Callable::Type::kCaller:
        return CallMacro(*fn.stmt, std::move(args), fn.closure, nullptr, offset);
      case Callable::Type::kBuiltin: {
        absl::StatusOr<Value> result = CallBuiltin(fn.name, args);
        if (!result.ok()) return Annotate(result.status(), offset);
        return result;
      }
      case Callable::Type::kMethod: {
        absl::StatusOr<Value> result = CallMethod(fn.receiver, fn.name, args);
        if (!result.ok()) return Annotate(result.status(), offset);
        JAMBA_RETURN_IF_ERROR(ChargeValue(*result));
        return result;
      }
    }
    return Value();
  }

  absl::StatusOr<Value> CallMacro(const Stmt& def, CallArgs args, Scope* parent,
                                  const Value* caller, size_t offset) {
    const std::string name = def.kind == StmtKind::kMacro ? def.name : "caller";
    if (call_depth_ >= options_.limits.max_call_depth) {
      return Exhausted(
          Cat("macro calls nested more than ", options_.limits.max_call_depth, " deep"));
    }
    Scope* scope = NewScope(parent);
    if (caller != nullptr) scope->vars["caller"] = *caller;
    std::vector<const Param*> pending_defaults;
    for (size_t i = 0; i < def.params.size(); ++i) {
      const Param& p = def.params[i];
      Value value;
      bool given = false;
      if (i < args.positional.size()) {
        value = args.positional[i];
        given = true;
      } else {
        for (auto it = args.keyword.begin(); it != args.keyword.end(); ++it) {
          if (it->first == p.name) {
            value = std::move(it->second);
            args.keyword.erase(it);
            given = true;
            break;
          }
        }
      }
      if (!given && p.default_value != nullptr) pending_defaults.push_back(&p);
      scope->vars[p.name] = std::move(value);
    }
    if (def.uses_kwargs) {
      Dict kwargs;
      for (auto& [key, value] : args.keyword) kwargs.Set(Str(key, false), std::move(value));
      scope->vars["kwargs"] = Value::MakeDict(std::move(kwargs));
    } else if (!args.keyword.empty()) {
      return Fail(offset, Cat("macro '", name, "' takes no keyword argument '",
                              args.keyword.front().first, "'"));
    }
    if (def.uses_varargs) {
      List rest;
      for (size_t i = def.params.size(); i < args.positional.size(); ++i) {
        rest.push_back(args.positional[i]);
      }
      scope->vars["varargs"] = Value::MakeList(std::move(rest));
    } else if (args.positional.size() > def.params.size()) {
      return Fail(offset, Cat("macro '", name, "' takes at most ", def.params.size(),
                              " argument(s), got ", args.positional.size()));
    }
    for (const Param* p : pending_defaults) {
      JAMBA_ASSIGN_OR_RETURN(scope->vars[p->name], Eval(*p->default_value, scope));
    }
    ++call_depth_;
    Str out;
    absl::Status status = RenderBody(def.body, scope, out);
    --call_depth_;
    JAMBA_RETURN_IF_ERROR(status);
    return Value::String(std::move(out));
  }

  absl::StatusOr<Value> CallBuiltin(const std::string& name, const CallArgs& args) {
    if (name == "raise_exception") {
      const Value* message = args.Get(0, "message");
      std::string text = "raise_exception() called";
      if (message != nullptr) {
        JAMBA_ASSIGN_OR_RETURN(Str printed, ToPrintable(*message));
        text = printed.text();
      }
      absl::Status status = absl::InvalidArgumentError(text);
      status.SetPayload(kRaisedPayload, absl::Cord("1"));
      return status;
    }
    if (name == "range") {
      JAMBA_RETURN_IF_ERROR(args.Check("range()", 3, {}));
      int64_t bounds[3] = {0, 0, 1};
      const size_t n = args.positional.size();
      if (n == 0) return absl::InvalidArgumentError("range() needs at least one argument");
      for (size_t i = 0; i < n; ++i) {
        const Value& v = args.positional[i];
        if (!v.is_int() && !v.is_bool()) {
          return absl::InvalidArgumentError(Cat("range() needs integers, got a ", v.TypeName()));
        }
        bounds[n == 1 ? 1 : i] = v.is_int() ? v.int_value() : v.bool_value();
      }
      const int64_t start = bounds[0], stop = bounds[1], step = bounds[2];
      if (step == 0) return absl::InvalidArgumentError("range() step must not be zero");
      const long double count_ld = step > 0
                                       ? std::ceil((static_cast<long double>(stop) - start) / step)
                                       : std::ceil((static_cast<long double>(start) - stop) /
                                                   -static_cast<long double>(step));
      const int64_t count =
          count_ld > 0 ? static_cast<int64_t>(std::min<long double>(count_ld, 1e18)) : 0;
      if (count > options_.limits.max_loop_iterations) {
        return Exhausted(Cat("range() of ", count, " items"));
      }
      List items;
      items.reserve(count);
      for (int64_t i = 0; i < count; ++i) items.push_back(Value::Int(start + i * step));
      return Value::MakeList(std::move(items));
    }
    if (name == "namespace" || name == "dict") {
      if (args.positional.size() > 1) {
        return absl::InvalidArgumentError(Cat(name, "() takes at most one positional argument"));
      }
      Dict dict;
      if (!args.positional.empty()) {
        const Value& source = args.positional[0];
        if (!source.is_dict() && !source.is_namespace()) {
          return absl::InvalidArgumentError(
              Cat(name, "() takes a mapping, got a ", source.TypeName()));
        }
        for (const Dict::Entry& entry : source.dict().entries()) dict.Set(entry.key, entry.value);
      }
      for (const auto& [key, value] : args.keyword) dict.Set(Str(key, false), value);
      if (name == "dict") return Value::MakeDict(std::move(dict));
      Value ns = Value::MakeNamespace(std::move(dict));
      namespaces_.push_back(ns);
      return ns;
    }
    if (name == "strftime_now") {
      JAMBA_RETURN_IF_ERROR(args.Check("strftime_now()", 1, {}));
      const Value* format = args.Get(0, "format");
      if (format == nullptr || !format->is_string()) {
        return absl::InvalidArgumentError("strftime_now() needs a format string");
      }
      const absl::Time now = options_.now.value_or(absl::Now());
      return Value::String(Str(absl::FormatTime(format->text(), now, absl::UTCTimeZone()),
                               format->str().AnyUserData()));
    }
    return absl::InvalidArgumentError(Cat("unknown function '", name, "'"));
  }

  // --- expressions ---------------------------------------------------------------------------

  Value BoundMethod(const Value& receiver, std::string_view name) {
    auto fn = std::make_shared<Callable>();
    fn->type = Callable::Type::kMethod;
    fn->name = std::string(name);
    fn->receiver = receiver;
    return Value::MakeCallable(std::move(fn));
  }

  // obj.name and obj["name"].
  Value GetAttr(const Value& object, std::string_view name) {
    if (object.is_dict() || object.is_namespace()) {
      if (const Value* v = object.dict().Find(name)) return *v;
      if (object.is_dict() && HasMethod(object, name)) return BoundMethod(object, name);
      return Value();
    }
    if ((object.is_string() || object.is_list()) && HasMethod(object, name)) {
      return BoundMethod(object, name);
    }
    return Value();
  }

  absl::StatusOr<Value> GetItem(const Value& object, const Value& index, size_t offset) {
    if (index.is_string()) return GetAttr(object, index.text());
    if (!index.is_int()) {
      if (object.is_list() || object.is_string()) {
        return Fail(offset, Cat("indices must be integers, not ", index.TypeName()));
      }
      return Value();
    }
    int64_t i = index.int_value();
    if (object.is_list()) {
      const int64_t n = static_cast<int64_t>(object.list().size());
      if (i < 0) i += n;
      return i >= 0 && i < n ? object.list()[i] : Value();
    }
    if (object.is_string()) {
      const std::vector<size_t> offsets = CodePointOffsets(object.text());
      const int64_t n = static_cast<int64_t>(offsets.size()) - 1;
      if (i < 0) i += n;
      if (i < 0 || i >= n) return Value();
      return Value::String(object.text().substr(offsets[i], offsets[i + 1] - offsets[i]),
                           object.str().AnyUserData());
    }
    return Value();
  }

  absl::StatusOr<Value> EvalSlice(const Expr& e, Scope* scope) {
    JAMBA_ASSIGN_OR_RETURN(Value object, Eval(*e.a, scope));
    int64_t parts[3] = {0, 0, 1};
    bool given[3] = {false, false, false};
    for (int k = 0; k < 3; ++k) {
      if (e.items[k] == nullptr) continue;
      JAMBA_ASSIGN_OR_RETURN(Value v, Eval(*e.items[k], scope));
      if (v.is_undefined() || v.is_none()) continue;
      if (!v.is_int()) return Fail(e.offset, "slice bounds must be integers");
      parts[k] = v.int_value();
      given[k] = true;
    }
    const int64_t step = parts[2];
    if (step == 0) return Fail(e.offset, "slice step cannot be zero");
    std::vector<size_t> offsets;
    int64_t n = 0;
    if (object.is_list()) {
      n = static_cast<int64_t>(object.list().size());
    } else if (object.is_string()) {
      offsets = CodePointOffsets(object.text());
      n = static_cast<int64_t>(offsets.size()) - 1;
    } else {
      return Fail(e.offset, Cat("cannot slice a ", object.TypeName()));
    }
    // Python's slice.indices.
    auto clamp = [&](int64_t v, bool is_given, int64_t fallback) {
      if (!is_given) return fallback;
      if (v < 0) v = std::max<int64_t>(v + n, step < 0 ? -1 : 0);
      return std::min<int64_t>(v, step < 0 ? n - 1 : n);
    };
    const int64_t start = clamp(parts[0], given[0], step < 0 ? n - 1 : 0);
    const int64_t stop = clamp(parts[1], given[1], step < 0 ? -1 : n);
    std::vector<int64_t> picked;
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) picked.push_back(i);
    if (object.is_list()) {
      List items;
      for (int64_t i : picked) items.push_back(object.list()[i]);
      return Value::MakeList(std::move(items));
    }
    std::string text;
    for (int64_t i : picked) text.append(object.text(), offsets[i], offsets[i + 1] - offsets[i]);
    return Value::String(std::move(text), object.str().AnyUserData());
  }

  absl::StatusOr<Value> Eval(const Expr& e, Scope* scope) {
    switch (e.kind) {
      case ExprKind::kLiteral:
        return e.literal;
      case ExprKind::kName: {
        const Value* v = Lookup(scope, e.name);
        return v != nullptr ? *v : Value();
      }
      case ExprKind::kList:
      case ExprKind::kTuple: {
        List items;
        items.reserve(e.items.size());
        for (const ExprPtr& item : e.items) {
          JAMBA_ASSIGN_OR_RETURN(Value v, Eval(*item, scope));
          items.push_back(std::move(v));
        }
        return Value::MakeList(std::move(items));
      }
      case ExprKind::kDict: {
        Dict dict;
        for (size_t i = 0; i + 1 < e.items.size(); i += 2) {
          JAMBA_ASSIGN_OR_RETURN(Value key, Eval(*e.items[i], scope));
          if (!key.is_string()) return Fail(e.items[i]->offset, "dict keys must be strings");
          JAMBA_ASSIGN_OR_RETURN(Value value, Eval(*e.items[i + 1], scope));
          dict.Set(key.str(), std::move(value));
        }
        return Value::MakeDict(std::move(dict));
      }
      case ExprKind::kGetAttr: {
        JAMBA_ASSIGN_OR_RETURN(Value object, Eval(*e.a, scope));
        return GetAttr(object, e.name);
      }
      case ExprKind::kGetItem: {
        JAMBA_ASSIGN_OR_RETURN(Value object, Eval(*e.a, scope));
        JAMBA_ASSIGN_OR_RETURN(Value index, Eval(*e.b, scope));
        return GetItem(object, index, e.offset);
      }
      case ExprKind::kSlice:
        return EvalSlice(e, scope);
      case ExprKind::kCall: {
        JAMBA_ASSIGN_OR_RETURN(Value callee, Eval(*e.a, scope));
        if (!callee.is_callable()) {
          const std::string what = e.a->kind == ExprKind::kName      ? Cat("'", e.a->name, "'")
                                   : e.a->kind == ExprKind::kGetAttr ? Cat("'", e.a->name, "'")
                                                                     : std::string("expression");
          return Fail(e.offset, Cat(what, " is not callable (it is ",
                                    callee.is_undefined() ? "undefined" : callee.TypeName(), ")"));
        }
        JAMBA_ASSIGN_OR_RETURN(CallArgs args, EvalArgs(e.args, scope));
        return Invoke(callee, std::move(args), scope, e.offset, nullptr);
      }
      case ExprKind::kFilter: {
        JAMBA_ASSIGN_OR_RETURN(Value operand, Eval(*e.a, scope));
        JAMBA_ASSIGN_OR_RETURN(CallArgs args, EvalArgs(e.args, scope));
        absl::StatusOr<Value> result = ApplyFilter(e.name, operand, args);
        if (!result.ok()) return Annotate(result.status(), e.offset);
        JAMBA_RETURN_IF_ERROR(ChargeValue(*result));
        return result;
      }
      case ExprKind::kTest: {
        JAMBA_ASSIGN_OR_RETURN(Value operand, Eval(*e.a, scope));
        JAMBA_ASSIGN_OR_RETURN(CallArgs args, EvalArgs(e.args, scope));
        absl::StatusOr<bool> result = ApplyTest(e.name, operand, args);
        if (!result.ok()) return Annotate(result.status(), e.offset);
        return Value::Bool(*result != e.negate);
      }
      case ExprKind::kUnary:
        return EvalUnary(e, scope);
      case ExprKind::kBinary:
        return EvalBinary(e, scope);
      case ExprKind::kTernary: {
        JAMBA_ASSIGN_OR_RETURN(Value test, Eval(*e.b, scope));
        return Eval(test.Truthy() ? *e.a : *e.c, scope);
      }
      case ExprKind::kSelect: {
        JAMBA_ASSIGN_OR_RETURN(Value test, Eval(*e.b, scope));
        if (!test.Truthy()) return Value();
        return Eval(*e.a, scope);
      }
    }
    return Value();
  }

  absl::StatusOr<Value> EvalUnary(const Expr& e, Scope* scope) {
    JAMBA_ASSIGN_OR_RETURN(Value v, Eval(*e.a, scope));
    if (e.name == "not") return Value::Bool(!v.Truthy());
    const bool negate = e.name == "-";
    if (v.is_float()) return Value::Float(negate ? -v.float_value() : v.float_value());
    if (v.is_int() || v.is_bool()) {
      const int64_t x = v.is_int() ? v.int_value() : v.bool_value();
      if (negate && x == std::numeric_limits<int64_t>::min())
        return Fail(e.offset, "integer overflow");
      return Value::Int(negate ? -x : x);
    }
    return Fail(e.offset, Cat("bad operand for unary ", e.name, ": ", v.TypeName()));
  }

  absl::StatusOr<bool> Membership(const Expr& e, const Value& item, const Value& container) {
    switch (container.kind()) {
      case Value::Kind::kUndefined:
        return false;
      case Value::Kind::kList:
        for (const Value& v : container.list()) {
          if (ValuesEqual(item, v)) return true;
        }
        return false;
      case Value::Kind::kString:
        if (!item.is_string()) {
          return Fail(e.offset, Cat("'in <string>' needs a string, not a ", item.TypeName()));
        }
        return container.text().find(item.text()) != std::string::npos;
      case Value::Kind::kDict:
        return item.is_string() && container.dict().Find(item.text()) != nullptr;
      default:
        return Fail(e.offset,
                    Cat("'in' needs a list, string or dict, not a ", container.TypeName()));
    }
  }

  absl::StatusOr<Value> Concat(const Value& a, const Value& b, size_t offset) {
    absl::StatusOr<Str> left = ToPrintable(a);
    if (!left.ok()) return Annotate(left.status(), offset);
    absl::StatusOr<Str> right = ToPrintable(b);
    if (!right.ok()) return Annotate(right.status(), offset);
    JAMBA_RETURN_IF_ERROR(Charge(left->size() + right->size()));
    left->Append(*right);
    return Value::String(*std::move(left));
  }

  absl::StatusOr<Value> EvalBinary(const Expr& e, Scope* scope) {
    const std::string& op = e.name;
    JAMBA_ASSIGN_OR_RETURN(Value a, Eval(*e.a, scope));
    if (op == "and") return a.Truthy() ? Eval(*e.b, scope) : absl::StatusOr<Value>(a);
    if (op == "or") return a.Truthy() ? absl::StatusOr<Value>(a) : Eval(*e.b, scope);
    JAMBA_ASSIGN_OR_RETURN(Value b, Eval(*e.b, scope));
    if (op == "==") return Value::Bool(ValuesEqual(a, b));
    if (op == "!=") return Value::Bool(!ValuesEqual(a, b));
    if (op == "in" || op == "not in") {
      JAMBA_ASSIGN_OR_RETURN(const bool in, Membership(e, a, b));
      return Value::Bool(in == (op == "in"));
    }
    if (a.is_undefined() || b.is_undefined() || a.is_none() || b.is_none()) {
      return Fail(e.offset,
                  Cat("cannot use '", op, "' with ",
                      a.is_undefined() || b.is_undefined() ? "an undefined value" : "none"));
    }
    if (op == "~") return Concat(a, b, e.offset);
    const bool numeric = a.is_number() && b.is_number();
    if (op == "**" && (a.is_number() || a.is_bool()) && (b.is_number() || b.is_bool())) {
      return Power(e, a, b);
    }
    if (numeric) return Arithmetic(e, a, b);
    if (op == "+" && a.is_list() && b.is_list()) {
      List items = a.list();
      items.insert(items.end(), b.list().begin(), b.list().end());
      JAMBA_RETURN_IF_ERROR(Charge(items.size() * 16));
      return Value::MakeList(std::move(items));
    }
    if (op == "+" && (a.is_string() || b.is_string())) return Concat(a, b, e.offset);
    if (a.is_string() && b.is_string() && (op == "<" || op == ">" || op == "<=" || op == ">=")) {
      const int c = a.text().compare(b.text());
      return Value::Bool(op == "<" ? c < 0 : op == ">" ? c > 0 : op == "<=" ? c <= 0 : c >= 0);
    }
    return Fail(e.offset, Cat("unsupported operand types for '", op, "': ", a.TypeName(), " and ",
                              b.TypeName()));
  }

  absl::StatusOr<Value> Power(const Expr& e, const Value& a, const Value& b) {
    const bool ints = !a.is_float() && !b.is_float();
    const double x = a.number_value(), y = b.number_value();
    if (x == 0 && y < 0) return Fail(e.offset, "0 cannot be raised to a negative power");
    if (ints && y >= 0) {
      int64_t base = a.is_int() ? a.int_value() : a.bool_value();
      int64_t exp = b.is_int() ? b.int_value() : b.bool_value();
      int64_t result = 1;
      while (exp > 0) {
        if ((exp & 1) && Overflows(result, base, '*', result))
          return Fail(e.offset, "integer overflow");
        exp >>= 1;
        if (exp > 0 && Overflows(base, base, '*', base)) return Fail(e.offset, "integer overflow");
      }
      return Value::Int(result);
    }
    const double r = std::pow(x, y);
    if (!std::isfinite(r)) return Fail(e.offset, "exponentiation result is not a finite number");
    return Value::Float(r);
  }

  absl::StatusOr<Value> Arithmetic(const Expr& e, const Value& a, const Value& b) {
    const std::string& op = e.name;
    if (op == "<" || op == ">" || op == "<=" || op == ">=") {
      const double x = a.number_value(), y = b.number_value();
      if (a.is_int() && b.is_int()) {
        const int64_t i = a.int_value(), j = b.int_value();
        return Value::Bool(op == "<" ? i < j : op == ">" ? i > j : op == "<=" ? i <= j : i >= j);
      }
      return Value::Bool(op == "<" ? x < y : op == ">" ? x > y : op == "<=" ? x <= y : x >= y);
    }
    if (a.is_int() && b.is_int() && op != "/") {
      const int64_t x = a.int_value(), y = b.int_value();
      int64_t r = 0;
      if (op == "+" || op == "-" || op == "*") {
        if (Overflows(x, y, op[0], r)) return Fail(e.offset, "integer overflow");
        return Value::Int(r);
      }
      if (y == 0) return Fail(e.offset, "division by zero");
      if (op == "//") {
        if (x == std::numeric_limits<int64_t>::min() && y == -1)
          return Fail(e.offset, "integer overflow");
        return Value::Int(FloorDiv(x, y));
      }
      if (op == "%") return Value::Int(PyMod(x, y));
    }
    const double x = a.number_value(), y = b.number_value();
    if (op == "+") return Value::Float(x + y);
    if (op == "-") return Value::Float(x - y);
    if (op == "*") return Value::Float(x * y);
    if (y == 0) return Fail(e.offset, "division by zero");
    if (op == "/") return Value::Float(x / y);
    if (op == "//") return Value::Float(std::floor(x / y));
    if (op == "%") {
      double r = std::fmod(x, y);
      if (r != 0 && ((r < 0) != (y < 0))) r += y;
      return Value::Float(r);
    }
    return Fail(e.offset, Cat("unsupported operator '", op, "' for numbers"));
  }

  const Program& program_;
  const RenderOptions& options_;
  std::vector<std::unique_ptr<Scope>> scopes_;
  std::vector<Value> namespaces_;
  int64_t iterations_ = 0;
  int call_depth_ = 0;
  size_t work_ = 0;
  size_t max_work_ = 0;
  Flow flow_ = Flow::kNormal;
};

}  // namespace

absl::StatusOr<Str> RenderProgram(const Program& program,
                                  const std::map<std::string, Value>& variables,
                                  const RenderOptions& options) {
  Renderer renderer(program, options);
  return renderer.Run(variables);
}

}  // namespace jamba::engine::jinja
