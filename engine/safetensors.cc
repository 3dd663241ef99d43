// safetensors parsing with full validation (bounds, dtype, shape vs byte size, no overlap, no
// holes) and a small writer used by make-demo-model and the tests.
#include "engine/safetensors.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/status_macros.h"
#include "nlohmann/json.hpp"

namespace jamba::engine {
namespace {

using Json = nlohmann::json;
using kernels::DType;

absl::Status HeaderError(const std::string& file, const std::string& what) {
  return absl::DataLossError(absl::StrCat(file, ": invalid safetensors header: ", what));
}

absl::Status TensorError(const std::string& file, const std::string& tensor,
                         const std::string& what) {
  return absl::DataLossError(absl::StrCat(file, ": tensor '", tensor, "': ", what));
}

// Known safetensors dtypes; the engine loads F32, BF16 and F16.
absl::StatusOr<DType> ParseDType(const std::string& name, const std::string& file,
                                 const std::string& tensor) {
  if (name == "F32") return DType::kF32;
  if (name == "BF16") return DType::kBF16;
  if (name == "F16") return DType::kF16;
  static const char* const kKnownUnsupported[] = {
      "F64", "I64", "I32", "I16", "I8", "U64", "U32", "U16", "U8", "BOOL", "F8_E4M3", "F8_E5M2"};
  for (const char* known : kKnownUnsupported) {
    if (name == known) {
      return absl::UnimplementedError(absl::StrCat(file, ": tensor '", tensor, "': dtype ", name,
                                                   " is not supported (F32, BF16 or F16)"));
    }
  }
  return TensorError(file, tensor, absl::StrCat("unknown dtype \"", name, "\""));
}

}  // namespace

int64_t TensorInfo::num_elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

absl::StatusOr<SafetensorsHeader> ParseSafetensorsHeader(std::string_view bytes,
                                                         const std::string& file) {
  if (bytes.size() < 8) {
    return HeaderError(file, absl::StrCat("file is ", bytes.size(),
                                          " bytes, shorter than the 8-byte header length"));
  }
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | static_cast<uint8_t>(bytes[i]);
  if (header_len > kMaxSafetensorsHeaderBytes) {
    return HeaderError(file,
                       absl::StrCat("header length ", header_len, " exceeds the 100 MB limit"));
  }
  if (header_len > bytes.size() - 8) {
    return HeaderError(
        file, absl::StrCat("header length ", header_len, " runs past the end of the file (",
                           bytes.size(), " bytes)"));
  }
  const std::string_view header_text = bytes.substr(8, header_len);
  Json j = Json::parse(header_text.begin(), header_text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return HeaderError(file, "header is not valid JSON");
  if (!j.is_object()) return HeaderError(file, "header is not a JSON object");

  SafetensorsHeader header;
  header.data_offset = 8 + header_len;
  const uint64_t data_size = bytes.size() - header.data_offset;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& name = it.key();
    const Json& entry = it.value();
    if (name == "__metadata__") {
      if (!entry.is_object()) return HeaderError(file, "__metadata__ is not an object");
      for (auto m = entry.begin(); m != entry.end(); ++m) {
        if (!m.value().is_string()) {
          return HeaderError(file,
                             absl::StrCat("__metadata__ value of '", m.key(), "' is not a string"));
        }
        header.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    if (!entry.is_object()) return TensorError(file, name, "entry is not an object");
    TensorInfo info;
    info.name = name;
    const auto dtype_it = entry.find("dtype");
    if (dtype_it == entry.end() || !dtype_it->is_string()) {
      return TensorError(file, name, "missing or non-string \"dtype\"");
    }
    JAMBA_ASSIGN_OR_RETURN(info.dtype, ParseDType(dtype_it->get<std::string>(), file, name));
    const auto shape_it = entry.find("shape");
    if (shape_it == entry.end() || !shape_it->is_array()) {
      return TensorError(file, name, "missing or non-array \"shape\"");
    }
    uint64_t elements = 1;
    bool overflow = false;
    for (const Json& dim : *shape_it) {
      if (!dim.is_number_unsigned())
        return TensorError(file, name, "shape entries must be non-negative integers");
      const uint64_t d = dim.get<uint64_t>();
      if (d > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) overflow = true;
      if (d != 0 && elements > std::numeric_limits<uint64_t>::max() / d) overflow = true;
      if (!overflow) elements *= d;
      info.shape.push_back(static_cast<int64_t>(std::min<uint64_t>(d, INT64_MAX)));
    }
    const auto offsets_it = entry.find("data_offsets");
    if (offsets_it == entry.end() || !offsets_it->is_array() || offsets_it->size() != 2 ||
        !(*offsets_it)[0].is_number_unsigned() || !(*offsets_it)[1].is_number_unsigned()) {
      return TensorError(file, name, "\"data_offsets\" must be two non-negative integers");
    }
    info.begin = (*offsets_it)[0].get<uint64_t>();
    info.end = (*offsets_it)[1].get<uint64_t>();
    if (info.begin > info.end) {
      return TensorError(
          file, name, absl::StrCat("data_offsets [", info.begin, ", ", info.end, "] are reversed"));
    }
    if (info.end > data_size) {
      return TensorError(
          file, name,
          absl::StrCat("data_offsets [", info.begin, ", ", info.end,
                       "] lie outside the data section (", data_size, " bytes; file truncated?)"));
    }
    const uint64_t elem_size = kernels::DTypeSize(info.dtype);
    // A byte count past u64 is "too many" too, not the wrapped product.
    if (elements > std::numeric_limits<uint64_t>::max() / elem_size) overflow = true;
    if (overflow || elements * elem_size != info.end - info.begin) {
      return TensorError(
          file, name,
          absl::StrCat("shape needs ",
                       overflow ? std::string("too many") : absl::StrCat(elements * elem_size),
                       " bytes but data_offsets span ", info.end - info.begin));
    }
    header.tensors.push_back(std::move(info));
  }
  // The data section must be exactly covered: no overlaps, no holes, nothing after the last tensor.
  std::vector<const TensorInfo*> by_offset;
  for (const TensorInfo& t : header.tensors) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(), [](const TensorInfo* a, const TensorInfo* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  uint64_t expected = 0;
  for (const TensorInfo* t : by_offset) {
    if (t->begin < expected) {
      return TensorError(file, t->name,
                         absl::StrCat("overlaps the previous tensor (starts at ", t->begin,
                                      ", previous ends at ", expected, ")"));
    }
    if (t->begin > expected) {
      return TensorError(file, t->name,
                         absl::StrCat("leaves a hole of ", t->begin - expected,
                                      " bytes before it (starts at ", t->begin, ")"));
    }
    expected = t->end;
  }
  if (expected != data_size) {
    return HeaderError(file,
                       absl::StrCat("tensors cover ", expected, " bytes but the data section has ",
                                    data_size, " (trailing bytes or truncated file)"));
  }
  return header;
}

SafetensorsFile::SafetensorsFile(std::unique_ptr<MappedFile> file, SafetensorsHeader header)
    : file_(std::move(file)), header_(std::move(header)) {
  for (size_t i = 0; i < header_.tensors.size(); ++i) by_name_[header_.tensors[i].name] = i;
}

absl::StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::Open(const std::string& path) {
  JAMBA_ASSIGN_OR_RETURN(auto file, MappedFile::Open(path));
  const std::string_view bytes(reinterpret_cast<const char*>(file->data()), file->size());
  JAMBA_ASSIGN_OR_RETURN(auto header, ParseSafetensorsHeader(bytes, path));
  return std::unique_ptr<SafetensorsFile>(new SafetensorsFile(std::move(file), std::move(header)));
}

const TensorInfo* SafetensorsFile::Find(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &header_.tensors[it->second];
}

absl::Status WriteSafetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                              const std::map<std::string, std::string>& metadata) {
  Json header = Json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const TensorToWrite& t : tensors) {
    int64_t elements = 1;
    for (int64_t d : t.shape) elements *= d;
    if (static_cast<uint64_t>(elements) * kernels::DTypeSize(t.dtype) != t.data.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("tensor '", t.name, "': ", t.data.size(), " bytes do not match its shape"));
    }
    header[t.name] = {{"dtype", std::string(kernels::DTypeName(t.dtype))},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + t.data.size()}}};
    offset += t.data.size();
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return absl::PermissionDeniedError(absl::StrCat(path, ": cannot create"));
  uint64_t len = text.size();
  char len_bytes[8];
  for (int i = 0; i < 8; ++i) len_bytes[i] = static_cast<char>((len >> (8 * i)) & 0xff);
  out.write(len_bytes, 8);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  for (const TensorToWrite& t : tensors)
    out.write(t.data.data(), static_cast<std::streamsize>(t.data.size()));
  out.close();
  if (!out) return absl::DataLossError(absl::StrCat(path, ": write failed"));
  return absl::OkStatus();
}

}  // namespace jamba::engine
