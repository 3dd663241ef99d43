// MappedFile: range checks, and releasing or prefaulting pages never changes what the map reads
// (released pages fault back in from the page cache).
#include "engine/mapped_file.h"

#include <string>

#include "gtest/gtest.h"
#include "tests/util/test_util.h"

namespace jamba::engine {
namespace {

// A file of `size` patterned bytes in `dir`; returns its path.
std::string WritePatternFile(const testing::TempDir& dir, size_t size) {
  std::string bytes(size, '\0');
  for (size_t i = 0; i < size; ++i) bytes[i] = static_cast<char>((i * 131 + 7) % 251);
  const std::string path = dir.File("data.bin");
  testing::WriteFile(path, bytes);
  return path;
}

TEST(MappedFileTest, ContainsAcceptsRangesInsideTheMapOnly) {
  testing::TempDir dir;
  auto file = MappedFile::Open(WritePatternFile(dir, 10000));
  ASSERT_TRUE(file.ok()) << file.status();
  const uint8_t* data = (*file)->data();
  EXPECT_TRUE((*file)->Contains(data, 10000));
  EXPECT_TRUE((*file)->Contains(data + 9999, 1));
  EXPECT_TRUE((*file)->Contains(data + 10000, 0));
  EXPECT_FALSE((*file)->Contains(data + 9999, 2));
  EXPECT_FALSE((*file)->Contains(data, 10001));
  const std::string elsewhere(16, 'x');
  EXPECT_FALSE((*file)->Contains(elsewhere.data(), 1));
}

TEST(MappedFileTest, ReleasedAndPrefaultedPagesReadTheSameBytes) {
  testing::TempDir dir;
  const size_t size = 3 * 4096 * 16 + 123;  // many pages and a partial last one
  const std::string path = WritePatternFile(dir, size);
  auto file = MappedFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  const std::string before(reinterpret_cast<const char*>((*file)->data()), size);
  (*file)->ReleasePages((*file)->data() + 5000, 70000);  // a range not on page boundaries
  EXPECT_EQ(std::string(reinterpret_cast<const char*>((*file)->data()), size), before);
  (*file)->ReleasePages();
  (*file)->Prefault((*file)->data() + 100, 9000);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>((*file)->data()), size), before);
  // A range outside the map is ignored: had it been released, `before` (heap memory) would now
  // read as zeros.
  (*file)->ReleasePages(before.data(), before.size());
  EXPECT_EQ(std::string(reinterpret_cast<const char*>((*file)->data()), size), before);
}

}  // namespace
}  // namespace jamba::engine
