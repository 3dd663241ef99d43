// ToolCallConstraint: forced markup around a free choice of name and arguments.
#include "engine/text/tool_call_constraint.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/status_macros.h"

namespace jamba::engine {
namespace {

struct Markup {
  std::string opening;     // up to the name's first character
  std::string after_name;  // from the name's end to the arguments
  std::string closing;     // after the arguments
};

// The markup the built-in templates write (engine/text/templates), which the output parser reads.
Markup MarkupOf(ToolCallFormat format) {
  if (format == ToolCallFormat::kJamba) {
    return {"<tool_calls>[\n    {\"name\": \"", "\", \"arguments\": ", "}\n]</tool_calls>"};
  }
  return {"<tool_call>\n{\"name\": \"", "\", \"arguments\": ", "}\n</tool_call>"};
}

bool IsValidToolName(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
  });
}

// The tokens of `text` as they continue other text: encoded after a special piece, which is
// dropped again, so no tokenizer adds a word-start marker in front.
absl::StatusOr<std::vector<int32_t>> ContinuationTokens(const Tokenizer& tokenizer,
                                                        const std::string& text) {
  int32_t anchor = tokenizer.bos_id();
  if (anchor < 0 && !tokenizer.eos_ids().empty()) anchor = tokenizer.eos_ids().front();
  if (anchor < 0) return absl::FailedPreconditionError("the tokenizer has no BOS or EOS token");
  const std::string anchor_text = tokenizer.piece_table().pieces[anchor].bytes;
  const TextSegment segments[] = {{anchor_text, true}, {text, true}};
  JAMBA_ASSIGN_OR_RETURN(std::vector<int32_t> ids, tokenizer.Encode(segments, {}));
  if (ids.empty() || ids.front() != anchor) {
    return absl::InternalError("the tool-call markup did not encode after a special token");
  }
  ids.erase(ids.begin());
  return ids;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ToolCallConstraint>> ToolCallConstraint::Create(
    const Tokenizer& tokenizer, ToolCallFormat format, std::vector<std::string> names,
    int32_t end_of_turn, size_t max_argument_bytes, bool close_reasoning, int64_t max_tokens) {
  if (format == ToolCallFormat::kNone) {
    return absl::FailedPreconditionError(
        "the chat template has no tool-call format, so a tool call cannot be required");
  }
  if (names.empty()) return absl::InvalidArgumentError("a required tool call needs tools");
  for (const std::string& name : names) {
    if (!IsValidToolName(name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("tool name \"", name.substr(0, 64), "\" must be 1 to 64 of [A-Za-z0-9_.-]"));
    }
  }
  const Markup markup = MarkupOf(format);
  JAMBA_ASSIGN_OR_RETURN(
      std::vector<int32_t> prefix,
      ContinuationTokens(tokenizer, (close_reasoning ? "</think>\n\n" : "") + markup.opening));
  JAMBA_ASSIGN_OR_RETURN(std::vector<int32_t> suffix,
                         ContinuationTokens(tokenizer, markup.closing));
  if (end_of_turn >= 0) suffix.push_back(end_of_turn);
  size_t longest_name = 0;
  for (std::string& name : names) {
    name += markup.after_name;
    longest_name = std::max(longest_name, name.size());
  }
  if (max_tokens > 0) {
    const int64_t fixed = static_cast<int64_t>(prefix.size() + suffix.size() + longest_name);
    if (max_tokens - fixed < 2) {
      return absl::InvalidArgumentError(
          absl::StrCat("max_tokens (", max_tokens,
                       ") is too few for a tool call, which needs up to ", fixed + 2, " tokens"));
    }
    max_argument_bytes = std::min<size_t>(max_argument_bytes, max_tokens - fixed);
  }
  return std::unique_ptr<ToolCallConstraint>(new ToolCallConstraint(
      tokenizer, std::move(prefix), std::move(names), std::move(suffix), max_argument_bytes));
}

ToolCallConstraint::ToolCallConstraint(const Tokenizer& tokenizer, std::vector<int32_t> prefix,
                                       std::vector<std::string> names, std::vector<int32_t> suffix,
                                       size_t max_argument_bytes)
    : tokenizer_(tokenizer),
      prefix_(std::move(prefix)),
      names_(std::move(names)),
      suffix_(std::move(suffix)),
      max_argument_bytes_(std::max<size_t>(max_argument_bytes, 2)) {
  if (prefix_.empty()) stage_ = Stage::kName;
}

std::optional<int32_t> ToolCallConstraint::ForcedToken() const {
  if (stage_ == Stage::kPrefix) return prefix_[forced_at_];
  if (stage_ == Stage::kSuffix) return suffix_[forced_at_];
  return std::nullopt;
}

const std::string* ToolCallConstraint::TextOf(int32_t token) const {
  if (token < 0 || token >= tokenizer_.num_pieces()) return nullptr;
  const Piece& piece = tokenizer_.piece_table().pieces[token];
  if (piece.special || (piece.kind != PieceKind::kText && piece.kind != PieceKind::kByte)) {
    return nullptr;
  }
  return piece.bytes.empty() ? nullptr : &piece.bytes;
}

bool ToolCallConstraint::NameAllows(const std::string& text) const {
  const std::string written = name_so_far_ + text;
  return std::any_of(names_.begin(), names_.end(),
                     [&](const std::string& name) { return name.starts_with(written); });
}

bool ToolCallConstraint::ArgumentsAllow(const std::string& text) const {
  JsonObjectPrefix next = arguments_;
  return next.PushAll(text) && next.bytes() + next.MinCompletion() <= max_argument_bytes_;
}

bool ToolCallConstraint::Allows(int32_t token) const {
  const std::string* text = TextOf(token);
  if (text == nullptr) return false;
  switch (stage_) {
    case Stage::kName:
      return NameAllows(*text);
    case Stage::kArguments:
      return ArgumentsAllow(*text);
    case Stage::kPrefix:
    case Stage::kSuffix:
    case Stage::kFinished:
      return false;
  }
  return false;
}

void ToolCallConstraint::Accept(int32_t token) {
  switch (stage_) {
    case Stage::kPrefix:
      if (++forced_at_ == prefix_.size()) {
        stage_ = Stage::kName;
        forced_at_ = 0;
      }
      return;
    case Stage::kName:
      name_so_far_ += *TextOf(token);
      if (std::find(names_.begin(), names_.end(), name_so_far_) != names_.end()) {
        stage_ = Stage::kArguments;
      }
      return;
    case Stage::kArguments:
      arguments_.PushAll(*TextOf(token));
      if (arguments_.complete()) stage_ = suffix_.empty() ? Stage::kFinished : Stage::kSuffix;
      return;
    case Stage::kSuffix:
      if (++forced_at_ == suffix_.size()) stage_ = Stage::kFinished;
      return;
    case Stage::kFinished:
      return;
  }
}

}  // namespace jamba::engine
