// The Engine facade and its implementation: model loading, input preparation, validation, and
// blocking generation on top of the continuous-batching scheduler.
#include "jamba/engine.h"

#include <chrono>
#include <random>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/forward_workspace.h"
#include "engine/model_fingerprint.h"
#include "engine/status_macros.h"
#include "engine/text/chat_template.h"
#include "kernels/cpu/matmul_bf16_dot.h"
#include "nlohmann/json.hpp"
#include "sdk/backend_factory.h"
#include "sdk/engine_impl.h"
#include "sdk/precision.h"
#include "sdk/request_runner.h"
#include "sdk/session_manager.h"

namespace jamba {
namespace {

constexpr int kMaxTopLogprobs = 20;

double SecondsSince(std::chrono::steady_clock::time_point start,
                    std::chrono::steady_clock::time_point end) {
  return std::chrono::duration<double>(end - start).count();
}

}  // namespace

FinishReason ToPublic(engine::FinishReason reason) {
  switch (reason) {
    case engine::FinishReason::kEos:
      return FinishReason::kEos;
    case engine::FinishReason::kStopString:
      return FinishReason::kStopString;
    case engine::FinishReason::kStopToken:
      return FinishReason::kStopToken;
    case engine::FinishReason::kContextLength:
      return FinishReason::kContextLength;
    case engine::FinishReason::kCancelled:
      return FinishReason::kCancelled;
    case engine::FinishReason::kNone:
    case engine::FinishReason::kLength:
      break;
  }
  return FinishReason::kLength;
}

absl::StatusOr<std::unique_ptr<Engine::Impl>> Engine::Impl::Create(const std::string& model_dir,
                                                                   const EngineOptions& options) {
  std::unique_ptr<Impl> impl(new Impl());
  impl->options_ = options;
  if (options.weights != "auto" && options.weights != "int8") {
    return absl::InvalidArgumentError(
        absl::StrCat("weights must be \"auto\" or \"int8\", got \"", options.weights, "\""));
  }
  if (options.weight_memory != "packed" && options.weight_memory != "mapped") {
    return absl::InvalidArgumentError(absl::StrCat(
        "weight_memory must be \"packed\" or \"mapped\", got \"", options.weight_memory, "\""));
  }
  if (options.tool_call_format != "auto" && options.tool_call_format != "jamba" &&
      options.tool_call_format != "hermes" && options.tool_call_format != "none") {
    return absl::InvalidArgumentError(
        absl::StrCat("tool_call_format must be \"auto\", \"jamba\", \"hermes\" or \"none\", got \"",
                     options.tool_call_format.substr(0, 32), "\""));
  }
  if (options.reasoning_format != "auto" && options.reasoning_format != "think" &&
      options.reasoning_format != "none") {
    return absl::InvalidArgumentError(
        absl::StrCat("reasoning_format must be \"auto\", \"think\" or \"none\", got \"",
                     options.reasoning_format.substr(0, 32), "\""));
  }
  sdk::PrecisionRequest precision_request;
  precision_request.precision = options.precision;
  precision_request.activations = options.activations;
  precision_request.kv_dtype = options.kv_dtype;
  precision_request.cuda =
      options.device == "cuda" || (options.device == "auto" && sdk::CudaDeviceAvailable());
  precision_request.cpu_has_bf16 = kernels::cpu::CpuHasAvx512Bf16();
  JAMBA_ASSIGN_OR_RETURN(const sdk::Precision precision, sdk::ResolvePrecision(precision_request));
  if (options.kv_memory_bytes < 0)
    return absl::InvalidArgumentError("kv_memory_bytes must not be negative");
  JAMBA_ASSIGN_OR_RETURN(
      impl->backend_,
      sdk::CreateBackend({options.device, options.threads, options.simd, precision.bf16_activations,
                          options.weight_memory == "packed"}));
  engine::ModelOptions model_options;
  model_options.weights.int8_mlp = options.weights == "int8";
  model_options.kv_dtype = precision.kv_dtype;
  model_options.kv_memory_bytes = options.kv_memory_bytes;
  JAMBA_ASSIGN_OR_RETURN(impl->model_,
                         engine::JambaModel::Load(model_dir, *impl->backend_, model_options));
  const engine::ModelConfig& config = impl->model_->config();
  auto tokenizer = engine::Tokenizer::Load(model_dir, config);
  if (tokenizer.ok()) {
    impl->tokenizer_ = *std::move(tokenizer);
  } else if (!absl::IsNotFound(tokenizer.status())) {
    return tokenizer.status();
  }
  if (impl->tokenizer_ != nullptr) {
    auto chat_template = engine::ChatTemplate::Load(model_dir, *impl->tokenizer_);
    if (chat_template.ok()) {
      impl->chat_template_ = *std::move(chat_template);
      // A template that cannot render a reply followed by a message leaves replies as sampled.
      if (auto closing = impl->chat_template_->AssistantTurnClosing(); closing.ok()) {
        impl->assistant_turn_closing_ = *std::move(closing);
      }
    } else if (!absl::IsNotFound(chat_template.status())) {
      return chat_template.status();
    }
  }
  engine::SchedulerOptions scheduler_options;
  scheduler_options.max_batch_tokens = options.max_batch_tokens;
  scheduler_options.prefill_chunk = options.prefill_chunk;
  scheduler_options.max_running = options.max_running_requests;
  scheduler_options.max_queued = options.max_queued_requests;
  impl->scheduler_ = std::make_unique<engine::Scheduler>(*impl->model_, scheduler_options);

  ModelInfo& info = impl->info_;
  info.model_dir = model_dir;
  info.fingerprint = engine::ComputeModelFingerprint(
      config, impl->model_->checkpoint(), impl->tokenizer_ ? impl->tokenizer_->ContentHash() : "");
  info.model_type = config.model_type;
  info.weights_dtype = config.torch_dtype;
  info.vocab_size = config.vocab_size;
  info.hidden_size = config.hidden_size;
  info.intermediate_size = config.intermediate_size;
  info.num_layers = config.num_hidden_layers;
  info.num_attention_layers = config.num_attention_layers();
  info.num_mamba_layers = config.num_mamba_layers();
  info.num_attention_heads = config.num_attention_heads;
  info.num_key_value_heads = config.num_key_value_heads;
  info.head_dim = config.head_dim();
  info.num_experts = config.num_experts;
  info.experts_per_token = config.num_experts_per_tok;
  info.mamba_d_state = config.mamba_d_state;
  info.mamba_d_conv = config.mamba_d_conv;
  info.mamba_inner_size = config.mamba_inner();
  info.mamba_dt_rank = config.mamba_dt_rank;
  info.max_position_embeddings = config.max_position_embeddings;
  info.total_parameters = config.TotalParameters();
  info.active_parameters = config.ActiveParameters();
  info.kv_bytes_per_token = config.KvBytesPerToken(precision.kv_dtype);
  info.precision = precision.name;
  info.activations = precision.activations_name();
  info.kv_dtype = kernels::KvDTypeName(precision.kv_dtype);
  info.mamba_state_bytes = config.MambaStateBytes();
  info.max_context_tokens =
      options.max_context_tokens > 0 ? options.max_context_tokens : config.max_position_embeddings;
  info.has_tokenizer = impl->tokenizer_ != nullptr;
  if (impl->tokenizer_ != nullptr) {
    const engine::Tokenizer& loaded = *impl->tokenizer_;
    info.tokenizer_kind = loaded.kind();
    info.bos_token_id = loaded.bos_id();
    info.eos_token_ids = loaded.eos_ids();
    info.pad_token_id = loaded.pad_id();
    if (const engine::ChatTemplate* chat = impl->chat_template_.get(); chat != nullptr) {
      info.has_chat_template = true;
      info.chat_template_origin = chat->origin();
      info.chat_template_family = chat->family();
      const std::optional<engine::OutputParserOptions> parsing =
          impl->OutputParsing(nullptr, GenerateOptions{.output_parsing = OutputParsing::kChat}, {});
      switch (parsing.has_value() ? parsing->tool_calls : engine::ToolCallFormat::kNone) {
        case engine::ToolCallFormat::kJamba:
          info.tool_call_format = "jamba";
          break;
        case engine::ToolCallFormat::kHermes:
          info.tool_call_format = "hermes";
          break;
        case engine::ToolCallFormat::kNone:
          info.tool_call_format = "none";
          break;
      }
      info.reasoning = parsing.has_value() && parsing->reasoning;
    }
  } else {
    info.bos_token_id = static_cast<int32_t>(config.bos_token_id);
    for (int64_t id : config.eos_token_ids) info.eos_token_ids.push_back(static_cast<int32_t>(id));
    info.pad_token_id = static_cast<int32_t>(config.pad_token_id);
  }
  info.backend = impl->backend_->Name();
  for (const engine::LayerConfig& layer : config.layers) {
    info.layers.push_back({layer.mixer == engine::MixerKind::kMamba ? "mamba" : "attention",
                           layer.ffn == engine::FfnKind::kMoe ? "moe" : "dense"});
  }
  if (!options.session_dir.empty()) {
    JAMBA_ASSIGN_OR_RETURN(impl->sessions_, sdk::SessionManager::Create(*impl, options));
  }
  return impl;
}

Engine::Impl::~Impl() {
  sessions_.reset();
  scheduler_.reset();  // stops the engine thread before the model goes away
}

absl::StatusOr<sdk::SessionManager*> Engine::Impl::RequireSessions() {
  if (sessions_ == nullptr) {
    return absl::FailedPreconditionError(
        "sessions need a session directory (EngineOptions::session_dir)");
  }
  return sessions_.get();
}

absl::StatusOr<std::vector<int32_t>> Engine::Impl::InputTokens(const Input& input,
                                                               int64_t position) const {
  std::vector<int32_t> tokens;
  switch (input.kind) {
    case Input::Kind::kText: {
      if (input.text.empty()) return absl::InvalidArgumentError("prompt: must not be empty");
      if (tokenizer_ == nullptr) {
        return absl::FailedPreconditionError(
            "prompt: this model has no tokenizer (tokenizer.model); send token ids instead");
      }
      engine::Tokenizer::EncodeOptions encode;
      encode.add_bos = input.add_special && position == 0;
      encode.parse_special = input.parse_special_tokens;
      encode.max_tokens = options_.max_prompt_tokens;
      JAMBA_ASSIGN_OR_RETURN(tokens, tokenizer_->Encode(input.text, encode));
      break;
    }
    case Input::Kind::kTokens: {
      if (input.tokens.empty())
        return absl::InvalidArgumentError("prompt_token_ids: must not be empty");
      for (size_t i = 0; i < input.tokens.size(); ++i) {
        if (input.tokens[i] < 0 || input.tokens[i] >= model_->config().vocab_size) {
          return absl::InvalidArgumentError(
              absl::StrCat("prompt_token_ids[", i, "] = ", input.tokens[i],
                           " is outside the vocabulary [0, ", model_->config().vocab_size, ")"));
        }
      }
      tokens = input.tokens;
      break;
    }
    case Input::Kind::kChat: {
      const bool continuation = input.continue_conversation || position > 0;
      if (input.messages.empty() && !(continuation && input.add_special)) {
        return absl::InvalidArgumentError("messages: must not be empty");
      }
      if (chat_template_ == nullptr) {
        return absl::FailedPreconditionError(tokenizer_ == nullptr
                                                 ? "messages: this model has no tokenizer"
                                                 : "messages: this model has no chat template");
      }
      JAMBA_ASSIGN_OR_RETURN(engine::ChatConversation conversation, Conversation(input));
      absl::StatusOr<std::vector<int32_t>> encoded =
          chat_template_->Encode(conversation, continuation, options_.max_prompt_tokens);
      if (!encoded.ok()) {
        return absl::Status(encoded.status().code(),
                            absl::StrCat("messages: ", encoded.status().message()));
      }
      tokens = *std::move(encoded);
      break;
    }
  }
  if (tokens.empty()) return absl::InvalidArgumentError("prompt: encodes to no tokens");
  const int64_t limit = options_.max_prompt_tokens;
  if (static_cast<int64_t>(tokens.size()) > limit) {
    // Text stops encoding one token past the limit, so only ids have an exact count.
    const std::string count = input.kind == Input::Kind::kTokens
                                  ? absl::StrCat(tokens.size())
                                  : absl::StrCat("more than ", limit);
    return absl::InvalidArgumentError(
        absl::StrCat("prompt: ", count, " tokens exceed the limit of ", limit));
  }
  return tokens;
}

namespace {

using Json = nlohmann::ordered_json;

// `text` as a JSON object, or an InvalidArgument naming `field`.
absl::StatusOr<Json> JsonObject(const std::string& text, const std::string& field) {
  Json json = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": must be a JSON object"));
  }
  return json;
}

// Variables the engine sets itself; a request may not replace them.
constexpr const char* kReservedTemplateVariables[] = {
    "messages", "tools", "documents", "add_generation_prompt", "bos_token", "eos_token"};

// An id for the `index`-th tool call of a generation seeded with `seed` that starts at context
// position `position`: the same on a rerun (a resumed session continues exactly), different for
// each reply of one conversation even with a fixed seed (tool results must name one call).
std::string ToolCallId(uint64_t seed, int64_t position, size_t index) {
  uint64_t x = seed + 0x9E3779B97F4A7C15ull * (index + 1) +
               0xD1B54A32D192ED03ull * static_cast<uint64_t>(position);
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  x ^= x >> 31;
  return absl::StrCat("call_", absl::Hex(x, absl::kZeroPad16));
}

}  // namespace

absl::StatusOr<engine::ChatConversation> Engine::Impl::Conversation(const Input& input) const {
  engine::ChatConversation conversation;
  conversation.add_generation_prompt = input.add_special;
  for (size_t i = 0; i < input.messages.size(); ++i) {
    const ChatMessage& m = input.messages[i];
    const std::string field = absl::StrCat("messages[", i, "]");
    Json message = {{"role", m.role}, {"content", m.content}};
    if (!m.name.empty()) message["name"] = m.name;
    if (!m.tool_calls.empty()) {
      Json calls = Json::array();
      for (size_t j = 0; j < m.tool_calls.size(); ++j) {
        const ToolCall& call = m.tool_calls[j];
        // Templates print arguments with tojson (an object) or as given (a string): an object
        // when the text is one, as transformers holds them.
        Json arguments = Json::parse(call.arguments, nullptr, /*allow_exceptions=*/false);
        if (arguments.is_discarded() || !arguments.is_object()) arguments = call.arguments;
        Json entry = {{"type", "function"},
                      {"function", {{"name", call.name}, {"arguments", std::move(arguments)}}}};
        if (!call.id.empty()) entry["id"] = call.id;
        calls.push_back(std::move(entry));
      }
      message["tool_calls"] = std::move(calls);
    }
    if (!m.tool_call_id.empty()) message["tool_call_id"] = m.tool_call_id;
    if (!m.reasoning.empty()) message["reasoning_content"] = m.reasoning;
    conversation.messages.push_back(std::move(message));
  }
  for (size_t i = 0; i < input.tools.size(); ++i) {
    const Tool& tool = input.tools[i];
    const std::string field = absl::StrCat("tools[", i, "]");
    if (tool.name.empty()) return absl::InvalidArgumentError(field + ".name: must not be empty");
    JAMBA_ASSIGN_OR_RETURN(Json parameters, JsonObject(tool.parameters, field + ".parameters"));
    Json function = {{"name", tool.name}};
    if (!tool.description.empty()) function["description"] = tool.description;
    function["parameters"] = std::move(parameters);
    conversation.tools.push_back({{"type", "function"}, {"function", std::move(function)}});
  }
  for (const Document& document : input.documents) {
    Json entry = Json::object();
    if (!document.title.empty()) entry["title"] = document.title;
    entry["text"] = document.text;
    for (const auto& [key, value] : document.metadata) entry[key] = value;
    conversation.documents.push_back(std::move(entry));
  }
  JAMBA_ASSIGN_OR_RETURN(conversation.variables,
                         JsonObject(input.template_variables, "template_variables"));
  for (const char* reserved : kReservedTemplateVariables) {
    if (conversation.variables.contains(reserved)) {
      return absl::InvalidArgumentError(
          absl::StrCat("template_variables: '", reserved, "' is set by the engine"));
    }
  }
  return conversation;
}

absl::StatusOr<std::string> Engine::Impl::RenderChat(const Input& input) const {
  if (input.kind != Input::Kind::kChat) {
    return absl::InvalidArgumentError("RenderChat needs a chat input (Input::Chat)");
  }
  if (chat_template_ == nullptr) {
    return absl::FailedPreconditionError("this model has no chat template");
  }
  JAMBA_ASSIGN_OR_RETURN(engine::ChatConversation conversation, Conversation(input));
  JAMBA_ASSIGN_OR_RETURN(engine::jinja::RenderOutput rendered,
                         input.continue_conversation
                             ? chat_template_->RenderContinuation(conversation)
                             : chat_template_->Render(conversation));
  return rendered.Text();
}

std::optional<engine::OutputParserOptions> Engine::Impl::OutputParsing(
    const Input* input, const GenerateOptions& options, std::span<const int32_t> context) const {
  if (chat_template_ == nullptr || tokenizer_ == nullptr) return std::nullopt;
  switch (options.output_parsing) {
    case jamba::OutputParsing::kRaw:
      return std::nullopt;
    case jamba::OutputParsing::kAuto: {
      const bool forced_call = options.tool_choice.mode == ToolChoice::Mode::kRequired ||
                               options.tool_choice.mode == ToolChoice::Mode::kFunction;
      if (!forced_call && (input == nullptr || input->kind != Input::Kind::kChat)) {
        return std::nullopt;
      }
      break;
    }
    case jamba::OutputParsing::kChat:
      break;
  }
  engine::OutputParserOptions parsing;
  if (options.tool_choice.mode == ToolChoice::Mode::kNone) {
    parsing.tool_calls = engine::ToolCallFormat::kNone;
  } else if (options_.tool_call_format == "jamba") {
    parsing.tool_calls = engine::ToolCallFormat::kJamba;
  } else if (options_.tool_call_format == "hermes") {
    parsing.tool_calls = engine::ToolCallFormat::kHermes;
  } else if (options_.tool_call_format == "auto") {
    parsing.tool_calls = chat_template_->tool_call_format();
  }
  parsing.reasoning = options_.reasoning_format == "think" ||
                      (options_.reasoning_format == "auto" && chat_template_->has_reasoning());
  if (parsing.reasoning) {
    // A generation prompt that opens a <think> block leaves the completion inside it.
    constexpr size_t kTail = 32;
    const std::span<const int32_t> tail =
        context.subspan(context.size() > kTail ? context.size() - kTail : 0);
    parsing.starts_in_reasoning = engine::OutputParser::EndsInsideReasoning(
        tokenizer_->Decode(tail, /*skip_special_tokens=*/false));
  }
  return parsing;
}

absl::Status Engine::Impl::ApplyToolChoice(engine::Generation& generation,
                                           const GenerateOptions& options, const Input* input,
                                           std::span<const int32_t> context) const {
  const ToolChoice& choice = options.tool_choice;
  if (choice.mode == ToolChoice::Mode::kAuto) return absl::OkStatus();
  if (chat_template_ == nullptr || tokenizer_ == nullptr) {
    return absl::FailedPreconditionError("tool_choice: this model has no chat template");
  }
  GenerateOptions as_chat;
  as_chat.output_parsing = OutputParsing::kChat;
  const std::optional<engine::OutputParserOptions> parsing = OutputParsing(input, as_chat, context);
  const engine::ToolCallFormat format =
      parsing.has_value() ? parsing->tool_calls : engine::ToolCallFormat::kNone;
  if (choice.mode == ToolChoice::Mode::kNone) {
    // The opening tag, when it is one token, is never sampled.
    const char* tag = format == engine::ToolCallFormat::kJamba    ? "<tool_calls>"
                      : format == engine::ToolCallFormat::kHermes ? "<tool_call>"
                                                                  : nullptr;
    if (tag != nullptr) {
      if (std::optional<int32_t> id = tokenizer_->PieceToId(tag);
          id && tokenizer_->IsSpecial(*id)) {
        generation.SetBannedTokens({*id});
      }
    }
    return absl::OkStatus();
  }
  std::vector<std::string> offered = choice.tools;
  if (offered.empty() && input != nullptr) {
    for (const Tool& tool : input->tools) offered.push_back(tool.name);
  }
  std::vector<std::string> names;
  if (choice.mode == ToolChoice::Mode::kFunction) {
    if (!offered.empty() &&
        std::find(offered.begin(), offered.end(), choice.function) == offered.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tool_choice: \"", choice.function.substr(0, 64), "\" is not one of the tools offered"));
    }
    names = {choice.function};
  } else {
    if (offered.empty()) {
      return absl::InvalidArgumentError("tool_choice: a required tool call needs tools");
    }
    names = std::move(offered);
  }
  // The template's end of turn closes the call.
  int32_t end_of_turn = -1;
  for (const char* piece : {"<|eom|>", "<|im_end|>"}) {
    std::optional<int32_t> id = tokenizer_->PieceToId(piece);
    if (id.has_value() && tokenizer_->IsEos(*id)) end_of_turn = *id;
  }
  if (end_of_turn < 0 && !tokenizer_->eos_ids().empty())
    end_of_turn = tokenizer_->eos_ids().front();
  absl::StatusOr<std::unique_ptr<engine::ToolCallConstraint>> constraint =
      engine::ToolCallConstraint::Create(
          *tokenizer_, format, std::move(names), end_of_turn, choice.max_argument_bytes,
          parsing->reasoning && parsing->starts_in_reasoning, options.stop.max_tokens);
  if (!constraint.ok()) {
    return absl::Status(constraint.status().code(),
                        absl::StrCat("tool_choice: ", constraint.status().message()));
  }
  generation.SetConstraint(*std::move(constraint));
  return absl::OkStatus();
}

absl::StatusOr<engine::Generation> Engine::Impl::MakeGeneration(const GenerateOptions& options,
                                                                uint64_t* seed_used) const {
  engine::SamplingParams sampling;
  sampling.temperature = options.sampling.temperature;
  sampling.top_p = options.sampling.top_p;
  sampling.top_k = options.sampling.top_k;
  sampling.min_p = options.sampling.min_p;
  sampling.repetition_penalty = options.sampling.repetition_penalty;
  sampling.presence_penalty = options.sampling.presence_penalty;
  sampling.frequency_penalty = options.sampling.frequency_penalty;
  sampling.seed =
      options.sampling.seed.has_value() ? *options.sampling.seed : std::random_device{}();
  *seed_used = sampling.seed;
  JAMBA_RETURN_IF_ERROR(engine::ValidateSamplingParams(sampling, model_->config().vocab_size));
  engine::StopConditions stop;
  stop.max_tokens = options.stop.max_tokens;
  stop.stop_strings = options.stop.stop_strings;
  stop.stop_token_ids = options.stop.stop_token_ids;
  stop.ignore_eos = options.stop.ignore_eos;
  stop.max_context_tokens = info_.max_context_tokens;
  engine::StopLimits limits;
  limits.max_tokens = options_.max_new_tokens;
  JAMBA_RETURN_IF_ERROR(engine::ValidateStopConditions(stop, limits, model_->config().vocab_size,
                                                       tokenizer_ != nullptr));
  if (options.top_logprobs < 0 || options.top_logprobs > kMaxTopLogprobs) {
    return absl::InvalidArgumentError(absl::StrCat("top_logprobs must be in [0, ", kMaxTopLogprobs,
                                                   "], got ", options.top_logprobs));
  }
  return engine::Generation(model_->config(), tokenizer_.get(), sampling, stop,
                            options.top_logprobs);
}

absl::StatusOr<GenerateResult> Engine::Impl::RunGeneration(
    std::shared_ptr<engine::Request> request, const GenerateOptions& options, uint64_t seed,
    const StreamCallback& on_chunk, const std::optional<engine::OutputParserOptions>& parsing) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  std::optional<Clock::time_point> first_progress, first_token, last_token;
  std::optional<engine::OutputParser> parser;
  if (parsing.has_value()) parser.emplace(*parsing);
  // Read before the request is submitted: from then on the scheduler owns the state.
  const int64_t start_position =
      request->state->position() + static_cast<int64_t>(request->prompt.size());
  GenerateResult result;
  // Folds a parser delta into the chunk and the result; tool calls get their ids here.
  auto take = [&](engine::OutputParser::Delta delta, GenerateChunk& chunk) {
    chunk.text = std::move(delta.content);
    chunk.reasoning = std::move(delta.reasoning);
    for (engine::ParsedToolCall& call : delta.tool_calls) {
      ToolCall out{ToolCallId(seed, start_position, result.tool_calls.size()), std::move(call.name),
                   std::move(call.arguments)};
      result.tool_calls.push_back(out);
      chunk.tool_calls.push_back(std::move(out));
    }
    result.text += chunk.text;
    result.reasoning += chunk.reasoning;
  };
  sdk::RunObserver observer;
  observer.on_progress = [&](int64_t, int64_t) {
    if (!first_progress) first_progress = Clock::now();
    return true;
  };
  observer.on_step = [&](const engine::GenerationStep& step) {
    const auto now = Clock::now();
    if (!first_token) first_token = now;
    last_token = now;
    GenerateChunk chunk;
    if (parser.has_value()) {
      take(parser->Push(step.text_delta), chunk);
    } else {
      chunk.text = step.text_delta;
    }
    if (step.has_token) {
      GeneratedToken token;
      token.token = step.token;
      if (options.logprobs || options.top_logprobs > 0) token.logprob = step.sample.logprob;
      for (const engine::TokenLogprob& alt : step.sample.top_logprobs)
        token.top.push_back({alt.token, alt.logprob});
      chunk.tokens.push_back(std::move(token));
    }
    if (!on_chunk) return true;
    if (chunk.text.empty() && chunk.reasoning.empty() && chunk.tool_calls.empty() &&
        chunk.tokens.empty()) {
      return true;
    }
    return on_chunk(chunk);
  };
  const int64_t prompt_tokens = static_cast<int64_t>(request->prompt.size());
  JAMBA_RETURN_IF_ERROR(sdk::RunRequest(*scheduler_, request, observer));

  const engine::Generation& generation = *request->generation;
  result.finish_reason = ToPublic(generation.finish_reason());
  if (parser.has_value()) {
    GenerateChunk last;
    take(parser->Finish(), last);
    if (on_chunk && (!last.text.empty() || !last.reasoning.empty() || !last.tool_calls.empty())) {
      on_chunk(last);  // the end of the stream: there is nothing left to cancel
    }
    result.malformed_tool_call = parser->malformed_tool_call();
    // A turn that called tools and then ended is a tool-calls finish, as chat APIs report it.
    if (!result.tool_calls.empty() && (result.finish_reason == FinishReason::kEos ||
                                       result.finish_reason == FinishReason::kStopToken)) {
      result.finish_reason = FinishReason::kToolCalls;
    }
  } else {
    result.text = generation.text();
  }
  const auto output = generation.output_tokens();
  result.tokens.assign(output.begin(), output.end());
  result.sampled_tokens = generation.sampled_tokens();
  result.matched_stop_string = generation.matched_stop_string();
  result.usage.prompt_tokens = prompt_tokens;
  result.usage.recomputed_tokens = prompt_tokens;
  result.usage.completion_tokens = static_cast<int64_t>(result.tokens.size());
  result.seed = seed;
  const auto end = last_token.value_or(Clock::now());
  result.timings.queue_seconds =
      SecondsSince(start, first_progress.value_or(first_token.value_or(end)));
  result.timings.prefill_seconds =
      SecondsSince(first_progress.value_or(start), first_token.value_or(end));
  result.timings.decode_seconds = first_token ? SecondsSince(*first_token, end) : 0.0;
  return result;
}

absl::StatusOr<GenerateResult> Engine::Impl::Generate(const Input& input,
                                                      const GenerateOptions& options,
                                                      const StreamCallback& on_chunk) {
  uint64_t seed = 0;
  JAMBA_ASSIGN_OR_RETURN(engine::Generation generation, MakeGeneration(options, &seed));
  JAMBA_ASSIGN_OR_RETURN(std::vector<int32_t> prompt, InputTokens(input, 0));
  JAMBA_RETURN_IF_ERROR(ApplyToolChoice(generation, options, &input, prompt));
  JAMBA_ASSIGN_OR_RETURN(engine::SequenceState state, model_->NewSequence());
  // With sessions on disk, a prompt that begins with a persisted checkpoint's tokens resumes there.
  int64_t restored = 0;
  if (sessions_ != nullptr)
    restored = sessions_->RestoreLongestPrefix(options.tenant, prompt, state);
  const int64_t prompt_tokens = static_cast<int64_t>(prompt.size());
  auto request = std::make_shared<engine::Request>();
  request->state = &state;
  request->prompt.assign(prompt.begin() + restored, prompt.end());
  request->generation.emplace(std::move(generation));
  request->deadline = options.deadline;
  JAMBA_ASSIGN_OR_RETURN(
      GenerateResult result,
      RunGeneration(request, options, seed, on_chunk, OutputParsing(&input, options, prompt)));
  result.usage.prompt_tokens = prompt_tokens;
  result.usage.restored_tokens = restored;
  result.usage.recomputed_tokens = prompt_tokens - restored;
  return result;
}

absl::StatusOr<std::vector<int32_t>> Engine::Impl::Tokenize(const std::string& text,
                                                            const TokenizeOptions& options) const {
  if (tokenizer_ == nullptr)
    return absl::FailedPreconditionError("this model has no tokenizer (tokenizer.model)");
  if (options.max_tokens < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_tokens must not be negative, got ", options.max_tokens));
  }
  engine::Tokenizer::EncodeOptions encode;
  encode.add_bos = options.add_bos;
  encode.parse_special = options.parse_special_tokens;
  encode.max_tokens = options.max_tokens > 0 ? options.max_tokens : -1;
  return tokenizer_->Encode(text, encode);
}

absl::StatusOr<std::string> Engine::Impl::Detokenize(std::span<const int32_t> tokens,
                                                     bool skip_special) const {
  if (tokenizer_ == nullptr)
    return absl::FailedPreconditionError("this model has no tokenizer (tokenizer.model)");
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] < 0 || tokens[i] >= model_->config().vocab_size) {
      return absl::InvalidArgumentError(
          absl::StrCat("token_ids[", i, "] = ", tokens[i], " is outside the vocabulary"));
    }
  }
  return tokenizer_->Decode(tokens, skip_special);
}

absl::StatusOr<std::vector<float>> Engine::Impl::ComputeLogits(std::span<const int32_t> tokens,
                                                               int64_t chunk) {
  if (tokens.empty()) return absl::InvalidArgumentError("input_ids: must not be empty");
  JAMBA_ASSIGN_OR_RETURN(engine::SequenceState state, model_->NewSequence());
  engine::ForwardWorkspace workspace(model_->backend());
  std::vector<float> logits;
  JAMBA_RETURN_IF_ERROR(model_->Prefill(state, tokens, workspace, chunk, &logits));
  return logits;
}

// ---- Engine facade ----

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() = default;

absl::StatusOr<std::unique_ptr<Engine>> Engine::Open(const std::string& model_dir,
                                                     const EngineOptions& options) {
  JAMBA_ASSIGN_OR_RETURN(std::unique_ptr<Impl> impl, Impl::Create(model_dir, options));
  return std::unique_ptr<Engine>(new Engine(std::move(impl)));
}

const ModelInfo& Engine::model_info() const { return impl_->model_info(); }

EngineStats Engine::stats() const {
  EngineStats stats;
  engine::Scheduler& scheduler = impl_->scheduler();
  stats.queued_requests = scheduler.queue_depth();
  stats.running_requests = scheduler.running();
  const engine::Scheduler::StepStats steps = scheduler.stats();
  stats.steps = steps.steps;
  stats.last_batch_sequences = steps.last_batch_sequences;
  stats.last_batch_tokens = steps.last_batch_tokens;
  if (sdk::SessionManager* sessions = impl_->sessions(); sessions != nullptr) {
    stats.session_memory_bytes = sessions->MemoryBytes();
    stats.session_disk_bytes = static_cast<int64_t>(sessions->store().TotalBytes());
  }
  return stats;
}

absl::StatusOr<std::vector<int32_t>> Engine::Tokenize(const std::string& text, bool add_bos) const {
  TokenizeOptions options;
  options.add_bos = add_bos;
  return impl_->Tokenize(text, options);
}

absl::StatusOr<std::vector<int32_t>> Engine::Tokenize(const std::string& text,
                                                      const TokenizeOptions& options) const {
  return impl_->Tokenize(text, options);
}

absl::StatusOr<std::string> Engine::Detokenize(std::span<const int32_t> tokens,
                                               bool skip_special) const {
  return impl_->Detokenize(tokens, skip_special);
}

absl::StatusOr<std::vector<int32_t>> Engine::Tokenize(const Input& input) const {
  return impl_->InputTokens(input, 0);
}

absl::StatusOr<std::string> Engine::RenderChat(const Input& input) const {
  return impl_->RenderChat(input);
}

std::vector<std::string> Engine::TokenPieces(std::span<const int32_t> tokens) const {
  std::vector<std::string> pieces;
  const engine::Tokenizer* tokenizer = impl_->tokenizer();
  if (tokenizer == nullptr) return pieces;
  pieces.reserve(tokens.size());
  for (int32_t id : tokens) pieces.push_back(tokenizer->IdToPiece(id));
  return pieces;
}

absl::StatusOr<GenerateResult> Engine::Generate(const Input& input, const GenerateOptions& options,
                                                const StreamCallback& on_chunk) {
  return impl_->Generate(input, options, on_chunk);
}

absl::StatusOr<std::vector<float>> Engine::ComputeLogits(std::span<const int32_t> tokens,
                                                         int64_t chunk) {
  return impl_->ComputeLogits(tokens, chunk);
}

absl::StatusOr<SessionInfo> Engine::CreateSession(const std::string& tenant,
                                                  const CreateSessionOptions& options) {
  JAMBA_ASSIGN_OR_RETURN(sdk::SessionManager * sessions, impl_->RequireSessions());
  return sessions->Create(tenant, options);
}

absl::StatusOr<SessionInfo> Engine::GetSession(const std::string& tenant, const std::string& id) {
  JAMBA_ASSIGN_OR_RETURN(sdk::SessionManager * sessions, impl_->RequireSessions());
  return sessions->Get(tenant, id);
}

absl::StatusOr<SessionPage> Engine::ListSessions(const std::string& tenant, int page_size,
                                                 const std::string& page_token) {
  JAMBA_ASSIGN_OR_RETURN(sdk::SessionManager * sessions, impl_->RequireSessions());
  return sessions->List(tenant, page_size, page_token);
}

absl::Status Engine::DeleteSession(const std::string& tenant, const std::string& id) {
  JAMBA_ASSIGN_OR_RETURN(sdk::SessionManager * sessions, impl_->RequireSessions());
  return sessions->Delete(tenant, id);
}

absl::StatusOr<AppendResult> Engine::AppendToSession(const std::string& tenant,
                                                     const std::string& id, const Input& input,
                                                     const AppendOptions& options) {
  JAMBA_ASSIGN_OR_RETURN(sdk::SessionManager * sessions, impl_->RequireSessions());
  return sessions->Append(tenant, id, input, options);
}

absl::StatusOr<GenerateResult> Engine::GenerateFromSession(
    const std::string& tenant, const std::string& id, const std::optional<Input>& input,
    const GenerateOptions& options, bool commit, const StreamCallback& on_chunk) {
  JAMBA_ASSIGN_OR_RETURN(sdk::SessionManager * sessions, impl_->RequireSessions());
  return sessions->Generate(tenant, id, input, options, commit, on_chunk);
}

absl::StatusOr<SessionInfo> Engine::ForkSession(const std::string& tenant, const std::string& id,
                                                const std::string& new_id,
                                                std::optional<int64_t> position) {
  JAMBA_ASSIGN_OR_RETURN(sdk::SessionManager * sessions, impl_->RequireSessions());
  return sessions->Fork(tenant, id, new_id, position);
}

absl::StatusOr<std::vector<CheckpointInfo>> Engine::ListCheckpoints(const std::string& tenant,
                                                                    const std::string& id) {
  JAMBA_ASSIGN_OR_RETURN(sdk::SessionManager * sessions, impl_->RequireSessions());
  return sessions->ListCheckpoints(tenant, id);
}

absl::StatusOr<SessionInfo> Engine::RewindSession(const std::string& tenant, const std::string& id,
                                                  int64_t position) {
  JAMBA_ASSIGN_OR_RETURN(sdk::SessionManager * sessions, impl_->RequireSessions());
  return sessions->Rewind(tenant, id, position);
}

void Engine::EvictAllSessionsFromMemory() {
  if (impl_->sessions() != nullptr) impl_->sessions()->EvictAllFromMemory();
}

}  // namespace jamba
