// Test helper: where each section of a plaintext sealed session file lies, so a test can damage
// exactly one section (see docs/session-format.md for the container).
#ifndef JAMBA_TESTS_SDK_SEALED_LAYOUT_H_
#define JAMBA_TESTS_SDK_SEALED_LAYOUT_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "sdk/store/sealed_file.h"

namespace jamba::testing {

struct SectionSpan {
  std::string tag;  // e.g. "KEYS"
  uint32_t index = 0;
  size_t header = 0;   // offset of the section header
  size_t payload = 0;  // offset of the payload
  size_t length = 0;   // payload bytes
  size_t crc = 0;      // offset of the section checksum

  std::string name() const { return tag + " #" + std::to_string(index); }
  // A byte that belongs to this section alone: mid-payload, or the checksum of an empty section.
  size_t InteriorByte() const { return length > 0 ? payload + length / 2 : crc; }
};

inline uint64_t ReadLittleEndian(const std::string& bytes, size_t at, int width) {
  uint64_t v = 0;
  for (int i = width - 1; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(bytes[at + i]);
  return v;
}

// Sections of a plaintext sealed file, in order, END included. Stops at the first section that
// does not fit (the file is damaged).
inline std::vector<SectionSpan> SealedLayout(const std::string& file) {
  constexpr size_t kFileHeader = 24;
  constexpr size_t kSectionHeader = 16;
  std::vector<SectionSpan> spans;
  size_t pos = kFileHeader;
  while (pos + kSectionHeader + 4 <= file.size()) {
    SectionSpan s;
    s.header = pos;
    s.tag = sdk::SectionTagName(static_cast<uint32_t>(ReadLittleEndian(file, pos, 4)));
    s.index = static_cast<uint32_t>(ReadLittleEndian(file, pos + 4, 4));
    s.length = ReadLittleEndian(file, pos + 8, 8);
    s.payload = pos + kSectionHeader;
    if (s.length > file.size() - s.payload - 4) break;
    s.crc = s.payload + s.length;
    spans.push_back(s);
    pos = s.crc + 4;
  }
  return spans;
}

}  // namespace jamba::testing

#endif  // JAMBA_TESTS_SDK_SEALED_LAYOUT_H_
