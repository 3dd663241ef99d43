// Template: parse once into a shared immutable Program, render with a fresh Renderer per call.
#include "engine/text/jinja/template.h"

#include <utility>

#include "engine/status_macros.h"
#include "engine/text/jinja/interpreter.h"
#include "engine/text/jinja/lexer.h"
#include "engine/text/jinja/parser.h"

namespace jamba::engine::jinja {

std::string RenderOutput::Text() const {
  std::string text;
  for (const RenderedSegment& segment : segments) text += segment.text;
  return text;
}

absl::StatusOr<Template> Template::Parse(std::string_view source) {
  auto program = std::make_shared<Program>(source);
  JAMBA_ASSIGN_OR_RETURN(std::vector<Token> tokens, Tokenize(source, program->lines));
  JAMBA_ASSIGN_OR_RETURN(program->body, jinja::Parse(tokens, program->lines));
  return Template(std::move(program));
}

absl::StatusOr<RenderOutput> Template::Render(const std::map<std::string, Value>& variables) const {
  return Render(variables, RenderOptions());
}

absl::StatusOr<RenderOutput> Template::Render(const std::map<std::string, Value>& variables,
                                              const RenderOptions& options) const {
  JAMBA_ASSIGN_OR_RETURN(Str text, RenderProgram(*program_, variables, options));
  RenderOutput out;
  size_t pos = 0;
  for (const Str::Run& run : text.runs()) {
    out.segments.push_back({text.text().substr(pos, run.length), run.user_data});
    pos += run.length;
  }
  return out;
}

}  // namespace jamba::engine::jinja
