/* c_api_test.c: the C ABI (jamba/jamba_c.h) from a plain C11 program, end to end on the golden
 * MoE checkpoint with token ids (it has no tokenizer): version negotiation, model info, greedy
 * generation with a streaming callback, cancellation from the callback, logits, every session
 * call in a temporary directory, and the error paths, each of which must return a status with the
 * right code and a message while leaving the out-parameters untouched.
 *
 * Usage: c_api_test <golden model dir>. Exits 0 when every check passes. */
#define _XOPEN_SOURCE 700 /* mkdtemp, nftw */

#include <ftw.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jamba/jamba_c.h"

/* The C compiler lays the tables out as the library's C++ compiler does. */
#define SLOT sizeof(void (*)(void))
_Static_assert(offsetof(JambaApiBase, GetApi) == 0, "JambaApiBase is frozen");
_Static_assert(offsetof(JambaApiBase, GetVersionString) == SLOT, "JambaApiBase is frozen");
_Static_assert(sizeof(JambaApiBase) == 2 * SLOT, "JambaApiBase is frozen");
_Static_assert(offsetof(JambaApi, GetStatusCode) == 0, "JambaApi v1 layout");
_Static_assert(offsetof(JambaApi, Generate) == 26 * SLOT, "JambaApi v1 layout");
_Static_assert(offsetof(JambaApi, CreateSession) == 43 * SLOT, "JambaApi v1 layout");
_Static_assert(offsetof(JambaApi, ReleaseCheckpointList) == 68 * SLOT, "JambaApi v1 layout");
_Static_assert(offsetof(JambaApi, TokenizeInput) == 70 * SLOT, "JambaApi v2 layout");
_Static_assert(sizeof(JambaApi) == 76 * SLOT, "JambaApi v2 layout");

#define TENANT "acme"
#define MAX_TOKENS 8

typedef struct Test {
  const JambaApi* api;
  int failures;
} Test;

#define CHECK(t, cond)                                                         \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      ++(t)->failures;                                                         \
    }                                                                          \
  } while (0)

/* Consumes `status`, which must be NULL (success). */
#define EXPECT_OK(t, status) ExpectOk((t), (status), __LINE__, #status)
/* Consumes `status`, which must carry `code` and a message. */
#define EXPECT_ERROR(t, status, code) ExpectError((t), (status), (code), __LINE__, #status)

static void ExpectOk(Test* t, JambaStatus* status, int line, const char* what) {
  if (status == NULL) return;
  fprintf(stderr, "%s:%d: %s failed: %s: %s\n", __FILE__, line, what,
          t->api->StatusCodeName(t->api->GetStatusCode(status)), t->api->GetStatusMessage(status));
  ++t->failures;
  t->api->ReleaseStatus(status);
}

static void ExpectError(Test* t, JambaStatus* status, JambaStatusCode code, int line,
                        const char* what) {
  if (status == NULL) {
    fprintf(stderr, "%s:%d: %s succeeded, expected %s\n", __FILE__, line, what,
            t->api->StatusCodeName(code));
    ++t->failures;
    return;
  }
  const JambaStatusCode actual = t->api->GetStatusCode(status);
  const char* message = t->api->GetStatusMessage(status);
  if (actual != code || message == NULL || message[0] == '\0') {
    fprintf(stderr, "%s:%d: %s: got %s \"%s\", expected %s with a message\n", __FILE__, line, what,
            t->api->StatusCodeName(actual), message ? message : "(null)",
            t->api->StatusCodeName(code));
    ++t->failures;
  } else {
    printf("  expected %s: %s\n", t->api->StatusCodeName(actual), message);
  }
  t->api->ReleaseStatus(status);
}

/* A deterministic pseudo-document of token ids in [3, 503). */
static void Document(int32_t* ids, size_t n, uint32_t seed) {
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; ++i) {
    x = x * 1664525u + 1013904223u;
    ids[i] = 3 + (int32_t)(x % 500);
  }
}

static JambaGenerateOptions* Greedy(Test* t, const char* max_tokens) {
  JambaGenerateOptions* options = NULL;
  EXPECT_OK(t, t->api->CreateGenerateOptions(&options));
  EXPECT_OK(t, t->api->SetGenerateOption(options, "temperature", "0"));
  EXPECT_OK(t, t->api->SetGenerateOption(options, "max_tokens", max_tokens));
  EXPECT_OK(t, t->api->SetGenerateOption(options, "ignore_eos", "true"));
  EXPECT_OK(t, t->api->SetGenerateOption(options, "seed", "7"));
  return options;
}

/* What the streaming callback saw. */
typedef struct Stream {
  int32_t tokens[64];
  size_t n_tokens;
  int chunks;
  int cancel_after; /* cancel on this chunk (0: never) */
} Stream;

static int OnChunk(void* user_data, const char* text, size_t text_len, const int32_t* tokens,
                   size_t n_tokens) {
  Stream* stream = (Stream*)user_data;
  if (text == NULL || strlen(text) != text_len) return 1; /* NUL-terminated, as promised */
  for (size_t i = 0; i < n_tokens && stream->n_tokens < 64; ++i) {
    stream->tokens[stream->n_tokens++] = tokens[i];
  }
  ++stream->chunks;
  return stream->cancel_after != 0 && stream->chunks >= stream->cancel_after;
}

static int OnProgress(void* user_data, int64_t done, int64_t total) {
  int64_t* last = (int64_t*)user_data;
  if (done > total) return 1;
  *last = done;
  return 0;
}

static int RemoveEntry(const char* path, const struct stat* sb, int flag, struct FTW* ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(path);
}

/* Generates greedily from `ids`, returning the output tokens in `out` (capacity MAX_TOKENS). */
static size_t GenerateTokens(Test* t, JambaEngine* engine, const int32_t* ids, size_t n,
                             int32_t* out) {
  const JambaApi* api = t->api;
  JambaInput* input = NULL;
  EXPECT_OK(t, api->CreateTokenInput(ids, n, &input));
  JambaGenerateOptions* options = Greedy(t, "5");
  JambaGenerateResult* result = NULL;
  EXPECT_OK(t, api->Generate(engine, input, options, NULL, NULL, &result));
  size_t count = 0;
  if (result != NULL) {
    const int32_t* tokens = NULL;
    EXPECT_OK(t, api->GenerateResultGetTokens(result, &tokens, &count));
    if (count > MAX_TOKENS) count = MAX_TOKENS;
    memcpy(out, tokens, count * sizeof(int32_t));
  }
  api->ReleaseGenerateResult(result);
  api->ReleaseGenerateOptions(options);
  api->ReleaseInput(input);
  return count;
}

static int64_t TokenCount(Test* t, const JambaSessionInfo* info) {
  int64_t count = -1;
  EXPECT_OK(t, t->api->SessionInfoGetInt64(info, "token_count", &count));
  return count;
}

static void TestVersioning(Test* t) {
  const JambaApiBase* base = JambaGetApiBase();
  CHECK(t, base != NULL);
  CHECK(t, base->GetApi(0) == NULL);
  CHECK(t, base->GetApi(JAMBA_API_VERSION + 1) == NULL);
  CHECK(t, base->GetApi(JAMBA_API_VERSION) == t->api);
  const char* version = base->GetVersionString();
  CHECK(t, version != NULL && version[0] != '\0');
  printf("libjamba %s, C API %d\n", version, JAMBA_API_VERSION);
  CHECK(t, strcmp(t->api->StatusCodeName(JAMBA_NOT_FOUND), "NOT_FOUND") == 0);
  CHECK(t, strcmp(t->api->StatusCodeName(99), "UNKNOWN_CODE") == 0);
  CHECK(t, t->api->GetStatusCode(NULL) == JAMBA_OK);
  CHECK(t, strcmp(t->api->GetStatusMessage(NULL), "") == 0);
  t->api->ReleaseStatus(NULL); /* every Release accepts NULL */
  CHECK(t, strcmp(t->api->FinishReasonName(JAMBA_FINISH_STOP_STRING), "stop_string") == 0);
}

static void TestOpenErrors(Test* t, const char* model_dir) {
  const JambaApi* api = t->api;
  JambaEngine* engine = NULL;
  EXPECT_ERROR(t, api->OpenEngine("/nonexistent/jamba-model", NULL, &engine), JAMBA_NOT_FOUND);
  CHECK(t, engine == NULL);
  EXPECT_ERROR(t, api->OpenEngine(NULL, NULL, &engine), JAMBA_INVALID_ARGUMENT);
  EXPECT_ERROR(t, api->OpenEngine(model_dir, NULL, NULL), JAMBA_INVALID_ARGUMENT);

  JambaEngineOptions* options = NULL;
  EXPECT_OK(t, api->CreateEngineOptions(&options));
  EXPECT_ERROR(t, api->SetEngineOption(options, "no_such_option", "1"), JAMBA_INVALID_ARGUMENT);
  EXPECT_ERROR(t, api->SetEngineOption(options, "threads", "two"), JAMBA_INVALID_ARGUMENT);
  EXPECT_ERROR(t, api->SetEngineOption(options, "threads", NULL), JAMBA_INVALID_ARGUMENT);
  EXPECT_OK(t, api->SetEngineOption(options, "weights", "fp4")); /* checked by OpenEngine */
  EXPECT_ERROR(t, api->OpenEngine(model_dir, options, &engine), JAMBA_INVALID_ARGUMENT);
  CHECK(t, engine == NULL);
  api->ReleaseEngineOptions(options);

  JambaGenerateOptions* generate = NULL;
  EXPECT_OK(t, api->CreateGenerateOptions(&generate));
  EXPECT_ERROR(t, api->SetGenerateOption(generate, "temperature", "hot"), JAMBA_INVALID_ARGUMENT);
  EXPECT_ERROR(t, api->SetGenerateOption(generate, "temperature", "nan"), JAMBA_INVALID_ARGUMENT);
  EXPECT_ERROR(t, api->SetGenerateOption(generate, "timeout_ms", "0"), JAMBA_INVALID_ARGUMENT);
  EXPECT_ERROR(t, api->SetGenerateOption(generate, "temprature", "1"), JAMBA_INVALID_ARGUMENT);
  EXPECT_ERROR(t, api->AddStopString(generate, "\xff", 1), JAMBA_INVALID_ARGUMENT);
  api->ReleaseGenerateOptions(generate);
}

static void TestInfo(Test* t, JambaEngine* engine) {
  const JambaApi* api = t->api;
  int64_t vocab = 0, layers = 0, has_tokenizer = -1, attention = 0;
  EXPECT_OK(t, api->GetModelInfoInt64(engine, "vocab_size", &vocab));
  EXPECT_OK(t, api->GetModelInfoInt64(engine, "num_layers", &layers));
  EXPECT_OK(t, api->GetModelInfoInt64(engine, "num_attention_layers", &attention));
  EXPECT_OK(t, api->GetModelInfoInt64(engine, "has_tokenizer", &has_tokenizer));
  CHECK(t, vocab == 512);
  CHECK(t, layers == 8);
  CHECK(t, attention == 2);
  CHECK(t, has_tokenizer == 0);
  const char* backend = NULL;
  const char* fingerprint = NULL;
  EXPECT_OK(t, api->GetModelInfoString(engine, "backend", &backend));
  EXPECT_OK(t, api->GetModelInfoString(engine, "fingerprint", &fingerprint));
  CHECK(t, backend != NULL && backend[0] != '\0');
  CHECK(t, fingerprint != NULL && fingerprint[0] != '\0');
  const char* mixer = NULL;
  const char* ffn = NULL;
  EXPECT_OK(t, api->GetModelLayer(engine, 2, &mixer, &ffn));
  CHECK(t, mixer != NULL && strcmp(mixer, "attention") == 0);
  CHECK(t, ffn != NULL && strcmp(ffn, "dense") == 0);
  EXPECT_OK(t, api->GetModelLayer(engine, 1, &mixer, &ffn));
  CHECK(t, strcmp(mixer, "mamba") == 0 && strcmp(ffn, "moe") == 0);

  int64_t untouched = 42;
  EXPECT_ERROR(t, api->GetModelInfoInt64(engine, "vocabulary", &untouched), JAMBA_INVALID_ARGUMENT);
  CHECK(t, untouched == 42);
  mixer = NULL;
  EXPECT_ERROR(t, api->GetModelLayer(engine, 8, &mixer, &ffn), JAMBA_OUT_OF_RANGE);
  CHECK(t, mixer == NULL);

  /* The golden checkpoint has no tokenizer. */
  int32_t* tokens = NULL;
  size_t n_tokens = 0;
  EXPECT_ERROR(t, api->Tokenize(engine, "hello", 5, 1, &tokens, &n_tokens),
               JAMBA_FAILED_PRECONDITION);
  CHECK(t, tokens == NULL && n_tokens == 0);
  char* text = NULL;
  size_t text_len = 0;
  const int32_t ids[2] = {5, 6};
  EXPECT_ERROR(t, api->Detokenize(engine, ids, 2, 1, &text, &text_len), JAMBA_FAILED_PRECONDITION);
  CHECK(t, text == NULL);
}

static void TestGenerate(Test* t, JambaEngine* engine) {
  const JambaApi* api = t->api;
  int32_t prompt[20];
  Document(prompt, 20, 1);
  JambaInput* input = NULL;
  EXPECT_OK(t, api->CreateTokenInput(prompt, 20, &input));
  JambaGenerateOptions* options = Greedy(t, "8");

  Stream stream = {{0}, 0, 0, 0};
  JambaGenerateResult* result = NULL;
  EXPECT_OK(t, api->Generate(engine, input, options, OnChunk, &stream, &result));
  CHECK(t, result != NULL);
  if (result != NULL) {
    const int32_t* tokens = NULL;
    size_t n_tokens = 0;
    EXPECT_OK(t, api->GenerateResultGetTokens(result, &tokens, &n_tokens));
    CHECK(t, n_tokens == 8);
    CHECK(t, stream.n_tokens == n_tokens); /* ignore_eos: every sampled token is output */
    CHECK(t, n_tokens == stream.n_tokens &&
                 memcmp(tokens, stream.tokens, n_tokens * sizeof(int32_t)) == 0);
    for (size_t i = 0; i < n_tokens; ++i) CHECK(t, tokens[i] >= 0 && tokens[i] < 512);
    JambaFinishReason reason = -1;
    EXPECT_OK(t, api->GenerateResultGetFinishReason(result, &reason));
    CHECK(t, reason == JAMBA_FINISH_LENGTH);
    int64_t prompt_tokens = 0, restored = -1, recomputed = 0, completion = 0;
    EXPECT_OK(t, api->GenerateResultGetUsage(result, &prompt_tokens, &restored, &recomputed,
                                             &completion));
    CHECK(t, prompt_tokens == 20 && restored == 0 && recomputed == 20 && completion == 8);
    EXPECT_OK(t, api->GenerateResultGetUsage(result, NULL, NULL, NULL, &completion));
    uint64_t seed = 0;
    EXPECT_OK(t, api->GenerateResultGetSeed(result, &seed));
    CHECK(t, seed == 7);
    const char* text = NULL;
    size_t text_len = 99;
    EXPECT_OK(t, api->GenerateResultGetText(result, &text, &text_len));
    CHECK(t, text != NULL && text_len == 0); /* no tokenizer: no text */
    double queue = -1, prefill = -1, decode = -1;
    EXPECT_OK(t, api->GenerateResultGetTimings(result, &queue, &prefill, &decode));
    CHECK(t, queue >= 0 && prefill >= 0 && decode >= 0);
  }
  api->ReleaseGenerateResult(result);

  /* Same seed and input: the same tokens again. */
  int32_t again[MAX_TOKENS];
  const size_t n_again = GenerateTokens(t, engine, prompt, 20, again);
  CHECK(t, n_again == 5 && memcmp(again, stream.tokens, 5 * sizeof(int32_t)) == 0);

  /* Cancel from the callback on the third chunk: CANCELLED, no result, no more calls. */
  Stream cancel = {{0}, 0, 0, 3};
  JambaGenerateResult* cancelled = NULL;
  EXPECT_ERROR(t, api->Generate(engine, input, options, OnChunk, &cancel, &cancelled),
               JAMBA_CANCELLED);
  CHECK(t, cancelled == NULL);
  CHECK(t, cancel.chunks == 3);

  /* Invalid token ids and other bad input. */
  const int32_t bad_ids[3] = {5, 512, 7};
  JambaInput* bad = NULL;
  EXPECT_OK(t, api->CreateTokenInput(bad_ids, 3, &bad));
  JambaGenerateResult* untouched = NULL;
  EXPECT_ERROR(t, api->Generate(engine, bad, options, NULL, NULL, &untouched),
               JAMBA_INVALID_ARGUMENT);
  CHECK(t, untouched == NULL);
  api->ReleaseInput(bad);
  const int32_t negative[1] = {-1};
  EXPECT_OK(t, api->CreateTokenInput(negative, 1, &bad));
  EXPECT_ERROR(t, api->Generate(engine, bad, NULL, NULL, NULL, &untouched), JAMBA_INVALID_ARGUMENT);
  api->ReleaseInput(bad);
  EXPECT_OK(t, api->CreateTokenInput(NULL, 0, &bad));
  EXPECT_ERROR(t, api->Generate(engine, bad, NULL, NULL, NULL, &untouched), JAMBA_INVALID_ARGUMENT);
  EXPECT_ERROR(t, api->AddChatMessage(bad, "user", "hi", 2), JAMBA_FAILED_PRECONDITION);
  api->ReleaseInput(bad);
  bad = NULL;
  EXPECT_ERROR(t, api->CreateTokenInput(NULL, 3, &bad), JAMBA_INVALID_ARGUMENT);
  EXPECT_ERROR(t, api->CreateTextInput("\xc3\x28", 2, 1, &bad), JAMBA_INVALID_ARGUMENT);
  CHECK(t, bad == NULL);
  EXPECT_ERROR(t, api->Generate(engine, NULL, options, NULL, NULL, &untouched),
               JAMBA_INVALID_ARGUMENT);
  EXPECT_ERROR(t, api->Generate(NULL, input, options, NULL, NULL, &untouched),
               JAMBA_INVALID_ARGUMENT);
  /* A text prompt needs a tokenizer. */
  EXPECT_OK(t, api->CreateTextInput("hello", 5, 1, &bad));
  EXPECT_ERROR(t, api->Generate(engine, bad, options, NULL, NULL, &untouched),
               JAMBA_FAILED_PRECONDITION);
  api->ReleaseInput(bad);
  /* Out-of-range options are rejected by Generate, naming the field. */
  JambaGenerateOptions* out_of_range = NULL;
  EXPECT_OK(t, api->CreateGenerateOptions(&out_of_range));
  EXPECT_OK(t, api->SetGenerateOption(out_of_range, "top_p", "5"));
  EXPECT_ERROR(t, api->Generate(engine, input, out_of_range, NULL, NULL, &untouched),
               JAMBA_INVALID_ARGUMENT);
  api->ReleaseGenerateOptions(out_of_range);
  CHECK(t, untouched == NULL);

  /* Logits: one row per token. */
  float* logits = NULL;
  size_t n_floats = 0;
  EXPECT_OK(t, api->ComputeLogits(engine, prompt, 5, 0, &logits, &n_floats));
  CHECK(t, logits != NULL && n_floats == 5 * 512);
  api->ReleaseLogits(logits);
  logits = NULL;
  EXPECT_ERROR(t, api->ComputeLogits(engine, bad_ids, 3, 0, &logits, &n_floats),
               JAMBA_INVALID_ARGUMENT);
  CHECK(t, logits == NULL);

  api->ReleaseGenerateOptions(options);
  api->ReleaseInput(input);
}

static void TestSessions(Test* t, JambaEngine* engine) {
  const JambaApi* api = t->api;
  int32_t doc[40];
  Document(doc, 40, 3);
  int32_t expected[MAX_TOKENS];
  const size_t n_expected = GenerateTokens(t, engine, doc, 40, expected);
  CHECK(t, n_expected == 5);

  /* Create with options and labels. */
  JambaSessionOptions* create = NULL;
  EXPECT_OK(t, api->CreateSessionOptions(&create));
  EXPECT_OK(t, api->SetSessionOption(create, "id", "doc"));
  EXPECT_OK(t, api->SetSessionOption(create, "display_name", "A document \xe2\x9c\x93"));
  EXPECT_OK(t, api->AddSessionLabel(create, "team", "search"));
  EXPECT_OK(t, api->AddSessionLabel(create, "env", "test"));
  EXPECT_ERROR(t, api->SetSessionOption(create, "colour", "red"), JAMBA_INVALID_ARGUMENT);
  JambaSessionInfo* info = NULL;
  EXPECT_OK(t, api->CreateSession(engine, TENANT, create, &info));
  CHECK(t, info != NULL);
  if (info != NULL) {
    const char* id = NULL;
    const char* tenant = NULL;
    EXPECT_OK(t, api->SessionInfoGetString(info, "id", &id));
    EXPECT_OK(t, api->SessionInfoGetString(info, "tenant", &tenant));
    CHECK(t, strcmp(id, "doc") == 0 && strcmp(tenant, TENANT) == 0);
    CHECK(t, TokenCount(t, info) == 0);
    size_t labels = 0;
    EXPECT_OK(t, api->SessionInfoGetLabelCount(info, &labels));
    CHECK(t, labels == 2);
    const char* key = NULL;
    const char* value = NULL;
    EXPECT_OK(t, api->SessionInfoGetLabel(info, 0, &key, &value)); /* sorted by key */
    CHECK(t, strcmp(key, "env") == 0 && strcmp(value, "test") == 0);
    EXPECT_ERROR(t, api->SessionInfoGetLabel(info, 2, &key, &value), JAMBA_OUT_OF_RANGE);
  }
  api->ReleaseSessionInfo(info);
  info = NULL;
  /* The same id again. */
  EXPECT_ERROR(t, api->CreateSession(engine, TENANT, create, &info), JAMBA_ALREADY_EXISTS);
  CHECK(t, info == NULL);
  api->ReleaseSessionOptions(create);

  /* Append with progress. */
  JambaInput* input = NULL;
  EXPECT_OK(t, api->CreateTokenInput(doc, 40, &input));
  int64_t progress = -1;
  JambaAppendResult* appended = NULL;
  EXPECT_OK(
      t, api->AppendToSession(engine, TENANT, "doc", input, 0, OnProgress, &progress, &appended));
  CHECK(t, progress == 40);
  if (appended != NULL) {
    const JambaSessionInfo* after = NULL;
    EXPECT_OK(t, api->AppendResultGetSession(appended, &after));
    CHECK(t, TokenCount(t, after) == 40);
    int64_t prompt_tokens = 0;
    EXPECT_OK(t, api->AppendResultGetUsage(appended, &prompt_tokens, NULL, NULL, NULL));
    CHECK(t, prompt_tokens == 40);
    double seconds = -1;
    EXPECT_OK(t, api->AppendResultGetSeconds(appended, &seconds));
    CHECK(t, seconds >= 0);
  }
  api->ReleaseAppendResult(appended);

  /* Generate from the session without committing: what a stateless prompt gives. */
  JambaGenerateOptions* options = Greedy(t, "5");
  Stream stream = {{0}, 0, 0, 0};
  JambaGenerateResult* result = NULL;
  EXPECT_OK(t, api->GenerateFromSession(engine, TENANT, "doc", NULL, options, 0, OnChunk, &stream,
                                        &result));
  if (result != NULL) {
    const int32_t* tokens = NULL;
    size_t n_tokens = 0;
    EXPECT_OK(t, api->GenerateResultGetTokens(result, &tokens, &n_tokens));
    CHECK(t, n_tokens == n_expected && memcmp(tokens, expected, n_tokens * sizeof(int32_t)) == 0);
    int64_t restored = 0;
    EXPECT_OK(t, api->GenerateResultGetUsage(result, NULL, &restored, NULL, NULL));
    CHECK(t, restored == 40);
  }
  api->ReleaseGenerateResult(result);

  /* Fork at the end, commit a generation on the fork, rewind it, generate again. */
  EXPECT_OK(t, api->ForkSession(engine, TENANT, "doc", "fork", JAMBA_SESSION_END, &info));
  CHECK(t, info != NULL && TokenCount(t, info) == 40);
  api->ReleaseSessionInfo(info);
  result = NULL;
  EXPECT_OK(
      t, api->GenerateFromSession(engine, TENANT, "fork", NULL, options, 1, NULL, NULL, &result));
  api->ReleaseGenerateResult(result);
  info = NULL;
  EXPECT_OK(t, api->GetSession(engine, TENANT, "fork", &info));
  CHECK(t, info != NULL && TokenCount(t, info) == 45);
  api->ReleaseSessionInfo(info);

  JambaCheckpointList* checkpoints = NULL;
  EXPECT_OK(t, api->ListCheckpoints(engine, TENANT, "fork", &checkpoints));
  size_t n_checkpoints = 0;
  EXPECT_OK(t, api->CheckpointListGetCount(checkpoints, &n_checkpoints));
  CHECK(t, n_checkpoints >= 3); /* 0 (create), 40 (fork point), 45 (commit) */
  int has_40 = 0;
  for (size_t i = 0; i < n_checkpoints; ++i) {
    int64_t position = -1;
    const char* reason = NULL;
    EXPECT_OK(t, api->CheckpointListGet(checkpoints, i, &position, &reason, NULL));
    CHECK(t, reason != NULL && reason[0] != '\0');
    has_40 |= position == 40;
  }
  CHECK(t, has_40);
  EXPECT_ERROR(t, api->CheckpointListGet(checkpoints, n_checkpoints, NULL, NULL, NULL),
               JAMBA_OUT_OF_RANGE);
  api->ReleaseCheckpointList(checkpoints);

  info = NULL;
  EXPECT_OK(t, api->RewindSession(engine, TENANT, "fork", 40, &info));
  CHECK(t, info != NULL && TokenCount(t, info) == 40);
  api->ReleaseSessionInfo(info);
  EXPECT_OK(t, api->EvictAllSessionsFromMemory(engine));
  result = NULL;
  EXPECT_OK(
      t, api->GenerateFromSession(engine, TENANT, "fork", NULL, options, 0, NULL, NULL, &result));
  if (result != NULL) {
    const int32_t* tokens = NULL;
    size_t n_tokens = 0;
    EXPECT_OK(t, api->GenerateResultGetTokens(result, &tokens, &n_tokens));
    CHECK(t, n_tokens == n_expected && memcmp(tokens, expected, n_tokens * sizeof(int32_t)) == 0);
  }
  api->ReleaseGenerateResult(result);

  /* List two sessions one per page. */
  JambaSessionPage* page = NULL;
  EXPECT_OK(t, api->ListSessions(engine, TENANT, 1, NULL, &page));
  size_t count = 0;
  const char* next = NULL;
  EXPECT_OK(t, api->SessionPageGetCount(page, &count));
  EXPECT_OK(t, api->SessionPageGetNextPageToken(page, &next));
  CHECK(t, count == 1 && next != NULL && next[0] != '\0');
  const JambaSessionInfo* first = NULL;
  EXPECT_OK(t, api->SessionPageGetSession(page, 0, &first));
  const char* first_id = NULL;
  EXPECT_OK(t, api->SessionInfoGetString(first, "id", &first_id));
  JambaSessionPage* second = NULL;
  EXPECT_OK(t, api->ListSessions(engine, TENANT, 1, next, &second));
  const JambaSessionInfo* other = NULL;
  EXPECT_OK(t, api->SessionPageGetSession(second, 0, &other));
  const char* other_id = NULL;
  EXPECT_OK(t, api->SessionInfoGetString(other, "id", &other_id));
  CHECK(t, first_id != NULL && other_id != NULL && strcmp(first_id, other_id) != 0);
  EXPECT_ERROR(t, api->SessionPageGetSession(second, 1, &other), JAMBA_OUT_OF_RANGE);
  api->ReleaseSessionPage(second);
  api->ReleaseSessionPage(page);
  page = NULL;
  EXPECT_ERROR(t, api->ListSessions(engine, TENANT, 1, "garbage", &page), JAMBA_INVALID_ARGUMENT);
  CHECK(t, page == NULL);

  /* Unknown sessions, another tenant's session, bad tenants and ids. */
  info = NULL;
  EXPECT_ERROR(t, api->GetSession(engine, TENANT, "no-such-session", &info), JAMBA_NOT_FOUND);
  EXPECT_ERROR(t, api->GetSession(engine, "evil", "doc", &info), JAMBA_NOT_FOUND);
  EXPECT_ERROR(t, api->DeleteSession(engine, "evil", "doc"), JAMBA_NOT_FOUND);
  result = NULL;
  EXPECT_ERROR(
      t, api->GenerateFromSession(engine, "evil", "doc", NULL, options, 0, NULL, NULL, &result),
      JAMBA_NOT_FOUND);
  EXPECT_ERROR(t, api->AppendToSession(engine, "evil", "doc", input, 0, NULL, NULL, &appended),
               JAMBA_NOT_FOUND);
  EXPECT_ERROR(t, api->ForkSession(engine, "evil", "doc", "stolen", JAMBA_SESSION_END, &info),
               JAMBA_NOT_FOUND);
  EXPECT_ERROR(t, api->GetSession(engine, "bad tenant!", "doc", &info), JAMBA_INVALID_ARGUMENT);
  EXPECT_ERROR(t, api->GetSession(engine, TENANT, "Bad_Id", &info), JAMBA_INVALID_ARGUMENT);
  EXPECT_ERROR(t, api->GetSession(engine, NULL, "doc", &info), JAMBA_INVALID_ARGUMENT);
  EXPECT_ERROR(t, api->RewindSession(engine, TENANT, "doc", 7, &info), JAMBA_INVALID_ARGUMENT);
  EXPECT_ERROR(t, api->ForkSession(engine, TENANT, "doc", "x", -5, &info), JAMBA_INVALID_ARGUMENT);
  CHECK(t, info == NULL && result == NULL);
  /* A failed append leaves the session as it was. */
  const int32_t bad_ids[2] = {1, 9999};
  JambaInput* bad = NULL;
  EXPECT_OK(t, api->CreateTokenInput(bad_ids, 2, &bad));
  appended = NULL;
  EXPECT_ERROR(t, api->AppendToSession(engine, TENANT, "doc", bad, 0, NULL, NULL, &appended),
               JAMBA_INVALID_ARGUMENT);
  CHECK(t, appended == NULL);
  api->ReleaseInput(bad);
  EXPECT_OK(t, api->GetSession(engine, TENANT, "doc", &info));
  CHECK(t, info != NULL && TokenCount(t, info) == 40);
  api->ReleaseSessionInfo(info);

  /* Delete: then it is gone, and the other tenant never saw it. */
  EXPECT_OK(t, api->DeleteSession(engine, TENANT, "fork"));
  info = NULL;
  EXPECT_ERROR(t, api->GetSession(engine, TENANT, "fork", &info), JAMBA_NOT_FOUND);
  EXPECT_ERROR(t, api->DeleteSession(engine, TENANT, "fork"), JAMBA_NOT_FOUND);
  EXPECT_OK(t, api->GetSession(engine, TENANT, "doc", &info));
  api->ReleaseSessionInfo(info);

  api->ReleaseGenerateOptions(options);
  api->ReleaseInput(input);
}

/* Session calls on an engine without a session directory. */
static void TestNoSessionDir(Test* t, const char* model_dir) {
  const JambaApi* api = t->api;
  JambaEngineOptions* options = NULL;
  EXPECT_OK(t, api->CreateEngineOptions(&options));
  EXPECT_OK(t, api->SetEngineOption(options, "threads", "1"));
  JambaEngine* engine = NULL;
  EXPECT_OK(t, api->OpenEngine(model_dir, options, &engine));
  api->ReleaseEngineOptions(options); /* not referenced after OpenEngine */
  JambaSessionInfo* info = NULL;
  EXPECT_ERROR(t, api->CreateSession(engine, TENANT, NULL, &info), JAMBA_FAILED_PRECONDITION);
  CHECK(t, info == NULL);
  api->ReleaseEngine(engine);
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s <golden model dir>\n", argv[0]);
    return 2;
  }
  const char* model_dir = argv[1];
  Test test = {JambaGetApiBase()->GetApi(JAMBA_API_VERSION), 0};
  Test* t = &test;
  if (t->api == NULL) {
    fprintf(stderr, "the library does not provide C API version %d\n", JAMBA_API_VERSION);
    return 1;
  }
  char session_dir[] = "/tmp/jamba_c_api_test.XXXXXX";
  if (mkdtemp(session_dir) == NULL) {
    perror("mkdtemp");
    return 1;
  }

  TestVersioning(t);
  TestOpenErrors(t, model_dir);

  JambaEngineOptions* options = NULL;
  EXPECT_OK(t, t->api->CreateEngineOptions(&options));
  EXPECT_OK(t, t->api->SetEngineOption(options, "threads", "2"));
  EXPECT_OK(t, t->api->SetEngineOption(options, "session_dir", session_dir));
  EXPECT_OK(t, t->api->SetEngineOption(options, "checkpoint_interval", "16"));
  JambaEngine* engine = NULL;
  EXPECT_OK(t, t->api->OpenEngine(model_dir, options, &engine));
  t->api->ReleaseEngineOptions(options);
  if (engine != NULL) {
    TestInfo(t, engine);
    TestGenerate(t, engine);
    TestSessions(t, engine);
  }
  t->api->ReleaseEngine(engine);
  TestNoSessionDir(t, model_dir);

  nftw(session_dir, RemoveEntry, 16, FTW_DEPTH | FTW_PHYS);
  if (t->failures != 0) {
    fprintf(stderr, "%d check(s) failed\n", t->failures);
    return 1;
  }
  printf("all C API checks passed\n");
  return 0;
}
