// The filters (see builtins.h), plus argument helpers shared with tests.cc and methods.cc.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/status_macros.h"
#include "engine/text/jinja/builtins.h"
#include "engine/text/jinja/format.h"
#include "engine/text/jinja/text_util.h"

namespace jamba::engine::jinja {
namespace {

using FilterFn = absl::StatusOr<Value> (*)(const Value&, const CallArgs&);

absl::Status TypeError(std::string_view filter, const Value& operand) {
  return absl::InvalidArgumentError(
      Cat("filter '", filter, "' cannot be applied to a ", operand.TypeName()));
}

absl::StatusOr<bool> BoolArg(const CallArgs& args, size_t index, std::string_view name,
                             bool fallback) {
  const Value* v = args.Get(index, name);
  if (v == nullptr) return fallback;
  if (!v->is_bool()) {
    return absl::InvalidArgumentError(Cat("argument '", name, "' must be a boolean"));
  }
  return v->bool_value();
}

// A string filter whose result is user data if its input is.
Value Derived(std::string text, const Value& from) {
  return Value::String(std::move(text), from.str().AnyUserData());
}

absl::StatusOr<Value> ToJsonFilter(const Value& operand, const CallArgs& args) {
  JAMBA_RETURN_IF_ERROR(
      args.Check("tojson", 1, {"indent", "ensure_ascii", "sort_keys", "separators"}));
  JsonOptions options;
  if (const Value* indent = args.Get(0, "indent"); indent != nullptr && !indent->is_none()) {
    if (!indent->is_int()) return absl::InvalidArgumentError("tojson indent must be an integer");
    options.indent = static_cast<int>(std::clamp<int64_t>(indent->int_value(), -1, 64));
  }
  JAMBA_ASSIGN_OR_RETURN(options.ensure_ascii, BoolArg(args, 99, "ensure_ascii", false));
  JAMBA_ASSIGN_OR_RETURN(options.sort_keys, BoolArg(args, 99, "sort_keys", false));
  if (const Value* seps = args.Get(99, "separators"); seps != nullptr && !seps->is_none()) {
    if (!seps->is_list() || seps->list().size() != 2 || !seps->list()[0].is_string() ||
        !seps->list()[1].is_string()) {
      return absl::InvalidArgumentError("tojson separators must be a pair of strings");
    }
    options.separators.emplace(seps->list()[0].text(), seps->list()[1].text());
  }
  JAMBA_ASSIGN_OR_RETURN(Str json, ToJson(operand, options));
  return Value::String(std::move(json));
}

absl::StatusOr<Value> Safe(const Value& operand, const CallArgs& args) {
  JAMBA_RETURN_IF_ERROR(args.Check("safe", 0, {}));
  return operand;
}

absl::StatusOr<Value> Trim(const Value& operand, const CallArgs& args) {
  JAMBA_RETURN_IF_ERROR(args.Check("trim", 1, {"chars"}));
  if (!operand.is_string()) return TypeError("trim", operand);
  const Value* chars = args.Get(0, "chars");
  if (chars != nullptr && !chars->is_none()) {
    CallArgs method_args;
    method_args.positional.push_back(*chars);
    return CallMethod(operand, "strip", method_args);
  }
  return CallMethod(operand, "strip", CallArgs());
}

absl::StatusOr<Value> Length(const Value& operand, const CallArgs& args) {
  JAMBA_RETURN_IF_ERROR(args.Check("length", 0, {}));
  switch (operand.kind()) {
    case Value::Kind::kUndefined:
      return Value::Int(0);
    case Value::Kind::kString:
      return Value::Int(static_cast<int64_t>(CodePointCount(operand.text())));
    case Value::Kind::kList:
      return Value::Int(static_cast<int64_t>(operand.list().size()));
    case Value::Kind::kDict:
      return Value::Int(static_cast<int64_t>(operand.dict().size()));
    default:
      return TypeError("length", operand);
  }
}

template <std::string (*Map)(std::string_view)>
absl::StatusOr<Value> StringMap(const Value& operand, const CallArgs& args) {
  JAMBA_RETURN_IF_ERROR(args.Check("string filter", 0, {}));
  if (!operand.is_string()) return TypeError("upper/lower/title/capitalize", operand);
  return Derived(Map(operand.text()), operand);
}

absl::StatusOr<Value> Default(const Value& operand, const CallArgs& args) {
  JAMBA_RETURN_IF_ERROR(args.Check("default", 2, {"default_value", "boolean"}));
  const Value* fallback = args.Get(0, "default_value");
  JAMBA_ASSIGN_OR_RETURN(const bool boolean, BoolArg(args, 1, "boolean", false));
  if (operand.is_undefined() || (boolean && !operand.Truthy())) {
    return fallback != nullptr ? *fallback : Value::String("", false);
  }
  return operand;
}

absl::StatusOr<Value> Join(const Value& operand, const CallArgs& args) {
  JAMBA_RETURN_IF_ERROR(args.Check("join", 2, {"d", "attribute"}));
  const Value* sep = args.Get(0, "d");
  if (sep != nullptr && !sep->is_string()) {
    return absl::InvalidArgumentError("join separator must be a string");
  }
  List items;
  if (operand.is_string()) {
    JAMBA_ASSIGN_OR_RETURN(Value chars, ApplyFilter("list", operand, CallArgs()));
    items = chars.list();
  } else if (operand.is_list()) {
    items = operand.list();
  } else {
    return TypeError("join", operand);
  }
  const Value* attribute = args.Get(1, "attribute");
  Str out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0 && sep != nullptr) out.Append(sep->str());
    const Value item = attribute != nullptr && attribute->is_string()
                           ? GetAttributePath(items[i], attribute->text())
                           : items[i];
    JAMBA_ASSIGN_OR_RETURN(Str text, ToPrintable(item));
    out.Append(text);
  }
  return Value::String(std::move(out));
}

absl::StatusOr<Value> Items(const Value& operand, const CallArgs& args) {
  JAMBA_RETURN_IF_ERROR(args.Check("items", 0, {}));
  if (operand.is_undefined()) return Value::MakeList({});
  if (!operand.is_dict()) return TypeError("items", operand);
  return CallMethod(operand, "items", CallArgs());
}

absl::StatusOr<Value> FirstOrLast(const Value& operand, bool first) {
  JAMBA_ASSIGN_OR_RETURN(Value items, ApplyFilter("list", operand, CallArgs()));
  const List& list = items.list();
  if (list.empty()) return Value();
  return first ? list.front() : list.back();
}

absl::StatusOr<Value> First(const Value& operand, const CallArgs& args) {
  JAMBA_RETURN_IF_ERROR(args.Check("first", 0, {}));
  return FirstOrLast(operand, true);
}

absl::StatusOr<Value> Last(const Value& operand, const CallArgs& args) {
  JAMBA_RETURN_IF_ERROR(args.Check("last", 0, {}));
  return FirstOrLast(operand, false);
}

absl::StatusOr<Value> Replace(const Value& operand, const CallArgs& args) {
  if (!operand.is_string()) return TypeError("replace", operand);
  return CallMethod(operand, "replace", args);
}

absl::StatusOr<Value> StringFilter(const Value& operand, const CallArgs& args) {
  JAMBA_RETURN_IF_ERROR(args.Check("string", 0, {}));
  if (operand.is_none()) return Value::String("None", false);
  JAMBA_ASSIGN_OR_RETURN(Str text, ToPrintable(operand));
  return Value::String(std::move(text));
}

// Python's int(text) / float(text) after stripping whitespace; nullopt if it does not parse.
std::optional<double> ParseFloat(const std::string& raw) {
  std::string text = raw.substr(LeadingSpaceBytes(raw));
  text.resize(text.size() - TrailingSpaceBytes(text));
  if (text.empty()) return std::nullopt;
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size()) return std::nullopt;
  return v;
}

std::optional<int64_t> ParseInt(const std::string& raw) {
  std::string text = raw.substr(LeadingSpaceBytes(raw));
  text.resize(text.size() - TrailingSpaceBytes(text));
  std::string digits;
  for (char c : text) {
    if (c != '_') digits.push_back(c);
  }
  if (digits.empty() || text.front() == '_' || text.back() == '_') return std::nullopt;
  size_t start = (digits[0] == '+' || digits[0] == '-') ? 1 : 0;
  if (start == digits.size()) return std::nullopt;
  for (size_t i = start; i < digits.size(); ++i) {
    if (digits[i] < '0' || digits[i] > '9') return std::nullopt;
  }
  errno = 0;
  const long long v = std::strtoll(digits.c_str(), nullptr, 10);
  if (errno == ERANGE) return std::nullopt;
  return v;
}

std::optional<int64_t> TruncateToInt(double v) {
  if (!std::isfinite(v) || std::fabs(v) >= 9.2e18) return std::nullopt;
  return static_cast<int64_t>(std::trunc(v));
}

absl::StatusOr<Value> IntFilter(const Value& operand, const CallArgs& args) {
  JAMBA_RETURN_IF_ERROR(args.Check("int", 1, {"default"}));
  const Value* fallback = args.Get(0, "default");
  const Value def = fallback != nullptr ? *fallback : Value::Int(0);
  if (operand.is_int()) return operand;
  if (operand.is_bool()) return Value::Int(operand.bool_value());
  if (operand.is_float()) {
    const std::optional<int64_t> v = TruncateToInt(operand.float_value());
    return v.has_value() ? Value::Int(*v) : def;
  }
  if (operand.is_string()) {
    if (std::optional<int64_t> v = ParseInt(operand.text())) return Value::Int(*v);
    if (std::optional<double> f = ParseFloat(operand.text())) {
      if (std::optional<int64_t> v = TruncateToInt(*f)) return Value::Int(*v);
    }
  }
  return def;
}

absl::StatusOr<Value> FloatFilter(const Value& operand, const CallArgs& args) {
  JAMBA_RETURN_IF_ERROR(args.Check("float", 1, {"default"}));
  const Value* fallback = args.Get(0, "default");
  const Value def = fallback != nullptr ? *fallback : Value::Float(0.0);
  if (operand.is_number() || operand.is_bool()) return Value::Float(operand.number_value());
  if (operand.is_string()) {
    if (std::optional<double> f = ParseFloat(operand.text())) return Value::Float(*f);
  }
  return def;
}

absl::StatusOr<Value> ListFilter(const Value& operand, const CallArgs& args) {
  JAMBA_RETURN_IF_ERROR(args.Check("list", 0, {}));
  if (operand.is_list()) return operand;
  List items;
  if (operand.is_string()) {
    const std::vector<size_t> offsets = CodePointOffsets(operand.text());
    for (size_t i = 0; i + 1 < offsets.size(); ++i) {
      items.push_back(
          Derived(operand.text().substr(offsets[i], offsets[i + 1] - offsets[i]), operand));
    }
  } else if (operand.is_dict()) {
    for (const Dict::Entry& entry : operand.dict().entries())
      items.push_back(Value::String(entry.key));
  } else {
    return TypeError("list", operand);
  }
  return Value::MakeList(std::move(items));
}

absl::StatusOr<List> ListOperand(std::string_view filter, const Value& operand) {
  if (operand.is_undefined()) return List();
  if (!operand.is_list()) return TypeError(filter, operand);
  return operand.list();
}

absl::StatusOr<Value> Map(const Value& operand, const CallArgs& args) {
  JAMBA_ASSIGN_OR_RETURN(List items, ListOperand("map", operand));
  List out;
  if (const Value* attribute = args.Get(99, "attribute")) {
    JAMBA_RETURN_IF_ERROR(args.Check("map", 0, {"attribute", "default"}));
    if (!attribute->is_string() && !attribute->is_int()) {
      return absl::InvalidArgumentError("map attribute must be a string");
    }
    const std::string path =
        attribute->is_string() ? attribute->text() : Cat(attribute->int_value());
    const Value* fallback = args.Get(99, "default");
    for (const Value& item : items) {
      Value v = GetAttributePath(item, path);
      out.push_back(v.is_undefined() && fallback != nullptr ? *fallback : v);
    }
    return Value::MakeList(std::move(out));
  }
  if (args.positional.empty() || !args.positional[0].is_string()) {
    return absl::InvalidArgumentError("map needs a filter name or attribute=");
  }
  const std::string name = args.positional[0].text();
  if (!IsSupportedFilter(name))
    return absl::InvalidArgumentError(Cat("unknown filter '", name, "'"));
  CallArgs rest;
  rest.positional.assign(args.positional.begin() + 1, args.positional.end());
  rest.keyword = args.keyword;
  for (const Value& item : items) {
    JAMBA_ASSIGN_OR_RETURN(Value v, ApplyFilter(name, item, rest));
    out.push_back(std::move(v));
  }
  return Value::MakeList(std::move(out));
}

// select / reject (attribute empty) and selectattr / rejectattr.
absl::StatusOr<Value> Select(std::string_view filter, const Value& operand, const CallArgs& args,
                             bool by_attribute, bool keep) {
  JAMBA_ASSIGN_OR_RETURN(List items, ListOperand(filter, operand));
  size_t next = 0;
  std::string attribute;
  if (by_attribute) {
    if (args.positional.empty() || !args.positional[0].is_string()) {
      return absl::InvalidArgumentError(Cat(filter, " needs an attribute name"));
    }
    attribute = args.positional[next++].text();
  }
  std::string test;
  if (next < args.positional.size()) {
    if (!args.positional[next].is_string()) {
      return absl::InvalidArgumentError(Cat(filter, " needs a test name"));
    }
    test = args.positional[next++].text();
    if (!IsSupportedTest(test)) return absl::InvalidArgumentError(Cat("unknown test '", test, "'"));
  }
  CallArgs test_args;
  test_args.positional.assign(args.positional.begin() + next, args.positional.end());
  test_args.keyword = args.keyword;
  List out;
  for (const Value& item : items) {
    const Value subject = by_attribute ? GetAttributePath(item, attribute) : item;
    bool pass = subject.Truthy();
    if (!test.empty()) {
      JAMBA_ASSIGN_OR_RETURN(pass, ApplyTest(test, subject, test_args));
    }
    if (pass == keep) out.push_back(item);
  }
  return Value::MakeList(std::move(out));
}

absl::StatusOr<Value> Unique(const Value& operand, const CallArgs& args) {
  JAMBA_RETURN_IF_ERROR(args.Check("unique", 2, {"case_sensitive", "attribute"}));
  JAMBA_ASSIGN_OR_RETURN(const bool case_sensitive, BoolArg(args, 0, "case_sensitive", false));
  JAMBA_ASSIGN_OR_RETURN(Value list, ApplyFilter("list", operand, CallArgs()));
  const Value* attribute = args.Get(1, "attribute");
  List out;
  std::vector<Value> seen;
  for (const Value& item : list.list()) {
    Value key = attribute != nullptr && attribute->is_string()
                    ? GetAttributePath(item, attribute->text())
                    : item;
    if (!case_sensitive && key.is_string()) key = Value::String(ToLower(key.text()), false);
    bool duplicate = false;
    for (const Value& s : seen) duplicate = duplicate || ValuesEqual(s, key);
    if (duplicate) continue;
    seen.push_back(std::move(key));
    out.push_back(item);
  }
  return Value::MakeList(std::move(out));
}

absl::StatusOr<Value> Sort(const Value& operand, const CallArgs& args) {
  JAMBA_RETURN_IF_ERROR(args.Check("sort", 3, {"reverse", "case_sensitive", "attribute"}));
  JAMBA_ASSIGN_OR_RETURN(const bool reverse, BoolArg(args, 0, "reverse", false));
  JAMBA_ASSIGN_OR_RETURN(const bool case_sensitive, BoolArg(args, 1, "case_sensitive", false));
  JAMBA_ASSIGN_OR_RETURN(Value list, ApplyFilter("list", operand, CallArgs()));
  const Value* attribute = args.Get(2, "attribute");
  std::vector<std::pair<Value, Value>> keyed;  // (key, item)
  for (const Value& item : list.list()) {
    Value key = item;
    if (attribute != nullptr && (attribute->is_string() || attribute->is_int())) {
      key = GetAttributePath(
          item, attribute->is_string() ? attribute->text() : Cat(attribute->int_value()));
    }
    keyed.emplace_back(std::move(key), item);
  }
  absl::Status error;
  std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& x, const auto& y) {
    absl::StatusOr<int> c = CompareValues(x.first, y.first, case_sensitive);
    if (!c.ok()) {
      if (error.ok()) error = c.status();
      return false;
    }
    return reverse ? *c > 0 : *c < 0;
  });
  JAMBA_RETURN_IF_ERROR(error);
  List out;
  for (auto& [key, item] : keyed) out.push_back(std::move(item));
  return Value::MakeList(std::move(out));
}

absl::StatusOr<Value> DictSort(const Value& operand, const CallArgs& args) {
  JAMBA_RETURN_IF_ERROR(args.Check("dictsort", 3, {"case_sensitive", "by", "reverse"}));
  if (!operand.is_dict()) return TypeError("dictsort", operand);
  JAMBA_ASSIGN_OR_RETURN(const bool case_sensitive, BoolArg(args, 0, "case_sensitive", false));
  const Value* by = args.Get(1, "by");
  const bool by_value = by != nullptr && by->is_string() && by->text() == "value";
  JAMBA_ASSIGN_OR_RETURN(const bool reverse, BoolArg(args, 2, "reverse", false));
  JAMBA_ASSIGN_OR_RETURN(Value pairs, CallMethod(operand, "items", CallArgs()));
  CallArgs sort_args;
  sort_args.keyword = {{"reverse", Value::Bool(reverse)},
                       {"case_sensitive", Value::Bool(case_sensitive)},
                       {"attribute", Value::Int(by_value ? 1 : 0)}};
  return Sort(pairs, sort_args);
}

absl::StatusOr<Value> Reverse(const Value& operand, const CallArgs& args) {
  JAMBA_RETURN_IF_ERROR(args.Check("reverse", 0, {}));
  if (operand.is_string()) {
    JAMBA_ASSIGN_OR_RETURN(Value chars, ApplyFilter("list", operand, CallArgs()));
    std::string text;
    for (auto it = chars.list().rbegin(); it != chars.list().rend(); ++it) text += it->text();
    return Derived(std::move(text), operand);
  }
  if (!operand.is_list()) return TypeError("reverse", operand);
  List items(operand.list().rbegin(), operand.list().rend());
  return Value::MakeList(std::move(items));
}

absl::StatusOr<Value> Abs(const Value& operand, const CallArgs& args) {
  JAMBA_RETURN_IF_ERROR(args.Check("abs", 0, {}));
  if (operand.is_float()) return Value::Float(std::fabs(operand.float_value()));
  if (operand.is_int()) {
    if (operand.int_value() == std::numeric_limits<int64_t>::min()) {
      return absl::InvalidArgumentError("integer overflow in abs");
    }
    return Value::Int(std::abs(operand.int_value()));
  }
  if (operand.is_bool()) return Value::Int(operand.bool_value());
  return TypeError("abs", operand);
}

absl::StatusOr<Value> Indent(const Value& operand, const CallArgs& args) {
  JAMBA_RETURN_IF_ERROR(args.Check("indent", 3, {"width", "first", "blank"}));
  if (!operand.is_string()) return TypeError("indent", operand);
  std::string pad = "    ";
  bool user = operand.str().AnyUserData();
  if (const Value* width = args.Get(0, "width")) {
    if (width->is_int()) {
      pad.assign(static_cast<size_t>(std::clamp<int64_t>(width->int_value(), 0, 1024)), ' ');
    } else if (width->is_string()) {
      pad = width->text();
      user = user || width->str().AnyUserData();
    } else {
      return absl::InvalidArgumentError("indent width must be a number or string");
    }
  }
  JAMBA_ASSIGN_OR_RETURN(const bool first, BoolArg(args, 1, "first", false));
  JAMBA_ASSIGN_OR_RETURN(const bool blank, BoolArg(args, 2, "blank", false));
  const std::string& text = operand.text();
  std::string out;
  size_t line_start = 0;
  for (size_t i = 0;; ++i) {
    const size_t end = text.find('\n', line_start);
    const std::string_view line(text.data() + line_start,
                                (end == std::string::npos ? text.size() : end) - line_start);
    if (!((i == 0 && !first) || (line.empty() && !blank))) out += pad;
    out += line;
    if (end == std::string::npos) break;
    out += '\n';
    line_start = end + 1;
  }
  return Value::String(std::move(out), user);
}

struct FilterEntry {
  std::string_view name;
  FilterFn fn;
};

absl::StatusOr<Value> SelectFilter(const Value& v, const CallArgs& a) {
  return Select("select", v, a, false, true);
}
absl::StatusOr<Value> RejectFilter(const Value& v, const CallArgs& a) {
  return Select("reject", v, a, false, false);
}
absl::StatusOr<Value> SelectAttrFilter(const Value& v, const CallArgs& a) {
  return Select("selectattr", v, a, true, true);
}
absl::StatusOr<Value> RejectAttrFilter(const Value& v, const CallArgs& a) {
  return Select("rejectattr", v, a, true, false);
}

constexpr FilterEntry kFilters[] = {
    {"abs", Abs},
    {"capitalize", StringMap<Capitalize>},
    {"count", Length},
    {"d", Default},
    {"default", Default},
    {"dictsort", DictSort},
    {"first", First},
    {"float", FloatFilter},
    {"indent", Indent},
    {"int", IntFilter},
    {"items", Items},
    {"join", Join},
    {"last", Last},
    {"length", Length},
    {"list", ListFilter},
    {"lower", StringMap<ToLower>},
    {"map", Map},
    {"reject", RejectFilter},
    {"rejectattr", RejectAttrFilter},
    {"replace", Replace},
    {"reverse", Reverse},
    {"safe", Safe},
    {"select", SelectFilter},
    {"selectattr", SelectAttrFilter},
    {"sort", Sort},
    {"string", StringFilter},
    {"title", StringMap<TitleCase>},
    {"tojson", ToJsonFilter},
    {"trim", Trim},
    {"unique", Unique},
    {"upper", StringMap<ToUpper>},
};

const FilterEntry* FindFilter(std::string_view name) {
  for (const FilterEntry& entry : kFilters) {
    if (entry.name == name) return &entry;
  }
  return nullptr;
}

}  // namespace

const Value* CallArgs::Get(size_t index, std::string_view name) const {
  if (index < positional.size()) return &positional[index];
  for (const auto& [key, value] : keyword) {
    if (key == name) return &value;
  }
  return nullptr;
}

absl::Status CallArgs::Check(std::string_view what, size_t max_positional,
                             std::initializer_list<std::string_view> names) const {
  if (positional.size() > max_positional) {
    return absl::InvalidArgumentError(
        Cat(what, " takes at most ", max_positional, " positional argument(s)"));
  }
  for (const auto& [key, value] : keyword) {
    if (std::find(names.begin(), names.end(), key) == names.end()) {
      return absl::InvalidArgumentError(
          Cat(what, " got an unexpected keyword argument '", key, "'"));
    }
  }
  return absl::OkStatus();
}

bool IsSupportedFilter(std::string_view name) { return FindFilter(name) != nullptr; }

absl::StatusOr<Value> ApplyFilter(std::string_view name, const Value& operand,
                                  const CallArgs& args) {
  const FilterEntry* entry = FindFilter(name);
  if (entry == nullptr) return absl::InvalidArgumentError(Cat("unknown filter '", name, "'"));
  return entry->fn(operand, args);
}

absl::StatusOr<int> CompareValues(const Value& a, const Value& b, bool case_sensitive) {
  const auto numeric = [](const Value& v) { return v.is_number() || v.is_bool(); };
  if (numeric(a) && numeric(b)) {
    const double x = a.number_value(), y = b.number_value();
    if (a.is_int() && b.is_int())
      return a.int_value() < b.int_value() ? -1 : a.int_value() > b.int_value();
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  if (a.is_string() && b.is_string()) {
    const int c =
        case_sensitive ? a.text().compare(b.text()) : ToLower(a.text()).compare(ToLower(b.text()));
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
  }
  if ((a.is_none() && b.is_none()) || (a.is_undefined() && b.is_undefined())) return 0;
  return absl::InvalidArgumentError(
      Cat("cannot compare a ", a.TypeName(), " with a ", b.TypeName()));
}

Value GetAttributePath(const Value& item, std::string_view path) {
  Value current = item;
  size_t start = 0;
  while (true) {
    const size_t dot = path.find('.', start);
    const std::string_view part =
        path.substr(start, dot == std::string_view::npos ? path.npos : dot - start);
    if (current.is_dict() || current.is_namespace()) {
      const Value* v = current.dict().Find(part);
      if (v == nullptr) return Value();
      current = *v;
    } else if (current.is_list()) {
      int64_t index = -1;
      if (!part.empty() && part.find_first_not_of("0123456789") == std::string_view::npos &&
          part.size() < 10) {
        index = std::strtoll(std::string(part).c_str(), nullptr, 10);
      }
      if (index < 0 || index >= static_cast<int64_t>(current.list().size())) return Value();
      current = current.list()[index];
    } else {
      return Value();
    }
    if (dot == std::string_view::npos) return current;
    start = dot + 1;
  }
}

}  // namespace jamba::engine::jinja
