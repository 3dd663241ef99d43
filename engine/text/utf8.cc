// UTF-8 rules of RFC 3629, table 3-7 of the Unicode standard.
#include "engine/text/utf8.h"

#include <cstdint>

namespace jamba::engine {
namespace {

// Bytes in the sequence a lead byte starts; 0 if it cannot start one.
int SequenceLength(uint8_t lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) return 2;
  if (lead >= 0xE0 && lead <= 0xEF) return 3;
  if (lead >= 0xF0 && lead <= 0xF4) return 4;
  return 0;
}

// Whether `byte` may follow `lead` at position `index` (1..3) of a sequence. The second byte's
// range depends on the lead, which excludes overlong forms, surrogates and values past U+10FFFF.
bool ValidContinuation(uint8_t lead, int index, uint8_t byte) {
  if (index == 1) {
    switch (lead) {
      case 0xE0:
        return byte >= 0xA0 && byte <= 0xBF;
      case 0xED:
        return byte >= 0x80 && byte <= 0x9F;
      case 0xF0:
        return byte >= 0x90 && byte <= 0xBF;
      case 0xF4:
        return byte >= 0x80 && byte <= 0x8F;
      default:
        break;
    }
  }
  return byte >= 0x80 && byte <= 0xBF;
}

enum class SequenceCheck { kValid, kInvalid, kIncomplete };

// Checks the sequence starting at bytes[pos]; `length` receives its length when valid.
SequenceCheck CheckSequence(std::string_view bytes, size_t pos, int& length) {
  const auto lead = static_cast<uint8_t>(bytes[pos]);
  length = SequenceLength(lead);
  if (length == 0) return SequenceCheck::kInvalid;
  for (int i = 1; i < length; ++i) {
    if (pos + i >= bytes.size()) return SequenceCheck::kIncomplete;
    if (!ValidContinuation(lead, i, static_cast<uint8_t>(bytes[pos + i]))) {
      return SequenceCheck::kInvalid;
    }
  }
  return SequenceCheck::kValid;
}

}  // namespace

size_t FindInvalidUtf8(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    int length = 0;
    if (CheckSequence(text, pos, length) != SequenceCheck::kValid) return pos;
    pos += length;
  }
  return std::string_view::npos;
}

bool IsValidUtf8(std::string_view text) { return FindInvalidUtf8(text) == std::string_view::npos; }

size_t AppendRepairedUtf8(std::string_view bytes, bool end_of_input, std::string& out) {
  size_t pos = 0;
  while (pos < bytes.size()) {
    int length = 0;
    const SequenceCheck check = CheckSequence(bytes, pos, length);
    if (check == SequenceCheck::kValid) {
      out.append(bytes.data() + pos, length);
      pos += length;
    } else if (check == SequenceCheck::kIncomplete && !end_of_input) {
      break;
    } else {
      out += kReplacementCharacter;
      ++pos;
    }
  }
  return pos;
}

}  // namespace jamba::engine
