// Helpers shared by the tests: where test data lives, temporary directories, array comparisons.
#ifndef JAMBA_TESTS_UTIL_TEST_UTIL_H_
#define JAMBA_TESTS_UTIL_TEST_UTIL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace jamba::testing {

// tests/data (golden cases live under golden/).
std::string TestDataDir();
std::string GoldenDir(const std::string& case_name);
// The build tree (for tools built alongside the tests).
std::string BinaryDir();

// A fresh directory removed (recursively) when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Largest |a[i] - b[i]|; sizes must match.
double MaxAbsDiff(const std::vector<float>& a, const std::vector<float>& b);
::testing::AssertionResult AllClose(const std::vector<float>& actual,
                                    const std::vector<float>& expected, double atol);

// Writes `bytes` to `path`, replacing it.
void WriteFile(const std::string& path, const std::string& bytes);
std::string ReadFile(const std::string& path);

}  // namespace jamba::testing

#endif  // JAMBA_TESTS_UTIL_TEST_UTIL_H_
