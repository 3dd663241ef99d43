// Tests of engine/text/output_parser: reasoning, Jamba and Hermes tool calls, text that only
// looks like a tag, malformed blocks, and the same result however the text is cut into chunks.
#include "engine/text/output_parser.h"

#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace jamba::engine {
namespace {

struct Parsed {
  std::string content;
  std::string reasoning;
  std::vector<ParsedToolCall> calls;
  bool malformed = false;
};

// Pushes `text` in pieces cut at `cuts` (byte offsets), then finishes.
Parsed Parse(const OutputParserOptions& options, const std::string& text,
             std::vector<size_t> cuts = {}) {
  OutputParser parser(options);
  Parsed out;
  auto take = [&](OutputParser::Delta delta) {
    out.content += delta.content;
    out.reasoning += delta.reasoning;
    for (auto& call : delta.tool_calls) out.calls.push_back(call);
  };
  size_t begin = 0;
  cuts.push_back(text.size());
  for (size_t cut : cuts) {
    take(parser.Push(text.substr(begin, cut - begin)));
    begin = cut;
  }
  take(parser.Finish());
  out.malformed = parser.malformed_tool_call();
  return out;
}

OutputParserOptions Options(ToolCallFormat tools, bool reasoning, bool starts_inside = false) {
  OutputParserOptions options;
  options.tool_calls = tools;
  options.reasoning = reasoning;
  options.starts_in_reasoning = starts_inside;
  return options;
}

TEST(OutputParserTest, ReasoningIsSeparatedFromTheAnswer) {
  const Parsed parsed = Parse(Options(ToolCallFormat::kNone, true),
                              "<think>\nFirst, 2+2 is 4.\nSo: 4.\n</think>\n\nThe answer is 4.");
  EXPECT_EQ(parsed.reasoning, "First, 2+2 is 4.\nSo: 4.");
  EXPECT_EQ(parsed.content, "The answer is 4.");
  // The prompt opened the block: the completion starts inside it.
  const Parsed inside =
      Parse(Options(ToolCallFormat::kNone, true, /*starts_inside=*/true), "hmm\n</think>\n\nok");
  EXPECT_EQ(inside.reasoning, "hmm");
  EXPECT_EQ(inside.content, "ok");
  // Cut off while thinking (max_tokens): all of it is reasoning.
  const Parsed cut = Parse(Options(ToolCallFormat::kNone, true), "<think>\nstill going\n");
  EXPECT_EQ(cut.reasoning, "still going");
  EXPECT_EQ(cut.content, "");
}

TEST(OutputParserTest, JambaToolCallsAreParsedFromTheirJsonList) {
  const Parsed parsed =
      Parse(Options(ToolCallFormat::kJamba, false),
            "Let me look.<tool_calls>[\n    {\"name\": \"weather\", \"arguments\": {\"city\": "
            "\"Paris\", \"days\": 2}},\n    {\"name\": \"time\", \"arguments\": \"{}\"}\n]"
            "</tool_calls>");
  EXPECT_EQ(parsed.content, "Let me look.");
  ASSERT_EQ(parsed.calls.size(), 2u);
  EXPECT_EQ(parsed.calls[0].name, "weather");
  EXPECT_EQ(parsed.calls[0].arguments, R"({"city":"Paris","days":2})");
  EXPECT_EQ(parsed.calls[1].name, "time");
  EXPECT_EQ(parsed.calls[1].arguments, "{}");
  EXPECT_FALSE(parsed.malformed);
}

TEST(OutputParserTest, HermesBlocksAreOneCallEach) {
  const Parsed parsed = Parse(
      Options(ToolCallFormat::kHermes, true),
      "<think>\nNeed weather.\n</think>\n\n<tool_call>\n{\"name\": \"weather\", \"arguments\": "
      "{\"city\": \"Oslo\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"news\"}\n</tool_call>");
  EXPECT_EQ(parsed.reasoning, "Need weather.");
  EXPECT_EQ(parsed.content, "");
  ASSERT_EQ(parsed.calls.size(), 2u);
  EXPECT_EQ(parsed.calls[0].arguments, R"({"city":"Oslo"})");
  EXPECT_EQ(parsed.calls[1].name, "news");
  EXPECT_EQ(parsed.calls[1].arguments, "{}");
}

TEST(OutputParserTest, MalformedOrUnfinishedBlocksComeBackAsTextWithAFlag) {
  const Parsed broken =
      Parse(Options(ToolCallFormat::kHermes, false),
            "Sure.<tool_call>\n{\"name\": \"weather\", \"arguments\": {\"city\"}\n"
            "</tool_call>");
  EXPECT_TRUE(broken.calls.empty());
  EXPECT_TRUE(broken.malformed);
  EXPECT_EQ(broken.content,
            "Sure.<tool_call>\n{\"name\": \"weather\", \"arguments\": {\"city\"}\n</tool_call>");
  const Parsed unfinished =
      Parse(Options(ToolCallFormat::kJamba, false), "<tool_calls>[{\"name\": \"wea");
  EXPECT_TRUE(unfinished.malformed);
  EXPECT_EQ(unfinished.content, "<tool_calls>[{\"name\": \"wea");
  const Parsed nameless = Parse(Options(ToolCallFormat::kJamba, false),
                                "<tool_calls>[{\"arguments\": {}}]</tool_calls>");
  EXPECT_TRUE(nameless.malformed);
  EXPECT_TRUE(nameless.calls.empty());
}

TEST(OutputParserTest, TextThatOnlyLooksLikeATagIsAnswerText) {
  const Parsed parsed =
      Parse(Options(ToolCallFormat::kHermes, true), "a < b, <thinking> and <tool> are fine <");
  EXPECT_EQ(parsed.content, "a < b, <thinking> and <tool> are fine <");
  EXPECT_TRUE(parsed.calls.empty());
  // Without a format, tool markup is text.
  const Parsed raw = Parse(Options(ToolCallFormat::kNone, false),
                           "<tool_call>{\"name\": \"x\"}</tool_call><think>y</think>");
  EXPECT_EQ(raw.content, "<tool_call>{\"name\": \"x\"}</tool_call><think>y</think>");
}

TEST(OutputParserTest, AnyCutIntoChunksGivesTheSameResult) {
  const std::string text =
      "<think>\nplan: call it\n</think>\n\nChecking.<tool_call>\n{\"name\": \"f\", "
      "\"arguments\": {\"q\": \"<x>\"}}\n</tool_call> done </think> <tool_call";
  const OutputParserOptions options = Options(ToolCallFormat::kHermes, true);
  const Parsed whole = Parse(options, text);
  EXPECT_EQ(whole.reasoning, "plan: call it");
  ASSERT_EQ(whole.calls.size(), 1u);
  EXPECT_EQ(whole.calls[0].arguments, R"({"q":"<x>"})");
  std::mt19937 rng(5);
  for (int trial = 0; trial < 300; ++trial) {
    std::vector<size_t> cuts;
    for (size_t at = 1; at < text.size(); ++at) {
      if (rng() % 4 == 0) cuts.push_back(at);
    }
    const Parsed pieces = Parse(options, text, cuts);
    EXPECT_EQ(pieces.content, whole.content);
    EXPECT_EQ(pieces.reasoning, whole.reasoning);
    ASSERT_EQ(pieces.calls.size(), 1u);
    EXPECT_EQ(pieces.calls[0].arguments, whole.calls[0].arguments);
    EXPECT_EQ(pieces.malformed, whole.malformed);
  }
}

TEST(OutputParserTest, APromptEndingInAnOpenThinkBlockStartsInside) {
  EXPECT_TRUE(OutputParser::EndsInsideReasoning("<|im_start|>assistant\n<think>\n"));
  EXPECT_FALSE(OutputParser::EndsInsideReasoning("<think>\n\n</think>\n\n"));
  EXPECT_FALSE(OutputParser::EndsInsideReasoning("no tags"));
}

}  // namespace
}  // namespace jamba::engine
