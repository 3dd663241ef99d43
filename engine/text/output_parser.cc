// OutputParser: a small state machine over the streamed text (answer, reasoning, tool block), and
// the JSON of a finished tool block.
#include "engine/text/output_parser.h"

#include <algorithm>

#include "nlohmann/json.hpp"

namespace jamba::engine {
namespace {

constexpr std::string_view kThinkOpen = "<think>";
constexpr std::string_view kThinkClose = "</think>";

// The length of the longest suffix of `text` that is a proper prefix of one of `tags`: text that
// may still become a tag once more arrives.
size_t PartialTagSuffix(std::string_view text, std::initializer_list<std::string_view> tags) {
  size_t keep = 0;
  for (std::string_view tag : tags) {
    if (tag.empty()) continue;
    for (size_t n = std::min(text.size(), tag.size() - 1); n > keep; --n) {
      if (text.substr(text.size() - n) == tag.substr(0, n)) {
        keep = n;
        break;
      }
    }
  }
  return keep;
}

bool IsBlank(char c) { return c == '\n' || c == ' ' || c == '\t' || c == '\r'; }

}  // namespace

OutputParser::OutputParser(const OutputParserOptions& options) : options_(options) {
  switch (options.tool_calls) {
    case ToolCallFormat::kJamba:
      open_tool_tag_ = "<tool_calls>";
      close_tool_tag_ = "</tool_calls>";
      break;
    case ToolCallFormat::kHermes:
      open_tool_tag_ = "<tool_call>";
      close_tool_tag_ = "</tool_call>";
      break;
    case ToolCallFormat::kNone:
      break;
  }
  if (options.reasoning && options.starts_in_reasoning) mode_ = Mode::kReasoning;
}

bool OutputParser::EndsInsideReasoning(std::string_view rendered) {
  const size_t open = rendered.rfind(kThinkOpen);
  if (open == std::string_view::npos) return false;
  const size_t close = rendered.rfind(kThinkClose);
  return close == std::string_view::npos || close < open;
}

OutputParser::Delta OutputParser::Push(std::string_view text) {
  buffer_.append(text);
  Delta out;
  Drain(/*final=*/false, out);
  return out;
}

OutputParser::Delta OutputParser::Finish() {
  Delta out;
  Drain(/*final=*/true, out);
  return out;
}

void OutputParser::Drain(bool final, Delta& out) {
  const std::string_view think_open = options_.reasoning ? kThinkOpen : std::string_view();
  for (;;) {
    switch (mode_) {
      case Mode::kContent: {
        size_t at = std::string::npos;
        std::string_view tag;
        for (std::string_view candidate : {think_open, std::string_view(open_tool_tag_)}) {
          if (candidate.empty()) continue;
          const size_t found = buffer_.find(candidate);
          if (found < at) {
            at = found;
            tag = candidate;
          }
        }
        if (at != std::string::npos) {
          EmitContent(std::string_view(buffer_).substr(0, at), out);
          buffer_.erase(0, at + tag.size());
          mode_ = tag == kThinkOpen ? Mode::kReasoning : Mode::kToolBlock;
          continue;
        }
        const size_t keep =
            final ? 0 : PartialTagSuffix(buffer_, {think_open, std::string_view(open_tool_tag_)});
        EmitContent(std::string_view(buffer_).substr(0, buffer_.size() - keep), out);
        buffer_.erase(0, buffer_.size() - keep);
        return;
      }
      case Mode::kReasoning: {
        const size_t at = buffer_.find(kThinkClose);
        if (at != std::string::npos) {
          EmitReasoning(std::string_view(buffer_).substr(0, at), out);
          reasoning_newlines_.clear();  // the newlines before </think> belong to the markup
          buffer_.erase(0, at + kThinkClose.size());
          mode_ = Mode::kContent;
          continue;
        }
        const size_t keep = final ? 0 : PartialTagSuffix(buffer_, {kThinkClose});
        EmitReasoning(std::string_view(buffer_).substr(0, buffer_.size() - keep), out);
        buffer_.erase(0, buffer_.size() - keep);
        return;
      }
      case Mode::kToolBlock: {
        const size_t at = buffer_.find(close_tool_tag_);
        if (at != std::string::npos) {
          const std::string body = buffer_.substr(0, at);
          buffer_.erase(0, at + close_tool_tag_.size());
          mode_ = Mode::kContent;
          CloseToolBlock(body, out);
          continue;
        }
        if (final) {
          // The completion ended inside a tool block: what the model wrote is the answer.
          malformed_tool_call_ = true;
          const std::string text = open_tool_tag_ + buffer_;
          buffer_.clear();
          mode_ = Mode::kContent;
          EmitContent(text, out);
        }
        return;
      }
    }
  }
}

void OutputParser::EmitContent(std::string_view text, Delta& out) {
  if (!content_started_) {
    while (!text.empty() && IsBlank(text.front())) text.remove_prefix(1);
    if (text.empty()) return;
    content_started_ = true;
  }
  out.content.append(text);
}

void OutputParser::EmitReasoning(std::string_view text, Delta& out) {
  if (!reasoning_started_) {
    while (!text.empty() && text.front() == '\n') text.remove_prefix(1);
    if (text.empty()) return;
    reasoning_started_ = true;
  }
  // Trailing newlines wait: if </think> follows they are markup, otherwise they are reasoning.
  size_t end = text.size();
  while (end > 0 && text[end - 1] == '\n') --end;
  if (end == 0) {
    reasoning_newlines_.append(text);
    return;
  }
  out.reasoning.append(reasoning_newlines_);
  reasoning_newlines_.clear();
  out.reasoning.append(text.substr(0, end));
  reasoning_newlines_.append(text.substr(end));
}

void OutputParser::CloseToolBlock(std::string_view body, Delta& out) {
  const nlohmann::json json = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  std::vector<ParsedToolCall> calls;
  bool valid = !json.is_discarded() && (json.is_array() || json.is_object());
  if (valid) {
    const nlohmann::json list = json.is_array() ? json : nlohmann::json::array({json});
    for (const nlohmann::json& call : list) {
      if (!call.is_object() || !call.contains("name") || !call["name"].is_string()) {
        valid = false;
        break;
      }
      ParsedToolCall parsed;
      parsed.name = call["name"].get<std::string>();
      const auto arguments = call.find("arguments");
      if (arguments == call.end() || arguments->is_null()) {
        parsed.arguments = "{}";
      } else if (arguments->is_string()) {
        parsed.arguments = arguments->get<std::string>();
      } else if (arguments->is_object()) {
        parsed.arguments =
            arguments->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      } else {
        valid = false;
        break;
      }
      calls.push_back(std::move(parsed));
    }
  }
  if (!valid || calls.empty()) {
    malformed_tool_call_ = true;
    EmitContent(open_tool_tag_ + std::string(body) + close_tool_tag_, out);
    return;
  }
  for (ParsedToolCall& call : calls) out.tool_calls.push_back(std::move(call));
}

}  // namespace jamba::engine
