// Methods of strings (strip, split, format, ...) and dicts (items, get, ...), see builtins.h.
// Lists have none: transformers renders in a sandbox that forbids mutating them.
#include <algorithm>
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

constexpr std::string_view kStringMethods[] = {
    "upper",    "lower", "strip",   "lstrip", "rstrip", "title", "capitalize", "startswith",
    "endswith", "split", "replace", "format", "find",   "count", "join"};
constexpr std::string_view kDictMethods[] = {"items", "keys", "values", "get"};

bool Contains(std::initializer_list<std::string_view> names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

absl::StatusOr<const Value*> StringArg(const CallArgs& args, size_t index, std::string_view name,
                                       std::string_view method) {
  const Value* v = args.Get(index, name);
  if (v == nullptr || !v->is_string()) {
    return absl::InvalidArgumentError(Cat(method, "() argument '", name, "' must be a string"));
  }
  return v;
}

// strip / lstrip / rstrip: JavaScript whitespace, or the code points of `chars`.
absl::StatusOr<Value> Strip(const Value& s, const CallArgs& args, bool left, bool right,
                            std::string_view method) {
  JAMBA_RETURN_IF_ERROR(args.Check(method, 1, {"chars"}));
  const std::string& text = s.text();
  size_t begin = 0, end = text.size();
  const Value* chars = args.Get(0, "chars");
  if (chars == nullptr || chars->is_none()) {
    if (left) begin = LeadingSpaceBytes(text);
    if (right && begin < end) end -= TrailingSpaceBytes(std::string_view(text).substr(begin));
  } else {
    if (!chars->is_string()) {
      return absl::InvalidArgumentError(Cat(method, "() argument must be a string"));
    }
    const std::vector<size_t> set_offsets = CodePointOffsets(chars->text());
    auto in_set = [&](std::string_view cp) {
      for (size_t i = 0; i + 1 < set_offsets.size(); ++i) {
        if (chars->text().compare(set_offsets[i], set_offsets[i + 1] - set_offsets[i], cp) == 0) {
          return true;
        }
      }
      return false;
    };
    const std::vector<size_t> offsets = CodePointOffsets(text);
    size_t first = 0, last = offsets.size() - 1;  // code point range [first, last)
    auto cp = [&](size_t i) {
      return std::string_view(text).substr(offsets[i], offsets[i + 1] - offsets[i]);
    };
    if (left) {
      while (first < last && in_set(cp(first))) ++first;
    }
    if (right) {
      while (last > first && in_set(cp(last - 1))) --last;
    }
    begin = offsets[first];
    end = offsets[last];
  }
  return Value::String(s.str().Substr(begin, end - begin));
}

// True if `text` starts (or ends) with the string or any string of the list `pattern`.
absl::StatusOr<Value> AffixTest(const Value& s, const CallArgs& args, bool prefix) {
  const std::string_view method = prefix ? "startswith" : "endswith";
  JAMBA_RETURN_IF_ERROR(args.Check(method, 1, {}));
  if (args.positional.empty()) {
    return absl::InvalidArgumentError(Cat(method, "() needs an argument"));
  }
  const Value& pattern = args.positional[0];
  std::vector<const Value*> candidates;
  if (pattern.is_string()) {
    candidates.push_back(&pattern);
  } else if (pattern.is_list()) {
    for (const Value& v : pattern.list()) candidates.push_back(&v);
  }
  if (candidates.empty() && !pattern.is_list()) {
    return absl::InvalidArgumentError(Cat(method, "() needs a string or a tuple"));
  }
  const std::string_view text = s.text();
  for (const Value* c : candidates) {
    if (!c->is_string()) {
      return absl::InvalidArgumentError(Cat(method, "() tuple items must be strings"));
    }
    if (prefix ? text.starts_with(c->text()) : text.ends_with(c->text())) return Value::Bool(true);
  }
  return Value::Bool(false);
}

absl::StatusOr<Value> Split(const Value& s, const CallArgs& args) {
  JAMBA_RETURN_IF_ERROR(args.Check("split", 2, {"sep", "maxsplit"}));
  const Value* sep = args.Get(0, "sep");
  const Value* max_value = args.Get(1, "maxsplit");
  int64_t maxsplit = -1;
  if (max_value != nullptr) {
    if (!max_value->is_int())
      return absl::InvalidArgumentError("split() maxsplit must be an integer");
    maxsplit = max_value->int_value();
  }
  const std::string& text = s.text();
  const bool user = s.str().AnyUserData();
  List parts;
  auto add = [&](size_t from, size_t to) {
    parts.push_back(Value::String(text.substr(from, to - from), user));
  };
  if (sep == nullptr || sep->is_none()) {
    size_t pos = LeadingSpaceBytes(text);
    while (pos < text.size()) {
      if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) >= maxsplit) {
        add(pos, text.size() - TrailingSpaceBytes(text.substr(pos)));
        break;
      }
      size_t end = pos;
      while (end < text.size()) {
        size_t length = 0;
        if (IsJsSpace(DecodeUtf8(text, end, length))) break;
        end += length;
      }
      add(pos, end);
      pos = end + LeadingSpaceBytes(std::string_view(text).substr(end));
    }
    return Value::MakeList(std::move(parts));
  }
  if (!sep->is_string()) return absl::InvalidArgumentError("split() separator must be a string");
  const std::string& delimiter = sep->text();
  if (delimiter.empty()) return absl::InvalidArgumentError("split() separator is empty");
  size_t pos = 0;
  while (true) {
    const size_t found = text.find(delimiter, pos);
    if (found == std::string::npos ||
        (maxsplit >= 0 && static_cast<int64_t>(parts.size()) >= maxsplit)) {
      add(pos, text.size());
      break;
    }
    add(pos, found);
    pos = found + delimiter.size();
  }
  return Value::MakeList(std::move(parts));
}

absl::StatusOr<Value> Replace(const Value& s, const CallArgs& args) {
  JAMBA_RETURN_IF_ERROR(args.Check("replace", 3, {"count"}));
  JAMBA_ASSIGN_OR_RETURN(const Value* old_value, StringArg(args, 0, "old", "replace"));
  JAMBA_ASSIGN_OR_RETURN(const Value* new_value, StringArg(args, 1, "new", "replace"));
  int64_t count = -1;
  if (const Value* c = args.Get(2, "count"); c != nullptr && !c->is_none()) {
    if (!c->is_int()) return absl::InvalidArgumentError("replace() count must be an integer");
    count = c->int_value();
  }
  const bool user =
      s.str().AnyUserData() || old_value->str().AnyUserData() || new_value->str().AnyUserData();
  const std::string& text = s.text();
  const std::string& from = old_value->text();
  const std::string& to = new_value->text();
  std::string out;
  if (from.empty()) {
    // Python inserts `to` around every code point.
    const std::vector<size_t> offsets = CodePointOffsets(text);
    for (size_t i = 0; i < offsets.size(); ++i) {
      if (count < 0 || static_cast<int64_t>(i) < count) out += to;
      if (i + 1 < offsets.size()) out.append(text, offsets[i], offsets[i + 1] - offsets[i]);
    }
    return Value::String(std::move(out), user);
  }
  size_t pos = 0;
  for (int64_t done = 0; count < 0 || done < count; ++done) {
    const size_t found = text.find(from, pos);
    if (found == std::string::npos) break;
    out.append(text, pos, found - pos);
    out += to;
    pos = found + from.size();
  }
  out.append(text, pos);
  return Value::String(std::move(out), user);
}

// str.format with {}, {0} and {name} fields (no format specs or conversions).
absl::StatusOr<Value> Format(const Value& s, const CallArgs& args) {
  const std::string& text = s.text();
  bool user = s.str().AnyUserData();
  std::string out;
  size_t auto_index = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '}') {
      if (i + 1 < text.size() && text[i + 1] == '}') ++i;
      out.push_back('}');
      continue;
    }
    if (c != '{') {
      out.push_back(c);
      continue;
    }
    if (i + 1 < text.size() && text[i + 1] == '{') {
      out.push_back('{');
      ++i;
      continue;
    }
    const size_t close = text.find('}', i);
    if (close == std::string::npos) return absl::InvalidArgumentError("format(): unmatched '{'");
    const std::string field = text.substr(i + 1, close - i - 1);
    if (field.find_first_of(":!.[") != std::string::npos) {
      return absl::InvalidArgumentError(
          Cat("format(): field '{", field, "}' is not supported (only {}, {N}, {name})"));
    }
    const Value* v = nullptr;
    if (field.empty()) {
      v = auto_index < args.positional.size() ? &args.positional[auto_index++] : nullptr;
    } else if (field.find_first_not_of("0123456789") == std::string::npos && field.size() < 9) {
      const size_t index = std::stoul(field);
      v = index < args.positional.size() ? &args.positional[index] : nullptr;
    } else {
      v = args.Get(static_cast<size_t>(-1), field);
    }
    if (v == nullptr) {
      return absl::InvalidArgumentError(Cat("format(): no argument for '{", field, "}'"));
    }
    JAMBA_ASSIGN_OR_RETURN(Str printed,
                           ToPrintable(v->is_none() ? Value::String("None", false) : *v));
    user = user || printed.AnyUserData();
    out += printed.text();
    i = close;
  }
  return Value::String(std::move(out), user);
}

absl::StatusOr<Value> FindOrCount(const Value& s, const CallArgs& args, bool find) {
  const std::string_view method = find ? "find" : "count";
  JAMBA_RETURN_IF_ERROR(args.Check(method, 1, {}));
  JAMBA_ASSIGN_OR_RETURN(const Value* sub, StringArg(args, 0, "sub", method));
  const std::string& text = s.text();
  const std::string& needle = sub->text();
  if (find) {
    const size_t at = text.find(needle);
    if (at == std::string::npos) return Value::Int(-1);
    return Value::Int(static_cast<int64_t>(CodePointCount(std::string_view(text).substr(0, at))));
  }
  if (needle.empty()) return Value::Int(static_cast<int64_t>(CodePointCount(text)) + 1);
  int64_t n = 0;
  for (size_t pos = text.find(needle); pos != std::string::npos;
       pos = text.find(needle, pos + needle.size())) {
    ++n;
  }
  return Value::Int(n);
}

absl::StatusOr<Value> JoinMethod(const Value& s, const CallArgs& args) {
  JAMBA_RETURN_IF_ERROR(args.Check("join", 1, {}));
  if (args.positional.empty() || !args.positional[0].is_list()) {
    return absl::InvalidArgumentError("join() needs a list of strings");
  }
  Str out;
  const List& items = args.positional[0].list();
  for (size_t i = 0; i < items.size(); ++i) {
    if (!items[i].is_string()) {
      return absl::InvalidArgumentError(
          Cat("join() item ", i, " is a ", items[i].TypeName(), ", not a string"));
    }
    if (i > 0) out.Append(s.str());
    out.Append(items[i].str());
  }
  return Value::String(std::move(out));
}

absl::StatusOr<Value> StringMethod(const Value& s, std::string_view name, const CallArgs& args) {
  const auto derived = [&](std::string text) {
    return Value::String(std::move(text), s.str().AnyUserData());
  };
  if (Contains({"upper", "lower", "title", "capitalize"}, name)) {
    JAMBA_RETURN_IF_ERROR(args.Check(name, 0, {}));
    if (name == "upper") return derived(ToUpper(s.text()));
    if (name == "lower") return derived(ToLower(s.text()));
    if (name == "title") return derived(TitleCase(s.text()));
    return derived(Capitalize(s.text()));
  }
  if (name == "strip") return Strip(s, args, true, true, name);
  if (name == "lstrip") return Strip(s, args, true, false, name);
  if (name == "rstrip") return Strip(s, args, false, true, name);
  if (name == "startswith") return AffixTest(s, args, true);
  if (name == "endswith") return AffixTest(s, args, false);
  if (name == "split") return Split(s, args);
  if (name == "replace") return Replace(s, args);
  if (name == "format") return Format(s, args);
  if (name == "find") return FindOrCount(s, args, true);
  if (name == "count") return FindOrCount(s, args, false);
  if (name == "join") return JoinMethod(s, args);
  return absl::InvalidArgumentError(Cat("strings have no method '", name, "'"));
}

absl::StatusOr<Value> DictMethod(const Value& d, std::string_view name, const CallArgs& args) {
  if (name == "get") {
    JAMBA_RETURN_IF_ERROR(args.Check("get", 2, {}));
    if (args.positional.empty()) return absl::InvalidArgumentError("get() needs a key");
    const Value& key = args.positional[0];
    const Value* found = key.is_string() ? d.dict().Find(key.text()) : nullptr;
    if (found != nullptr) return *found;
    return args.positional.size() > 1 ? args.positional[1] : Value::None();
  }
  JAMBA_RETURN_IF_ERROR(args.Check(name, 0, {}));
  List out;
  for (const Dict::Entry& entry : d.dict().entries()) {
    if (name == "keys") {
      out.push_back(Value::String(entry.key));
    } else if (name == "values") {
      out.push_back(entry.value);
    } else {
      out.push_back(Value::MakeList({Value::String(entry.key), entry.value}));
    }
  }
  return Value::MakeList(std::move(out));
}

}  // namespace

bool HasMethod(const Value& receiver, std::string_view name) {
  if (receiver.is_string()) {
    return std::find(std::begin(kStringMethods), std::end(kStringMethods), name) !=
           std::end(kStringMethods);
  }
  if (receiver.is_dict()) {
    return std::find(std::begin(kDictMethods), std::end(kDictMethods), name) !=
           std::end(kDictMethods);
  }
  return false;
}

absl::StatusOr<Value> CallMethod(const Value& receiver, std::string_view name,
                                 const CallArgs& args) {
  if (receiver.is_string()) return StringMethod(receiver, name, args);
  if (receiver.is_dict() && HasMethod(receiver, name)) return DictMethod(receiver, name, args);
  return absl::InvalidArgumentError(Cat("a ", receiver.TypeName(), " has no method '", name, "'"));
}

}  // namespace jamba::engine::jinja
