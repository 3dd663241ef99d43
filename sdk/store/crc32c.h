// CRC-32C (Castagnoli), the checksum of every section of a session file.
#ifndef JAMBA_SDK_STORE_CRC32C_H_
#define JAMBA_SDK_STORE_CRC32C_H_

#include <cstddef>
#include <cstdint>

namespace jamba::sdk {

// Extends `crc` (0 for a fresh checksum) over `size` bytes: on the CPU's crc32 instruction where
// it has one (SSE4.2), else table-driven.
uint32_t Crc32c(const void* data, size_t size, uint32_t crc = 0);
// The table-driven definition alone, for tests that hold the instruction path to it.
uint32_t Crc32cPortable(const void* data, size_t size, uint32_t crc = 0);

}  // namespace jamba::sdk

#endif  // JAMBA_SDK_STORE_CRC32C_H_
