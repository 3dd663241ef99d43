// RunGenerate: tokenization of the input, the blocking engine call, and the chunk ->
// GenerateResponse stream, for every transport.
#include "service/generate_runner.h"

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "service/proto_mapping.h"
#include "service/session_support.h"
#include "service/status_mapping.h"
#include "service/validation.h"

namespace jamba::service {
namespace {

using Clock = std::chrono::steady_clock;

// One generation, on a worker thread.
class GenerateRunner {
 public:
  GenerateRunner(const ServiceContext& ctx, const v1::GenerateRequest& request, CallRecord& record,
                 GenerateSink& sink)
      : ctx_(ctx), request_(request), record_(record), sink_(sink) {}

  absl::Status Run() {
    if (sink_.Cancelled()) {
      return absl::CancelledError("the client cancelled before generation started");
    }
    return request_.has_session() ? RunSession() : RunStateless();
  }

 private:
  GenerateOptions Options() const {
    const RequestLimits& limits = ctx_.limits;
    GenerateOptions options;
    const v1::SamplingParams& s = request_.sampling();
    if (s.has_temperature()) options.sampling.temperature = s.temperature();
    if (s.has_top_p()) options.sampling.top_p = s.top_p();
    options.sampling.top_k = s.top_k();
    options.sampling.min_p = s.min_p();
    if (s.has_repetition_penalty()) options.sampling.repetition_penalty = s.repetition_penalty();
    options.sampling.presence_penalty = s.presence_penalty();
    options.sampling.frequency_penalty = s.frequency_penalty();
    if (s.has_seed()) options.sampling.seed = s.seed();
    options.stop.max_tokens =
        request_.has_max_tokens() ? request_.max_tokens() : limits.default_max_tokens;
    options.stop.stop_strings.assign(request_.stop().stop_strings().begin(),
                                     request_.stop().stop_strings().end());
    options.stop.stop_token_ids.assign(request_.stop().stop_token_ids().begin(),
                                       request_.stop().stop_token_ids().end());
    options.stop.ignore_eos = request_.stop().ignore_eos();
    options.logprobs = request_.include_logprobs();
    options.top_logprobs = request_.include_logprobs() ? request_.top_logprobs() : 0;
    options.deadline = record_.deadline();
    options.tenant = record_.tenant();
    const v1::ChatMessages* chat = ChatInput();
    const bool chat_reply =
        chat != nullptr || (request_.has_session() && request_.session().start_assistant_turn());
    // The engine sees tokens: it reads the completion as a chat reply because the request is one.
    if (chat_reply) options.output_parsing = OutputParsing::kChat;
    switch (request_.tool_choice().mode()) {
      case v1::ToolChoice::NONE:
        options.tool_choice.mode = ToolChoice::Mode::kNone;
        break;
      case v1::ToolChoice::REQUIRED:
        options.tool_choice.mode = ToolChoice::Mode::kRequired;
        break;
      case v1::ToolChoice::FUNCTION:
        options.tool_choice.mode = ToolChoice::Mode::kFunction;
        options.tool_choice.function = request_.tool_choice().function();
        break;
      default:
        break;
    }
    if (chat != nullptr) {
      for (const v1::Tool& tool : chat->tools()) options.tool_choice.tools.push_back(tool.name());
    }
    return options;
  }

  // The request's chat messages, stateless or on a session; null for other inputs.
  const v1::ChatMessages* ChatInput() const {
    if (request_.has_messages()) return &request_.messages();
    if (request_.has_session() && request_.session().has_messages()) {
      return &request_.session().messages();
    }
    return nullptr;
  }

  void FillCandidate(int32_t token, float logprob, v1::TokenLogprob::Candidate* out) const {
    out->set_token_id(token);
    const TokenTable& table = *ctx_.tokens;
    if (token >= 0 && static_cast<size_t>(token) < table.bytes.size()) {
      out->set_text(table.text[token]);
      out->set_token_bytes(table.bytes[token]);
    }
    out->set_logprob(logprob);
  }

  // The engine's StreamCallback, on the worker thread. Returning false cancels the request
  // before its next step.
  bool OnChunk(const GenerateChunk& chunk) {
    if (sink_.Cancelled()) return false;
    if (!chunk.tokens.empty()) {
      const Clock::time_point now = Clock::now();
      if (!last_token_time_.has_value()) {
        ctx_.metrics->ObserveTimeToFirstToken(
            std::chrono::duration<double>(now - record_.start()).count());
      } else {
        const double per_token = std::chrono::duration<double>(now - *last_token_time_).count() /
                                 static_cast<double>(chunk.tokens.size());
        for (size_t i = 0; i < chunk.tokens.size(); ++i) {
          ctx_.metrics->ObserveInterTokenLatency(per_token);
        }
      }
      last_token_time_ = now;
    }
    v1::GenerateResponse response;
    response.set_text(chunk.text);
    response.set_reasoning(chunk.reasoning);
    for (const ToolCall& call : chunk.tool_calls) {
      v1::ToolCall& out = *response.add_tool_calls();
      out.set_id(call.id);
      out.set_name(call.name);
      out.set_arguments(call.arguments);
    }
    for (const GeneratedToken& token : chunk.tokens) {
      response.add_token_ids(token.token);
      if (!request_.include_logprobs()) continue;
      v1::TokenLogprob* logprob = response.add_logprobs();
      FillCandidate(token.token, token.logprob, logprob->mutable_chosen());
      for (const TokenLogprob& alternative : token.top) {
        FillCandidate(alternative.token, alternative.logprob, logprob->add_top());
      }
    }
    sink_.Send(std::move(response));
    return !sink_.Cancelled();
  }

  StreamCallback Callback() {
    return [this](const GenerateChunk& chunk) { return OnChunk(chunk); };
  }

  v1::GenerateResponse LastResponse(const GenerateResult& result) const {
    v1::GenerateResponse last;
    last.set_finish_reason(ToProtoFinishReason(result.finish_reason));
    v1::Usage* usage = last.mutable_usage();
    usage->set_restored_tokens(static_cast<int32_t>(result.usage.restored_tokens));
    usage->set_recomputed_tokens(static_cast<int32_t>(result.usage.recomputed_tokens));
    usage->set_prompt_tokens(
        static_cast<int32_t>(result.usage.restored_tokens + result.usage.recomputed_tokens));
    usage->set_completion_tokens(static_cast<int32_t>(result.sampled_tokens.size()));
    if (result.finish_reason == FinishReason::kStopString) {
      last.set_matched_stop_string(result.matched_stop_string);
    }
    last.set_malformed_tool_call(result.malformed_tool_call);
    const bool greedy =
        request_.sampling().has_temperature() && request_.sampling().temperature() == 0;
    if (!greedy) last.set_seed(result.seed);
    return last;
  }

  void Account(const GenerateResult& result, int64_t tokens_in) {
    record_.SetTokens(tokens_in, static_cast<int64_t>(result.sampled_tokens.size()));
    ctx_.metrics->AddPromptTokens(result.usage.restored_tokens, result.usage.recomputed_tokens);
  }

  absl::Status RunStateless() {
    std::vector<int32_t> prompt;
    std::string field;
    switch (request_.input_case()) {
      case v1::GenerateRequest::kPrompt: {
        field = "prompt";
        TextTokenOptions options;
        options.add_bos = !request_.skip_bos();
        options.parse_special_tokens = request_.parse_special_tokens();
        options.max_tokens = ctx_.limits.max_prompt_tokens;
        options.limit_name = "max_prompt_tokens";
        absl::StatusOr<std::vector<int32_t>> tokens =
            TextTokens(ctx_, request_.prompt(), options, field);
        if (!tokens.ok()) return tokens.status();
        prompt = *std::move(tokens);
        if (prompt.empty()) return InvalidField(field, "the text encodes to no tokens");
        break;
      }
      case v1::GenerateRequest::kPromptTokenIds:
        field = "prompt_token_ids.ids";
        prompt.assign(request_.prompt_token_ids().ids().begin(),
                      request_.prompt_token_ids().ids().end());
        break;
      case v1::GenerateRequest::kMessages: {
        field = "messages";
        absl::StatusOr<std::vector<int32_t>> tokens =
            ChatTokens(ctx_,
                       ToSdkChat(request_.messages(), /*add_generation_prompt=*/true,
                                 /*continuation=*/false),
                       /*with_bos=*/true, field);
        if (!tokens.ok()) return tokens.status();
        prompt = *std::move(tokens);
        break;
      }
      default:
        return absl::InternalError("unreachable: validated input");
    }
    if (static_cast<int64_t>(prompt.size()) > ctx_.limits.max_prompt_tokens) {
      FieldErrors errors;
      errors.AddContextLength(field,
                              absl::StrCat(prompt.size(), " tokens exceed max_prompt_tokens (",
                                           ctx_.limits.max_prompt_tokens, ")"));
      return errors.ToStatus();
    }
    absl::StatusOr<GenerateResult> result =
        ctx_.engine->Generate(Input::Tokens(prompt), Options(), Callback());
    if (!result.ok()) {
      EngineErrorContext error;
      error.field = field;
      error.retry_delay = ctx_.retry_delay;
      return AnnotateEngineError(result.status(), error);
    }
    if (ctx_.sessions_enabled) {
      const bool hit = result->usage.restored_tokens > 0;
      ctx_.metrics->CountSessionLookup(hit ? "hit" : "miss", hit ? "prefix" : "no_prefix");
    }
    Account(*result, static_cast<int64_t>(prompt.size()));
    sink_.Send(LastResponse(*result));
    return absl::OkStatus();
  }

  absl::Status RunSession() {
    const v1::SessionInput& input = request_.session();
    absl::StatusOr<std::string> id = ParseSessionName(input.session(), "session.session");
    if (!id.ok()) return id.status();
    const std::string& tenant = record_.tenant();
    std::optional<SessionLocks::Lease> lease;
    if (input.commit()) {
      absl::StatusOr<SessionLocks::Lease> acquired = ctx_.session_locks->TryAcquire(tenant, *id);
      if (!acquired.ok()) return acquired.status();
      lease.emplace(*std::move(acquired));
    }
    absl::StatusOr<SessionView> session = LookupSession(ctx_, tenant, *id);
    if (!session.ok()) return session.status();
    absl::Status etag = CheckEtag(*session, input.etag());
    if (!etag.ok()) return etag;

    std::vector<int32_t> content;
    std::string field = "session.session";
    switch (input.content_case()) {
      case v1::SessionInput::kText: {
        field = "session.text";
        TextTokenOptions options;
        options.parse_special_tokens = input.parse_special_tokens();
        options.max_tokens = ctx_.limits.max_context_tokens - session->info().token_count;
        options.limit_name = "the room left in max_context_tokens";
        absl::StatusOr<std::vector<int32_t>> tokens =
            TextTokens(ctx_, input.text(), options, field);
        if (!tokens.ok()) return tokens.status();
        content = *std::move(tokens);
        break;
      }
      case v1::SessionInput::kTokenIds:
        field = "session.token_ids.ids";
        content.assign(input.token_ids().ids().begin(), input.token_ids().ids().end());
        break;
      case v1::SessionInput::kMessages: {
        field = "session.messages";
        absl::StatusOr<std::vector<int32_t>> tokens =
            ChatTokens(ctx_,
                       ToSdkChat(input.messages(), /*add_generation_prompt=*/true,
                                 /*continuation=*/session->info().token_count > 0),
                       /*with_bos=*/false, field);
        if (!tokens.ok()) return tokens.status();
        content = *std::move(tokens);
        break;
      }
      case v1::SessionInput::CONTENT_NOT_SET:
        break;
    }
    if (input.start_assistant_turn() && input.content_case() != v1::SessionInput::kMessages) {
      absl::StatusOr<std::vector<int32_t>> header =
          AssistantHeader(ctx_, "session.start_assistant_turn");
      if (!header.ok()) return header.status();
      content.insert(content.end(), header->begin(), header->end());
    }
    if (session->virtual_bos()) {
      content.insert(content.begin(), ctx_.engine->model_info().bos_token_id);
    }
    const int64_t total = session->info().token_count + static_cast<int64_t>(content.size());
    if (total > ctx_.limits.max_context_tokens) {
      FieldErrors errors;
      errors.AddContextLength(field, absl::StrCat("the session would hold ", total,
                                                  " tokens, over max_context_tokens (",
                                                  ctx_.limits.max_context_tokens, ")"));
      return errors.ToStatus();
    }
    if (content.empty() && session->info().token_count == 0) {
      return InvalidField("session.session", "the session is empty: give content to generate from");
    }
    std::optional<Input> fed;
    if (!content.empty()) fed = Input::Tokens(content);
    GenerateOptions options = Options();
    if (input.commit()) {
      // The commit point is decided once, a margin before the client's deadline, so the OK
      // reaches the client before its deadline fires; past it, the call fails and stores nothing.
      options.commit_by = options.deadline - ctx_.commit_margin;
      options.cancelled = [this] { return sink_.Cancelled(); };
    }
    absl::StatusOr<GenerateResult> result =
        ctx_.engine->GenerateFromSession(tenant, *id, fed, options, input.commit(), Callback());
    // Free the session before the client can see the outcome, so it can change it again at once.
    lease.reset();
    if (!result.ok()) {
      EngineErrorContext error;
      error.session_name = input.session();
      error.field = field;
      error.retry_delay = ctx_.retry_delay;
      return AnnotateEngineError(result.status(), error);
    }
    ctx_.metrics->CountSessionLookup("hit", session->info().in_memory ? "memory" : "disk");
    Account(*result, static_cast<int64_t>(content.size()));
    v1::GenerateResponse last = LastResponse(*result);
    if (result->session.has_value()) {
      // What was committed, as the engine reports it: nothing after the commit point may fail.
      const SessionView updated(*result->session, ctx_.engine->model_info().bos_token_id);
      *last.mutable_session() =
          updated.ToProto(ctx_.model_id, ctx_.engine->model_info().fingerprint);
    }
    sink_.Send(std::move(last));
    return absl::OkStatus();
  }

  const ServiceContext& ctx_;
  const v1::GenerateRequest& request_;
  CallRecord& record_;
  GenerateSink& sink_;
  std::optional<Clock::time_point> last_token_time_;
};

}  // namespace

absl::Status CheckGenerateRequest(const ServiceContext& ctx, const v1::GenerateRequest& request) {
  absl::Status status = ValidateGenerateRequest(request, ctx.limits);
  if (status.ok() && request.has_session()) status = RequireSessions(ctx);
  return status;
}

absl::Status RunGenerate(const ServiceContext& ctx, const v1::GenerateRequest& request,
                         CallRecord& record, GenerateSink& sink) {
  return GenerateRunner(ctx, request, record, sink).Run();
}

void MergeGenerateResponse(v1::GenerateResponse& pending, v1::GenerateResponse&& next) {
  pending.mutable_text()->append(next.text());
  pending.mutable_reasoning()->append(next.reasoning());
  pending.mutable_tool_calls()->MergeFrom(next.tool_calls());
  if (next.malformed_tool_call()) pending.set_malformed_tool_call(true);
  pending.mutable_token_ids()->MergeFrom(next.token_ids());
  pending.mutable_logprobs()->MergeFrom(next.logprobs());
  if (next.finish_reason() != v1::FINISH_REASON_UNSPECIFIED) {
    pending.set_finish_reason(next.finish_reason());
  }
  if (next.has_usage()) *pending.mutable_usage() = next.usage();
  if (!next.matched_stop_string().empty()) {
    pending.set_matched_stop_string(next.matched_stop_string());
  }
  if (next.has_seed()) pending.set_seed(next.seed());
  if (next.has_session()) *pending.mutable_session() = std::move(*next.mutable_session());
}

}  // namespace jamba::service
