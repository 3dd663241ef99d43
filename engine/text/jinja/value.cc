// Value construction, truthiness, equality and FromJson (see value.h).
#include "engine/text/jinja/value.h"

#include <cmath>
#include <limits>

#include "engine/text/jinja/text_util.h"

namespace jamba::engine::jinja {

Str::Str(std::string text, bool user_data) : text_(std::move(text)) {
  if (!text_.empty()) runs_.push_back({text_.size(), user_data});
}

bool Str::AnyUserData() const {
  for (const Run& run : runs_) {
    if (run.user_data) return true;
  }
  return false;
}

void Str::Append(std::string_view text, bool user_data) {
  if (text.empty()) return;
  text_.append(text);
  if (!runs_.empty() && runs_.back().user_data == user_data) {
    runs_.back().length += text.size();
  } else {
    runs_.push_back({text.size(), user_data});
  }
}

void Str::Append(const Str& other) {
  size_t pos = 0;
  for (const Run& run : other.runs_) {
    Append(std::string_view(other.text_).substr(pos, run.length), run.user_data);
    pos += run.length;
  }
}

Str Str::Substr(size_t pos, size_t length) const {
  Str out;
  const size_t end = std::min(text_.size(), pos + std::min(length, text_.size()));
  size_t run_start = 0;
  for (const Run& run : runs_) {
    const size_t run_end = run_start + run.length;
    const size_t from = std::max(run_start, pos);
    const size_t to = std::min(run_end, end);
    if (from < to) out.Append(std::string_view(text_).substr(from, to - from), run.user_data);
    run_start = run_end;
    if (run_start >= end) break;
  }
  return out;
}

Value Value::None() { return Value(Kind::kNone, std::monostate()); }
Value Value::Bool(bool value) { return Value(Kind::kBool, value); }
Value Value::Int(int64_t value) { return Value(Kind::kInt, value); }
Value Value::Float(double value) { return Value(Kind::kFloat, value); }
Value Value::String(Str value) {
  return Value(Kind::kString, std::make_shared<const Str>(std::move(value)));
}
Value Value::String(std::string text, bool user_data) {
  return String(Str(std::move(text), user_data));
}
Value Value::MakeList(List items) {
  return Value(Kind::kList, std::make_shared<List>(std::move(items)));
}
Value Value::MakeDict(Dict dict) {
  return Value(Kind::kDict, std::make_shared<Dict>(std::move(dict)));
}
Value Value::MakeNamespace(Dict dict) {
  return Value(Kind::kNamespace, std::make_shared<Dict>(std::move(dict)));
}
Value Value::MakeCallable(std::shared_ptr<const Callable> callable) {
  return Value(Kind::kCallable, std::move(callable));
}

double Value::number_value() const {
  switch (kind_) {
    case Kind::kBool:
      return bool_value() ? 1.0 : 0.0;
    case Kind::kInt:
      return static_cast<double>(int_value());
    case Kind::kFloat:
      return float_value();
    default:
      return 0.0;
  }
}

bool Value::Truthy() const {
  switch (kind_) {
    case Kind::kUndefined:
    case Kind::kNone:
      return false;
    case Kind::kBool:
      return bool_value();
    case Kind::kInt:
      return int_value() != 0;
    case Kind::kFloat:
      return float_value() != 0.0;
    case Kind::kString:
      return !str().empty();
    case Kind::kList:
      return !list().empty();
    case Kind::kDict:
      return !dict().empty();
    case Kind::kNamespace:
    case Kind::kCallable:
      return true;
  }
  return false;
}

const void* Value::Identity() const {
  if (kind_ == Kind::kNamespace || kind_ == Kind::kDict) {
    return std::get<std::shared_ptr<Dict>>(data_).get();
  }
  if (kind_ == Kind::kList) return std::get<std::shared_ptr<List>>(data_).get();
  if (kind_ == Kind::kCallable) return std::get<std::shared_ptr<const Callable>>(data_).get();
  return nullptr;
}

std::string_view Value::TypeName() const {
  switch (kind_) {
    case Kind::kUndefined:
      return "undefined";
    case Kind::kNone:
      return "none";
    case Kind::kBool:
      return "bool";
    case Kind::kInt:
      return "int";
    case Kind::kFloat:
      return "float";
    case Kind::kString:
      return "string";
    case Kind::kList:
      return "list";
    case Kind::kDict:
      return "dict";
    case Kind::kNamespace:
      return "namespace";
    case Kind::kCallable:
      return "callable";
  }
  return "?";
}

const Value* Dict::Find(std::string_view key) const {
  auto it = index_.find(AsAbsl(key));
  return it == index_.end() ? nullptr : &entries_[it->second].value;
}

void Dict::Set(Str key, Value value) {
  auto [it, inserted] = index_.try_emplace(key.text(), entries_.size());
  if (inserted) {
    entries_.push_back({std::move(key), std::move(value)});
  } else {
    entries_[it->second].value = std::move(value);
  }
}

void Dict::Clear() {
  entries_.clear();
  index_.clear();
}

namespace {

template <typename Json>
Value FromJsonImpl(const Json& json, bool user_data) {
  switch (json.type()) {
    case nlohmann::json::value_t::null:
    case nlohmann::json::value_t::discarded:
      return Value::None();
    case nlohmann::json::value_t::boolean:
      return Value::Bool(json.template get<bool>());
    case nlohmann::json::value_t::number_integer:
      return Value::Int(json.template get<int64_t>());
    case nlohmann::json::value_t::number_unsigned: {
      const uint64_t u = json.template get<uint64_t>();
      if (u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return Value::Int(static_cast<int64_t>(u));
      }
      return Value::Float(static_cast<double>(u));
    }
    case nlohmann::json::value_t::number_float:
      return Value::Float(json.template get<double>());
    case nlohmann::json::value_t::string:
      return Value::String(json.template get<std::string>(), user_data);
    case nlohmann::json::value_t::array: {
      List items;
      items.reserve(json.size());
      for (const auto& item : json) items.push_back(FromJsonImpl(item, user_data));
      return Value::MakeList(std::move(items));
    }
    case nlohmann::json::value_t::object: {
      Dict dict;
      for (auto it = json.begin(); it != json.end(); ++it) {
        dict.Set(Str(it.key(), user_data), FromJsonImpl(it.value(), user_data));
      }
      return Value::MakeDict(std::move(dict));
    }
    case nlohmann::json::value_t::binary:
      return Value::None();
  }
  return Value::None();
}

bool DictsEqual(const Dict& a, const Dict& b) {
  if (a.size() != b.size()) return false;
  for (const Dict::Entry& entry : a.entries()) {
    const Value* other = b.Find(entry.key.text());
    if (other == nullptr || !ValuesEqual(entry.value, *other)) return false;
  }
  return true;
}

bool IsNumeric(const Value& v) { return v.is_bool() || v.is_int() || v.is_float(); }

}  // namespace

Value FromJson(const nlohmann::json& json, bool user_data) { return FromJsonImpl(json, user_data); }
Value FromJson(const nlohmann::ordered_json& json, bool user_data) {
  return FromJsonImpl(json, user_data);
}

bool ValuesEqual(const Value& a, const Value& b) {
  if (IsNumeric(a) && IsNumeric(b)) {
    if (a.is_float() || b.is_float()) return a.number_value() == b.number_value();
    const int64_t x = a.is_bool() ? a.bool_value() : a.int_value();
    const int64_t y = b.is_bool() ? b.bool_value() : b.int_value();
    return x == y;
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Value::Kind::kUndefined:
    case Value::Kind::kNone:
      return true;
    case Value::Kind::kString:
      return a.text() == b.text();
    case Value::Kind::kList: {
      const List& x = a.list();
      const List& y = b.list();
      if (x.size() != y.size()) return false;
      for (size_t i = 0; i < x.size(); ++i) {
        if (!ValuesEqual(x[i], y[i])) return false;
      }
      return true;
    }
    case Value::Kind::kDict:
      return DictsEqual(a.dict(), b.dict());
    default:
      return a.Identity() == b.Identity();
  }
}

}  // namespace jamba::engine::jinja
