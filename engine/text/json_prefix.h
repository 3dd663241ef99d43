// JsonObjectPrefix: a byte-by-byte recognizer of a JSON object being written, that knows the
// fewest bytes that would still complete it. Constrained decoding uses it to let a model write a
// tool call's arguments freely while never leaving valid JSON or a length budget.
#ifndef JAMBA_ENGINE_TEXT_JSON_PREFIX_H_
#define JAMBA_ENGINE_TEXT_JSON_PREFIX_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace jamba::engine {

// Plain data (copied once per candidate token while masking a vocabulary), so no heap state:
// nesting is held in a fixed bit stack.
class JsonObjectPrefix {
 public:
  static constexpr int kMaxDepth = 32;

  // Feeds one byte; false (and the state unspecified) when the byte cannot continue the object.
  bool Push(uint8_t byte);
  // Feeds every byte of `text`; false when one cannot.
  bool PushAll(std::string_view text);

  // The whole object has been written (its closing brace was the last byte fed).
  bool complete() const { return state_ == State::kDone; }
  // The fewest bytes that complete the object from here.
  size_t MinCompletion() const;
  size_t bytes() const { return bytes_; }

 private:
  enum class State : uint8_t {
    kStart,       // before the opening brace (whitespace allowed)
    kKeyOrEnd,    // after '{': a key or '}'
    kKey,         // after ',' in an object: a key
    kColon,       // after a key
    kValue,       // after ':' or ',' in an array: a value
    kValueOrEnd,  // after '[': a value or ']'
    kAfterValue,  // after a value: ',' or the container's end
    kString,      // inside a string
    kEscape,      // after a backslash in a string
    kUnicode,     // inside \uXXXX (unicode_left_ digits to go)
    kNumber,      // inside a number
    kLiteral,     // inside true, false or null
    kDone,        // the object is complete
  };
  // Number sub-states, so that "-", "1." and "1e" are not taken for complete numbers.
  enum class NumberPart : uint8_t {
    kSign,
    kZero,
    kInteger,
    kDot,
    kFraction,
    kExp,
    kExpSign,
    kExponent
  };

  bool in_object(int level) const { return (containers_ >> level) & 1; }
  bool OpenContainer(bool object);
  bool CloseContainer(bool object);
  void EndValue();  // a value (string, number, literal, container) has ended
  bool PushNumber(uint8_t byte);

  State state_ = State::kStart;
  bool string_is_key_ = false;
  NumberPart number_ = NumberPart::kSign;
  uint8_t unicode_left_ = 0;
  const char* literal_ = nullptr;  // the rest of true/false/null to come
  int depth_ = 0;                  // open containers
  uint32_t containers_ = 0;        // bit i: container i is an object (else an array)
  size_t bytes_ = 0;
};

}  // namespace jamba::engine

#endif  // JAMBA_ENGINE_TEXT_JSON_PREFIX_H_
