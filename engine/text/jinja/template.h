// A Jinja interpreter for Hugging Face chat templates: parse a template once, render it for many
// requests (concurrently; Render is const and thread-safe).
//
//   absl::StatusOr<Template> t = Template::Parse(chat_template);
//   std::map<std::string, Value> vars = {
//       {"messages", FromJson(request_messages, /*user_data=*/true)},
//       {"bos_token", Value::String("<|startoftext|>", /*user_data=*/false)},
//       {"add_generation_prompt", Value::Bool(true)}};
//   absl::StatusOr<RenderOutput> out = t->Render(vars);
//
// Semantics are those of transformers' apply_chat_template (Jinja2 with trim_blocks and
// lstrip_blocks) as reproduced by @huggingface/jinja 0.5.x, which the oracle test compares
// against byte for byte. Where the two differ we follow @huggingface/jinja in what a template
// prints (true/false, none prints nothing, lists and dicts print as JSON, tojson separators), and
// Jinja2 where @huggingface/jinja fails or is clearly wrong: string length and indexing count
// code points (not UTF-16 units), == compares lists and dicts by value, % is Python's modulo,
// strip/lstrip/rstrip honour their argument, iterating over undefined yields nothing, and tests
// and strings compare as in Python. Anything unsupported is an error, never different output.
//
// Provenance ("taint"), so that the engine can tokenize user text without recognising special
// tokens (a user who types <|eom|> gets plain text) while the template's own markup gets them:
//   * string literals of the template, its text, and variables made with user_data=false are
//     markup; every string from FromJson(..., true) (keys too) is user data;
//   * concatenation (~, + on strings, join, output of {{ }} and text) keeps each part's flag;
//   * trim/strip/lstrip/rstrip cut the rope and keep the flags of what remains;
//   * every other string transformation (upper, lower, replace, title, capitalize, slicing,
//     indexing, split, format, tojson, string of a list, ...) gives user data if any input
//     string was user data, else markup.
// Adjacent segments with the same flag are merged in the output.
#ifndef JAMBA_ENGINE_TEXT_JINJA_TEMPLATE_H_
#define JAMBA_ENGINE_TEXT_JINJA_TEMPLATE_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engine/text/jinja/value.h"

namespace jamba::engine::jinja {

struct RenderedSegment {
  std::string text;
  bool user_data;
};

struct RenderOutput {
  std::vector<RenderedSegment> segments;  // adjacent segments differ in user_data
  // All segments concatenated.
  std::string Text() const;
};

// Bounds that keep a hostile or buggy template from running away; exceeding one is
// ResourceExhausted.
struct RenderLimits {
  size_t max_output_bytes = 64 << 20;     // the output and any single string
  int64_t max_loop_iterations = 1 << 20;  // all loops of one render together, and range() sizes
  int max_call_depth = 64;                // nested macro calls
};

struct RenderOptions {
  RenderLimits limits;
  // What strftime_now() formats; the current time when unset. Always formatted in UTC.
  std::optional<absl::Time> now;
};

struct Program;

class Template {
 public:
  // Syntax errors and unsupported constructs: InvalidArgument "line L, column C: <what>".
  static absl::StatusOr<Template> Parse(std::string_view source);

  // Runtime errors: InvalidArgument naming the line; raise_exception(msg): InvalidArgument with
  // exactly msg; limits: ResourceExhausted.
  absl::StatusOr<RenderOutput> Render(const std::map<std::string, Value>& variables) const;
  absl::StatusOr<RenderOutput> Render(const std::map<std::string, Value>& variables,
                                      const RenderOptions& options) const;

 private:
  explicit Template(std::shared_ptr<const Program> program) : program_(std::move(program)) {}
  std::shared_ptr<const Program> program_;  // immutable, shared by copies
};

}  // namespace jamba::engine::jinja

#endif  // JAMBA_ENGINE_TEXT_JINJA_TEMPLATE_H_
