// Range tables (generated, unicode_classes_data.inc) searched by binary search.
#include "engine/text/unicode_classes.h"

#include <algorithm>
#include <iterator>

namespace jamba::engine {
namespace {

struct CodePointRange {
  uint32_t first, last;
};

#include "engine/text/unicode_classes_data.inc"

template <size_t N>
bool InRanges(const CodePointRange (&ranges)[N], uint32_t code_point) {
  const auto* it = std::upper_bound(
      std::begin(ranges), std::end(ranges), code_point,
      [](uint32_t value, const CodePointRange& range) { return value < range.first; });
  return it != std::begin(ranges) && code_point <= std::prev(it)->last;
}

}  // namespace

bool IsWordChar(uint32_t code_point) {
  if (code_point < 0x80) {
    return (code_point >= '0' && code_point <= '9') || (code_point >= 'a' && code_point <= 'z') ||
           (code_point >= 'A' && code_point <= 'Z') || code_point == '_';
  }
  return InRanges(kWordRanges, code_point);
}

bool IsWhiteSpace(uint32_t code_point) { return InRanges(kWhiteSpaceRanges, code_point); }

CodePoint CodePointAt(std::string_view text, size_t pos) {
  const auto byte = [&](size_t i) {
    return static_cast<uint32_t>(static_cast<uint8_t>(text[pos + i]));
  };
  const uint32_t lead = byte(0);
  if (lead < 0x80) return {lead, 1};
  if (lead < 0xE0) return {((lead & 0x1F) << 6) | (byte(1) & 0x3F), 2};
  if (lead < 0xF0) return {((lead & 0x0F) << 12) | ((byte(1) & 0x3F) << 6) | (byte(2) & 0x3F), 3};
  return {
      ((lead & 0x07) << 18) | ((byte(1) & 0x3F) << 12) | ((byte(2) & 0x3F) << 6) | (byte(3) & 0x3F),
      4};
}

CodePoint CodePointBefore(std::string_view text, size_t end) {
  size_t begin = end - 1;
  while (begin > 0 && (static_cast<uint8_t>(text[begin]) & 0xC0) == 0x80) --begin;
  return CodePointAt(text, begin);
}

size_t LeadingWhiteSpace(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    const CodePoint c = CodePointAt(text, pos);
    if (!IsWhiteSpace(c.value)) break;
    pos += c.length;
  }
  return pos;
}

size_t TrailingWhiteSpace(std::string_view text) {
  size_t end = text.size();
  while (end > 0) {
    const CodePoint c = CodePointBefore(text, end);
    if (!IsWhiteSpace(c.value)) break;
    end -= c.length;
  }
  return text.size() - end;
}

}  // namespace jamba::engine
