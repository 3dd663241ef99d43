// Sessions written by format version 1 (tests/data/sessions/v1: fp32 KV, unaligned sections, a
// manifest without precision) still resume under precision exact, generating what the build that
// wrote them generated; appending to one writes current-version files beside the old ones, and the
// mixed session resumes like a run that never stopped. The same for version 2
// (tests/data/sessions/v2: bf16 KV, one plain MANIFEST, no leases): it resumes as its build did,
// its next commit publishes manifest generation 1 beside the old MANIFEST, and the store's marker
// is upgraded so that a version 2 build refuses it. The same tokens always; the same bits
// from a build like the fixture's (RelWithDebInfo, no sanitizers: other optimization levels round
// some sums differently, and there the logits are held to 1e-4). Each step runs
// tests/sdk/session_tool_main.cc as its own process, as session_exactness_test does.
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "sdk/store/sealed_file.h"
#include "tests/sdk/sealed_layout.h"
#include "tests/util/subprocess.h"
#include "tests/util/test_util.h"

namespace jamba {
namespace {

std::string Fixture(const std::string& version = "v1") {
  return testing::TestDataDir() + "/sessions/" + version;
}

template <typename T>
std::vector<T> ReadArray(const std::string& path) {
  const std::string bytes = testing::ReadFile(path);
  std::vector<T> v(bytes.size() / sizeof(T));
  std::memcpy(v.data(), bytes.data(), v.size() * sizeof(T));
  return v;
}

class SessionFormatCompatTest : public ::testing::Test {
 protected:
  void SetUp() override { UseFixture("v1", "fp32"); }
  void UseFixture(const std::string& version, const std::string& kv_dtype) {
    store_ = dir_.path() + "/store-" + version;
    kv_dtype_ = kv_dtype;
    std::filesystem::copy(Fixture(version) + "/store", store_,
                          std::filesystem::copy_options::recursive);
  }
  std::string Tool(std::vector<std::string> args) {
    args.insert(args.begin(), testing::BinaryDir() + "/tests/session_tool");
    args.insert(args.begin() + 2, {"--model", testing::GoldenDir("hybrid8_moe_f32_sharded"),
                                   "--kv-dtype", kv_dtype_});
    const testing::ProcessResult result = testing::RunProcess(args);
    EXPECT_EQ(result.exit_code, 0) << args[1] << ": " << result.err;
    return result.out;
  }
  std::string Generate(const std::string& command, std::vector<std::string> args) {
    const std::string out = dir_.File("out-" + std::to_string(++runs_));
    std::filesystem::create_directories(out);
    args.insert(args.begin(), command);
    for (const char* a : {"--sampling", "greedy", "--out"}) args.push_back(a);
    args.push_back(out);
    Tool(args);
    return out;
  }
  std::string SessionDir(const std::string& id = "doc-v1") const {
    return store_ + "/tenants/default/sessions/" + id;
  }

  testing::TempDir dir_;
  std::string store_;
  std::string kv_dtype_;
  int runs_ = 0;
};

// Whether this build computes as the fixture's did, bit for bit.
constexpr bool kBuiltAsTheFixture = std::string_view(JAMBA_BUILD_TYPE) == "RelWithDebInfo" &&
                                    std::string_view(JAMBA_SANITIZE).empty();

// Two runs' outputs in `a` and `b` (session_tool's files): the same tokens, and the same logits and
// log-probabilities (bit for bit, or to 1e-4 from a build that rounds differently).
void ExpectSameRun(const std::string& a, const std::string& b) {
  for (const char* file : {"api_tokens.i32", "step_tokens.i32"})
    EXPECT_EQ(testing::ReadFile(a + "/" + file), testing::ReadFile(b + "/" + file)) << file;
  for (const char* file : {"api_logprobs.f32", "step_logits.f32"}) {
    if (kBuiltAsTheFixture) {
      EXPECT_EQ(testing::ReadFile(a + "/" + file), testing::ReadFile(b + "/" + file)) << file;
    } else {
      EXPECT_TRUE(testing::AllClose(ReadArray<float>(a + "/" + file),
                                    ReadArray<float>(b + "/" + file), 1e-4))
          << file;
    }
  }
}

TEST_F(SessionFormatCompatTest, AVersion1SessionResumesBitForBitAsItsBuildDid) {
  for (const char* file : {"seg-1.kv", "ckpt-8.state", "MANIFEST"}) {
    EXPECT_EQ(testing::ReadLittleEndian(testing::ReadFile(SessionDir() + "/" + file), 8, 4), 1u)
        << file << " is a version 1 file";
  }
  const std::string out = Generate("resume", {"--store", store_, "--id", "doc-v1"});
  ExpectSameRun(out, Fixture() + "/resumed");
}

TEST_F(SessionFormatCompatTest, AppendingToAVersion1SessionWritesCurrentFilesAndStaysExact) {
  Tool({"append", "--store", store_, "--id", "doc-v1", "--doc", "ids:23:30", "--interval", "16"});
  int new_segments = 0;
  for (const auto& e : std::filesystem::directory_iterator(SessionDir())) {
    if (e.path().extension() != ".kv") continue;
    const std::string bytes = testing::ReadFile(e.path());
    if (testing::ReadLittleEndian(bytes, 8, 4) != sdk::kSealedFormatVersion) continue;
    ++new_segments;
    for (const testing::SectionSpan& s : testing::SealedLayout(bytes)) {
      if (s.tag == "KEYS" || s.tag == "VALS") {
        EXPECT_EQ(s.payload % sdk::kSectionAlignment, 0u) << e.path();
      }
    }
  }
  EXPECT_GE(new_segments, 2);
  const std::string resumed = Generate("resume", {"--store", store_, "--id", "doc-v1"});
  const std::vector<int32_t> tokens = ReadArray<int32_t>(resumed + "/prompt_tokens.i32");
  ASSERT_EQ(tokens.size(), 47u + 30u);
  const std::string ids = dir_.File("all.ids");
  testing::WriteFile(ids, std::string(reinterpret_cast<const char*>(tokens.data()),
                                      tokens.size() * sizeof(int32_t)));
  const std::string reference = Generate("reference", {"--doc", "idsfile:" + ids});
  ExpectSameRun(resumed, reference);
}

TEST_F(SessionFormatCompatTest, AVersion2SessionResumesAsItsBuildDidAndUpgradesOnItsNextCommit) {
  UseFixture("v2", "bf16");
  for (const char* file : {"seg-1.kv", "ckpt-6.state", "MANIFEST"}) {
    EXPECT_EQ(testing::ReadLittleEndian(testing::ReadFile(SessionDir("doc-v2") + "/" + file), 8, 4),
              2u)
        << file << " is a version 2 file";
  }
  EXPECT_EQ(testing::ReadLittleEndian(testing::ReadFile(store_ + "/STORE"), 8, 4), 2u);
  const std::string out = Generate("resume", {"--store", store_, "--id", "doc-v2"});
  ExpectSameRun(out, Fixture("v2") + "/resumed");
  // Opened by this version, the store says version 3 (a version 2 build now refuses it).
  EXPECT_EQ(testing::ReadLittleEndian(testing::ReadFile(store_ + "/STORE"), 8, 4),
            sdk::kSealedFormatVersion);
  EXPECT_TRUE(std::filesystem::exists(SessionDir("doc-v2") + "/MANIFEST"));

  Tool({"append", "--store", store_, "--id", "doc-v2", "--doc", "ids:33:20", "--interval", "16"});
  // The commit published generation 1 beside the old manifest (kept as the previous generation).
  EXPECT_TRUE(std::filesystem::exists(SessionDir("doc-v2") + "/MANIFEST.1"));
  EXPECT_TRUE(std::filesystem::exists(SessionDir("doc-v2") + "/MANIFEST"));
  const std::string resumed = Generate("resume", {"--store", store_, "--id", "doc-v2"});
  const std::vector<int32_t> tokens = ReadArray<int32_t>(resumed + "/prompt_tokens.i32");
  ASSERT_EQ(tokens.size(), 32u + 20u);
  const std::string ids = dir_.File("all-v2.ids");
  testing::WriteFile(ids, std::string(reinterpret_cast<const char*>(tokens.data()),
                                      tokens.size() * sizeof(int32_t)));
  const std::string reference = Generate("reference", {"--doc", "idsfile:" + ids});
  ExpectSameRun(resumed, reference);
  // One more commit: the plain manifest is two generations old and goes.
  Tool({"append", "--store", store_, "--id", "doc-v2", "--doc", "ids:34:4", "--interval", "16"});
  EXPECT_FALSE(std::filesystem::exists(SessionDir("doc-v2") + "/MANIFEST"));
  EXPECT_TRUE(std::filesystem::exists(SessionDir("doc-v2") + "/MANIFEST.2"));
}

}  // namespace
}  // namespace jamba
