// Conversion between fp32 K/V rows and the KV cache's stored rows (see kv_dtype.h). Plain loops
// the compiler vectorizes: a prefill step converts a few MB at most, next to the GB its products
// read, and keeping one scalar definition makes it the reference the attention tests decode with.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/dtype.h"
#include "kernels/kv_dtype.h"

namespace jamba::kernels {
namespace {

// Largest stored magnitude of each scaled dtype: scale = largest |x| of the head / this.
float ScaledRange(KvDType dtype) { return dtype == KvDType::kI8 ? 127.0f : 448.0f; }

}  // namespace

std::optional<KvDType> ParseKvDType(std::string_view name) {
  for (KvDType dtype : {KvDType::kF32, KvDType::kBF16, KvDType::kI8, KvDType::kF8E4M3}) {
    if (name == KvDTypeName(dtype)) return dtype;
  }
  return std::nullopt;
}

uint8_t F32ToE4M3(float value) {
  const uint8_t sign = std::signbit(value) ? 0x80 : 0;
  const float a = std::fabs(value);
  if (!(a > 0.0f)) return sign;  // zero (and NaN, which the encoder never sees)
  if (a < 0x1p-6f) {             // subnormal: m * 2^-9, m in 0..7; 8 is the smallest normal
    return static_cast<uint8_t>(sign | static_cast<uint8_t>(std::nearbyint(a * 0x1p9f)));
  }
  int exponent = 0;
  std::frexp(a, &exponent);  // a = f * 2^exponent, f in [0.5, 1)
  int e = exponent - 1;      // a = (1 + m / 8) * 2^e
  int m = static_cast<int>(std::nearbyint((std::ldexp(a, -e) - 1.0f) * 8.0f));
  if (m == 8) {
    m = 0;
    ++e;
  }
  if (e > 8 || (e == 8 && m > 6)) return static_cast<uint8_t>(sign | 0x7e);  // saturate at 448
  return static_cast<uint8_t>(sign | ((e + 7) << 3) | m);
}

float E4M3ToF32(uint8_t bits) {
  const int e = (bits >> 3) & 15;
  const int m = bits & 7;
  const float magnitude = e == 0 ? std::ldexp(static_cast<float>(m), -9)
                                 : std::ldexp(static_cast<float>(8 + m), e - 10);
  return (bits & 0x80) != 0 ? -magnitude : magnitude;
}

void EncodeKvRows(const float* in, int64_t rows, KvDType dtype, int64_t kv_heads, int64_t head_dim,
                  void* out) {
  const int64_t width = kv_heads * head_dim;
  const int64_t row_bytes = KvRowBytes(dtype, kv_heads, head_dim);
  auto* dst = static_cast<char*>(out);
  for (int64_t r = 0; r < rows; ++r, in += width, dst += row_bytes) {
    switch (dtype) {
      case KvDType::kF32:
        std::memcpy(dst, in, static_cast<size_t>(width) * sizeof(float));
        break;
      case KvDType::kBF16: {
        auto* bf = reinterpret_cast<uint16_t*>(dst);
        for (int64_t i = 0; i < width; ++i) bf[i] = F32ToBF16(in[i]);
        break;
      }
      case KvDType::kI8:
      case KvDType::kF8E4M3: {
        const float range = ScaledRange(dtype);
        for (int64_t h = 0; h < kv_heads; ++h) {
          const float* x = in + h * head_dim;
          float absmax = 0.0f;
          for (int64_t i = 0; i < head_dim; ++i) absmax = std::max(absmax, std::fabs(x[i]));
          const float scale = absmax / range;
          const float inverse = absmax > 0.0f ? range / absmax : 0.0f;
          char* q = dst + h * head_dim;
          for (int64_t i = 0; i < head_dim; ++i) {
            const float v = std::clamp(x[i] * inverse, -range, range);
            q[i] = dtype == KvDType::kI8 ? static_cast<char>(static_cast<int8_t>(std::nearbyint(v)))
                                         : static_cast<char>(F32ToE4M3(v));
          }
          std::memcpy(dst + KvScaleOffset(kv_heads, head_dim, h), &scale, sizeof(float));
        }
        break;
      }
    }
  }
}

void DecodeKvRows(const void* in, int64_t rows, KvDType dtype, int64_t kv_heads, int64_t head_dim,
                  float* out) {
  const int64_t width = kv_heads * head_dim;
  const int64_t row_bytes = KvRowBytes(dtype, kv_heads, head_dim);
  const auto* src = static_cast<const char*>(in);
  for (int64_t r = 0; r < rows; ++r, out += width, src += row_bytes) {
    switch (dtype) {
      case KvDType::kF32:
        std::memcpy(out, src, static_cast<size_t>(width) * sizeof(float));
        break;
      case KvDType::kBF16: {
        const auto* bf = reinterpret_cast<const uint16_t*>(src);
        for (int64_t i = 0; i < width; ++i) out[i] = BF16ToF32(bf[i]);
        break;
      }
      case KvDType::kI8:
      case KvDType::kF8E4M3: {
        for (int64_t h = 0; h < kv_heads; ++h) {
          float scale;
          std::memcpy(&scale, src + KvScaleOffset(kv_heads, head_dim, h), sizeof(float));
          const auto* q = reinterpret_cast<const uint8_t*>(src + h * head_dim);
          for (int64_t i = 0; i < head_dim; ++i) {
            const float v = dtype == KvDType::kI8 ? static_cast<float>(static_cast<int8_t>(q[i]))
                                                  : E4M3ToF32(q[i]);
            out[h * head_dim + i] = v * scale;
          }
        }
        break;
      }
    }
  }
}

}  // namespace jamba::kernels
