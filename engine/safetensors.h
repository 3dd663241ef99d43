// Reader for the safetensors format: 8-byte little-endian header length, a JSON header naming
// every tensor's dtype, shape and byte range, then the data. Every malformed file is rejected with
// an error naming the file and tensor; nothing is read outside the file.
#ifndef JAMBA_ENGINE_SAFETENSORS_H_
#define JAMBA_ENGINE_SAFETENSORS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/mapped_file.h"
#include "kernels/dtype.h"

namespace jamba::engine {

// Upper bound on the JSON header, as in the reference implementation (100 MB).
inline constexpr uint64_t kMaxSafetensorsHeaderBytes = 100'000'000;

struct TensorInfo {
  std::string name;
  kernels::DType dtype = kernels::DType::kF32;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte range relative to the start of the data section
  uint64_t end = 0;

  int64_t num_elements() const;
};

struct SafetensorsHeader {
  uint64_t data_offset = 0;         // where the data section starts in the file
  std::vector<TensorInfo> tensors;  // in file order
  std::map<std::string, std::string> metadata;
};

// Parses and validates the header of a safetensors file given its full contents. `file_name` is
// used in error messages only. Exposed for tests and the fuzzer.
absl::StatusOr<SafetensorsHeader> ParseSafetensorsHeader(std::string_view file_bytes,
                                                         const std::string& file_name);

// A memory-mapped, validated safetensors file.
class SafetensorsFile {
 public:
  static absl::StatusOr<std::unique_ptr<SafetensorsFile>> Open(const std::string& path);

  const std::string& path() const { return file_->path(); }
  // See MappedFile::Prefault and MappedFile::ReleasePages.
  void Prefault() const { file_->Prefault(); }
  void ReleasePages() const { file_->ReleasePages(); }
  const MappedFile& mapped() const { return *file_; }
  const std::vector<TensorInfo>& tensors() const { return header_.tensors; }
  const std::map<std::string, std::string>& metadata() const { return header_.metadata; }
  const TensorInfo* Find(const std::string& name) const;
  // The tensor's bytes inside the map (valid while this object lives).
  const void* Data(const TensorInfo& tensor) const {
    return file_->data() + header_.data_offset + tensor.begin;
  }

 private:
  SafetensorsFile(std::unique_ptr<MappedFile> file, SafetensorsHeader header);

  std::unique_ptr<MappedFile> file_;
  SafetensorsHeader header_;
  std::map<std::string, size_t> by_name_;
};

// A tensor to write: `data` holds num_elements * DTypeSize(dtype) bytes, little-endian.
struct TensorToWrite {
  std::string name;
  kernels::DType dtype = kernels::DType::kF32;
  std::vector<int64_t> shape;
  std::string data;
};

// Writes a safetensors file (header padded to 8 bytes, tensors in the given order, contiguous).
absl::Status WriteSafetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                              const std::map<std::string, std::string>& metadata = {});

}  // namespace jamba::engine

#endif  // JAMBA_ENGINE_SAFETENSORS_H_
