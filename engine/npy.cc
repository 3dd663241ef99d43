// Minimal .npy reader/writer: parses the header dict ('descr', 'fortran_order', 'shape').
#include "engine/npy.h"

#include <cstring>
#include <fstream>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "engine/file_util.h"
#include "engine/status_macros.h"

namespace jamba::engine {
namespace {

absl::Status NpyError(const std::string& name, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(name, ": not a valid .npy file: ", what));
}

// Returns the text of the value after `'key':` in the header dict.
bool FindValue(const std::string& header, const std::string& key, std::string* value) {
  const std::string quoted = "'" + key + "'";
  size_t pos = header.find(quoted);
  if (pos == std::string::npos) return false;
  pos = header.find(':', pos + quoted.size());
  if (pos == std::string::npos) return false;
  ++pos;
  while (pos < header.size() && header[pos] == ' ') ++pos;
  size_t end = pos;
  if (pos < header.size() && header[pos] == '(') {
    end = header.find(')', pos);
    if (end == std::string::npos) return false;
    ++end;
  } else if (pos < header.size() && header[pos] == '\'') {
    end = header.find('\'', pos + 1);
    if (end == std::string::npos) return false;
    ++end;
  } else {
    while (end < header.size() && header[end] != ',' && header[end] != '}') ++end;
  }
  *value = header.substr(pos, end - pos);
  return true;
}

size_t ElementSize(const std::string& dtype) {
  if (dtype == "<f4" || dtype == "<i4" || dtype == "<u4") return 4;
  if (dtype == "<f8" || dtype == "<i8" || dtype == "<u8") return 8;
  if (dtype == "<f2" || dtype == "<i2" || dtype == "<u2") return 2;
  if (dtype == "|i1" || dtype == "|u1" || dtype == "|b1") return 1;
  return 0;
}

absl::Status WriteNpy(const std::string& path, const std::string& descr,
                      const std::vector<int64_t>& shape, const void* data, size_t bytes) {
  std::string shape_text = absl::StrJoin(shape, ", ");
  if (shape.size() == 1) shape_text += ",";
  std::string header = absl::StrCat("{'descr': '", descr, "', 'fortran_order': False, 'shape': (",
                                    shape_text, "), }");
  const size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header.push_back('\n');
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return absl::PermissionDeniedError(absl::StrCat(path, ": cannot create"));
  const char magic[] = "\x93NUMPY\x01\x00";
  out.write(magic, 8);
  const uint16_t len = static_cast<uint16_t>(header.size());
  const char len_bytes[2] = {static_cast<char>(len & 0xff), static_cast<char>(len >> 8)};
  out.write(len_bytes, 2);
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(bytes));
  out.close();
  if (!out) return absl::DataLossError(absl::StrCat(path, ": write failed"));
  return absl::OkStatus();
}

}  // namespace

int64_t NpyArray::num_elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

absl::StatusOr<NpyArray> ParseNpy(const std::string& bytes, const std::string& name) {
  if (bytes.size() < 10 || std::memcmp(bytes.data(), "\x93NUMPY", 6) != 0) {
    return NpyError(name, "missing \\x93NUMPY magic");
  }
  const int major = static_cast<uint8_t>(bytes[6]);
  size_t header_len = 0;
  size_t header_start = 0;
  if (major == 1) {
    header_len =
        static_cast<uint8_t>(bytes[8]) | (static_cast<size_t>(static_cast<uint8_t>(bytes[9])) << 8);
    header_start = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) return NpyError(name, "truncated header");
    for (int i = 3; i >= 0; --i)
      header_len = (header_len << 8) | static_cast<uint8_t>(bytes[8 + i]);
    header_start = 12;
  } else {
    return NpyError(name, absl::StrCat("unsupported format version ", major));
  }
  if (header_len > bytes.size() - header_start) return NpyError(name, "header runs past the end");
  const std::string header = bytes.substr(header_start, header_len);
  NpyArray array;
  std::string descr, fortran, shape;
  if (!FindValue(header, "descr", &descr) || !FindValue(header, "fortran_order", &fortran) ||
      !FindValue(header, "shape", &shape)) {
    return NpyError(name, "header lacks descr, fortran_order or shape");
  }
  array.dtype = std::string(absl::StripSuffix(absl::StripPrefix(descr, "'"), "'"));
  if (fortran != "False") return NpyError(name, "Fortran order is not supported");
  const size_t element = ElementSize(array.dtype);
  if (element == 0) return NpyError(name, absl::StrCat("unsupported dtype ", array.dtype));
  std::string dims(absl::StripSuffix(absl::StripPrefix(shape, "("), ")"));
  uint64_t elements = 1;
  for (absl::string_view part : absl::StrSplit(dims, ',', absl::SkipWhitespace())) {
    int64_t d = 0;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(part), &d) || d < 0) {
      return NpyError(name, absl::StrCat("bad shape ", shape));
    }
    // The element count must fit in int64 (num_elements() multiplies the dimensions).
    if (d != 0 && elements > static_cast<uint64_t>(INT64_MAX) / static_cast<uint64_t>(d)) {
      return NpyError(name, absl::StrCat("bad shape ", shape, ": too many elements"));
    }
    elements *= static_cast<uint64_t>(d);
    array.shape.push_back(d);
  }
  const size_t data_start = header_start + header_len;
  const uint64_t available = bytes.size() - data_start;
  if (elements > available / element || elements * element != available) {
    return NpyError(name, absl::StrCat("data has ", available, " bytes, shape needs ", elements,
                                       " elements of ", element, " bytes"));
  }
  array.data = bytes.substr(data_start);
  return array;
}

absl::StatusOr<NpyArray> ReadNpy(const std::string& path) {
  JAMBA_ASSIGN_OR_RETURN(std::string bytes, ReadFileToString(path));
  return ParseNpy(bytes, path);
}

absl::StatusOr<std::vector<float>> NpyArray::AsFloats() const {
  std::vector<float> out(static_cast<size_t>(num_elements()));
  if (dtype == "<f4") {
    std::memcpy(out.data(), data.data(), out.size() * 4);
  } else if (dtype == "<f8") {
    for (size_t i = 0; i < out.size(); ++i) {
      double v;
      std::memcpy(&v, data.data() + i * 8, 8);
      out[i] = static_cast<float>(v);
    }
  } else {
    return absl::InvalidArgumentError(absl::StrCat("expected a float array, got dtype ", dtype));
  }
  return out;
}

absl::StatusOr<std::vector<int64_t>> NpyArray::AsInts() const {
  std::vector<int64_t> out(static_cast<size_t>(num_elements()));
  if (dtype == "<i8") {
    std::memcpy(out.data(), data.data(), out.size() * 8);
  } else if (dtype == "<i4") {
    for (size_t i = 0; i < out.size(); ++i) {
      int32_t v;
      std::memcpy(&v, data.data() + i * 4, 4);
      out[i] = v;
    }
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("expected an int32 or int64 array, got dtype ", dtype));
  }
  return out;
}

absl::Status WriteNpyFloat32(const std::string& path, const std::vector<int64_t>& shape,
                             const float* values) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return WriteNpy(path, "<f4", shape, values, static_cast<size_t>(n) * 4);
}

absl::Status WriteNpyInt64(const std::string& path, const std::vector<int64_t>& shape,
                           const int64_t* values) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return WriteNpy(path, "<i8", shape, values, static_cast<size_t>(n) * 8);
}

}  // namespace jamba::engine
