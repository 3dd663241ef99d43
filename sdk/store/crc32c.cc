// CRC-32C (Castagnoli). On x86-64 CPUs with SSE4.2 it runs on the crc32 instruction, three
// independent streams at a time (one instruction has a latency of three cycles and a throughput of
// one per cycle, so three streams keep it busy): about 20 GB/s, faster than memory, so checking
// a mapped KV segment costs what reading it once costs. Elsewhere, table-driven slicing by 8
// (about 2 GB/s).
#include "sdk/store/crc32c.h"

#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace jamba::sdk {
namespace {

constexpr uint32_t kPolynomial = 0x82f63b78u;  // reflected Castagnoli

using Tables = std::array<std::array<uint32_t, 256>, 8>;

constexpr Tables MakeTables() {
  Tables t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kPolynomial : c >> 1;
    t[0][i] = c;
  }
  for (uint32_t i = 0; i < 256; ++i) {
    for (int s = 1; s < 8; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xff];
  }
  return t;
}

constexpr Tables kTables = MakeTables();

// The register form (no pre- or post-inversion) over `size` bytes.
uint32_t UpdateTables(uint32_t crc, const unsigned char* p, size_t size) {
  while (size >= 8) {
    uint64_t word;
    std::memcpy(&word, p, 8);
    word ^= crc;
    crc = kTables[7][word & 0xff] ^ kTables[6][(word >> 8) & 0xff] ^
          kTables[5][(word >> 16) & 0xff] ^ kTables[4][(word >> 24) & 0xff] ^
          kTables[3][(word >> 32) & 0xff] ^ kTables[2][(word >> 40) & 0xff] ^
          kTables[1][(word >> 48) & 0xff] ^ kTables[0][word >> 56];
    p += 8;
    size -= 8;
  }
  while (size-- > 0) crc = (crc >> 8) ^ kTables[0][(crc ^ *p++) & 0xff];
  return crc;
}

#if defined(__x86_64__)

// Bytes each of the three streams covers per round.
constexpr size_t kStreamBytes = 4096;

// The register after kStreamBytes zero bytes, as a function of the register before: linear over
// GF(2), so four tables of 256 entries (one per byte of the register) hold it. Combining the
// streams of one round: crc(A B C) = Shift(Shift(crc(A)) ^ crc0(B)) ^ crc0(C), where crc0 starts
// from a zero register.
struct ShiftTables {
  std::array<std::array<uint32_t, 256>, 4> t;
  uint32_t operator()(uint32_t crc) const {
    return t[0][crc & 0xff] ^ t[1][(crc >> 8) & 0xff] ^ t[2][(crc >> 16) & 0xff] ^ t[3][crc >> 24];
  }
};

ShiftTables MakeShiftTables() {
  // The image of each register bit, then of each byte value by linearity.
  static const unsigned char kZeros[kStreamBytes] = {};
  uint32_t bit_image[32];
  for (int b = 0; b < 32; ++b) bit_image[b] = UpdateTables(uint32_t{1} << b, kZeros, kStreamBytes);
  ShiftTables s;
  for (int byte = 0; byte < 4; ++byte) {
    for (uint32_t v = 0; v < 256; ++v) {
      uint32_t image = 0;
      for (int b = 0; b < 8; ++b) {
        if ((v >> b) & 1) image ^= bit_image[8 * byte + b];
      }
      s.t[static_cast<size_t>(byte)][v] = image;
    }
  }
  return s;
}

__attribute__((target("sse4.2"))) uint32_t UpdateHardware(uint32_t crc, const unsigned char* p,
                                                          size_t size) {
  static const ShiftTables shift = MakeShiftTables();
  uint64_t c0 = crc;
  while (size >= 3 * kStreamBytes) {
    uint64_t c1 = 0, c2 = 0;
    for (size_t i = 0; i < kStreamBytes; i += 8) {
      uint64_t a, b, c;
      std::memcpy(&a, p + i, 8);
      std::memcpy(&b, p + kStreamBytes + i, 8);
      std::memcpy(&c, p + 2 * kStreamBytes + i, 8);
      c0 = _mm_crc32_u64(c0, a);
      c1 = _mm_crc32_u64(c1, b);
      c2 = _mm_crc32_u64(c2, c);
    }
    c0 = shift(shift(static_cast<uint32_t>(c0)) ^ static_cast<uint32_t>(c1)) ^
         static_cast<uint32_t>(c2);
    p += 3 * kStreamBytes;
    size -= 3 * kStreamBytes;
  }
  while (size >= 8) {
    uint64_t word;
    std::memcpy(&word, p, 8);
    c0 = _mm_crc32_u64(c0, word);
    p += 8;
    size -= 8;
  }
  uint32_t c = static_cast<uint32_t>(c0);
  while (size-- > 0) c = _mm_crc32_u8(c, *p++);
  return c;
}

bool HasHardwareCrc() {
  static const bool has = __builtin_cpu_supports("sse4.2");
  return has;
}

#endif  // __x86_64__

}  // namespace

uint32_t Crc32c(const void* data, size_t size, uint32_t crc) {
  const auto* p = static_cast<const unsigned char*>(data);
#if defined(__x86_64__)
  if (HasHardwareCrc()) return ~UpdateHardware(~crc, p, size);
#endif
  return ~UpdateTables(~crc, p, size);
}

uint32_t Crc32cPortable(const void* data, size_t size, uint32_t crc) {
  return ~UpdateTables(~crc, static_cast<const unsigned char*>(data), size);
}

}  // namespace jamba::sdk
