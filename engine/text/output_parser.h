// OutputParser: splits a chat completion's text, as it streams, into the answer, the reasoning a
// template's <think> block holds, and the tool calls its markup writes (Jamba's <tool_calls> JSON
// list or Hermes' <tool_call> blocks). Text that might begin a tag is held back until it is known;
// a tool call is returned once its block is complete. A block whose JSON does not parse comes back
// as answer text with malformed_tool_call() set: never an error.
#ifndef JAMBA_ENGINE_TEXT_OUTPUT_PARSER_H_
#define JAMBA_ENGINE_TEXT_OUTPUT_PARSER_H_

#include <string>
#include <string_view>
#include <vector>

#include "engine/text/chat_template.h"

namespace jamba::engine {

struct ParsedToolCall {
  std::string name;
  std::string arguments;  // a JSON object, compact
};

struct OutputParserOptions {
  ToolCallFormat tool_calls = ToolCallFormat::kNone;  // kNone: tool markup is answer text
  bool reasoning = false;                             // <think>...</think> is reasoning
  bool starts_in_reasoning = false;                   // the prompt ended inside a <think> block
};

class OutputParser {
 public:
  struct Delta {
    std::string content;
    std::string reasoning;
    std::vector<ParsedToolCall> tool_calls;
    bool empty() const { return content.empty() && reasoning.empty() && tool_calls.empty(); }
  };

  explicit OutputParser(const OutputParserOptions& options);

  // More of the completion's text (whole UTF-8 characters); returns what is now certain.
  Delta Push(std::string_view text);
  // The end of the completion: everything held back (an unfinished tool block as answer text).
  Delta Finish();

  bool malformed_tool_call() const { return malformed_tool_call_; }
  // Whether the prompt of `rendered` text leaves the completion inside a <think> block.
  static bool EndsInsideReasoning(std::string_view rendered);

 private:
  enum class Mode { kContent, kReasoning, kToolBlock };
  void Drain(bool final, Delta& out);
  // Appends answer text, dropping the blank lines that separate tags from it.
  void EmitContent(std::string_view text, Delta& out);
  void EmitReasoning(std::string_view text, Delta& out);
  void CloseToolBlock(std::string_view body, Delta& out);

  const OutputParserOptions options_;
  std::string open_tool_tag_, close_tool_tag_;
  Mode mode_ = Mode::kContent;
  std::string buffer_;            // text not yet classified
  bool content_started_ = false;  // a non-blank answer character was emitted
  bool reasoning_started_ = false;
  std::string reasoning_newlines_;  // newlines held back at the end of the reasoning
  bool malformed_tool_call_ = false;
};

}  // namespace jamba::engine

#endif  // JAMBA_ENGINE_TEXT_OUTPUT_PARSER_H_
