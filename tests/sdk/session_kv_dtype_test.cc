// Sessions in every KV dtype through the public Engine API on the golden MoE model: the segment
// files hold the dtype's rows on page boundaries (so a resume maps them in place), a resume
// generates exactly what never stopping generates, the bytes on disk follow the dtype, a session
// resumes only under the settings it was written with, a damaged KV segment is found before its
// rows are used (and never silently), a resume from a cold page cache reads the segments'
// headers and not their rows, and encrypted stores (decrypting reads) round-trip too.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "jamba/engine.h"
#include "sdk/store/sealed_file.h"
#include "tests/sdk/sealed_layout.h"
#include "tests/util/test_util.h"

namespace jamba {
namespace {

using ::testing::HasSubstr;

std::vector<int32_t> Document(int n, int seed) {
  std::vector<int32_t> ids;
  uint32_t x = static_cast<uint32_t>(seed) * 2654435761u + 1;
  for (int i = 0; i < n; ++i) {
    x = x * 1664525u + 1013904223u;
    ids.push_back(3 + static_cast<int32_t>(x % 500));
  }
  return ids;
}

GenerateOptions Greedy(int max_tokens) {
  GenerateOptions options;
  options.sampling.temperature = 0;
  options.stop.max_tokens = max_tokens;
  options.stop.ignore_eos = true;
  options.logprobs = true;
  return options;
}

struct Trace {
  std::vector<int32_t> tokens;
  std::vector<float> logprobs;
};

absl::StatusOr<Trace> Record(
    const std::function<absl::StatusOr<GenerateResult>(StreamCallback)>& go) {
  Trace run;
  auto result = go([&run](const GenerateChunk& chunk) {
    for (const GeneratedToken& t : chunk.tokens) {
      run.tokens.push_back(t.token);
      run.logprobs.push_back(t.logprob);
    }
    return true;
  });
  if (!result.ok()) return result.status();
  return run;
}

// How many pages of `path` in [begin, end) are in the page cache (mincore on a fresh map, which
// reports the file's cached pages whoever read them); -1 when it cannot tell.
int64_t CachedPages(const std::string& path, size_t begin, size_t end) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  const size_t size = static_cast<size_t>(::lseek(fd, 0, SEEK_END));
  void* map = size > 0 ? ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0) : MAP_FAILED;
  ::close(fd);
  if (map == MAP_FAILED) return -1;
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> resident((size + page - 1) / page);
  int64_t count = -1;
  if (::mincore(map, size, resident.data()) == 0) {
    count = 0;
    for (size_t p = begin / page; p < (std::min(end, size) + page - 1) / page; ++p)
      count += resident[p] & 1;
  }
  ::munmap(map, size);
  return count;
}

// Drops `path`'s pages from the page cache (they are clean: the store fsyncs what it writes);
// false where the filesystem keeps them (tmpfs).
bool DropFromPageCache(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool advised = ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) == 0;
  ::close(fd);
  return advised && CachedPages(path, 0, std::filesystem::file_size(path)) == 0;
}

class SessionKvDTypeTest : public ::testing::TestWithParam<std::string> {
 protected:
  std::unique_ptr<Engine> Open(const std::string& kv_dtype, bool encrypted = false,
                               int64_t checkpoint_interval = 32) {
    EngineOptions options;
    options.threads = 2;
    options.precision = "exact";
    options.kv_dtype = kv_dtype;
    options.session_dir = dir_.path() + "/store";
    options.checkpoint_interval = checkpoint_interval;
    if (encrypted) {
      testing::WriteFile(dir_.File("key"), std::string(64, 'a'));
      options.session_key_file = dir_.File("key");
    }
    auto engine = Engine::Open(testing::GoldenDir("hybrid8_moe_f32_sharded"), options);
    EXPECT_TRUE(engine.ok()) << engine.status();
    return engine.ok() ? *std::move(engine) : nullptr;
  }
  std::string SessionDir(const std::string& id) const {
    return dir_.path() + "/store/tenants/default/sessions/" + id;
  }
  std::vector<std::string> Segments(const std::string& id) const {
    std::vector<std::string> files;
    for (const auto& e : std::filesystem::directory_iterator(SessionDir(id))) {
      if (e.path().extension() == ".kv") files.push_back(e.path().string());
    }
    std::sort(files.begin(), files.end());
    return files;
  }
  testing::TempDir dir_;
};

TEST_P(SessionKvDTypeTest, ResumedFromMappedSegmentsGeneratesWhatNeverStoppingDoes) {
  const std::vector<int32_t> doc = Document(100, 1);
  const std::vector<int32_t> more = Document(9, 2);
  Trace uninterrupted;
  {
    auto engine = Open(GetParam());
    ASSERT_NE(engine, nullptr);
    ASSERT_TRUE(engine->CreateSession("default", {.id = "doc"}).ok());
    auto appended = engine->AppendToSession("default", "doc", Input::Tokens(doc));
    ASSERT_TRUE(appended.ok()) << appended.status();
    EXPECT_EQ(appended->session.kv_dtype, GetParam());
    EXPECT_EQ(appended->session.precision, GetParam() == "fp32" ? "exact" : "custom");
    // Never stopped: the same engine continues from its live state.
    auto run = Record([&](StreamCallback cb) {
      return engine->GenerateFromSession("default", "doc", Input::Tokens(more), Greedy(10), false,
                                         cb);
    });
    ASSERT_TRUE(run.ok()) << run.status();
    uninterrupted = *run;
  }
  auto engine = Open(GetParam());  // a new engine: the session is on disk only
  auto resumed = Record([&](StreamCallback cb) {
    return engine->GenerateFromSession("default", "doc", Input::Tokens(more), Greedy(10), false,
                                       cb);
  });
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_EQ(resumed->tokens, uninterrupted.tokens);
  EXPECT_EQ(resumed->logprobs, uninterrupted.logprobs);  // the same bits
}

TEST_P(SessionKvDTypeTest, SegmentsHoldTheDTypesRowsOnPageBoundaries) {
  auto engine = Open(GetParam());
  ASSERT_TRUE(engine->CreateSession("default", {.id = "doc"}).ok());
  ASSERT_TRUE(engine->AppendToSession("default", "doc", Input::Tokens(Document(96, 3))).ok());
  const ModelInfo& info = engine->model_info();
  const int64_t rows_per_segment = 32;  // the checkpoint interval
  int64_t kv_payload = 0;
  const std::vector<std::string> segments = Segments("doc");
  ASSERT_EQ(segments.size(), 3u);
  for (const std::string& path : segments) {
    const std::string file = testing::ReadFile(path);
    EXPECT_EQ(testing::ReadLittleEndian(file, 8, 4), sdk::kSealedFormatVersion);
    for (const testing::SectionSpan& s : testing::SealedLayout(file)) {
      if (s.tag != "KEYS" && s.tag != "VALS") continue;
      EXPECT_EQ(s.payload % sdk::kSectionAlignment, 0u) << path << " " << s.name();
      kv_payload += static_cast<int64_t>(s.length);
    }
  }
  // Exactly the cache's bytes per token: a quarter-ish of fp32's for int8, half for bf16.
  EXPECT_EQ(kv_payload, 3 * rows_per_segment * info.kv_bytes_per_token);
}

TEST_P(SessionKvDTypeTest, ASessionResumesOnlyUnderTheSettingsItWasWrittenWith) {
  {
    auto engine = Open(GetParam());
    ASSERT_TRUE(engine->CreateSession("default", {.id = "doc"}).ok());
    ASSERT_TRUE(engine->AppendToSession("default", "doc", Input::Tokens(Document(40, 4))).ok());
    ASSERT_TRUE(engine->CreateSession("default", {.id = "empty"}).ok());
  }
  const std::string other = GetParam() == "bf16" ? "int8" : "bf16";
  auto engine = Open(other);
  auto refused = engine->GenerateFromSession("default", "doc", std::nullopt, Greedy(2), false);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.status().message(), HasSubstr("kv_dtype " + GetParam()));
  EXPECT_THAT(refused.status().message(), HasSubstr("kv_dtype " + other));
  EXPECT_THAT(refused.status().message(), HasSubstr("kv_dtype=" + GetParam()));
  EXPECT_EQ(engine->AppendToSession("default", "doc", Input::Tokens({5})).status().code(),
            absl::StatusCode::kFailedPrecondition);
  // Nothing stored yet: an empty session is computed with whatever engine first appends to it.
  auto appended = engine->AppendToSession("default", "empty", Input::Tokens(Document(20, 5)));
  ASSERT_TRUE(appended.ok()) << appended.status();
  EXPECT_EQ(appended->session.kv_dtype, other);
}

// A flipped bit in a KV segment's rows: resuming maps the segment without reading its rows, the
// first token still comes from the (checked) stored logits, and the first forward pass checks the
// rows before it reads them: DATA_LOSS naming the session, file and section, and again on retry.
TEST_P(SessionKvDTypeTest, AFlippedBitInAMappedSegmentIsFoundBeforeItsRowsAreUsed) {
  {
    auto engine = Open(GetParam());
    ASSERT_TRUE(engine->CreateSession("default", {.id = "doc"}).ok());
    ASSERT_TRUE(engine->AppendToSession("default", "doc", Input::Tokens(Document(80, 6))).ok());
    ASSERT_TRUE(engine->CreateSession("default", {.id = "healthy"}).ok());
    ASSERT_TRUE(engine->AppendToSession("default", "healthy", Input::Tokens(Document(50, 7))).ok());
  }
  const std::string path = Segments("doc")[1];
  std::string bytes = testing::ReadFile(path);
  for (const testing::SectionSpan& s : testing::SealedLayout(bytes)) {
    if (s.tag == "VALS") {
      bytes[s.InteriorByte()] ^= 0x10;
      break;
    }
  }
  testing::WriteFile(path, bytes);
  auto engine = Open(GetParam());
  auto first = engine->GenerateFromSession("default", "doc", std::nullopt, Greedy(1), false);
  ASSERT_TRUE(first.ok()) << first.status();  // no forward pass: the rows were not used
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto used = engine->GenerateFromSession("default", "doc", std::nullopt, Greedy(3), false);
    ASSERT_FALSE(used.ok());
    EXPECT_EQ(used.status().code(), absl::StatusCode::kDataLoss);
    EXPECT_THAT(used.status().message(), HasSubstr("checksum mismatch in section VALS"));
    EXPECT_THAT(used.status().message(), HasSubstr("session doc segment"));
  }
  EXPECT_EQ(engine->AppendToSession("default", "doc", Input::Tokens({9})).status().code(),
            absl::StatusCode::kDataLoss);
  // Another session in the same engine is unaffected.
  EXPECT_TRUE(
      engine->GenerateFromSession("default", "healthy", std::nullopt, Greedy(3), false).ok());
}

// A resume reads what it needs before the first token (headers, META, token ids, the Mamba
// checkpoint) and leaves the KV rows on the disk until a forward pass first reads them: a page
// fault on a mapped file would otherwise read the pages around it too (read_ahead_kb, 8 MiB on
// this project's VM), and with a section header before every layer's rows that is the whole file.
TEST_P(SessionKvDTypeTest, AResumeFromAColdPageCacheReadsTheSegmentsHeadersNotTheirRows) {
  {
    auto engine = Open(GetParam(), false, /*checkpoint_interval=*/2048);
    ASSERT_TRUE(engine->CreateSession("default", {.id = "doc"}).ok());
    ASSERT_TRUE(engine->AppendToSession("default", "doc", Input::Tokens(Document(4000, 9))).ok());
  }
  struct Rows {
    std::string path;
    size_t begin, end;
  };
  std::vector<Rows> rows;
  int64_t row_pages = 0;
  const int64_t page = ::sysconf(_SC_PAGESIZE);
  for (const std::string& path : Segments("doc")) {
    for (const testing::SectionSpan& s : testing::SealedLayout(testing::ReadFile(path))) {
      if (s.tag != "KEYS" && s.tag != "VALS") continue;
      rows.push_back({path, s.payload, s.payload + s.length});
      row_pages += (static_cast<int64_t>(s.length) + page - 1) / page;
    }
  }
  ASSERT_EQ(rows.size(), 8u);  // 2 segments x 2 attention layers x K and V
  for (const std::string& path : Segments("doc")) {
    if (!DropFromPageCache(path)) GTEST_SKIP() << "this filesystem keeps " << path << " cached";
  }
  auto cached_row_pages = [&] {
    int64_t cached = 0;
    for (const Rows& r : rows) cached += CachedPages(r.path, r.begin, r.end);
    return cached;
  };
  auto engine = Open(GetParam(), false, 2048);
  auto first = engine->GenerateFromSession("default", "doc", std::nullopt, Greedy(1), false);
  ASSERT_TRUE(first.ok()) << first.status();
  // At most the page a section's rows end in, which also holds the next section's header.
  EXPECT_LE(cached_row_pages(), static_cast<int64_t>(rows.size())) << "of " << row_pages;
  // The first forward pass checks and reads every row.
  auto used = engine->GenerateFromSession("default", "doc", std::nullopt, Greedy(2), false);
  ASSERT_TRUE(used.ok()) << used.status();
  EXPECT_EQ(cached_row_pages(), row_pages);
}

TEST_P(SessionKvDTypeTest, AnEncryptedStoreResumesExactlyFromDecryptedSegments) {
  const std::vector<int32_t> doc = Document(70, 8);
  Trace uninterrupted;
  {
    auto engine = Open(GetParam(), /*encrypted=*/true);
    ASSERT_TRUE(engine->CreateSession("default", {.id = "doc"}).ok());
    ASSERT_TRUE(engine->AppendToSession("default", "doc", Input::Tokens(doc)).ok());
    auto run = Record([&](StreamCallback cb) {
      return engine->GenerateFromSession("default", "doc", std::nullopt, Greedy(6), false, cb);
    });
    ASSERT_TRUE(run.ok());
    uninterrupted = *run;
  }
  // A modified encrypted segment fails authentication when the session is loaded.
  auto engine = Open(GetParam(), true);
  auto resumed = Record([&](StreamCallback cb) {
    return engine->GenerateFromSession("default", "doc", std::nullopt, Greedy(6), false, cb);
  });
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_EQ(resumed->tokens, uninterrupted.tokens);
  EXPECT_EQ(resumed->logprobs, uninterrupted.logprobs);
  engine.reset();
  const std::string path = Segments("doc")[0];
  std::string bytes = testing::ReadFile(path);
  bytes[bytes.size() / 2] ^= 0x01;
  testing::WriteFile(path, bytes);
  engine = Open(GetParam(), true);
  auto damaged = engine->GenerateFromSession("default", "doc", std::nullopt, Greedy(1), false);
  EXPECT_EQ(damaged.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(damaged.status().message(), HasSubstr("authentication failed"));
}

INSTANTIATE_TEST_SUITE_P(EveryDType, SessionKvDTypeTest, ::testing::Values("fp32", "bf16", "int8"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

}  // namespace
}  // namespace jamba
