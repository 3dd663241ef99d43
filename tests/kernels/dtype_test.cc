// bf16 and f16 conversions: exact widening of every 16-bit pattern, round-to-nearest-even
// narrowing (checked against the two neighbouring representable values), and the special cases
// (NaN, infinities, overflow, subnormals, signed zero).
#include "kernels/dtype.h"

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>

#include "gtest/gtest.h"

namespace jamba::kernels {
namespace {

float Bits(uint32_t bits) { return std::bit_cast<float>(bits); }

// The exact value of an IEEE half, computed independently of F16ToF32.
double HalfValue(uint16_t h) {
  const int sign = (h & 0x8000) ? -1 : 1;
  const int exponent = (h >> 10) & 0x1f;
  const int mantissa = h & 0x3ff;
  if (exponent == 0) return sign * std::ldexp(mantissa, -24);
  if (exponent == 0x1f) return mantissa ? NAN : sign * INFINITY;
  return sign * std::ldexp(1024 + mantissa, exponent - 25);
}

TEST(DTypeTest, SizesAndNames) {
  EXPECT_EQ(DTypeSize(DType::kF32), 4u);
  EXPECT_EQ(DTypeSize(DType::kBF16), 2u);
  EXPECT_EQ(DTypeSize(DType::kF16), 2u);
  EXPECT_EQ(DTypeSize(DType::kI8), 1u);
  EXPECT_EQ(DTypeName(DType::kF32), "F32");
  EXPECT_EQ(DTypeName(DType::kBF16), "BF16");
  EXPECT_EQ(DTypeName(DType::kF16), "F16");
  EXPECT_EQ(DTypeName(DType::kI8), "I8");
}

TEST(DTypeTest, Bf16WideningIsExactAndNarrowingRoundTripsEveryPattern) {
  for (uint32_t b = 0; b <= 0xffff; ++b) {
    const uint16_t bits = static_cast<uint16_t>(b);
    const float f = BF16ToF32(bits);
    ASSERT_EQ(std::bit_cast<uint32_t>(f), b << 16);
    if (std::isnan(f)) {
      ASSERT_TRUE(std::isnan(BF16ToF32(F32ToBF16(f)))) << std::hex << b;
    } else {
      ASSERT_EQ(F32ToBF16(f), bits) << std::hex << b;
    }
  }
}

TEST(DTypeTest, Bf16RoundsToNearestEven) {
  EXPECT_EQ(F32ToBF16(1.0f), 0x3f80);
  EXPECT_EQ(F32ToBF16(-2.0f), 0xc000);
  EXPECT_EQ(F32ToBF16(Bits(0x3f808000)), 0x3f80);  // halfway, 0x3f80 is even: down
  EXPECT_EQ(F32ToBF16(Bits(0x3f818000)), 0x3f82);  // halfway, 0x3f81 is odd: up
  EXPECT_EQ(F32ToBF16(Bits(0x3f808001)), 0x3f81);  // above halfway
  EXPECT_EQ(F32ToBF16(Bits(0x3f807fff)), 0x3f80);  // below halfway
  EXPECT_EQ(F32ToBF16(Bits(0xbf818000)), 0xbf82);  // negative: same rule on the magnitude
  EXPECT_EQ(F32ToBF16(Bits(0x3fffffff)), 0x4000);  // carry into the exponent
}

TEST(DTypeTest, Bf16SpecialValues) {
  EXPECT_EQ(F32ToBF16(INFINITY), 0x7f80);
  EXPECT_EQ(F32ToBF16(-INFINITY), 0xff80);
  EXPECT_EQ(F32ToBF16(std::numeric_limits<float>::max()), 0x7f80);  // rounds up to inf
  EXPECT_EQ(F32ToBF16(Bits(0x7f7f7fff)), 0x7f7f);                   // largest finite stays
  EXPECT_EQ(F32ToBF16(0.0f), 0x0000);
  EXPECT_EQ(F32ToBF16(-0.0f), 0x8000);
  // NaN stays NaN even when its payload is only in the low 16 bits (truncation would give inf).
  for (uint32_t nan_bits : {0x7fc00000u, 0x7f800001u, 0xff800001u, 0x7fffffffu}) {
    const uint16_t b = F32ToBF16(Bits(nan_bits));
    EXPECT_TRUE(std::isnan(BF16ToF32(b))) << std::hex << nan_bits;
    EXPECT_EQ(b & 0x8000, (nan_bits >> 16) & 0x8000) << "sign kept";
  }
  // Subnormals.
  EXPECT_EQ(F32ToBF16(Bits(0x00010000)), 0x0001);
  EXPECT_EQ(F32ToBF16(Bits(0x00000001)), 0x0000);
  EXPECT_EQ(F32ToBF16(Bits(0x00008000)), 0x0000);  // halfway to even 0
  EXPECT_EQ(F32ToBF16(Bits(0x00018000)), 0x0002);  // halfway to even 2
  EXPECT_EQ(F32ToBF16(Bits(0x807f8000)), 0x8080);  // largest subnormal rounds to min normal
}

TEST(DTypeTest, F16WideningMatchesTheIeeeDefinitionForEveryPattern) {
  for (uint32_t b = 0; b <= 0xffff; ++b) {
    const uint16_t h = static_cast<uint16_t>(b);
    const float f = F16ToF32(h);
    const double want = HalfValue(h);
    if (std::isnan(want)) {
      ASSERT_TRUE(std::isnan(f)) << std::hex << b;
      ASSERT_TRUE(std::isnan(F16ToF32(F32ToF16(f)))) << std::hex << b;
      continue;
    }
    ASSERT_EQ(static_cast<double>(f), want) << std::hex << b;
    ASSERT_EQ(std::signbit(f), (b & 0x8000) != 0) << std::hex << b;
    ASSERT_EQ(F32ToF16(f), h) << std::hex << b;  // exact round trip
  }
}

// F32ToF16 gives the nearest half (ties to even) for any finite float in range: checked against
// the neighbouring halves on random inputs spread over every exponent, subnormals included.
TEST(DTypeTest, F16NarrowingIsNearestWithTiesToEven) {
  std::mt19937 gen(77);
  std::uniform_int_distribution<int> exponent(-27, 15);
  std::uniform_real_distribution<float> mantissa(1.0f, 2.0f);
  for (int i = 0; i < 200000; ++i) {
    float f = std::ldexp(mantissa(gen), exponent(gen));
    if (i % 2) f = -f;
    if (i % 7 == 0) {  // exact ties: a half-ulp offset from a representable half
      const uint16_t base = static_cast<uint16_t>(gen() % 0x7bff);
      f = static_cast<float>((HalfValue(base) + HalfValue(base + 1)) / 2);
    }
    const uint16_t h = F32ToF16(f);
    if (std::fabs(f) >= 65520.0f) {  // at or past the midpoint between 65504 and 65536
      ASSERT_EQ(h & 0x7fff, 0x7c00) << f;
      continue;
    }
    const double got = HalfValue(h);
    ASSERT_FALSE(std::isnan(got)) << f;
    const double err = std::fabs(got - f);
    const uint16_t magnitude = h & 0x7fff;
    for (int step : {-1, 1}) {
      const int neighbour = magnitude + step;
      if (neighbour < 0 || neighbour > 0x7bff) continue;
      const double other = HalfValue(static_cast<uint16_t>((h & 0x8000) | neighbour));
      const double other_err = std::fabs(other - f);
      ASSERT_LE(err, other_err) << "f=" << f << " got half 0x" << std::hex << h;
      if (err == other_err) {
        ASSERT_EQ(magnitude % 2, 0) << "tie not to even, f=" << f;
      }
    }
  }
}

TEST(DTypeTest, F16RoundingOverflowAndSubnormals) {
  EXPECT_EQ(F32ToF16(1.0f), 0x3c00);
  EXPECT_EQ(F32ToF16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);      // tie, even: down
  EXPECT_EQ(F32ToF16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);  // tie, odd: up
  EXPECT_EQ(F32ToF16(std::nextafter(1.0f + std::ldexp(1.0f, -11), 2.0f)), 0x3c01);
  EXPECT_EQ(F32ToF16(65504.0f), 0x7bff);
  EXPECT_EQ(F32ToF16(65519.0f), 0x7bff);  // below the midpoint to 65536
  EXPECT_EQ(F32ToF16(65520.0f), 0x7c00);  // the midpoint rounds to even: inf
  EXPECT_EQ(F32ToF16(1e10f), 0x7c00);
  EXPECT_EQ(F32ToF16(-1e10f), 0xfc00);
  EXPECT_EQ(F32ToF16(INFINITY), 0x7c00);
  EXPECT_EQ(F32ToF16(-INFINITY), 0xfc00);
  EXPECT_EQ(F32ToF16(-0.0f), 0x8000);
  EXPECT_EQ(F32ToF16(std::ldexp(1.0f, -24)), 0x0001);  // smallest subnormal
  EXPECT_EQ(F32ToF16(std::ldexp(1.0f, -25)), 0x0000);  // tie between 0 and 1: even
  EXPECT_EQ(F32ToF16(std::nextafter(std::ldexp(1.0f, -25), 1.0f)), 0x0001);
  EXPECT_EQ(F32ToF16(3 * std::ldexp(1.0f, -25)), 0x0002);  // 1.5 ulp: tie to even 2
  EXPECT_EQ(F32ToF16(std::ldexp(1.0f, -14)), 0x0400);      // smallest normal
  EXPECT_EQ(F32ToF16(std::ldexp(1.0f, -14) - std::ldexp(1.0f, -25)), 0x0400);  // carry to normal
  EXPECT_EQ(F32ToF16(1e-10f), 0x0000);
  EXPECT_EQ(F32ToF16(-1e-10f), 0x8000);
  EXPECT_EQ(F32ToF16(std::numeric_limits<float>::denorm_min()), 0x0000);
  for (uint32_t nan_bits : {0x7fc00000u, 0x7f800001u, 0xffc00000u}) {
    const uint16_t h = F32ToF16(Bits(nan_bits));
    EXPECT_EQ(h & 0x7c00, 0x7c00) << std::hex << nan_bits;
    EXPECT_NE(h & 0x03ff, 0) << "NaN must not become inf: " << std::hex << nan_bits;
  }
}

TEST(DTypeTest, ConvertToF32HandlesEveryDtype) {
  const float f32[] = {1.5f, -2.0f, 0.25f};
  const uint16_t bf16[] = {0x3fc0, 0xc000, 0x3e80};
  const uint16_t f16[] = {0x3e00, 0xc000, 0x3400};
  const int8_t i8[] = {-127, 0, 127};
  float out[3];
  ConvertToF32(f32, DType::kF32, 3, out);
  EXPECT_EQ(out[0], 1.5f);
  EXPECT_EQ(out[2], 0.25f);
  ConvertToF32(bf16, DType::kBF16, 3, out);
  EXPECT_EQ(out[0], 1.5f);
  EXPECT_EQ(out[1], -2.0f);
  EXPECT_EQ(out[2], 0.25f);
  ConvertToF32(f16, DType::kF16, 3, out);
  EXPECT_EQ(out[0], 1.5f);
  EXPECT_EQ(out[1], -2.0f);
  EXPECT_EQ(out[2], 0.25f);
  ConvertToF32(i8, DType::kI8, 3, out);
  EXPECT_EQ(out[0], -127.0f);
  EXPECT_EQ(out[1], 0.0f);
  EXPECT_EQ(out[2], 127.0f);
}

}  // namespace
}  // namespace jamba::kernels
