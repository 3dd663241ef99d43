// Preprocessing and tokenization (see lexer.h). The order of the checks below mirrors
// @huggingface/jinja's lexer, because whitespace control and the sign of numbers depend on it.
#include "engine/text/jinja/lexer.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/text/jinja/text_util.h"

namespace jamba::engine::jinja {
namespace {

// Preprocessed text and, for each byte (and the end), its offset in the original source.
struct Source {
  std::string text;
  std::vector<size_t> origin;
};

class SourceBuilder {
 public:
  explicit SourceBuilder(const Source& from) : from_(from) {}
  void Copy(size_t pos, size_t length) {
    out_.text.append(from_.text, pos, length);
    out_.origin.insert(out_.origin.end(), from_.origin.begin() + pos,
                       from_.origin.begin() + pos + length);
  }
  Source Finish() {
    out_.origin.push_back(from_.origin.back());
    return std::move(out_);
  }

 private:
  const Source& from_;
  Source out_;
};

bool StartsWith(std::string_view text, size_t pos, std::string_view prefix) {
  return text.substr(pos, prefix.size()) == prefix;
}

// Length of the line terminator ending at `pos` (JavaScript's, for the `^` of a /m regex), or 0.
size_t LineTerminatorBefore(std::string_view text, size_t pos) {
  if (pos >= 1 && (text[pos - 1] == '\n' || text[pos - 1] == '\r')) return 1;
  if (pos >= 3 &&
      (StartsWith(text, pos - 3, "\xE2\x80\xA8") || StartsWith(text, pos - 3, "\xE2\x80\xA9"))) {
    return 3;
  }
  return 0;
}

// lstrip_blocks: spaces and tabs from the start of a line up to a `{%`, `{#` or `{-`.
Source LstripBlocks(const Source& in) {
  SourceBuilder out(in);
  const std::string_view text = in.text;
  size_t copied = 0;
  for (size_t pos = 0; pos <= text.size(); ++pos) {
    if (pos != 0 && LineTerminatorBefore(text, pos) == 0) continue;
    size_t end = pos;
    while (end < text.size() && (text[end] == ' ' || text[end] == '\t')) ++end;
    if (end > pos && end + 1 < text.size() && text[end] == '{' &&
        (text[end + 1] == '#' || text[end + 1] == '%' || text[end + 1] == '-')) {
      out.Copy(copied, pos - copied);
      copied = end;
    }
  }
  out.Copy(copied, text.size() - copied);
  return out.Finish();
}

// trim_blocks: the newline right after `#}`, `%}` or `-}`.
Source TrimBlocks(const Source& in) {
  SourceBuilder out(in);
  const std::string_view text = in.text;
  size_t copied = 0;
  for (size_t pos = 0; pos + 2 < text.size(); ++pos) {
    const char c = text[pos];
    if ((c == '#' || c == '%' || c == '-') && text[pos + 1] == '}' && text[pos + 2] == '\n') {
      out.Copy(copied, pos + 2 - copied);
      copied = pos + 3;
      pos += 2;
    }
  }
  out.Copy(copied, text.size() - copied);
  return out.Finish();
}

size_t SpaceRunAt(std::string_view text, size_t pos) { return LeadingSpaceBytes(text.substr(pos)); }

// transformers' `{% generation %}` / `{% endgeneration %}` markers are dropped, with the
// whitespace around them unless their `-` says otherwise.
Source DropGenerationTags(const Source& in) {
  SourceBuilder out(in);
  const std::string_view text = in.text;
  size_t copied = 0;
  for (size_t pos = text.find("{%"); pos != std::string_view::npos;
       pos = text.find("{%", pos + 1)) {
    if (pos < copied) continue;
    size_t p = pos + 2;
    const bool strip_before = p < text.size() && text[p] == '-';
    if (strip_before) ++p;
    p += SpaceRunAt(text, p);
    if (StartsWith(text, p, "end")) p += 3;
    if (!StartsWith(text, p, "generation")) continue;
    p += 10;
    p += SpaceRunAt(text, p);
    const bool strip_after = p < text.size() && text[p] == '-';
    if (strip_after) ++p;
    if (!StartsWith(text, p, "%}")) continue;
    p += 2;
    // The whitespace run just before the tag (not reaching back into copied text).
    size_t before = pos;
    while (before > copied) {
      const size_t back = TrailingSpaceBytes(text.substr(copied, before - copied));
      if (back == 0) break;
      before -= back;
    }
    const size_t after_end = p + SpaceRunAt(text, p);
    out.Copy(copied, before - copied);
    if (!strip_before) out.Copy(before, pos - before);
    if (!strip_after) out.Copy(p, after_end - p);
    copied = after_end;
    pos = after_end - 1;
  }
  out.Copy(copied, text.size() - copied);
  return out.Finish();
}

Source Preprocess(std::string_view source) {
  Source s;
  s.text.assign(source);
  s.origin.resize(source.size() + 1);
  for (size_t i = 0; i <= source.size(); ++i) s.origin[i] = i;
  if (!s.text.empty() && s.text.back() == '\n') {
    s.text.pop_back();
    s.origin.erase(s.origin.end() - 2);
  }
  s = LstripBlocks(s);
  s = TrimBlocks(s);
  return DropGenerationTags(s);
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsWordChar(char c) {
  return IsDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

struct Operator {
  std::string_view text;
  TokenKind kind;
};
constexpr Operator kOperators[] = {
    {"{%", TokenKind::kOpenStatement},  {"%}", TokenKind::kCloseStatement},
    {"{{", TokenKind::kOpenExpression}, {"}}", TokenKind::kCloseExpression},
    {"(", TokenKind::kLParen},          {")", TokenKind::kRParen},
    {"{", TokenKind::kLBrace},          {"}", TokenKind::kRBrace},
    {"[", TokenKind::kLBracket},        {"]", TokenKind::kRBracket},
    {",", TokenKind::kComma},           {".", TokenKind::kDot},
    {":", TokenKind::kColon},           {"|", TokenKind::kPipe},
    {"<=", TokenKind::kComparison},     {">=", TokenKind::kComparison},
    {"==", TokenKind::kComparison},     {"!=", TokenKind::kComparison},
    {"<", TokenKind::kComparison},      {">", TokenKind::kComparison},
    {"+", TokenKind::kAdditive},        {"-", TokenKind::kAdditive},
    {"~", TokenKind::kAdditive},        {"**", TokenKind::kPower},
    {"*", TokenKind::kMultiplicative},  {"//", TokenKind::kMultiplicative},
    {"/", TokenKind::kMultiplicative},  {"%", TokenKind::kMultiplicative},
    {"=", TokenKind::kEquals},
};

class Lexer {
 public:
  Lexer(const LineIndex& lines, Source source)
      : lines_(lines), source_(std::move(source)), src_(source_.text) {}

  absl::StatusOr<std::vector<Token>> Run() {
    while (pos_ < src_.size()) {
      if (absl::Status s = Step(); !s.ok()) return s;
    }
    return std::move(tokens_);
  }

 private:
  absl::Status Error(size_t pos, std::string_view what) const {
    return absl::InvalidArgumentError(
        Cat(lines_.Describe(source_.origin[std::min(pos, src_.size())]), ": ", what));
  }

  void Push(TokenKind kind, std::string value, size_t start) {
    tokens_.push_back({kind, std::move(value), source_.origin[start]});
  }

  bool LastIs(std::initializer_list<TokenKind> kinds) const {
    if (tokens_.empty()) return false;
    for (TokenKind k : kinds) {
      if (tokens_.back().kind == k) return true;
    }
    return false;
  }

  bool At(std::string_view text) const { return StartsWith(src_, pos_, text); }

  void StripTrailingSpaceOfText() {
    if (tokens_.empty() || tokens_.back().kind != TokenKind::kText) return;
    std::string& text = tokens_.back().value;
    text.resize(text.size() - TrailingSpaceBytes(text));
    if (text.empty()) tokens_.pop_back();
  }

  void SkipSpace() { pos_ += SpaceRunAt(src_, pos_); }

  // Consumes characters while `pred` holds; like the reference, running into the end of the
  // input while doing so is an error (a tag or string was left open).
  template <typename Pred>
  absl::StatusOr<std::string> ConsumeWhile(Pred pred, bool escapes) {
    std::string out;
    while (pos_ < src_.size() && pred(src_[pos_])) {
      if (escapes && src_[pos_] == '\\') {
        const size_t start = pos_;
        if (++pos_ >= src_.size()) return Error(start, "unexpected end of input");
        const char e = src_[pos_++];
        if (e == 'x' || e == 'u') {
          const size_t n = e == 'x' ? 2 : 4;
          char32_t code = 0;
          for (size_t i = 0; i < n; ++i, ++pos_) {
            const char h = pos_ < src_.size() ? src_[pos_] : '\0';
            int digit = -1;
            if (IsDigit(h)) digit = h - '0';
            if (h >= 'a' && h <= 'f') digit = h - 'a' + 10;
            if (h >= 'A' && h <= 'F') digit = h - 'A' + 10;
            if (digit < 0) return Error(start, "invalid hexadecimal escape sequence");
            code = code * 16 + digit;
          }
          AppendUtf8(code >= 0xD800 && code <= 0xDFFF ? 0xFFFD : code, out);
          continue;
        }
        switch (e) {
          case 'n':
            out.push_back('\n');
            break;
          case 't':
            out.push_back('\t');
            break;
          case 'r':
            out.push_back('\r');
            break;
          case 'b':
            out.push_back('\b');
            break;
          case 'f':
            out.push_back('\f');
            break;
          case 'v':
            out.push_back('\v');
            break;
          case '\'':
          case '"':
          case '\\':
            out.push_back(e);
            break;
          default:
            return Error(start, Cat("unsupported escape sequence '\\", std::string(1, e), "'"));
        }
        continue;
      }
      out.push_back(src_[pos_++]);
      if (pos_ >= src_.size())
        return Error(pos_, "unexpected end of input (unclosed tag or string)");
    }
    return out;
  }

  absl::Status Step() {
    const size_t start = pos_;
    if (tokens_.empty() ||
        LastIs({TokenKind::kCloseStatement, TokenKind::kCloseExpression, TokenKind::kComment})) {
      size_t end = pos_;
      while (end < src_.size() &&
             !(src_[end] == '{' && end + 1 < src_.size() &&
               (src_[end + 1] == '%' || src_[end + 1] == '{' || src_[end + 1] == '#'))) {
        ++end;
      }
      if (end > pos_) {
        Push(TokenKind::kText, std::string(src_.substr(pos_, end - pos_)), start);
        pos_ = end;
        return absl::OkStatus();
      }
    }
    if (At("{#")) return Comment();
    if (At("{%-") || At("{{-")) {
      StripTrailingSpaceOfText();
      const bool statement = At("{%-");
      Push(statement ? TokenKind::kOpenStatement : TokenKind::kOpenExpression,
           statement ? "{%" : "{{", start);
      if (!statement) brace_depth_ = 0;
      pos_ += 3;
      return absl::OkStatus();
    }
    // Whitespace inside a tag; the tag may not end the input.
    if (const size_t space = SpaceRunAt(src_, pos_); space > 0) {
      pos_ += space;
      if (pos_ >= src_.size()) return Error(pos_, "unexpected end of input (unclosed tag)");
    }
    if (At("-%}") || At("-}}")) {
      const bool statement = At("-%}");
      Push(statement ? TokenKind::kCloseStatement : TokenKind::kCloseExpression,
           statement ? "%}" : "}}", pos_);
      pos_ += 3;
      SkipSpace();
      return absl::OkStatus();
    }
    const size_t at = pos_;  // where the token starts, after the whitespace
    const char c = src_[pos_];
    if (c == '-' || c == '+') {
      if (tokens_.empty() || LastIs({TokenKind::kText})) {
        return Error(pos_, Cat("unexpected character '", std::string(1, c), "'"));
      }
      if (!LastIs({TokenKind::kName, TokenKind::kNumber, TokenKind::kString, TokenKind::kRParen,
                   TokenKind::kRBracket})) {
        const size_t sign_at = pos_++;
        auto digits = ConsumeWhile(IsDigit, false);
        if (!digits.ok()) return digits.status();
        std::string number = *digits;
        if (!number.empty() && pos_ + 1 < src_.size() && src_[pos_] == '.' &&
            IsDigit(src_[pos_ + 1])) {
          ++pos_;
          auto fraction = ConsumeWhile(IsDigit, false);
          if (!fraction.ok()) return fraction.status();
          number += "." + *fraction;
        }
        Push(number.empty() ? TokenKind::kUnary : TokenKind::kNumber, std::string(1, c) + number,
             sign_at);
        return absl::OkStatus();
      }
    }
    for (const Operator& op : kOperators) {
      if (op.text == "}}" && brace_depth_ > 0) continue;
      if (!At(op.text)) continue;
      Push(op.kind, std::string(op.text), pos_);
      if (op.kind == TokenKind::kOpenExpression) brace_depth_ = 0;
      if (op.kind == TokenKind::kLBrace) ++brace_depth_;
      if (op.kind == TokenKind::kRBrace) --brace_depth_;
      pos_ += op.text.size();
      return absl::OkStatus();
    }
    if (c == '\'' || c == '"') {
      const size_t quote_at = pos_++;
      auto text = ConsumeWhile([c](char x) { return x != c; }, true);
      if (!text.ok()) return text.status();
      Push(TokenKind::kString, *std::move(text), quote_at);
      ++pos_;
      return absl::OkStatus();
    }
    if (IsDigit(c)) {
      auto digits = ConsumeWhile(IsDigit, false);
      if (!digits.ok()) return digits.status();
      std::string number = *digits;
      if (!LastIs({TokenKind::kDot}) && pos_ + 1 < src_.size() && src_[pos_] == '.' &&
          IsDigit(src_[pos_ + 1])) {
        ++pos_;
        auto fraction = ConsumeWhile(IsDigit, false);
        if (!fraction.ok()) return fraction.status();
        number += "." + *fraction;
      }
      Push(TokenKind::kNumber, std::move(number), at);
      return absl::OkStatus();
    }
    if (IsWordChar(c)) {
      auto word = ConsumeWhile(IsWordChar, false);
      if (!word.ok()) return word.status();
      Push(TokenKind::kName, *std::move(word), at);
      return absl::OkStatus();
    }
    size_t length = 0;
    DecodeUtf8(src_, pos_, length);
    return Error(pos_, Cat("unexpected character '", src_.substr(pos_, length), "'"));
  }

  absl::Status Comment() {
    const size_t start = pos_;
    pos_ += 2;
    const bool strip_before = pos_ < src_.size() && src_[pos_] == '-';
    if (strip_before) ++pos_;
    const size_t end = src_.find("#}", pos_);
    if (end == std::string_view::npos) return Error(start, "missing end of comment tag");
    std::string comment(src_.substr(pos_, end - pos_));
    const bool strip_after = !comment.empty() && comment.back() == '-';
    if (strip_after) comment.pop_back();
    if (strip_before) StripTrailingSpaceOfText();
    Push(TokenKind::kComment, std::move(comment), start);
    pos_ = end + 2;
    if (strip_after) SkipSpace();
    return absl::OkStatus();
  }

  const LineIndex& lines_;
  Source source_;
  std::string_view src_;
  size_t pos_ = 0;
  int brace_depth_ = 0;
  std::vector<Token> tokens_;
};

}  // namespace

LineIndex::LineIndex(std::string_view source) : source_(source) {
  line_starts_.push_back(0);
  for (size_t i = 0; i < source_.size(); ++i) {
    if (source_[i] == '\n') line_starts_.push_back(i + 1);
  }
}

SourcePos LineIndex::At(size_t offset) const {
  offset = std::min(offset, source_.size());
  const auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset) - 1;
  SourcePos pos;
  pos.line = static_cast<int>(it - line_starts_.begin()) + 1;
  pos.column =
      static_cast<int>(CodePointCount(std::string_view(source_).substr(*it, offset - *it))) + 1;
  return pos;
}

std::string LineIndex::Describe(size_t offset) const {
  const SourcePos pos = At(offset);
  return Cat("line ", pos.line, ", column ", pos.column);
}

absl::StatusOr<std::vector<Token>> Tokenize(std::string_view source, const LineIndex& lines) {
  return Lexer(lines, Preprocess(source)).Run();
}

}  // namespace jamba::engine::jinja
