// libFuzzer target: arbitrary bytes as a whole safetensors file through ParseSafetensorsHeader.
// Every input must give either an error with a DataLoss/Unimplemented code, or a header whose
// tensors exactly tile the data section with byte sizes that match their dtype and shape, so
// SafetensorsFile::Data can never point outside the file. Every accepted tensor byte is read,
// so AddressSanitizer checks the ranges against the input buffer.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "engine/safetensors.h"
#include "kernels/dtype.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const auto header = jamba::engine::ParseSafetensorsHeader(bytes, "fuzz.safetensors");
  if (!header.ok()) {
    const absl::StatusCode code = header.status().code();
    if (code != absl::StatusCode::kDataLoss && code != absl::StatusCode::kUnimplemented) abort();
    if (header.status().message().find("fuzz.safetensors") == std::string_view::npos) abort();
    return 0;
  }
  if (header->data_offset < 8 || header->data_offset > size) abort();
  uint64_t covered = 0;
  unsigned checksum = 0;
  for (const jamba::engine::TensorInfo& t : header->tensors) {
    if (t.begin > t.end || t.end > size - header->data_offset) abort();
    // Validated sizes: the element count cannot overflow and matches the byte range.
    const uint64_t bytes_needed =
        static_cast<uint64_t>(t.num_elements()) * jamba::kernels::DTypeSize(t.dtype);
    if (bytes_needed != t.end - t.begin) abort();
    covered += t.end - t.begin;
    for (uint64_t i = t.begin; i < t.end; ++i) checksum += data[header->data_offset + i];
  }
  if (header->data_offset + covered != size) abort();
  for (const auto& [key, value] : header->metadata) checksum += key.size() + value.size();
  __asm__ volatile("" : : "r"(checksum) : "memory");  // keeps the reads from being optimised away
  return 0;
}
