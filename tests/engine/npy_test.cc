// .npy reading and writing: round trips, the integer and shape forms the golden data and CLI use,
// and rejection of files that are not what they claim.
#include "engine/npy.h"

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/util/test_util.h"

namespace jamba::engine {
namespace {

using ::testing::HasSubstr;

// A version 1.0 .npy file with the given header dict (padded as numpy pads it) and data.
std::string NpyBytes(const std::string& dict, const std::string& data, int major = 1) {
  std::string header = dict;
  const size_t prefix = major == 1 ? 10 : 12;
  header.append((64 - (prefix + header.size() + 1) % 64) % 64, ' ');
  header.push_back('\n');
  std::string out = "\x93NUMPY";
  out.push_back(static_cast<char>(major));
  out.push_back('\0');
  const size_t len = header.size();
  out.push_back(static_cast<char>(len & 0xff));
  out.push_back(static_cast<char>((len >> 8) & 0xff));
  if (major != 1) {
    out.push_back(static_cast<char>((len >> 16) & 0xff));
    out.push_back(static_cast<char>((len >> 24) & 0xff));
  }
  return out + header + data;
}

template <typename T>
std::string Bytes(const std::vector<T>& values) {
  std::string out(values.size() * sizeof(T), '\0');
  std::memcpy(out.data(), values.data(), out.size());
  return out;
}

TEST(NpyTest, Float32RoundTrip) {
  testing::TempDir dir;
  const std::vector<float> values = {1.0f, -2.5f, 3.25e-7f, 1e30f, 0.0f, -0.0f};
  ASSERT_TRUE(WriteNpyFloat32(dir.File("f.npy"), {2, 3}, values.data()).ok());
  auto array = ReadNpy(dir.File("f.npy"));
  ASSERT_TRUE(array.ok()) << array.status();
  EXPECT_EQ(array->dtype, "<f4");
  EXPECT_EQ(array->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(array->num_elements(), 6);
  auto floats = array->AsFloats();
  ASSERT_TRUE(floats.ok()) << floats.status();
  EXPECT_EQ(*floats, values);
  EXPECT_FALSE(array->AsInts().ok());
  // numpy requires the data to start at a multiple of 64 bytes.
  const std::string bytes = testing::ReadFile(dir.File("f.npy"));
  EXPECT_EQ((bytes.size() - values.size() * 4) % 64, 0u);
}

TEST(NpyTest, Int64RoundTripIncludingOneDimensionalShape) {
  testing::TempDir dir;
  const std::vector<int64_t> values = {0, 1, -1, INT64_MAX, INT64_MIN, 65535};
  ASSERT_TRUE(WriteNpyInt64(dir.File("i.npy"), {6}, values.data()).ok());
  const std::string bytes = testing::ReadFile(dir.File("i.npy"));
  EXPECT_THAT(bytes, HasSubstr("'shape': (6,)"));  // numpy's spelling of a 1-tuple
  auto array = ReadNpy(dir.File("i.npy"));
  ASSERT_TRUE(array.ok()) << array.status();
  EXPECT_EQ(array->dtype, "<i8");
  EXPECT_EQ(array->shape, std::vector<int64_t>{6});
  auto ints = array->AsInts();
  ASSERT_TRUE(ints.ok()) << ints.status();
  EXPECT_EQ(*ints, values);
  EXPECT_FALSE(array->AsFloats().ok());
}

TEST(NpyTest, ReadsInt32) {
  const std::vector<int32_t> values = {7, -3, 2147483647};
  auto array = ParseNpy(
      NpyBytes("{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }", Bytes(values)), "x");
  ASSERT_TRUE(array.ok()) << array.status();
  auto ints = array->AsInts();
  ASSERT_TRUE(ints.ok()) << ints.status();
  EXPECT_EQ(*ints, (std::vector<int64_t>{7, -3, 2147483647}));
}

TEST(NpyTest, ReadsOneByTShapeOfTheGoldenInputIds) {
  auto array = ReadNpy(testing::GoldenDir("hybrid4_dense_f32") + "/input_ids.npy");
  ASSERT_TRUE(array.ok()) << array.status();
  EXPECT_EQ(array->shape, (std::vector<int64_t>{1, 40}));
  auto ints = array->AsInts();
  ASSERT_TRUE(ints.ok());
  ASSERT_EQ(ints->size(), 40u);
  EXPECT_EQ((*ints)[0], 1);  // BOS

  const std::vector<int64_t> ids = {1, 5, 9};
  auto one_by_t = ParseNpy(
      NpyBytes("{'descr': '<i8', 'fortran_order': False, 'shape': (1, 3), }", Bytes(ids)), "x");
  ASSERT_TRUE(one_by_t.ok()) << one_by_t.status();
  EXPECT_EQ(one_by_t->shape, (std::vector<int64_t>{1, 3}));
}

TEST(NpyTest, ReadsScalarShapeAndFloat64AndVersion2) {
  auto scalar = ParseNpy(
      NpyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", Bytes<float>({4.5f})),
      "x");
  ASSERT_TRUE(scalar.ok()) << scalar.status();
  EXPECT_TRUE(scalar->shape.empty());
  EXPECT_EQ(scalar->num_elements(), 1);

  auto f64 = ParseNpy(NpyBytes("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }",
                               Bytes<double>({0.5, -8.0}), /*major=*/2),
                      "x");
  ASSERT_TRUE(f64.ok()) << f64.status();
  auto floats = f64->AsFloats();
  ASSERT_TRUE(floats.ok());
  EXPECT_EQ(*floats, (std::vector<float>{0.5f, -8.0f}));
}

TEST(NpyTest, RejectsBadMagic) {
  for (const std::string& bytes :
       {std::string(""), std::string("\x93NUMP"), std::string("PK\x03\x04 not numpy at all"),
        std::string("\x94NUMPY\x01\x00\x00\x00", 10)}) {
    auto array = ParseNpy(bytes, "bad.npy");
    ASSERT_FALSE(array.ok());
    EXPECT_EQ(array.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(array.status().message()), HasSubstr("bad.npy"));
    EXPECT_THAT(std::string(array.status().message()), HasSubstr("magic"));
  }
}

TEST(NpyTest, RejectsFortranOrder) {
  auto array = ParseNpy(NpyBytes("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }",
                                 Bytes<float>({1, 2, 3, 4})),
                        "f.npy");
  ASSERT_FALSE(array.ok());
  EXPECT_THAT(std::string(array.status().message()), HasSubstr("Fortran order"));
}

TEST(NpyTest, RejectsTruncatedOrOversizedData) {
  const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  auto truncated = ParseNpy(NpyBytes(dict, Bytes<float>({1, 2, 3, 4, 5})), "t.npy");
  ASSERT_FALSE(truncated.ok());
  EXPECT_THAT(std::string(truncated.status().message()), HasSubstr("t.npy"));
  EXPECT_THAT(std::string(truncated.status().message()),
              HasSubstr("data has 20 bytes, shape needs 6 elements of 4 bytes"));

  auto oversized = ParseNpy(NpyBytes(dict, Bytes<float>({1, 2, 3, 4, 5, 6, 7})), "t.npy");
  ASSERT_FALSE(oversized.ok());

  // A header length that runs past the end of the file.
  std::string cut = NpyBytes(dict, "");
  cut.resize(30);
  auto header_cut = ParseNpy(cut, "t.npy");
  ASSERT_FALSE(header_cut.ok());
  EXPECT_THAT(std::string(header_cut.status().message()), HasSubstr("header runs past the end"));
}

TEST(NpyTest, RejectsUnsupportedDtypeAndBadShape) {
  auto big_endian = ParseNpy(
      NpyBytes("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", std::string(4, '\0')),
      "x");
  ASSERT_FALSE(big_endian.ok());
  EXPECT_THAT(std::string(big_endian.status().message()), HasSubstr("unsupported dtype >f4"));

  auto negative =
      ParseNpy(NpyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", ""), "x");
  ASSERT_FALSE(negative.ok());
  EXPECT_THAT(std::string(negative.status().message()), HasSubstr("bad shape"));

  // Element counts that overflow int64 must be rejected, not wrapped.
  auto huge = ParseNpy(
      NpyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 8), }", ""),
      "x");
  ASSERT_FALSE(huge.ok());
  EXPECT_THAT(std::string(huge.status().message()), HasSubstr("too many elements"));
  // 3 * 6148914691236517206 wraps to 2 in 64 bits: 8 bytes of data must not "match" it.
  auto wrapping = ParseNpy(
      NpyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 6148914691236517206), }",
               std::string(8, '\0')),
      "x");
  ASSERT_FALSE(wrapping.ok());
  EXPECT_THAT(std::string(wrapping.status().message()), HasSubstr("too many elements"));

  auto missing = ParseNpy(NpyBytes("{'descr': '<f4', 'shape': (1,), }", std::string(4, '\0')), "x");
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("fortran_order"));

  auto version = ParseNpy(
      NpyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", std::string(4, '\0'),
               /*major=*/9),
      "x");
  ASSERT_FALSE(version.ok());
  EXPECT_THAT(std::string(version.status().message()), HasSubstr("unsupported format version 9"));
}

TEST(NpyTest, MissingFileIsNotFound) {
  testing::TempDir dir;
  auto array = ReadNpy(dir.File("absent.npy"));
  ASSERT_FALSE(array.ok());
  EXPECT_EQ(array.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(array.status().message()), HasSubstr("absent.npy"));
}

}  // namespace
}  // namespace jamba::engine
