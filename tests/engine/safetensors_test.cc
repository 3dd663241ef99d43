// safetensors reader robustness: every malformed file is rejected with a status whose code says why
// and whose message names the file (and the tensor, where one is at fault); valid files round-trip
// through WriteSafetensors byte for byte.
#include "engine/safetensors.h"

#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/dtype.h"
#include "tests/util/test_util.h"

namespace jamba::engine {
namespace {

using kernels::DType;
using ::testing::HasSubstr;

// The 8-byte little-endian length prefix.
std::string LengthPrefix(uint64_t len) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((len >> (8 * i)) & 0xff);
  return out;
}

// A safetensors file made of `header` text (unpadded) followed by `data`.
std::string RawFile(const std::string& header, const std::string& data) {
  return LengthPrefix(header.size()) + header + data;
}

std::string Floats(const std::vector<float>& values) {
  std::string out(values.size() * sizeof(float), '\0');
  std::memcpy(out.data(), values.data(), out.size());
  return out;
}

std::string Halves(const std::vector<uint16_t>& values) {
  std::string out(values.size() * sizeof(uint16_t), '\0');
  std::memcpy(out.data(), values.data(), out.size());
  return out;
}

class SafetensorsTest : public ::testing::Test {
 protected:
  // Writes `bytes` to a file named `name` in the temp dir and opens it.
  absl::StatusOr<std::unique_ptr<SafetensorsFile>> OpenBytes(const std::string& bytes,
                                                             const std::string& name = "t.st") {
    path_ = dir_.File(name);
    testing::WriteFile(path_, bytes);
    return SafetensorsFile::Open(path_);
  }

  // Expects `bytes` to be rejected with `code`, naming the file and (if non-empty) `tensor`.
  void ExpectRejected(const std::string& bytes, absl::StatusCode code, const std::string& tensor,
                      const std::string& detail) {
    auto file = OpenBytes(bytes);
    ASSERT_FALSE(file.ok()) << "accepted a malformed file";
    EXPECT_EQ(file.status().code(), code) << file.status();
    EXPECT_THAT(std::string(file.status().message()), HasSubstr(path_));
    if (!tensor.empty()) {
      EXPECT_THAT(std::string(file.status().message()), HasSubstr("'" + tensor + "'"));
    }
    EXPECT_THAT(std::string(file.status().message()), HasSubstr(detail));
    // The in-memory parser gives the same answer.
    auto header = ParseSafetensorsHeader(bytes, "mem.st");
    ASSERT_FALSE(header.ok());
    EXPECT_EQ(header.status().code(), code);
  }

  // A valid file with two F32 tensors "a" [2] and "b" [3], as WriteSafetensors writes it.
  std::string ValidTwoTensorFile() {
    const std::string path = dir_.File("valid.st");
    EXPECT_TRUE(WriteSafetensors(path, {{"a", DType::kF32, {2}, Floats({1, 2})},
                                        {"b", DType::kF32, {3}, Floats({3, 4, 5})}})
                    .ok());
    return testing::ReadFile(path);
  }

  testing::TempDir dir_;
  std::string path_;
};

// ---------------------------------------------------------------------------------------------
// Framing: the length prefix and the header bounds.

TEST_F(SafetensorsTest, RejectsFileShorterThanLengthPrefix) {
  ExpectRejected("", absl::StatusCode::kDataLoss, "", "shorter than the 8-byte header length");
  ExpectRejected("abc", absl::StatusCode::kDataLoss, "", "file is 3 bytes");
  ExpectRejected(std::string(7, '\0'), absl::StatusCode::kDataLoss, "", "file is 7 bytes");
}

TEST_F(SafetensorsTest, RejectsHeaderLengthPastEndOfFile) {
  ExpectRejected(LengthPrefix(100) + "{}", absl::StatusCode::kDataLoss, "",
                 "runs past the end of the file");
  // Off by one: the header claims one byte more than there is.
  ExpectRejected(LengthPrefix(3) + "{}", absl::StatusCode::kDataLoss, "", "runs past the end");
}

TEST_F(SafetensorsTest, RejectsHeaderLengthOver100MB) {
  ExpectRejected(LengthPrefix(kMaxSafetensorsHeaderBytes + 1) + "{}", absl::StatusCode::kDataLoss,
                 "", "exceeds the 100 MB limit");
  // The largest u64 must not wrap around any bounds arithmetic.
  ExpectRejected(LengthPrefix(UINT64_MAX) + "{}", absl::StatusCode::kDataLoss, "",
                 "exceeds the 100 MB limit");
}

TEST_F(SafetensorsTest, RejectsInvalidJson) {
  ExpectRejected(RawFile("{\"a\": ", ""), absl::StatusCode::kDataLoss, "", "not valid JSON");
  ExpectRejected(RawFile("", ""), absl::StatusCode::kDataLoss, "", "not valid JSON");
  ExpectRejected(RawFile("{\"a\": \"\xff\xfe\"}", ""), absl::StatusCode::kDataLoss, "",
                 "not valid JSON");  // not UTF-8
}

TEST_F(SafetensorsTest, RejectsHeaderThatIsNotAnObject) {
  ExpectRejected(RawFile("[1, 2]", ""), absl::StatusCode::kDataLoss, "", "not a JSON object");
  ExpectRejected(RawFile("\"text\"", ""), absl::StatusCode::kDataLoss, "", "not a JSON object");
  ExpectRejected(RawFile("null", ""), absl::StatusCode::kDataLoss, "", "not a JSON object");
}

// ---------------------------------------------------------------------------------------------
// Tensor entries.

TEST_F(SafetensorsTest, RejectsUnknownDtype) {
  ExpectRejected(RawFile(R"({"w": {"dtype": "F33", "shape": [1], "data_offsets": [0, 4]}})",
                         std::string(4, '\0')),
                 absl::StatusCode::kDataLoss, "w", "unknown dtype \"F33\"");
}

TEST_F(SafetensorsTest, RejectsKnownButUnsupportedDtypeAsUnimplemented) {
  for (const char* dtype : {"I64", "F64", "I8", "U8", "BOOL", "F8_E4M3"}) {
    SCOPED_TRACE(dtype);
    const std::string header = std::string(R"({"ids": {"dtype": ")") + dtype +
                               R"(", "shape": [0], "data_offsets": [0, 0]}})";
    ExpectRejected(RawFile(header, ""), absl::StatusCode::kUnimplemented, "ids",
                   std::string("dtype ") + dtype + " is not supported");
  }
}

TEST_F(SafetensorsTest, RejectsEntryWithoutDtypeShapeOrOffsets) {
  ExpectRejected(RawFile(R"({"w": [1, 2]})", ""), absl::StatusCode::kDataLoss, "w",
                 "entry is not an object");
  ExpectRejected(RawFile(R"({"w": {"shape": [1], "data_offsets": [0, 4]}})", std::string(4, 'x')),
                 absl::StatusCode::kDataLoss, "w", "\"dtype\"");
  ExpectRejected(
      RawFile(R"({"w": {"dtype": 7, "shape": [1], "data_offsets": [0, 4]}})", std::string(4, 'x')),
      absl::StatusCode::kDataLoss, "w", "\"dtype\"");
  ExpectRejected(RawFile(R"({"w": {"dtype": "F32", "data_offsets": [0, 4]}})", std::string(4, 'x')),
                 absl::StatusCode::kDataLoss, "w", "\"shape\"");
  ExpectRejected(RawFile(R"({"w": {"dtype": "F32", "shape": [1]}})", std::string(4, 'x')),
                 absl::StatusCode::kDataLoss, "w", "\"data_offsets\"");
  ExpectRejected(
      RawFile(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0]}})", std::string(4, 'x')),
      absl::StatusCode::kDataLoss, "w", "\"data_offsets\"");
  ExpectRejected(RawFile(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, -4]}})",
                         std::string(4, 'x')),
                 absl::StatusCode::kDataLoss, "w", "\"data_offsets\"");
}

TEST_F(SafetensorsTest, RejectsShapeThatDoesNotMatchByteSize) {
  // F32 [3] needs 12 bytes, the offsets give 8.
  ExpectRejected(RawFile(R"({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})",
                         std::string(8, 'x')),
                 absl::StatusCode::kDataLoss, "w", "shape needs 12 bytes but data_offsets span 8");
  // BF16 [2, 2] needs 8 bytes, not 16.
  ExpectRejected(RawFile(R"({"w": {"dtype": "BF16", "shape": [2, 2], "data_offsets": [0, 16]}})",
                         std::string(16, 'x')),
                 absl::StatusCode::kDataLoss, "w", "shape needs 8 bytes");
}

TEST_F(SafetensorsTest, RejectsReversedDataOffsets) {
  ExpectRejected(RawFile(R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}})",
                         std::string(8, 'x')),
                 absl::StatusCode::kDataLoss, "w", "are reversed");
}

TEST_F(SafetensorsTest, RejectsNegativeOrFractionalShapeEntries) {
  for (const char* shape : {"[-1]", "[2, -2]", "[2.0]", "[1.5]", "[\"4\"]", "[null]", "[true]"}) {
    SCOPED_TRACE(shape);
    const std::string header = std::string(R"({"w": {"dtype": "F32", "shape": )") + shape +
                               R"(, "data_offsets": [0, 8]}})";
    ExpectRejected(RawFile(header, std::string(8, 'x')), absl::StatusCode::kDataLoss, "w",
                   "shape entries must be non-negative integers");
  }
}

TEST_F(SafetensorsTest, RejectsShapeWhoseElementCountOverflows) {
  // 2^32 * 2^32 * 16 overflows u64; the product must not wrap to something that "matches".
  ExpectRejected(RawFile(R"({"w": {"dtype": "F32", "shape": [4294967296, 4294967296, 16],
                                   "data_offsets": [0, 0]}})",
                         ""),
                 absl::StatusCode::kDataLoss, "w", "too many");
  // A single dimension beyond int64.
  ExpectRejected(RawFile(R"({"w": {"dtype": "F32", "shape": [18446744073709551615],
                                   "data_offsets": [0, 4]}})",
                         std::string(4, 'x')),
                 absl::StatusCode::kDataLoss, "w", "too many");
  // Elements fit in u64 but bytes (x4) do not: 2^62 F32 elements is 2^64 bytes, 0 mod 2^64,
  // which must not be reported (or accepted) as a zero-byte tensor.
  ExpectRejected(RawFile(R"({"w": {"dtype": "F32", "shape": [4611686018427387904],
                                   "data_offsets": [0, 0]}})",
                         ""),
                 absl::StatusCode::kDataLoss, "w", "shape needs too many bytes");
  ExpectRejected(RawFile(R"({"w": {"dtype": "F32", "shape": [2, 2305843009213693952],
                                   "data_offsets": [0, 0]}})",
                         ""),
                 absl::StatusCode::kDataLoss, "w", "shape needs too many bytes");
}

TEST_F(SafetensorsTest, RejectsNonStringOrNonObjectMetadata) {
  ExpectRejected(RawFile(R"({"__metadata__": {"format": 1}})", ""), absl::StatusCode::kDataLoss, "",
                 "__metadata__ value of 'format' is not a string");
  ExpectRejected(RawFile(R"({"__metadata__": {"nested": {"a": "b"}}})", ""),
                 absl::StatusCode::kDataLoss, "", "'nested' is not a string");
  ExpectRejected(RawFile(R"({"__metadata__": ["pt"]})", ""), absl::StatusCode::kDataLoss, "",
                 "__metadata__ is not an object");
}

// ---------------------------------------------------------------------------------------------
// The data section must be covered exactly.

TEST_F(SafetensorsTest, RejectsTruncatedDataSection) {
  std::string bytes = ValidTwoTensorFile();
  bytes.resize(bytes.size() - 4);  // cut into "b"
  ExpectRejected(bytes, absl::StatusCode::kDataLoss, "b", "lie outside the data section");
  // Cut the whole data section away.
  std::string no_data = ValidTwoTensorFile();
  no_data.resize(no_data.size() - 20);
  ExpectRejected(no_data, absl::StatusCode::kDataLoss, "", "outside the data section");
}

TEST_F(SafetensorsTest, RejectsOffsetsOutsideTheData) {
  ExpectRejected(RawFile(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [1000, 1004]}})",
                         std::string(4, 'x')),
                 absl::StatusCode::kDataLoss, "w", "data_offsets [1000, 1004] lie outside");
  // An end offset near u64 max must not overflow the bounds check.
  ExpectRejected(RawFile(R"({"w": {"dtype": "F32", "shape": [0],
                                   "data_offsets": [18446744073709551615, 18446744073709551615]}})",
                         ""),
                 absl::StatusCode::kDataLoss, "w", "outside the data section");
}

TEST_F(SafetensorsTest, RejectsOverlappingTensors) {
  ExpectRejected(RawFile(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                             "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
                         std::string(12, 'x')),
                 absl::StatusCode::kDataLoss, "b", "overlaps the previous tensor");
  // Two tensors sharing the same bytes.
  ExpectRejected(RawFile(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                             "b": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})",
                         std::string(8, 'x')),
                 absl::StatusCode::kDataLoss, "", "overlaps the previous tensor");
}

TEST_F(SafetensorsTest, RejectsHoleBetweenTensors) {
  ExpectRejected(RawFile(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                             "b": {"dtype": "F32", "shape": [2], "data_offsets": [12, 20]}})",
                         std::string(20, 'x')),
                 absl::StatusCode::kDataLoss, "b", "leaves a hole of 4 bytes");
  // A hole before the first tensor.
  ExpectRejected(RawFile(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})",
                         std::string(8, 'x')),
                 absl::StatusCode::kDataLoss, "a", "leaves a hole");
}

TEST_F(SafetensorsTest, RejectsTrailingBytesAfterLastTensor) {
  ExpectRejected(ValidTwoTensorFile() + "junk", absl::StatusCode::kDataLoss, "",
                 "tensors cover 20 bytes but the data section has 24");
  // A header without tensors followed by data.
  ExpectRejected(RawFile("{}", "x"), absl::StatusCode::kDataLoss, "", "trailing bytes");
}

TEST_F(SafetensorsTest, MissingFileIsNotFoundAndDirectoryIsRejected) {
  auto missing = SafetensorsFile::Open(dir_.File("absent.safetensors"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("absent.safetensors"));

  auto directory = SafetensorsFile::Open(dir_.path());
  ASSERT_FALSE(directory.ok());
  EXPECT_THAT(std::string(directory.status().message()), HasSubstr(dir_.path()));
}

// ---------------------------------------------------------------------------------------------
// Valid files.

TEST_F(SafetensorsTest, RoundTripsF32Bf16F16WithExactBytes) {
  const std::string f32 = Floats({1.5f, -2.25f, 0.0f, 3e-8f, -1e30f, 7.0f});
  const std::string bf16 = Halves({0x3f80, 0xbf80, 0x7f80, 0x0001, 0x8000});
  const std::string f16 = Halves({0x3c00, 0xfc00, 0x0001, 0x7bff});
  const std::string path = dir_.File("round.safetensors");
  ASSERT_TRUE(WriteSafetensors(path, {{"x.f32", DType::kF32, {2, 3}, f32},
                                      {"x.bf16", DType::kBF16, {5}, bf16},
                                      {"x.f16", DType::kF16, {2, 1, 2}, f16}})
                  .ok());
  auto file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_EQ((*file)->tensors().size(), 3u);
  struct Expected {
    const char* name;
    DType dtype;
    std::vector<int64_t> shape;
    const std::string* bytes;
  };
  for (const Expected& e :
       {Expected{"x.f32", DType::kF32, {2, 3}, &f32}, Expected{"x.bf16", DType::kBF16, {5}, &bf16},
        Expected{"x.f16", DType::kF16, {2, 1, 2}, &f16}}) {
    SCOPED_TRACE(e.name);
    const TensorInfo* info = (*file)->Find(e.name);
    ASSERT_NE(info, nullptr);
    EXPECT_EQ(info->dtype, e.dtype);
    EXPECT_EQ(info->shape, e.shape);
    EXPECT_EQ(info->end - info->begin, e.bytes->size());
    EXPECT_EQ(std::string(static_cast<const char*>((*file)->Data(*info)), e.bytes->size()),
              *e.bytes);
  }
  EXPECT_EQ((*file)->Find("x.f64"), nullptr);
  // The header is padded so the data section starts 8-byte aligned.
  const std::string bytes = testing::ReadFile(path);
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | static_cast<uint8_t>(bytes[i]);
  EXPECT_EQ(header_len % 8, 0u);
  EXPECT_EQ(bytes.size(), 8 + header_len + f32.size() + bf16.size() + f16.size());
}

TEST_F(SafetensorsTest, AcceptsZeroSizedTensors) {
  const std::string path = dir_.File("empty.safetensors");
  ASSERT_TRUE(WriteSafetensors(path, {{"empty", DType::kF32, {0}, ""},
                                      {"also_empty", DType::kBF16, {4, 0, 3}, ""},
                                      {"one", DType::kF32, {1}, Floats({42.0f})}})
                  .ok());
  auto file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  const TensorInfo* empty = (*file)->Find("empty");
  ASSERT_NE(empty, nullptr);
  EXPECT_EQ(empty->num_elements(), 0);
  EXPECT_EQ(empty->begin, empty->end);
  const TensorInfo* also_empty = (*file)->Find("also_empty");
  ASSERT_NE(also_empty, nullptr);
  EXPECT_EQ(also_empty->shape, (std::vector<int64_t>{4, 0, 3}));
  EXPECT_EQ(also_empty->num_elements(), 0);
  const TensorInfo* one = (*file)->Find("one");
  ASSERT_NE(one, nullptr);
  float value = 0;
  std::memcpy(&value, (*file)->Data(*one), sizeof(value));
  EXPECT_EQ(value, 42.0f);
}

TEST_F(SafetensorsTest, AcceptsScalarTensorWithEmptyShape) {
  auto file = OpenBytes(
      RawFile(R"({"s": {"dtype": "F32", "shape": [], "data_offsets": [0, 4]}})", Floats({2.5f})));
  ASSERT_TRUE(file.ok()) << file.status();
  const TensorInfo* s = (*file)->Find("s");
  ASSERT_NE(s, nullptr);
  EXPECT_TRUE(s->shape.empty());
  EXPECT_EQ(s->num_elements(), 1);
}

TEST_F(SafetensorsTest, PreservesMetadata) {
  const std::string path = dir_.File("meta.safetensors");
  const std::map<std::string, std::string> metadata = {{"format", "pt"},
                                                       {"note", "a \"quoted\" é"}};
  ASSERT_TRUE(WriteSafetensors(path, {{"w", DType::kF32, {1}, Floats({1})}}, metadata).ok());
  auto file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->metadata(), metadata);
  EXPECT_EQ((*file)->Find("__metadata__"), nullptr);
}

TEST_F(SafetensorsTest, AcceptsEmptyFileWithEmptyHeader) {
  auto file = OpenBytes(RawFile("{}", ""));
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_TRUE((*file)->tensors().empty());
}

TEST_F(SafetensorsTest, AcceptsHeaderPaddedWithSpaces) {
  auto file = OpenBytes(RawFile(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})"
                                "   ",
                                Floats({3.0f})));
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_NE((*file)->Find("w"), nullptr);
}

TEST_F(SafetensorsTest, WriterRejectsDataThatDoesNotMatchShape) {
  const absl::Status status =
      WriteSafetensors(dir_.File("bad.safetensors"), {{"w", DType::kF32, {3}, Floats({1, 2})}});
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("'w'"));
}

}  // namespace
}  // namespace jamba::engine
