// KvCache: pages that grow without moving a row, rows adopted in place and checked once before
// use, truncation that never writes into adopted memory, clones that share adopted rows, the
// single contiguous block of a device backend; and the memory budget that refuses a context that
// cannot fit before any work starts.
#include "engine/kv_cache.h"

#include <cstring>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/exhausted_resource.h"
#include "engine/jamba_model.h"
#include "engine/memory_budget.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/cpu/cpu_backend.h"
#include "tests/util/test_util.h"

namespace jamba::engine {
namespace {

using kernels::KvDType;
using ::testing::HasSubstr;

constexpr int kLayers = 2;
constexpr int64_t kHeads = 2, kDh = 8;

std::unique_ptr<kernels::cpu::CpuBackend> Cpu() {
  auto backend = kernels::cpu::CpuBackend::Create({.num_threads = 1});
  EXPECT_TRUE(backend.ok());
  return *std::move(backend);
}

KvCache::Shape Shape(KvDType dtype = KvDType::kF32) { return {dtype, kHeads, kDh, kLayers}; }

// Host rows for every layer: row r of layer a holds the value 1000 a + r (keys) and its negative
// (values), so any misplaced row shows.
struct HostRows {
  std::vector<std::vector<float>> keys, values;
  std::vector<const void*> key_ptrs, value_ptrs;
  HostRows(int64_t first, int64_t count) {
    for (int a = 0; a < kLayers; ++a) {
      keys.emplace_back(static_cast<size_t>(count * kHeads * kDh));
      values.emplace_back(keys.back().size());
      for (int64_t r = 0; r < count; ++r) {
        for (int64_t i = 0; i < kHeads * kDh; ++i) {
          keys[a][r * kHeads * kDh + i] = static_cast<float>(1000 * a + first + r);
          values[a][r * kHeads * kDh + i] = -static_cast<float>(1000 * a + first + r);
        }
      }
    }
    for (int a = 0; a < kLayers; ++a) {
      key_ptrs.push_back(keys[a].data());
      value_ptrs.push_back(values[a].data());
    }
  }
};

// The key value of row p of layer a, read through the chunks the kernels see.
float KeyAt(const KvCache& cache, int a, int64_t p) {
  int64_t first = 0;
  for (const kernels::KvChunk& c : cache.chunks(a)) {
    if (p < first + c.rows) {
      float v;
      std::memcpy(&v, static_cast<const char*>(c.keys) + (p - first) * cache.row_bytes(), 4);
      return v;
    }
    first += c.rows;
  }
  return -1;
}

TEST(KvCacheTest, PagesGrowWithoutMovingRowsOnKeyBlockBoundaries) {
  auto backend = Cpu();
  KvCache cache(*backend, Shape(), nullptr);
  const HostRows first(0, 100);
  ASSERT_TRUE(cache.AppendRows(100, first.key_ptrs, first.value_ptrs).ok());
  const void* row0 = cache.chunks(0)[0].keys;
  for (int64_t grown = 100; grown < 5000; grown += 300) {
    const HostRows more(grown, 300);
    ASSERT_TRUE(cache.AppendRows(300, more.key_ptrs, more.value_ptrs).ok());
  }
  EXPECT_EQ(cache.rows(), 5200);
  EXPECT_EQ(cache.chunks(0)[0].keys, row0);  // growing never copied the first page
  int64_t start = 0;
  for (const kernels::KvChunk& c : cache.chunks(1)) {
    EXPECT_EQ(start % 128, 0) << "pages start on the attention kernel's key blocks";
    EXPECT_LE(c.rows, KvCache::kMaxPageRows);
    start += c.rows;
  }
  EXPECT_GE(start, cache.rows());
  for (int64_t p : {0, 99, 100, 127, 128, 2047, 4999, 5199}) {
    EXPECT_EQ(KeyAt(cache, 0, p), static_cast<float>(p));
    EXPECT_EQ(KeyAt(cache, 1, p), static_cast<float>(1000 + p));
  }
}

TEST(KvCacheTest, BytesToReserveIsWhatReserveAllocatesAndTheBudgetSeesIt) {
  auto backend = Cpu();
  auto budget = std::make_shared<MemoryBudget>(int64_t{1} << 30);
  KvCache cache(*backend, Shape(KvDType::kI8), budget);
  for (int64_t extra : {1, 127, 129, 3000, 10000}) {
    const int64_t expected = cache.BytesToReserve(extra);
    const int64_t before = cache.OwnedBytes();
    ASSERT_TRUE(cache.Reserve(extra).ok());
    EXPECT_EQ(cache.OwnedBytes() - before, expected) << extra;
    EXPECT_EQ(budget->used(), cache.OwnedBytes());
    cache.Grow(extra);
  }
  {
    KvCache moved = std::move(cache);
    EXPECT_EQ(budget->used(), moved.OwnedBytes());
  }
  EXPECT_EQ(budget->used(), 0);  // every page given back
}

TEST(KvCacheTest, AdoptedRowsAreUsedInPlaceAndCheckedOnceBeforeUse) {
  auto backend = Cpu();
  KvCache cache(*backend, Shape(), nullptr);
  const HostRows owned(0, 10);
  ASSERT_TRUE(cache.AppendRows(10, owned.key_ptrs, owned.value_ptrs).ok());
  auto mapped = std::make_shared<HostRows>(10, 50);
  int checks = 0;
  ASSERT_TRUE(cache
                  .AdoptRows(50, mapped->key_ptrs, mapped->value_ptrs, mapped,
                             [&checks] {
                               ++checks;
                               return absl::OkStatus();
                             })
                  .ok());
  EXPECT_EQ(cache.rows(), 60);
  EXPECT_EQ(cache.chunks(0)[1].keys, mapped->keys[0].data());  // no copy
  EXPECT_EQ(cache.AdoptedBytes(), 2 * kLayers * 50 * cache.row_bytes());
  EXPECT_EQ(checks, 0);
  EXPECT_TRUE(cache.Verify().ok());
  EXPECT_TRUE(cache.Verify().ok());
  EXPECT_EQ(checks, 1);
  // The sequence continues in a new page after the adopted rows.
  ASSERT_TRUE(cache.Reserve(5).ok());
  std::vector<int64_t> run_firsts;
  cache.ForEachRun(0, 60, 65,
                   [&](void*, void*, int64_t first, int64_t) { run_firsts.push_back(first); });
  EXPECT_EQ(run_firsts, std::vector<int64_t>({60}));
  EXPECT_EQ(KeyAt(cache, 1, 59), static_cast<float>(1059));
}

TEST(KvCacheTest, AFailedCheckIsReturnedEveryTimeAndSharedByClones) {
  auto backend = Cpu();
  KvCache cache(*backend, Shape(), nullptr);
  auto mapped = std::make_shared<HostRows>(0, 20);
  ASSERT_TRUE(cache
                  .AdoptRows(20, mapped->key_ptrs, mapped->value_ptrs, mapped,
                             [] { return absl::DataLossError("segment seg-1.kv: checksum"); })
                  .ok());
  auto clone = cache.Clone();
  ASSERT_TRUE(clone.ok());
  EXPECT_EQ(cache.Verify().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(cache.Verify().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(clone->Verify().code(), absl::StatusCode::kDataLoss);
}

TEST(KvCacheTest, TruncatingIntoAdoptedRowsNeverWritesThem) {
  auto backend = Cpu();
  KvCache cache(*backend, Shape(), nullptr);
  auto mapped = std::make_shared<HostRows>(0, 40);
  const std::vector<float> before = mapped->keys[0];
  ASSERT_TRUE(cache.AdoptRows(40, mapped->key_ptrs, mapped->value_ptrs, mapped, nullptr).ok());
  cache.Truncate(25);
  EXPECT_EQ(cache.rows(), 25);
  ASSERT_TRUE(cache.Reserve(3).ok());
  cache.ForEachRun(0, 25, 28, [&](void* keys, void*, int64_t first, int64_t count) {
    EXPECT_EQ(first, 25);
    EXPECT_EQ(count, 3);
    EXPECT_NE(keys, static_cast<const void*>(mapped->keys[0].data() + 25 * kHeads * kDh));
    std::memset(keys, 0, static_cast<size_t>(count * cache.row_bytes()));
  });
  cache.Grow(3);
  EXPECT_EQ(mapped->keys[0], before);
  EXPECT_EQ(KeyAt(cache, 0, 24), 24.0f);
  EXPECT_EQ(KeyAt(cache, 0, 26), 0.0f);
}

TEST(KvCacheTest, CloneSharesAdoptedRowsAndCopiesPagesTrimmedToTheRows) {
  auto backend = Cpu();
  KvCache cache(*backend, Shape(KvDType::kBF16), nullptr);
  auto mapped = std::make_shared<HostRows>(0, 30);
  // bf16 rows are half as wide: adopt the fp32 host vectors' bytes as rows all the same.
  ASSERT_TRUE(cache.AdoptRows(30, mapped->key_ptrs, mapped->value_ptrs, mapped, nullptr).ok());
  const HostRows tail(30, 7);
  ASSERT_TRUE(cache.AppendRows(7, tail.key_ptrs, tail.value_ptrs).ok());
  auto clone = cache.Clone();
  ASSERT_TRUE(clone.ok());
  EXPECT_EQ(clone->rows(), 37);
  EXPECT_EQ(clone->chunks(0)[0].keys, cache.chunks(0)[0].keys);
  EXPECT_NE(clone->chunks(0)[1].keys, cache.chunks(0)[1].keys);
  EXPECT_EQ(clone->OwnedBytes(), 2 * kLayers * 7 * cache.row_bytes());
  std::vector<char> a(static_cast<size_t>(37 * cache.row_bytes())), b(a.size()), c(a.size()),
      d(a.size());
  cache.ReadRows(1, 0, 37, a.data(), b.data());
  clone->ReadRows(1, 0, 37, c.data(), d.data());
  EXPECT_EQ(a, c);
  EXPECT_EQ(b, d);
}

// A backend whose memory the host must not touch directly (as CUDA's): the cache keeps one
// contiguous block for its kernels, grown by doubling, and refuses to adopt host rows.
TEST(KvCacheTest, ADeviceCacheKeepsOneContiguousChunk) {
  auto cpu = Cpu();
  struct DeviceMemory final : kernels::Backend {
    explicit DeviceMemory(kernels::Backend& inner) : inner(inner) {}
    kernels::Backend& inner;
    std::string Name() const override { return "device-like"; }
    bool UsesHostMemory() const override { return false; }
    absl::StatusOr<kernels::DeviceBuffer> Allocate(size_t bytes) override {
      auto buffer = inner.Allocate(bytes);
      if (!buffer.ok()) return buffer.status();
      void* data = buffer->data();
      kept.push_back(*std::move(buffer));
      return kernels::DeviceBuffer(this, data, bytes);
    }
    void CopyFromHost(void* d, const void* s, size_t n) override { inner.CopyFromHost(d, s, n); }
    void CopyToHost(void* d, const void* s, size_t n) override { inner.CopyToHost(d, s, n); }
    void Copy(void* d, const void* s, size_t n) override { inner.Copy(d, s, n); }
    void Fill(float* d, float v, size_t n) override { inner.Fill(d, v, n); }
    void Synchronize() override {}
    absl::StatusOr<kernels::Matrix> PrepareMatrix(const kernels::Matrix& m,
                                                  kernels::WeightFormat f) override {
      return inner.PrepareMatrix(m, f);
    }
    bool KeepsHostWeights() const override { return false; }
    absl::StatusOr<const float*> PrepareVector(const void* h, kernels::DType t, size_t n) override {
      return inner.PrepareVector(h, t, n);
    }
    void EmbeddingLookup(const kernels::Matrix&, std::span<const int32_t>, float*) override {}
    void MatMul(const kernels::Matrix&, const float*, int64_t, float*, const float*) override {}
    void RmsNorm(const float*, int64_t, int64_t, int64_t, const float*, float, float*,
                 int64_t) override {}
    void Add(float*, const float*, size_t) override {}
    void SwiGluMlp(const kernels::MlpWeights&, const float*, int64_t, float*) override {}
    void Moe(const kernels::MoeArgs&) override {}
    using Backend::Attention;
    using Backend::CausalConv1dSilu;
    using Backend::SelectiveScan;
    void CausalConv1dSilu(std::span<const kernels::CausalConvArgs>) override {}
    void SelectiveScan(std::span<const kernels::SelectiveScanArgs>) override {}
    void Attention(std::span<const kernels::AttentionArgs>) override {}
    bool SupportsKvDType(KvDType dtype) const override { return dtype == KvDType::kF32; }
    void StoreKv(std::span<const kernels::KvStoreArgs>) override {}

   protected:
    void Free(void* data, size_t) override {
      std::erase_if(kept, [data](const kernels::DeviceBuffer& b) { return b.data() == data; });
    }
    std::vector<kernels::DeviceBuffer> kept;
  } device(*cpu);
  KvCache cache(device, Shape(), nullptr);
  for (int64_t start = 0; start < 1000; start += 150) {
    const HostRows rows(start, 150);
    ASSERT_TRUE(cache.AppendRows(150, rows.key_ptrs, rows.value_ptrs).ok());
    ASSERT_EQ(cache.chunks(0).size(), 1u);
  }
  for (int64_t p : {0, 149, 150, 777, 1049}) EXPECT_EQ(KeyAt(cache, 1, p), 1000.0f + p);
  auto mapped = std::make_shared<HostRows>(0, 4);
  EXPECT_EQ(cache.AdoptRows(4, mapped->key_ptrs, mapped->value_ptrs, mapped, nullptr).code(),
            absl::StatusCode::kFailedPrecondition);
  cache.Truncate(10);
  ASSERT_EQ(cache.chunks(0).size(), 1u);
  EXPECT_EQ(KeyAt(cache, 0, 9), 9.0f);
}

TEST(MemoryBudgetTest, AFixedLimitCountsWhatIsHeld) {
  MemoryBudget budget(1000);
  EXPECT_EQ(budget.Available(), 1000);
  budget.Add(300);
  EXPECT_EQ(budget.Available(), 700);
  budget.Remove(300);
  EXPECT_EQ(budget.Available(), 1000);
  EXPECT_THAT(budget.LimitName(), HasSubstr("kv_memory_bytes"));
}

TEST(MemoryBudgetTest, TheMachineProbeReportsAvailableMemory) {
  const int64_t available = ProbeAvailableMemory();
  ASSERT_GT(available, 0) << "this machine has /proc/meminfo";
  MemoryBudget budget(0);
  EXPECT_LE(budget.Available(), available);
  EXPECT_THAT(budget.LimitName(), HasSubstr("available memory"));
}

// The model refuses, when work is admitted, a context whose KV cannot fit, naming the limit and
// what would fit; a context that fits is accepted.
TEST(MemoryBudgetTest, TheModelRefusesAContextThatCannotFitAndSaysWhatFits) {
  auto backend = Cpu();
  ModelOptions options;
  options.kv_dtype = KvDType::kBF16;
  options.kv_memory_bytes = int64_t{1} << 20;
  auto model = JambaModel::Load(testing::GoldenDir("hybrid8_moe_f32_sharded"), *backend, options);
  ASSERT_TRUE(model.ok()) << model.status();
  auto state = (*model)->NewSequence();
  ASSERT_TRUE(state.ok());
  const int64_t per_token = (*model)->config().KvBytesPerToken(KvDType::kBF16);
  const int64_t fits = (int64_t{1} << 20) / per_token;
  EXPECT_TRUE((*model)->CheckContextFits(*state, fits / 2).ok());
  const absl::Status refused = (*model)->CheckContextFits(*state, 2 * fits);
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ExhaustedResourceOf(refused), ExhaustedResource::kMemory);
  EXPECT_THAT(refused.message(), HasSubstr("kv_memory_bytes (1048576 bytes)"));
  EXPECT_THAT(refused.message(), HasSubstr("kv_dtype bf16"));
  EXPECT_THAT(refused.message(), HasSubstr("tokens fit"));
}

}  // namespace
}  // namespace jamba::engine
