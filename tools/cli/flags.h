// Command-line flags of one `jamba` subcommand: `--name value` or `--name=value`, boolean
// `--name`, and positional arguments. Unknown flags are errors, so a typo never goes unnoticed.
#ifndef JAMBA_TOOLS_CLI_FLAGS_H_
#define JAMBA_TOOLS_CLI_FLAGS_H_

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace jamba::cli {

struct FlagSpec {
  std::set<std::string> values;    // flags that take a value
  std::set<std::string> booleans;  // flags that take none
};

class Flags {
 public:
  static absl::StatusOr<Flags> Parse(const std::vector<std::string>& args, const FlagSpec& spec);

  bool Has(const std::string& name) const {
    return values_.count(name) > 0 || booleans_.count(name) > 0;
  }
  std::optional<std::string> Get(const std::string& name) const;
  std::string GetOr(const std::string& name, const std::string& fallback) const;
  // Required flag; the error names it.
  absl::StatusOr<std::string> Require(const std::string& name) const;
  absl::StatusOr<int64_t> GetInt(const std::string& name, int64_t fallback) const;
  absl::StatusOr<double> GetDouble(const std::string& name, double fallback) const;
  bool GetBool(const std::string& name) const { return booleans_.count(name) > 0; }
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::map<std::string, std::string> values_;
  std::set<std::string> booleans_;
  std::vector<std::string> positional_;
};

}  // namespace jamba::cli

#endif  // JAMBA_TOOLS_CLI_FLAGS_H_
