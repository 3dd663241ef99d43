// The values a chat template computes with: undefined, none, bool, int, float, string, list,
// dict, namespace and callable. Strings are ropes that remember, byte range by byte range,
// whether their text came from user data (see template.h for why and for the rule).
#ifndef JAMBA_ENGINE_TEXT_JINJA_VALUE_H_
#define JAMBA_ENGINE_TEXT_JINJA_VALUE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "nlohmann/json.hpp"

namespace jamba::engine::jinja {

// Text plus runs of bytes that share one provenance flag. Adjacent runs always differ in flag.
class Str {
 public:
  struct Run {
    size_t length;
    bool user_data;
  };

  Str() = default;
  Str(std::string text, bool user_data);

  const std::string& text() const { return text_; }
  const std::vector<Run>& runs() const { return runs_; }
  size_t size() const { return text_.size(); }
  bool empty() const { return text_.empty(); }
  // True if any byte came from user data.
  bool AnyUserData() const;

  void Append(const Str& other);
  void Append(std::string_view text, bool user_data);
  // Bytes [pos, pos + length), each keeping its flag.
  Str Substr(size_t pos, size_t length) const;

 private:
  std::string text_;
  std::vector<Run> runs_;
};

class Value;
class Dict;
// A macro, caller block, builtin function or bound method; defined by the interpreter.
struct Callable;

using List = std::vector<Value>;

class Value {
 public:
  enum class Kind {
    kUndefined,
    kNone,
    kBool,
    kInt,
    kFloat,
    kString,
    kList,
    kDict,
    kNamespace,
    kCallable
  };

  Value() = default;  // undefined
  static Value None();
  static Value Bool(bool value);
  static Value Int(int64_t value);
  static Value Float(double value);
  static Value String(Str value);
  static Value String(std::string text, bool user_data);
  static Value MakeList(List items);
  static Value MakeDict(Dict dict);
  static Value MakeNamespace(Dict dict);
  static Value MakeCallable(std::shared_ptr<const Callable> callable);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::kUndefined; }
  bool is_none() const { return kind_ == Kind::kNone; }
  bool is_bool() const { return kind_ == Kind::kBool; }
  bool is_int() const { return kind_ == Kind::kInt; }
  bool is_float() const { return kind_ == Kind::kFloat; }
  bool is_number() const { return kind_ == Kind::kInt || kind_ == Kind::kFloat; }
  bool is_string() const { return kind_ == Kind::kString; }
  bool is_list() const { return kind_ == Kind::kList; }
  bool is_dict() const { return kind_ == Kind::kDict; }
  bool is_namespace() const { return kind_ == Kind::kNamespace; }
  bool is_callable() const { return kind_ == Kind::kCallable; }

  // Accessors; each requires the matching kind.
  bool bool_value() const { return std::get<bool>(data_); }
  int64_t int_value() const { return std::get<int64_t>(data_); }
  double float_value() const { return std::get<double>(data_); }
  // int, float or bool as a double.
  double number_value() const;
  const Str& str() const { return *std::get<std::shared_ptr<const Str>>(data_); }
  const std::string& text() const { return str().text(); }
  const List& list() const { return *std::get<std::shared_ptr<List>>(data_); }
  // Dict or namespace. Namespaces are shared and mutable (`set ns.x = ...`).
  const Dict& dict() const { return *std::get<std::shared_ptr<Dict>>(data_); }
  Dict& mutable_namespace() const { return *std::get<std::shared_ptr<Dict>>(data_); }
  const Callable& callable() const { return *std::get<std::shared_ptr<const Callable>>(data_); }

  // Python truthiness.
  bool Truthy() const;
  // Identity of a shared container (for namespaces and callables), or null.
  const void* Identity() const;
  std::string_view TypeName() const;

 private:
  using Data =
      std::variant<std::monostate, bool, int64_t, double, std::shared_ptr<const Str>,
                   std::shared_ptr<List>, std::shared_ptr<Dict>, std::shared_ptr<const Callable>>;
  Value(Kind kind, Data data) : kind_(kind), data_(std::move(data)) {}

  Kind kind_ = Kind::kUndefined;
  Data data_;
};

// An insertion-ordered mapping from string keys (which keep their provenance) to values.
class Dict {
 public:
  struct Entry {
    Str key;
    Value value;
  };

  const Value* Find(std::string_view key) const;
  // Replaces the value of an existing key in place, or appends a new entry.
  void Set(Str key, Value value);
  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  const std::vector<Entry>& entries() const { return entries_; }
  // Drops every entry (the interpreter does this to namespaces after a render, which breaks any
  // reference cycle a template made through them).
  void Clear();

 private:
  std::vector<Entry> entries_;
  absl::flat_hash_map<std::string, size_t> index_;
};

// A JSON document as a value: objects keep their key order, integers that fit become ints,
// other numbers floats, and every string (keys included) gets `user_data`. nlohmann::json sorts
// object keys; parse with nlohmann::ordered_json to keep the document's order (as Python does).
Value FromJson(const nlohmann::json& json, bool user_data);
Value FromJson(const nlohmann::ordered_json& json, bool user_data);

// Python equality: numbers by value (bool counts as 0/1), strings by text, lists and dicts
// element by element; namespaces and callables by identity; undefined equals only undefined.
bool ValuesEqual(const Value& a, const Value& b);

}  // namespace jamba::engine::jinja

#endif  // JAMBA_ENGINE_TEXT_JINJA_VALUE_H_
