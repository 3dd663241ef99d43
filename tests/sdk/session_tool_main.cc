// session_tool: the other process of tests/sdk/session_exactness_test.cc. Each invocation does one
// thing to a session store and exits, so the test can prove that what one process persisted,
// another process resumes exactly:
//
//   session_tool append    --model M --store S --id ID --doc DOC [--interval N] [--create]
//   session_tool fork      --model M --store S --id ID --new-id ID2 --at P
//   session_tool rewind    --model M --store S --id ID --to P
//   session_tool resume    --model M --store S --id ID --sampling greedy|seeded --out DIR
//   session_tool reference --model M --doc DOC --sampling greedy|seeded --out DIR
//   session_tool prefix    --model M --store S --doc DOC --sampling greedy|seeded --out DIR
//
// Every command takes [--kv-dtype fp32|bf16|int8] (default fp32): the engine runs fp32
// activations with a KV cache in that dtype (precision exact with the default), so what it
// computes is deterministic and the same in every process.
//
// DOC is ids:SEED:COUNT (deterministic token ids), idsfile:PATH (little-endian int32) or
// text:PATH. resume/reference/prefix generate twice: through the public Engine API (tokens and
// log-probabilities, written as api_tokens.i32 and api_logprobs.f32) and through the same engine
// internals the Engine uses (SessionStore::Load + the Scheduler) with a hook that copies the
// logits of every step (step_tokens.i32, step_logits.f32). They also write the state's tokens
// (prompt_tokens.i32) and info.txt (restored_tokens).
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "engine/generation.h"
#include "engine/jamba_model.h"
#include "engine/scheduler.h"
#include "engine/status_macros.h"
#include "jamba/engine.h"
#include "sdk/backend_factory.h"
#include "sdk/store/session_store.h"

namespace jamba {
namespace {

constexpr char kTenant[] = "default";
constexpr int kThreads = 2;
constexpr int kTopLogprobs = 5;

using FlagMap = std::map<std::string, std::string>;

absl::StatusOr<FlagMap> ParseFlags(int argc, char** argv) {
  FlagMap flags;
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--", 0) != 0) return absl::InvalidArgumentError("unexpected " + arg);
    if (arg == "--create") {
      flags["create"] = "1";
      continue;
    }
    if (i + 1 >= argc) return absl::InvalidArgumentError(arg + " needs a value");
    flags[arg.substr(2)] = argv[++i];
  }
  return flags;
}

absl::StatusOr<std::string> Need(const FlagMap& flags, const std::string& name) {
  auto it = flags.find(name);
  if (it == flags.end()) return absl::InvalidArgumentError("--" + name + " is required");
  return it->second;
}

absl::StatusOr<int64_t> NeedInt(const FlagMap& flags, const std::string& name) {
  JAMBA_ASSIGN_OR_RETURN(std::string text, Need(flags, name));
  int64_t value = 0;
  if (!absl::SimpleAtoi(text, &value)) return absl::InvalidArgumentError("--" + name + ": integer");
  return value;
}

std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The deterministic documents of the tests (same generator as the test's).
std::vector<int32_t> DeterministicIds(uint32_t seed, int count) {
  std::vector<int32_t> ids;
  uint32_t x = seed * 2654435761u + 7;
  for (int i = 0; i < count; ++i) {
    x = x * 1664525u + 1013904223u;
    ids.push_back(3 + static_cast<int32_t>((x >> 8) % 500));
  }
  return ids;
}

absl::StatusOr<Input> ParseDoc(const std::string& doc) {
  const std::vector<std::string> parts = absl::StrSplit(doc, absl::MaxSplits(':', 2));
  if (parts.size() == 3 && parts[0] == "ids") {
    uint32_t seed = 0;
    int count = 0;
    if (!absl::SimpleAtoi(parts[1], &seed) || !absl::SimpleAtoi(parts[2], &count)) {
      return absl::InvalidArgumentError("bad --doc " + doc);
    }
    return Input::Tokens(DeterministicIds(seed, count));
  }
  if (parts.size() >= 2 && parts[0] == "idsfile") {
    const std::string bytes = ReadFileOrEmpty(doc.substr(8));
    std::vector<int32_t> ids(bytes.size() / sizeof(int32_t));
    std::memcpy(ids.data(), bytes.data(), ids.size() * sizeof(int32_t));
    return Input::Tokens(std::move(ids));
  }
  if (parts.size() >= 2 && parts[0] == "text") return Input::Text(ReadFileOrEmpty(doc.substr(5)));
  return absl::InvalidArgumentError("bad --doc " + doc);
}

// The KV dtype of --kv-dtype (default fp32).
absl::StatusOr<kernels::KvDType> KvDTypeFlag(const FlagMap& flags) {
  auto it = flags.find("kv-dtype");
  if (it == flags.end()) return kernels::KvDType::kF32;
  auto dtype = kernels::ParseKvDType(it->second);
  if (!dtype.has_value()) return absl::InvalidArgumentError("bad --kv-dtype " + it->second);
  return *dtype;
}

absl::StatusOr<std::unique_ptr<Engine>> OpenEngine(const FlagMap& flags, bool with_store,
                                                   int64_t interval = 4096) {
  JAMBA_ASSIGN_OR_RETURN(std::string model, Need(flags, "model"));
  JAMBA_ASSIGN_OR_RETURN(const kernels::KvDType kv_dtype, KvDTypeFlag(flags));
  EngineOptions options;
  options.threads = kThreads;
  options.precision = "exact";
  options.kv_dtype = kernels::KvDTypeName(kv_dtype);
  options.checkpoint_interval = interval;
  if (with_store) {
    JAMBA_ASSIGN_OR_RETURN(options.session_dir, Need(flags, "store"));
  }
  return Engine::Open(model, options);
}

absl::StatusOr<GenerateOptions> Sampling(const FlagMap& flags) {
  JAMBA_ASSIGN_OR_RETURN(std::string kind, Need(flags, "sampling"));
  GenerateOptions options;
  options.stop.max_tokens = 12;
  options.stop.ignore_eos = true;
  options.logprobs = true;
  options.top_logprobs = kTopLogprobs;
  options.tenant = kTenant;
  if (kind == "greedy") {
    options.sampling.temperature = 0;
  } else if (kind == "seeded") {
    options.sampling.temperature = 0.9f;
    options.sampling.top_p = 0.95f;
    options.sampling.top_k = 40;
    options.sampling.repetition_penalty = 1.1f;
    options.sampling.seed = 1234;
  } else {
    return absl::InvalidArgumentError("--sampling must be greedy or seeded");
  }
  return options;
}

engine::SamplingParams EngineSampling(const GenerateOptions& options) {
  engine::SamplingParams p;
  p.temperature = options.sampling.temperature;
  p.top_p = options.sampling.top_p;
  p.top_k = options.sampling.top_k;
  p.min_p = options.sampling.min_p;
  p.repetition_penalty = options.sampling.repetition_penalty;
  p.seed = options.sampling.seed.value_or(0);
  return p;
}

template <typename T>
absl::Status WriteArray(const std::string& dir, const std::string& name, const std::vector<T>& v) {
  std::ofstream out(dir + "/" + name, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(v.data()),
            static_cast<std::streamsize>(v.size() * sizeof(T)));
  if (!out) return absl::InternalError("cannot write " + dir + "/" + name);
  return absl::OkStatus();
}

// What the public API returned: tokens, and per token its log-probability and alternatives.
struct ApiTrace {
  std::vector<int32_t> tokens;
  std::vector<float> logprobs;  // per token: logprob, then kTopLogprobs (token, logprob) pairs
  int64_t restored_tokens = 0;
};

StreamCallback Recorder(ApiTrace& trace) {
  return [&trace](const GenerateChunk& chunk) {
    for (const GeneratedToken& t : chunk.tokens) {
      trace.tokens.push_back(t.token);
      trace.logprobs.push_back(t.logprob);
      for (const TokenLogprob& alt : t.top) {
        trace.logprobs.push_back(static_cast<float>(alt.token));
        trace.logprobs.push_back(alt.logprob);
      }
    }
    return true;
  };
}

// The engine internals on their own: model, backend, and a scheduler whose step hook copies the
// logits each token is sampled from.
struct Internals {
  std::unique_ptr<kernels::Backend> backend;
  std::unique_ptr<engine::JambaModel> model;
};

absl::StatusOr<Internals> LoadInternals(const FlagMap& flags) {
  Internals in;
  JAMBA_ASSIGN_OR_RETURN(const std::string model_dir, Need(flags, "model"));
  engine::ModelOptions options;
  JAMBA_ASSIGN_OR_RETURN(options.kv_dtype, KvDTypeFlag(flags));
  JAMBA_ASSIGN_OR_RETURN(in.backend, sdk::CreateBackend({.device = "cpu", .threads = kThreads}));
  JAMBA_ASSIGN_OR_RETURN(in.model, engine::JambaModel::Load(model_dir, *in.backend, options));
  return in;
}

// The store as the engine of OpenEngine sees it.
absl::StatusOr<std::unique_ptr<sdk::SessionStore>> OpenStore(const FlagMap& flags,
                                                             const std::string& store_dir,
                                                             const std::string& fingerprint) {
  JAMBA_ASSIGN_OR_RETURN(const kernels::KvDType kv_dtype, KvDTypeFlag(flags));
  return sdk::SessionStore::Open(
      {.root = store_dir, .model_fingerprint = fingerprint, .kv_dtype = kv_dtype});
}

struct StepTrace {
  std::vector<int32_t> tokens;
  std::vector<float> logits;  // [steps, vocab]
};

absl::StatusOr<StepTrace> GenerateTraced(const engine::JambaModel& model,
                                         engine::SequenceState& state, std::vector<int32_t> prompt,
                                         const GenerateOptions& options) {
  engine::Scheduler scheduler(model, engine::SchedulerOptions{});
  auto request = std::make_shared<engine::Request>();
  request->state = &state;
  request->prompt = std::move(prompt);
  engine::StopConditions stop;
  stop.max_tokens = options.stop.max_tokens;
  stop.ignore_eos = options.stop.ignore_eos;
  request->generation.emplace(model.config(), nullptr, EngineSampling(options), stop, 0);
  StepTrace trace;
  absl::Status status;
  absl::Notification done;
  // Runs on the scheduler thread right after sampling: last_logits() is what was sampled from.
  request->callbacks.on_step = [&trace, &state](const engine::GenerationStep& step) {
    if (!step.has_token) return;
    trace.tokens.push_back(step.token);
    trace.logits.insert(trace.logits.end(), state.last_logits().begin(), state.last_logits().end());
  };
  request->callbacks.on_done = [&status, &done](const absl::Status& s) {
    status = s;
    done.Notify();
  };
  JAMBA_RETURN_IF_ERROR(scheduler.Submit(request));
  done.WaitForNotification();
  JAMBA_RETURN_IF_ERROR(status);
  return trace;
}

absl::Status WriteTraces(const std::string& out, const ApiTrace& api, const StepTrace& steps,
                         const std::vector<int32_t>& prompt, int64_t internal_restored) {
  JAMBA_RETURN_IF_ERROR(WriteArray(out, "api_tokens.i32", api.tokens));
  JAMBA_RETURN_IF_ERROR(WriteArray(out, "api_logprobs.f32", api.logprobs));
  JAMBA_RETURN_IF_ERROR(WriteArray(out, "step_tokens.i32", steps.tokens));
  JAMBA_RETURN_IF_ERROR(WriteArray(out, "step_logits.f32", steps.logits));
  JAMBA_RETURN_IF_ERROR(WriteArray(out, "prompt_tokens.i32", prompt));
  std::ofstream info(out + "/info.txt");
  info << "restored_tokens " << api.restored_tokens << "\n"
       << "internal_restored_tokens " << internal_restored << "\n";
  return info ? absl::OkStatus() : absl::InternalError("cannot write info.txt");
}

absl::Status RunAppend(const FlagMap& flags) {
  JAMBA_ASSIGN_OR_RETURN(std::string id, Need(flags, "id"));
  JAMBA_ASSIGN_OR_RETURN(std::string doc, Need(flags, "doc"));
  int64_t interval = 4096;
  if (flags.count("interval")) {
    JAMBA_ASSIGN_OR_RETURN(interval, NeedInt(flags, "interval"));
  }
  JAMBA_ASSIGN_OR_RETURN(auto engine, OpenEngine(flags, true, interval));
  if (flags.count("create")) {
    JAMBA_RETURN_IF_ERROR(engine->CreateSession(kTenant, {.id = id}).status());
  }
  JAMBA_ASSIGN_OR_RETURN(Input input, ParseDoc(doc));
  JAMBA_ASSIGN_OR_RETURN(AppendResult result, engine->AppendToSession(kTenant, id, input));
  std::cout << "token_count " << result.session.token_count << "\n"
            << "restored_tokens " << result.usage.restored_tokens << "\n";
  return absl::OkStatus();
}

absl::Status RunFork(const FlagMap& flags) {
  JAMBA_ASSIGN_OR_RETURN(std::string id, Need(flags, "id"));
  JAMBA_ASSIGN_OR_RETURN(std::string new_id, Need(flags, "new-id"));
  JAMBA_ASSIGN_OR_RETURN(int64_t at, NeedInt(flags, "at"));
  JAMBA_ASSIGN_OR_RETURN(auto engine, OpenEngine(flags, true));
  JAMBA_ASSIGN_OR_RETURN(SessionInfo info, engine->ForkSession(kTenant, id, new_id, at));
  std::cout << "token_count " << info.token_count << "\n";
  return absl::OkStatus();
}

absl::Status RunRewind(const FlagMap& flags) {
  JAMBA_ASSIGN_OR_RETURN(std::string id, Need(flags, "id"));
  JAMBA_ASSIGN_OR_RETURN(int64_t to, NeedInt(flags, "to"));
  JAMBA_ASSIGN_OR_RETURN(auto engine, OpenEngine(flags, true));
  JAMBA_ASSIGN_OR_RETURN(SessionInfo info, engine->RewindSession(kTenant, id, to));
  std::cout << "token_count " << info.token_count << "\n";
  return absl::OkStatus();
}

// Process B: the session is on disk only; generate from it.
absl::Status RunResume(const FlagMap& flags) {
  JAMBA_ASSIGN_OR_RETURN(std::string id, Need(flags, "id"));
  JAMBA_ASSIGN_OR_RETURN(std::string out, Need(flags, "out"));
  JAMBA_ASSIGN_OR_RETURN(std::string store_dir, Need(flags, "store"));
  JAMBA_ASSIGN_OR_RETURN(GenerateOptions options, Sampling(flags));
  ApiTrace api;
  std::string fingerprint;
  {
    JAMBA_ASSIGN_OR_RETURN(auto engine, OpenEngine(flags, true));
    fingerprint = engine->model_info().fingerprint;
    JAMBA_ASSIGN_OR_RETURN(GenerateResult result,
                           engine->GenerateFromSession(kTenant, id, std::nullopt, options,
                                                       /*commit=*/false, Recorder(api)));
    api.restored_tokens = result.usage.restored_tokens;
  }  // releases the store lock
  JAMBA_ASSIGN_OR_RETURN(Internals in, LoadInternals(flags));
  JAMBA_ASSIGN_OR_RETURN(auto store, OpenStore(flags, store_dir, fingerprint));
  JAMBA_ASSIGN_OR_RETURN(sdk::SessionManifest manifest, store->Get(kTenant, id));
  JAMBA_ASSIGN_OR_RETURN(engine::SequenceState state, in.model->NewSequence());
  JAMBA_RETURN_IF_ERROR(store->Load(manifest, manifest.length, state));
  const std::vector<int32_t> prompt = state.tokens();
  JAMBA_ASSIGN_OR_RETURN(StepTrace steps, GenerateTraced(*in.model, state, {}, options));
  return WriteTraces(out, api, steps, prompt, manifest.length);
}

// The uninterrupted run: no store, the whole document computed in this process.
absl::Status RunReference(const FlagMap& flags) {
  JAMBA_ASSIGN_OR_RETURN(std::string out, Need(flags, "out"));
  JAMBA_ASSIGN_OR_RETURN(std::string doc, Need(flags, "doc"));
  JAMBA_ASSIGN_OR_RETURN(GenerateOptions options, Sampling(flags));
  JAMBA_ASSIGN_OR_RETURN(Input input, ParseDoc(doc));
  ApiTrace api;
  std::vector<int32_t> prompt = input.tokens;
  {
    JAMBA_ASSIGN_OR_RETURN(auto engine, OpenEngine(flags, false));
    if (input.kind == Input::Kind::kText) {
      JAMBA_ASSIGN_OR_RETURN(prompt, engine->Tokenize(input.text, /*add_bos=*/true));
    }
    JAMBA_ASSIGN_OR_RETURN(GenerateResult result, engine->Generate(input, options, Recorder(api)));
    api.restored_tokens = result.usage.restored_tokens;
  }
  JAMBA_ASSIGN_OR_RETURN(Internals in, LoadInternals(flags));
  JAMBA_ASSIGN_OR_RETURN(engine::SequenceState state, in.model->NewSequence());
  JAMBA_ASSIGN_OR_RETURN(StepTrace steps, GenerateTraced(*in.model, state, prompt, options));
  return WriteTraces(out, api, steps, prompt, 0);
}

// A stateless prompt that begins with a persisted document resumes from its longest checkpoint.
absl::Status RunPrefix(const FlagMap& flags) {
  JAMBA_ASSIGN_OR_RETURN(std::string out, Need(flags, "out"));
  JAMBA_ASSIGN_OR_RETURN(std::string doc, Need(flags, "doc"));
  JAMBA_ASSIGN_OR_RETURN(std::string store_dir, Need(flags, "store"));
  JAMBA_ASSIGN_OR_RETURN(GenerateOptions options, Sampling(flags));
  JAMBA_ASSIGN_OR_RETURN(Input input, ParseDoc(doc));
  if (input.kind != Input::Kind::kTokens) return absl::InvalidArgumentError("prefix needs ids");
  ApiTrace api;
  std::string fingerprint;
  {
    JAMBA_ASSIGN_OR_RETURN(auto engine, OpenEngine(flags, true));
    fingerprint = engine->model_info().fingerprint;
    JAMBA_ASSIGN_OR_RETURN(GenerateResult result, engine->Generate(input, options, Recorder(api)));
    api.restored_tokens = result.usage.restored_tokens;
  }
  JAMBA_ASSIGN_OR_RETURN(Internals in, LoadInternals(flags));
  JAMBA_ASSIGN_OR_RETURN(auto store, OpenStore(flags, store_dir, fingerprint));
  JAMBA_ASSIGN_OR_RETURN(engine::SequenceState state, in.model->NewSequence());
  const std::vector<int32_t>& prompt = input.tokens;
  int64_t restored = 0;
  if (auto match = store->FindLongestPrefix(kTenant, prompt); match.has_value()) {
    JAMBA_ASSIGN_OR_RETURN(sdk::SessionManifest manifest, store->Get(kTenant, match->session_id));
    JAMBA_RETURN_IF_ERROR(store->Load(manifest, match->position, state, prompt));
    restored = match->position;
  }
  JAMBA_ASSIGN_OR_RETURN(
      StepTrace steps,
      GenerateTraced(*in.model, state, {prompt.begin() + restored, prompt.end()}, options));
  return WriteTraces(out, api, steps, prompt, restored);
}

absl::Status Run(int argc, char** argv) {
  if (argc < 2) return absl::InvalidArgumentError("usage: session_tool COMMAND --flag value...");
  const std::string command = argv[1];
  JAMBA_ASSIGN_OR_RETURN(FlagMap flags, ParseFlags(argc, argv));
  if (command == "append") return RunAppend(flags);
  if (command == "fork") return RunFork(flags);
  if (command == "rewind") return RunRewind(flags);
  if (command == "resume") return RunResume(flags);
  if (command == "reference") return RunReference(flags);
  if (command == "prefix") return RunPrefix(flags);
  return absl::InvalidArgumentError("unknown command " + command);
}

}  // namespace
}  // namespace jamba

int main(int argc, char** argv) {
  const absl::Status status = jamba::Run(argc, argv);
  if (!status.ok()) {
    std::cerr << "session_tool: " << status << "\n";
    return 1;
  }
  return 0;
}
