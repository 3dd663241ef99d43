// Number formatting, JSON serialization and printing of values (see format.h).
#include "engine/text/jinja/format.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/text/jinja/text_util.h"

namespace jamba::engine::jinja {
namespace {

void AppendJsonString(std::string_view text, bool ensure_ascii, std::string& out) {
  out.push_back('"');
  for (size_t pos = 0; pos < text.size();) {
    const unsigned char c = static_cast<unsigned char>(text[pos]);
    char buffer[16];
    if (c < 0x80) {
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\b':
          out += "\\b";
          break;
        case '\f':
          out += "\\f";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        default:
          if (c < 0x20 || (ensure_ascii && c == 0x7F)) {
            std::snprintf(buffer, sizeof(buffer), "\\u%04x", c);
            out += buffer;
          } else {
            out.push_back(static_cast<char>(c));
          }
      }
      ++pos;
      continue;
    }
    size_t length = 0;
    const char32_t cp = DecodeUtf8(text, pos, length);
    if (!ensure_ascii) {
      out.append(text.substr(pos, length));
    } else if (cp >= 0x10000) {
      const char32_t v = cp - 0x10000;
      std::snprintf(buffer, sizeof(buffer), "\\u%04x\\u%04x", 0xD800 + (v >> 10),
                    0xDC00 + (v & 0x3FF));
      out += buffer;
    } else {
      std::snprintf(buffer, sizeof(buffer), "\\u%04x", static_cast<unsigned>(cp));
      out += buffer;
    }
    pos += length;
  }
  out.push_back('"');
}

class JsonWriter {
 public:
  explicit JsonWriter(const JsonOptions& options) : options_(options) {
    if (options.separators.has_value()) {
      item_separator_ = options.separators->first;
      key_separator_ = options.separators->second;
    } else {
      item_separator_ = options.indent.value_or(0) > 0 ? "," : ", ";
      key_separator_ = ": ";
    }
  }

  absl::Status Write(const Value& value, int depth) {
    switch (value.kind()) {
      case Value::Kind::kUndefined:
        out_ += options_.undefined_as_null ? "null" : "undefined";
        return absl::OkStatus();
      case Value::Kind::kNone:
        out_ += "null";
        return absl::OkStatus();
      case Value::Kind::kBool:
        out_ += value.bool_value() ? "true" : "false";
        return absl::OkStatus();
      case Value::Kind::kInt:
        absl::StrAppend(&out_, value.int_value());
        return absl::OkStatus();
      case Value::Kind::kFloat:
        out_ += std::isfinite(value.float_value()) ? FormatNumber(value.float_value()) : "null";
        return absl::OkStatus();
      case Value::Kind::kString:
        user_data_ = user_data_ || value.str().AnyUserData();
        AppendJsonString(value.text(), options_.ensure_ascii, out_);
        return absl::OkStatus();
      case Value::Kind::kList:
        return WriteList(value.list(), depth);
      case Value::Kind::kDict:
      case Value::Kind::kNamespace:
        return WriteDict(value.dict(), depth);
      case Value::Kind::kCallable:
        return absl::InvalidArgumentError("cannot convert a callable to JSON");
    }
    return absl::OkStatus();
  }

  Str Take() { return Str(std::move(out_), user_data_); }

 private:
  int indent() const { return std::max(0, options_.indent.value_or(0)); }

  void NewLine(int depth) {
    out_.push_back('\n');
    out_.append(static_cast<size_t>(indent()) * depth, ' ');
  }

  absl::Status WriteList(const List& items, int depth) {
    out_.push_back('[');
    for (size_t i = 0; i < items.size(); ++i) {
      if (i > 0) out_ += item_separator_;
      if (indent() > 0) NewLine(depth + 1);
      if (absl::Status s = Write(items[i], depth + 1); !s.ok()) return s;
    }
    if (indent() > 0 && !items.empty()) NewLine(depth);
    out_.push_back(']');
    return absl::OkStatus();
  }

  absl::Status WriteDict(const Dict& dict, int depth) {
    std::vector<const Dict::Entry*> entries;
    for (const Dict::Entry& entry : dict.entries()) entries.push_back(&entry);
    if (options_.sort_keys) {
      std::stable_sort(entries.begin(), entries.end(),
                       [](const auto* a, const auto* b) { return a->key.text() < b->key.text(); });
    }
    out_.push_back('{');
    for (size_t i = 0; i < entries.size(); ++i) {
      if (i > 0) out_ += item_separator_;
      if (indent() > 0) NewLine(depth + 1);
      user_data_ = user_data_ || entries[i]->key.AnyUserData();
      AppendJsonString(entries[i]->key.text(), options_.ensure_ascii, out_);
      out_ += key_separator_;
      if (absl::Status s = Write(entries[i]->value, depth + 1); !s.ok()) return s;
    }
    if (indent() > 0 && !entries.empty()) NewLine(depth);
    out_.push_back('}');
    return absl::OkStatus();
  }

  const JsonOptions& options_;
  std::string item_separator_;
  std::string key_separator_;
  std::string out_;
  bool user_data_ = false;
};

}  // namespace

std::string FormatNumber(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "Infinity" : "-Infinity";
  if (value == 0) return "0";
  // Shortest round-trip digits and decimal exponent, then JavaScript's layout rules.
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), std::fabs(value),
                                    std::chars_format::scientific);
  const std::string_view sci(buffer, result.ptr - buffer);
  const size_t e_pos = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, e_pos)) {
    if (c != '.') digits.push_back(c);
  }
  int exponent = 0;
  std::from_chars(sci.data() + e_pos + 1 + (sci[e_pos + 1] == '+' ? 1 : 0), sci.data() + sci.size(),
                  exponent);
  const int k = static_cast<int>(digits.size());
  const int n = exponent + 1;  // position of the decimal point relative to the digits
  std::string out = value < 0 ? "-" : "";
  if (k <= n && n <= 21) {
    out += digits;
    out.append(n - k, '0');
  } else if (0 < n && n <= 21) {
    out += digits.substr(0, n);
    out += '.';
    out += digits.substr(n);
  } else if (-6 < n && n <= 0) {
    out += "0.";
    out.append(-n, '0');
    out += digits;
  } else {
    out += digits.substr(0, 1);
    if (k > 1) {
      out += '.';
      out += digits.substr(1);
    }
    absl::StrAppend(&out, "e", n - 1 >= 0 ? "+" : "-", std::abs(n - 1));
  }
  return out;
}

std::string FormatFloat(double value) {
  if (value == 0 && std::signbit(value)) return "-0.0";
  std::string out = FormatNumber(value);
  if (std::isfinite(value) && std::fabs(value) < 1e21 && value == std::floor(value)) out += ".0";
  return out;
}

absl::StatusOr<Str> ToJson(const Value& value, const JsonOptions& options) {
  JsonWriter writer(options);
  if (absl::Status s = writer.Write(value, 0); !s.ok()) return s;
  return writer.Take();
}

absl::StatusOr<Str> ToPrintable(const Value& value) {
  switch (value.kind()) {
    case Value::Kind::kUndefined:
    case Value::Kind::kNone:
      return Str();
    case Value::Kind::kBool:
      return Str(value.bool_value() ? "true" : "false", false);
    case Value::Kind::kInt:
      return Str(Cat(value.int_value()), false);
    case Value::Kind::kFloat:
      return Str(FormatFloat(value.float_value()), false);
    case Value::Kind::kString:
      return value.str();
    case Value::Kind::kList:
    case Value::Kind::kDict:
    case Value::Kind::kNamespace: {
      JsonOptions options;
      options.undefined_as_null = false;
      return ToJson(value, options);
    }
    case Value::Kind::kCallable:
      return absl::InvalidArgumentError("cannot print a callable");
  }
  return Str();
}

}  // namespace jamba::engine::jinja
