// Flag parsing for the jamba CLI.
#include "tools/cli/flags.h"

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace jamba::cli {

absl::StatusOr<Flags> Flags::Parse(const std::vector<std::string>& args, const FlagSpec& spec) {
  Flags flags;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg.size() < 3 || arg.rfind("--", 0) != 0) {
      flags.positional_.push_back(arg);
      continue;
    }
    std::string name = arg.substr(2);
    std::optional<std::string> value;
    if (const size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    if (spec.booleans.count(name)) {
      if (value.has_value())
        return absl::InvalidArgumentError(absl::StrCat("--", name, " takes no value"));
      flags.booleans_.insert(name);
      continue;
    }
    if (!spec.values.count(name))
      return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name));
    if (!value.has_value()) {
      if (i + 1 >= args.size())
        return absl::InvalidArgumentError(absl::StrCat("--", name, " needs a value"));
      value = args[++i];
    }
    flags.values_[name] = *value;
  }
  return flags;
}

std::optional<std::string> Flags::Get(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

std::string Flags::GetOr(const std::string& name, const std::string& fallback) const {
  return Get(name).value_or(fallback);
}

absl::StatusOr<std::string> Flags::Require(const std::string& name) const {
  auto value = Get(name);
  if (!value.has_value())
    return absl::InvalidArgumentError(absl::StrCat("--", name, " is required"));
  return *value;
}

absl::StatusOr<int64_t> Flags::GetInt(const std::string& name, int64_t fallback) const {
  auto value = Get(name);
  if (!value.has_value()) return fallback;
  int64_t parsed = 0;
  if (!absl::SimpleAtoi(*value, &parsed)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", name, " must be an integer, got \"", *value, "\""));
  }
  return parsed;
}

absl::StatusOr<double> Flags::GetDouble(const std::string& name, double fallback) const {
  auto value = Get(name);
  if (!value.has_value()) return fallback;
  double parsed = 0;
  if (!absl::SimpleAtod(*value, &parsed)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", name, " must be a number, got \"", *value, "\""));
  }
  return parsed;
}

}  // namespace jamba::cli
