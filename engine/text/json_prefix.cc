// JsonObjectPrefix: the JSON grammar (RFC 8259) as a state machine over bytes, with the minimal
// completion of every state.
#include "engine/text/json_prefix.h"

#include <cstring>

namespace jamba::engine {
namespace {

bool IsSpace(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool IsDigit(uint8_t c) { return c >= '0' && c <= '9'; }
bool IsHex(uint8_t c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

}  // namespace

bool JsonObjectPrefix::PushAll(std::string_view text) {
  for (const char c : text) {
    if (!Push(static_cast<uint8_t>(c))) return false;
  }
  return true;
}

bool JsonObjectPrefix::OpenContainer(bool object) {
  if (depth_ >= kMaxDepth) return false;
  if (object) {
    containers_ |= uint32_t{1} << depth_;
  } else {
    containers_ &= ~(uint32_t{1} << depth_);
  }
  ++depth_;
  state_ = object ? State::kKeyOrEnd : State::kValueOrEnd;
  return true;
}

bool JsonObjectPrefix::CloseContainer(bool object) {
  if (depth_ == 0 || in_object(depth_ - 1) != object) return false;
  --depth_;
  if (depth_ == 0) {
    state_ = State::kDone;
  } else {
    EndValue();
  }
  return true;
}

void JsonObjectPrefix::EndValue() { state_ = State::kAfterValue; }

bool JsonObjectPrefix::PushNumber(uint8_t c) {
  switch (number_) {
    case NumberPart::kSign:
      if (c == '0') {
        number_ = NumberPart::kZero;
        return true;
      }
      if (IsDigit(c)) {
        number_ = NumberPart::kInteger;
        return true;
      }
      return false;
    case NumberPart::kZero:
    case NumberPart::kInteger:
      if (IsDigit(c) && number_ == NumberPart::kInteger) return true;
      if (c == '.') {
        number_ = NumberPart::kDot;
        return true;
      }
      if (c == 'e' || c == 'E') {
        number_ = NumberPart::kExp;
        return true;
      }
      break;
    case NumberPart::kDot:
      if (!IsDigit(c)) return false;
      number_ = NumberPart::kFraction;
      return true;
    case NumberPart::kFraction:
      if (IsDigit(c)) return true;
      if (c == 'e' || c == 'E') {
        number_ = NumberPart::kExp;
        return true;
      }
      break;
    case NumberPart::kExp:
      if (c == '+' || c == '-') {
        number_ = NumberPart::kExpSign;
        return true;
      }
      [[fallthrough]];
    case NumberPart::kExpSign:
      if (!IsDigit(c)) return false;
      number_ = NumberPart::kExponent;
      return true;
    case NumberPart::kExponent:
      if (IsDigit(c)) return true;
      break;
  }
  // The number is complete: the byte belongs to what follows it.
  EndValue();
  --bytes_;
  return Push(c);
}

bool JsonObjectPrefix::Push(uint8_t c) {
  ++bytes_;
  switch (state_) {
    case State::kStart:
      if (IsSpace(c)) return true;
      return c == '{' && OpenContainer(/*object=*/true);
    case State::kKeyOrEnd:
    case State::kKey:
      if (IsSpace(c)) return true;
      if (c == '"') {
        string_is_key_ = true;
        state_ = State::kString;
        return true;
      }
      return c == '}' && state_ == State::kKeyOrEnd && CloseContainer(/*object=*/true);
    case State::kColon:
      if (IsSpace(c)) return true;
      if (c != ':') return false;
      state_ = State::kValue;
      return true;
    case State::kValue:
    case State::kValueOrEnd:
      if (IsSpace(c)) return true;
      switch (c) {
        case '"':
          string_is_key_ = false;
          state_ = State::kString;
          return true;
        case '{':
          return OpenContainer(/*object=*/true);
        case '[':
          return OpenContainer(/*object=*/false);
        case ']':
          return state_ == State::kValueOrEnd && CloseContainer(/*object=*/false);
        case '-':
          state_ = State::kNumber;
          number_ = NumberPart::kSign;
          return true;
        case 't':
          literal_ = "rue";
          state_ = State::kLiteral;
          return true;
        case 'f':
          literal_ = "alse";
          state_ = State::kLiteral;
          return true;
        case 'n':
          literal_ = "ull";
          state_ = State::kLiteral;
          return true;
        default:
          if (!IsDigit(c)) return false;
          state_ = State::kNumber;
          number_ = c == '0' ? NumberPart::kZero : NumberPart::kInteger;
          return true;
      }
    case State::kAfterValue:
      if (IsSpace(c)) return true;
      if (c == ',') {
        state_ = in_object(depth_ - 1) ? State::kKey : State::kValue;
        return true;
      }
      if (c == '}') return CloseContainer(/*object=*/true);
      if (c == ']') return CloseContainer(/*object=*/false);
      return false;
    case State::kString:
      if (c == '"') {
        if (string_is_key_) {
          state_ = State::kColon;
        } else {
          EndValue();
        }
        return true;
      }
      if (c == '\\') {
        state_ = State::kEscape;
        return true;
      }
      return c >= 0x20;
    case State::kEscape:
      if (c == 'u') {
        state_ = State::kUnicode;
        unicode_left_ = 4;
        return true;
      }
      if (std::strchr("\"\\/bfnrt", c) == nullptr || c == 0) return false;
      state_ = State::kString;
      return true;
    case State::kUnicode:
      if (!IsHex(c)) return false;
      if (--unicode_left_ == 0) state_ = State::kString;
      return true;
    case State::kNumber:
      return PushNumber(c);
    case State::kLiteral:
      if (c != static_cast<uint8_t>(*literal_)) return false;
      if (*++literal_ == '\0') EndValue();
      return true;
    case State::kDone:
      return false;
  }
  return false;
}

size_t JsonObjectPrefix::MinCompletion() const {
  const size_t closes = static_cast<size_t>(depth_);
  const size_t after_key = string_is_key_ ? 2 : 0;  // ':' and a one-byte value
  switch (state_) {
    case State::kStart:
      return 2;
    case State::kKeyOrEnd:
    case State::kValueOrEnd:
    case State::kAfterValue:
      return closes;
    case State::kKey:
      return 4 + closes;  // "":0
    case State::kColon:
      return 2 + closes;
    case State::kValue:
      return 1 + closes;
    case State::kString:
      return 1 + after_key + closes;
    case State::kEscape:
      return 2 + after_key + closes;
    case State::kUnicode:
      return unicode_left_ + 1 + after_key + closes;
    case State::kNumber: {
      const bool needs_digit = number_ == NumberPart::kSign || number_ == NumberPart::kDot ||
                               number_ == NumberPart::kExp || number_ == NumberPart::kExpSign;
      return (needs_digit ? 1 : 0) + closes;
    }
    case State::kLiteral:
      return std::strlen(literal_) + closes;
    case State::kDone:
      return 0;
  }
  return 0;
}

}  // namespace jamba::engine
