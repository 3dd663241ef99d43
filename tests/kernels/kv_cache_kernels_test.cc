// The KV cache in its stored dtypes: the row codec (fp32, bf16, int8 and fp8 E4M3 with per-head
// scales) against exact definitions, and the CPU attention kernels reading each dtype in place
// from chunked rows, on every SIMD target this CPU supports: against a double-precision reference
// over the decoded rows, bitwise equal whatever the chunking, and StoreKv writing what the codec
// encodes.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/backend.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/dtype.h"
#include "kernels/kv_dtype.h"

namespace jamba::kernels {
namespace {

using cpu::SimdTarget;

constexpr KvDType kAllDTypes[] = {KvDType::kF32, KvDType::kBF16, KvDType::kI8, KvDType::kF8E4M3};

std::vector<float> RandomVector(std::mt19937& gen, size_t n, float lo, float hi) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(gen);
  return v;
}

std::vector<char> Encode(const std::vector<float>& rows, int64_t count, KvDType dtype,
                         int64_t heads, int64_t dh) {
  std::vector<char> out(static_cast<size_t>(count * KvRowBytes(dtype, heads, dh)));
  EncodeKvRows(rows.data(), count, dtype, heads, dh, out.data());
  return out;
}

std::vector<float> Decode(const std::vector<char>& rows, int64_t count, KvDType dtype,
                          int64_t heads, int64_t dh) {
  std::vector<float> out(static_cast<size_t>(count * heads * dh));
  DecodeKvRows(rows.data(), count, dtype, heads, dh, out.data());
  return out;
}

TEST(KvCodecTest, RowBytesAndNamesPerDType) {
  EXPECT_EQ(KvRowBytes(KvDType::kF32, 8, 128), 4096);
  EXPECT_EQ(KvRowBytes(KvDType::kBF16, 8, 128), 2048);
  EXPECT_EQ(KvRowBytes(KvDType::kI8, 8, 128), 1024 + 32);
  EXPECT_EQ(KvRowBytes(KvDType::kF8E4M3, 8, 128), 1024 + 32);
  for (KvDType dtype : kAllDTypes) EXPECT_EQ(ParseKvDType(KvDTypeName(dtype)), dtype);
  EXPECT_EQ(ParseKvDType("fp16"), std::nullopt);
}

TEST(KvCodecTest, Fp32IsExactAndBf16RoundsToNearestEven) {
  std::mt19937 gen(1);
  const std::vector<float> x = RandomVector(gen, 3 * 2 * 20, -50, 50);
  EXPECT_EQ(Decode(Encode(x, 3, KvDType::kF32, 2, 20), 3, KvDType::kF32, 2, 20), x);
  const std::vector<float> bf =
      Decode(Encode(x, 3, KvDType::kBF16, 2, 20), 3, KvDType::kBF16, 2, 20);
  for (size_t i = 0; i < x.size(); ++i) EXPECT_EQ(bf[i], BF16ToF32(F32ToBF16(x[i]))) << i;
}

// int8: each head's values are within half a step (its scale) of the input, the head's largest
// magnitude is stored exactly as +-127, and an all-zero head stays zero.
TEST(KvCodecTest, Int8KeepsEachHeadWithinHalfItsScale) {
  std::mt19937 gen(2);
  const int64_t heads = 3, dh = 33, rows = 5;
  std::vector<float> x = RandomVector(gen, static_cast<size_t>(rows * heads * dh), -3, 3);
  for (int64_t i = 0; i < dh; ++i) x[static_cast<size_t>(heads * dh + dh + i)] = 0.0f;
  const std::vector<char> stored = Encode(x, rows, KvDType::kI8, heads, dh);
  const std::vector<float> back = Decode(stored, rows, KvDType::kI8, heads, dh);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t h = 0; h < heads; ++h) {
      float absmax = 0;
      for (int64_t i = 0; i < dh; ++i)
        absmax = std::max(absmax, std::fabs(x[static_cast<size_t>((r * heads + h) * dh + i)]));
      const float scale = absmax / 127.0f;
      for (int64_t i = 0; i < dh; ++i) {
        const size_t at = static_cast<size_t>((r * heads + h) * dh + i);
        EXPECT_LE(std::fabs(back[at] - x[at]), 0.5f * scale * 1.0001f) << r << " " << h << " " << i;
        if (std::fabs(x[at]) == absmax && absmax > 0) {
          EXPECT_FLOAT_EQ(std::fabs(back[at]), absmax);
        }
      }
    }
  }
  for (int64_t i = 0; i < dh; ++i) EXPECT_EQ(back[static_cast<size_t>(heads * dh + dh + i)], 0.0f);
}

// E4M3: every finite code decodes to (1 + m/8) 2^(e-7) (or m 2^-9 for subnormals), and encoding
// picks the nearest code (ties to the even one), saturating at 448.
TEST(KvCodecTest, E4M3EncodesToTheNearestCodeAndDecodesExactly) {
  std::vector<float> codes;
  for (int b = 0; b < 0x7f; ++b) {  // 0x7f is NaN in E4M3FN
    const int e = b >> 3, m = b & 7;
    const float expected =
        e == 0 ? std::ldexp(static_cast<float>(m), -9) : std::ldexp(1.0f + m / 8.0f, e - 7);
    ASSERT_EQ(E4M3ToF32(static_cast<uint8_t>(b)), expected) << b;
    ASSERT_EQ(E4M3ToF32(static_cast<uint8_t>(b | 0x80)), -expected) << b;
    codes.push_back(expected);
  }
  EXPECT_EQ(codes.back(), 448.0f);
  std::mt19937 gen(3);
  std::uniform_real_distribution<float> exponent(-12, 9.5f);
  for (int i = 0; i < 20000; ++i) {
    const float x = std::exp2(exponent(gen)) * (i % 2 ? -1.0f : 1.0f);
    const float got = E4M3ToF32(F32ToE4M3(x));
    if (std::fabs(x) >= 448.0f) {
      EXPECT_EQ(std::fabs(got), 448.0f) << x;
      continue;
    }
    // Nearest by brute force; on a tie the even mantissa (lower code) wins.
    size_t best = 0;
    for (size_t c = 1; c < codes.size(); ++c) {
      const float d = std::fabs(codes[c] - std::fabs(x)),
                  db = std::fabs(codes[best] - std::fabs(x));
      if (d < db || (d == db && (c & 1) == 0 && (best & 1) == 1)) best = c;
    }
    EXPECT_EQ(std::fabs(got), codes[best]) << x;
    EXPECT_EQ(std::signbit(got), std::signbit(x)) << x;
  }
}

class KvAttentionTest : public ::testing::TestWithParam<SimdTarget> {
 protected:
  void SetUp() override {
    const auto supported = cpu::SupportedSimdTargets();
    if (std::find(supported.begin(), supported.end(), GetParam()) == supported.end())
      GTEST_SKIP() << "SIMD target " << cpu::SimdTargetName(GetParam()) << " is not supported here";
    auto backend = cpu::CpuBackend::Create({.num_threads = 2, .simd_target = GetParam()});
    ASSERT_TRUE(backend.ok()) << backend.status();
    backend_ = *std::move(backend);
  }
  std::unique_ptr<cpu::CpuBackend> backend_;
};

// Causal GQA attention in double precision over fp32 rows (the decoded cache).
std::vector<double> ReferenceAttention(const std::vector<float>& q, const std::vector<float>& k,
                                       const std::vector<float>& v, int64_t tokens, int64_t past,
                                       int heads, int kv_heads, int dh) {
  const int64_t q_stride = int64_t{heads} * dh, kv_stride = int64_t{kv_heads} * dh;
  const int group = heads / kv_heads;
  std::vector<double> out(static_cast<size_t>(tokens * q_stride));
  for (int64_t t = 0; t < tokens; ++t) {
    for (int h = 0; h < heads; ++h) {
      const int kvh = h / group;
      const int64_t visible = past + t + 1;
      std::vector<double> s(static_cast<size_t>(visible));
      for (int64_t p = 0; p < visible; ++p) {
        double dot = 0;
        for (int i = 0; i < dh; ++i)
          dot +=
              static_cast<double>(q[t * q_stride + h * dh + i]) * k[p * kv_stride + kvh * dh + i];
        s[p] = dot / std::sqrt(static_cast<double>(dh));
      }
      const double max_s = *std::max_element(s.begin(), s.end());
      double sum = 0;
      for (double& x : s) sum += (x = std::exp(x - max_s));
      for (int i = 0; i < dh; ++i) {
        double acc = 0;
        for (int64_t p = 0; p < visible; ++p) acc += s[p] / sum * v[p * kv_stride + kvh * dh + i];
        out[t * q_stride + h * dh + i] = acc;
      }
    }
  }
  return out;
}

// Chunks of `rows` stored rows cut at `cuts` (positions where a new chunk starts), each chunk a
// separate copy so that no kernel can read across a boundary by accident.
struct Chunked {
  std::vector<std::vector<char>> keys, values;
  std::vector<KvChunk> chunks;
};

Chunked Cut(const std::vector<char>& k, const std::vector<char>& v, int64_t rows, int64_t row_bytes,
            const std::vector<int64_t>& cuts) {
  Chunked c;
  std::vector<int64_t> bounds = {0};
  for (int64_t cut : cuts) {
    if (cut > bounds.back() && cut < rows) bounds.push_back(cut);
  }
  bounds.push_back(rows);
  for (size_t i = 0; i + 1 < bounds.size(); ++i) {
    const size_t from = static_cast<size_t>(bounds[i] * row_bytes);
    const size_t to = static_cast<size_t>(bounds[i + 1] * row_bytes);
    c.keys.emplace_back(k.begin() + static_cast<ptrdiff_t>(from),
                        k.begin() + static_cast<ptrdiff_t>(to));
    c.values.emplace_back(v.begin() + static_cast<ptrdiff_t>(from),
                          v.begin() + static_cast<ptrdiff_t>(to));
  }
  for (size_t i = 0; i < c.keys.size(); ++i)
    c.chunks.push_back({c.keys[i].data(), c.values[i].data(), bounds[i + 1] - bounds[i]});
  return c;
}

TEST_P(KvAttentionTest, EachDTypeMatchesTheReferenceOverItsDecodedRows) {
  std::mt19937 gen(11);
  struct Shape {
    int heads, kv_heads, dh;
  };
  for (KvDType dtype : kAllDTypes) {
    for (const Shape sh : {Shape{4, 2, 16}, Shape{8, 2, 20}, Shape{4, 1, 64}}) {
      for (auto [tokens, past] : {std::pair<int64_t, int64_t>{1, 0}, {1, 300}, {5, 3}, {37, 130}}) {
        const int64_t total = past + tokens;
        const int64_t q_stride = int64_t{sh.heads} * sh.dh, kv_width = int64_t{sh.kv_heads} * sh.dh;
        const std::vector<float> q =
            RandomVector(gen, static_cast<size_t>(tokens * q_stride), -2, 2);
        const std::vector<float> k =
            RandomVector(gen, static_cast<size_t>(total * kv_width), -2, 2);
        const std::vector<float> v =
            RandomVector(gen, static_cast<size_t>(total * kv_width), -1, 1);
        const std::vector<char> ks = Encode(k, total, dtype, sh.kv_heads, sh.dh);
        const std::vector<char> vs = Encode(v, total, dtype, sh.kv_heads, sh.dh);
        const KvChunk chunk{ks.data(), vs.data(), total};
        std::vector<float> out(static_cast<size_t>(tokens * q_stride),
                               std::numeric_limits<float>::quiet_NaN());
        backend_->Attention({.tokens = tokens,
                             .past = past,
                             .num_heads = sh.heads,
                             .num_kv_heads = sh.kv_heads,
                             .head_dim = sh.dh,
                             .q = q.data(),
                             .kv_dtype = dtype,
                             .kv = {&chunk, 1},
                             .out = out.data()});
        const std::vector<double> expected =
            ReferenceAttention(q, Decode(ks, total, dtype, sh.kv_heads, sh.dh),
                               Decode(vs, total, dtype, sh.kv_heads, sh.dh), tokens, past, sh.heads,
                               sh.kv_heads, sh.dh);
        double worst = 0;
        for (size_t i = 0; i < out.size(); ++i)
          worst = std::max(worst, std::fabs(out[i] - expected[i]));
        // fp32 arithmetic over the stored values: outputs are convex combinations of values in
        // [-1, 1], scores up to ~16 before the softmax.
        EXPECT_LT(worst, 2e-5) << KvDTypeName(dtype) << " heads " << sh.heads << "/" << sh.kv_heads
                               << " dh " << sh.dh << " tokens " << tokens << " past " << past;
      }
    }
  }
}

// A resumed session's cache is several mapped segments followed by pages; a fresh one is pages.
// Whatever the cut, and whether a key block of the kernel spans two chunks, the output is the
// same bits as one contiguous chunk's.
TEST_P(KvAttentionTest, ChunkedRowsGiveBitwiseTheSameOutputAsOneChunk) {
  std::mt19937 gen(12);
  const int heads = 8, kv_heads = 2, dh = 32;
  for (KvDType dtype : kAllDTypes) {
    for (auto [tokens, past] : {std::pair<int64_t, int64_t>{1, 700}, {9, 300}, {40, 0}}) {
      const int64_t total = past + tokens;
      const int64_t row_bytes = KvRowBytes(dtype, kv_heads, dh);
      const std::vector<float> q =
          RandomVector(gen, static_cast<size_t>(tokens * heads * dh), -2, 2);
      const std::vector<char> ks =
          Encode(RandomVector(gen, static_cast<size_t>(total * kv_heads * dh), -2, 2), total, dtype,
                 kv_heads, dh);
      const std::vector<char> vs =
          Encode(RandomVector(gen, static_cast<size_t>(total * kv_heads * dh), -1, 1), total, dtype,
                 kv_heads, dh);
      const KvChunk whole{ks.data(), vs.data(), total};
      std::vector<float> expected(q.size());
      AttentionArgs args{.tokens = tokens,
                         .past = past,
                         .num_heads = heads,
                         .num_kv_heads = kv_heads,
                         .head_dim = dh,
                         .q = q.data(),
                         .kv_dtype = dtype,
                         .kv = {&whole, 1},
                         .out = expected.data()};
      backend_->Attention(args);
      for (const std::vector<int64_t>& cuts :
           {std::vector<int64_t>{1}, {37, 38, 200}, {128, 256}, {127, 129, 300, 301, 650}}) {
        const Chunked chunked = Cut(ks, vs, total, row_bytes, cuts);
        std::vector<float> out(q.size(), std::numeric_limits<float>::quiet_NaN());
        args.kv = chunked.chunks;
        args.out = out.data();
        backend_->Attention(args);
        EXPECT_EQ(0, std::memcmp(out.data(), expected.data(), out.size() * sizeof(float)))
            << KvDTypeName(dtype) << " tokens " << tokens << " past " << past << " in "
            << chunked.chunks.size() << " chunks";
      }
    }
  }
}

TEST_P(KvAttentionTest, StoreKvWritesWhatTheCodecEncodes) {
  std::mt19937 gen(13);
  const int kv_heads = 3, dh = 24;
  const int64_t rows = 70;
  for (KvDType dtype : kAllDTypes) {
    const std::vector<float> k =
        RandomVector(gen, static_cast<size_t>(rows * kv_heads * dh), -4, 4);
    const std::vector<float> v = RandomVector(gen, k.size(), -4, 4);
    const int64_t row_bytes = KvRowBytes(dtype, kv_heads, dh);
    std::vector<char> dk(static_cast<size_t>(rows * row_bytes)), dv(dk.size());
    // Two writes, as a forward pass whose new rows span two pages makes.
    const KvStoreArgs writes[] = {{.rows = 41,
                                   .num_kv_heads = kv_heads,
                                   .head_dim = dh,
                                   .dtype = dtype,
                                   .keys = k.data(),
                                   .values = v.data(),
                                   .dst_keys = dk.data(),
                                   .dst_values = dv.data()},
                                  {.rows = rows - 41,
                                   .num_kv_heads = kv_heads,
                                   .head_dim = dh,
                                   .dtype = dtype,
                                   .keys = k.data() + 41 * kv_heads * dh,
                                   .values = v.data() + 41 * kv_heads * dh,
                                   .dst_keys = dk.data() + 41 * row_bytes,
                                   .dst_values = dv.data() + 41 * row_bytes}};
    backend_->StoreKv(writes);
    EXPECT_EQ(dk, Encode(k, rows, dtype, kv_heads, dh)) << KvDTypeName(dtype);
    EXPECT_EQ(dv, Encode(v, rows, dtype, kv_heads, dh)) << KvDTypeName(dtype);
  }
}

INSTANTIATE_TEST_SUITE_P(EveryTarget, KvAttentionTest,
                         ::testing::Values(SimdTarget::kScalar, SimdTarget::kAvx2,
                                           SimdTarget::kAvx512),
                         [](const ::testing::TestParamInfo<SimdTarget>& target) {
                           return std::string(cpu::SimdTargetName(target.param));
                         });

}  // namespace
}  // namespace jamba::kernels
