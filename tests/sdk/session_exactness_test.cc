// A session persisted by one process and resumed by another computes exactly what a run that
// never stopped computes: the same tokens (greedy and seeded sampling), the same log-probabilities
// through the public API, and logits that are bit for bit equal (memcmp) at every generated step.
// The same for a fork, for a rewind to an interval checkpoint inside an append (and appending
// after it), and for a stateless prompt that resumes from another session's checkpoint. Runs on
// the golden MoE model (token ids) and on the demo model (text through its tokenizer), with the
// KV cache in fp32 and in the reduced-precision dtypes.
//
// Every step runs tests/sdk/session_tool_main.cc as a separate process.
#include <cstring>
#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "tests/util/subprocess.h"
#include "tests/util/test_util.h"

namespace jamba {
namespace {

struct ModelCase {
  std::string name;
  std::string model_dir;
  bool text;                      // documents are text (through the tokenizer) rather than ids
  int64_t interval;               // checkpoint interval
  std::string kv_dtype = "fp32";  // the engines' KV cache (fp32 activations throughout)
};

// Test names and failure messages show the case by name.
void PrintTo(const ModelCase& c, std::ostream* os) { *os << c.name; }

struct Trace {
  std::vector<int32_t> api_tokens;
  std::vector<float> api_logprobs;
  std::vector<int32_t> step_tokens;
  std::vector<float> step_logits;
  std::vector<int32_t> prompt_tokens;
  int64_t restored_tokens = -1;
  int64_t internal_restored_tokens = -1;
};

template <typename T>
std::vector<T> ReadArray(const std::string& path) {
  const std::string bytes = testing::ReadFile(path);
  std::vector<T> v(bytes.size() / sizeof(T));
  std::memcpy(v.data(), bytes.data(), v.size() * sizeof(T));
  return v;
}

void WriteIds(const std::string& path, const std::vector<int32_t>& ids) {
  testing::WriteFile(
      path, std::string(reinterpret_cast<const char*>(ids.data()), ids.size() * sizeof(int32_t)));
}

std::vector<int32_t> Prefix(const std::vector<int32_t>& ids, int64_t n) {
  return {ids.begin(), ids.begin() + n};
}

std::vector<int32_t> Concat(std::vector<int32_t> a, const std::vector<int32_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

::testing::AssertionResult SameBits(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size())
    return ::testing::AssertionFailure() << "sizes " << a.size() << " vs " << b.size();
  if (a.empty()) return ::testing::AssertionFailure() << "nothing to compare";
  if (std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) != 0) {
    size_t first = 0;
    while (std::memcmp(&a[first], &b[first], sizeof(float)) == 0) ++first;
    return ::testing::AssertionFailure()
           << "first difference at float " << first << ": " << a[first] << " vs " << b[first];
  }
  return ::testing::AssertionSuccess();
}

class SessionExactnessTest : public ::testing::TestWithParam<ModelCase> {
 protected:
  void SetUp() override {
    store_ = dir_.path() + "/store";
    if (GetParam().text) {
      // Three documents cut from the demo corpus (the model's tokenizer was trained on it).
      const std::string corpus =
          testing::ReadFile(testing::TestDataDir() + "/../../tools/demo_corpus.txt");
      ASSERT_GT(corpus.size(), 3000u);
      testing::WriteFile(dir_.File("doc1.txt"), corpus.substr(0, 1200));
      testing::WriteFile(dir_.File("doc2.txt"), corpus.substr(1200, 800));
      testing::WriteFile(dir_.File("doc3.txt"), corpus.substr(2000, 200));
    }
  }

  // The documents: text files for a text model, deterministic ids otherwise.
  std::string Doc(int n) const {
    static constexpr int kIdCounts[] = {0, 150, 100, 20};
    if (GetParam().text) return "text:" + dir_.File("doc" + std::to_string(n) + ".txt");
    return "ids:" + std::to_string(n) + ":" + std::to_string(kIdCounts[n]);
  }
  std::string IdsDoc(const std::vector<int32_t>& ids) {
    const std::string path = dir_.File("ids-" + std::to_string(++files_) + ".bin");
    WriteIds(path, ids);
    return "idsfile:" + path;
  }

  // Runs one session_tool command in its own process; returns its stdout.
  std::string Tool(std::vector<std::string> args) {
    args.insert(args.begin(), {testing::BinaryDir() + "/tests/session_tool"});
    args.insert(args.begin() + 2,
                {"--model", GetParam().model_dir, "--kv-dtype", GetParam().kv_dtype});
    const testing::ProcessResult result = testing::RunProcess(args);
    EXPECT_EQ(result.exit_code, 0) << args[1] << ": " << result.err;
    return result.out;
  }
  int64_t Append(const std::string& id, const std::string& doc, bool create) {
    std::vector<std::string> args = {"append", "--store",    store_,
                                     "--id",   id,           "--doc",
                                     doc,      "--interval", std::to_string(GetParam().interval)};
    if (create) args.push_back("--create");
    return TokenCount(Tool(args));
  }
  static int64_t TokenCount(const std::string& out) {
    for (absl::string_view line : absl::StrSplit(out, '\n')) {
      int64_t n = 0;
      if (absl::ConsumePrefix(&line, "token_count ") && absl::SimpleAtoi(line, &n)) return n;
    }
    ADD_FAILURE() << "no token_count in " << out;
    return -1;
  }
  Trace ReadTrace(const std::string& dir) {
    Trace t;
    t.api_tokens = ReadArray<int32_t>(dir + "/api_tokens.i32");
    t.api_logprobs = ReadArray<float>(dir + "/api_logprobs.f32");
    t.step_tokens = ReadArray<int32_t>(dir + "/step_tokens.i32");
    t.step_logits = ReadArray<float>(dir + "/step_logits.f32");
    t.prompt_tokens = ReadArray<int32_t>(dir + "/prompt_tokens.i32");
    for (absl::string_view line : absl::StrSplit(testing::ReadFile(dir + "/info.txt"), '\n')) {
      if (absl::ConsumePrefix(&line, "restored_tokens ")) {
        EXPECT_TRUE(absl::SimpleAtoi(line, &t.restored_tokens));
      } else if (absl::ConsumePrefix(&line, "internal_restored_tokens ")) {
        EXPECT_TRUE(absl::SimpleAtoi(line, &t.internal_restored_tokens));
      }
    }
    return t;
  }
  // Runs `command` (resume, reference or prefix) with `args` into a fresh output directory.
  Trace Generate(const std::string& command, std::vector<std::string> args,
                 const std::string& sampling = "greedy") {
    const std::string out = dir_.File("out-" + std::to_string(++files_));
    std::filesystem::create_directories(out);
    args.insert(args.begin(), command);
    for (const std::string& a : {std::string("--sampling"), sampling, std::string("--out"), out})
      args.push_back(a);
    Tool(args);
    return ReadTrace(out);
  }
  Trace Resume(const std::string& id, const std::string& sampling = "greedy") {
    return Generate("resume", {"--store", store_, "--id", id}, sampling);
  }
  Trace Reference(const std::string& doc, const std::string& sampling = "greedy") {
    return Generate("reference", {"--doc", doc}, sampling);
  }

  // The resumed run and the uninterrupted one are the same computation.
  void ExpectIdentical(const Trace& resumed, const Trace& reference) {
    EXPECT_EQ(resumed.prompt_tokens, reference.prompt_tokens);
    ASSERT_EQ(resumed.api_tokens.size(), 12u);
    EXPECT_EQ(resumed.api_tokens, reference.api_tokens);
    EXPECT_TRUE(SameBits(resumed.api_logprobs, reference.api_logprobs)) << "API log-probabilities";
    EXPECT_EQ(resumed.step_tokens, reference.step_tokens);
    EXPECT_TRUE(SameBits(resumed.step_logits, reference.step_logits)) << "logits of every step";
    // The instrumented internal run generated what the public API did.
    EXPECT_EQ(resumed.step_tokens, resumed.api_tokens);
    EXPECT_EQ(reference.step_tokens, reference.api_tokens);
  }

  testing::TempDir dir_;
  std::string store_;
  int files_ = 0;
};

TEST_P(SessionExactnessTest, SessionResumedInAnotherProcessMatchesAnUninterruptedRun) {
  const int64_t length = Append("doc", Doc(1), /*create=*/true);
  ASSERT_GT(length, 2 * GetParam().interval);
  for (const std::string sampling : {"greedy", "seeded"}) {
    SCOPED_TRACE(sampling);
    const Trace resumed = Resume("doc", sampling);
    EXPECT_EQ(resumed.restored_tokens, length);  // nothing recomputed
    EXPECT_EQ(static_cast<int64_t>(resumed.prompt_tokens.size()), length);
    ExpectIdentical(resumed, Reference(Doc(1), sampling));
  }
  // Resuming does not change the session: a second process resumes the same again.
  EXPECT_EQ(Resume("doc").api_tokens, Reference(Doc(1)).api_tokens);
}

TEST_P(SessionExactnessTest, ForkResumesExactlyFromItsCheckpoint) {
  const int64_t length = Append("source", Doc(1), /*create=*/true);
  const int64_t at = 2 * GetParam().interval;  // an interval checkpoint
  ASSERT_LT(at, length);
  const Trace source_before = Resume("source");
  ASSERT_EQ(TokenCount(Tool({"fork", "--store", store_, "--id", "source", "--new-id", "fork",
                             "--at", std::to_string(at)})),
            at);
  const Trace fork = Resume("fork");
  EXPECT_EQ(fork.restored_tokens, at);
  EXPECT_EQ(fork.prompt_tokens, Prefix(source_before.prompt_tokens, at));
  ExpectIdentical(fork, Reference(IdsDoc(Prefix(source_before.prompt_tokens, at))));
  // The source is untouched by the fork.
  ExpectIdentical(Resume("source"), source_before);
}

TEST_P(SessionExactnessTest, RewindToAnIntervalCheckpointInsideAnAppendThenAppendAgain) {
  const int64_t interval = GetParam().interval;
  const int64_t first = Append("doc", Doc(1), /*create=*/true);
  const int64_t both = Append("doc", Doc(2), /*create=*/false);
  // The first interval checkpoint the second append wrote, strictly inside it.
  const int64_t target = (first / interval + 1) * interval;
  ASSERT_GT(target, first);
  ASSERT_LT(target, both);
  const std::vector<int32_t> all = Resume("doc").prompt_tokens;
  ASSERT_EQ(static_cast<int64_t>(all.size()), both);

  ASSERT_EQ(TokenCount(
                Tool({"rewind", "--store", store_, "--id", "doc", "--to", std::to_string(target)})),
            target);
  const Trace rewound = Resume("doc");
  EXPECT_EQ(rewound.restored_tokens, target);
  ExpectIdentical(rewound, Reference(IdsDoc(Prefix(all, target))));

  // Appending after the rewind continues from the checkpoint's state.
  const int64_t extended = Append("doc", Doc(3), /*create=*/false);
  ASSERT_GT(extended, target);
  const Trace after = Resume("doc");
  ASSERT_EQ(static_cast<int64_t>(after.prompt_tokens.size()), extended);
  EXPECT_EQ(Prefix(after.prompt_tokens, target), Prefix(all, target));
  ExpectIdentical(after, Reference(IdsDoc(after.prompt_tokens), "greedy"));
  ExpectIdentical(Resume("doc", "seeded"), Reference(IdsDoc(after.prompt_tokens), "seeded"));
}

TEST_P(SessionExactnessTest, StatelessPromptRestoresTheLongestCheckpointExactly) {
  const int64_t interval = GetParam().interval;
  const int64_t length = Append("doc", Doc(1), /*create=*/true);
  const std::vector<int32_t> doc = Resume("doc").prompt_tokens;
  const std::vector<int32_t> question = {17, 99, 256, 4, 300, 8};

  // The whole document, then a question: restored from the checkpoint at its end.
  const std::string whole = IdsDoc(Concat(doc, question));
  for (const std::string sampling : {"greedy", "seeded"}) {
    SCOPED_TRACE(sampling);
    const Trace reused = Generate("prefix", {"--store", store_, "--doc", whole}, sampling);
    EXPECT_EQ(reused.restored_tokens, length);
    EXPECT_EQ(reused.internal_restored_tokens, length);
    const Trace fresh = Reference(whole, sampling);
    EXPECT_EQ(fresh.restored_tokens, 0);
    ExpectIdentical(reused, fresh);
  }

  // A prompt that leaves the document part-way: the last interval checkpoint before that.
  const int64_t diverge = 2 * interval + interval / 2;
  ASSERT_LT(diverge, length);
  const std::string partial = IdsDoc(Concat(Prefix(doc, diverge), question));
  const Trace reused = Generate("prefix", {"--store", store_, "--doc", partial});
  EXPECT_EQ(reused.restored_tokens, 2 * interval);
  EXPECT_EQ(reused.internal_restored_tokens, 2 * interval);
  ExpectIdentical(reused, Reference(partial));
}

INSTANTIATE_TEST_SUITE_P(
    Models, SessionExactnessTest,
    ::testing::Values(
        ModelCase{"GoldenMoeIds", testing::GoldenDir("hybrid8_moe_f32_sharded"), false, 32},
        ModelCase{"DemoModelText", testing::BinaryDir() + "/demo-model", true, 64},
        // A reduced-precision cache is stored and mapped back as it was computed:
        // resumed runs are still bit for bit the uninterrupted ones.
        ModelCase{"GoldenMoeIdsBf16Kv", testing::GoldenDir("hybrid8_moe_f32_sharded"), false, 32,
                  "bf16"},
        ModelCase{"DemoModelTextInt8Kv", testing::BinaryDir() + "/demo-model", true, 64, "int8"}),
    [](const ::testing::TestParamInfo<ModelCase>& p) { return p.param.name; });

}  // namespace
}  // namespace jamba
