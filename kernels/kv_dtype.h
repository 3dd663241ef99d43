// The element types of the attention KV cache and the layout of one cached row, shared by the
// kernels that write and read the cache, the engine that pages it and the session files that
// persist it. A row holds one token's K (or V) for every KV head: NKV * Dh elements of the cache's
// dtype, then, for kI8 only, NKV fp32 scales (element value = int8 * its head's scale). Rows live
// in chunks (KvChunk) that the attention kernels read in their stored dtype: no dequantized copy of
// the cache is ever made.
#ifndef JAMBA_KERNELS_KV_DTYPE_H_
#define JAMBA_KERNELS_KV_DTYPE_H_

#include <cstdint>
#include <optional>
#include <string_view>

namespace jamba::kernels {

enum class KvDType : uint8_t {
  kF32,   // exact: what the golden tests hold to 1e-4
  kBF16,  // round to nearest even, as PyTorch's bf16 caches
  kI8,    // symmetric int8 with one fp32 scale per token and KV head (absmax / 127)
  // fp8 E4M3 (OCP FN: no infinities, largest 448) with one fp32 scale per token and KV head
  // (absmax / 448). Kept in the kernels only to measure it against kI8 (docs/DESIGN.md, KV cache
  // precision): the engine's settings do not offer it.
  kF8E4M3,
};

constexpr const char* KvDTypeName(KvDType dtype) {
  switch (dtype) {
    case KvDType::kF32:
      return "fp32";
    case KvDType::kBF16:
      return "bf16";
    case KvDType::kI8:
      return "int8";
    case KvDType::kF8E4M3:
      return "fp8_e4m3";
  }
  return "?";
}

// A KvDTypeName; nullopt for anything else.
std::optional<KvDType> ParseKvDType(std::string_view name);

constexpr int64_t KvElementBytes(KvDType dtype) {
  switch (dtype) {
    case KvDType::kF32:
      return 4;
    case KvDType::kBF16:
      return 2;
    case KvDType::kI8:
    case KvDType::kF8E4M3:
      return 1;
  }
  return 0;
}

// Whether rows end in one fp32 scale per KV head.
constexpr bool KvHasScales(KvDType dtype) {
  return dtype == KvDType::kI8 || dtype == KvDType::kF8E4M3;
}

// Bytes of one cached row: one token's K (or V) over all KV heads.
constexpr int64_t KvRowBytes(KvDType dtype, int64_t kv_heads, int64_t head_dim) {
  const int64_t scales = KvHasScales(dtype) ? kv_heads * 4 : 0;
  return kv_heads * head_dim * KvElementBytes(dtype) + scales;
}

// Byte offset of head `head`'s fp32 scale within a row that has scales.
constexpr int64_t KvScaleOffset(int64_t kv_heads, int64_t head_dim, int64_t head) {
  return kv_heads * head_dim + head * 4;
}

// Consecutive cached rows of one attention layer: `rows` K rows at `keys` and as many V rows at
// `values`, each KvRowBytes apart. A sequence's cache is a list of chunks in position order: pages
// the engine allocated and, after a session resume, segment files mapped in place.
struct KvChunk {
  const void* keys = nullptr;
  const void* values = nullptr;
  int64_t rows = 0;
};

// Converts `rows` fp32 rows of kv_heads * head_dim values (consecutive) to cached rows in `dtype`
// at `out` (KvRowBytes each). kI8: each head's scale is its largest magnitude / 127 and values
// round to the nearest integer (ties to even); kF8E4M3: the scale is the largest magnitude / 448
// and values round to the nearest E4M3 value (ties to even). An all-zero head gets scale 0.
void EncodeKvRows(const float* in, int64_t rows, KvDType dtype, int64_t kv_heads, int64_t head_dim,
                  void* out);
// The inverse: cached rows back to fp32 (exact for kF32; the stored value for the others).

// One E4M3 byte <-> float (no scale), the definitions the kernels' vector code matches.
uint8_t F32ToE4M3(float value);
float E4M3ToF32(uint8_t bits);
void DecodeKvRows(const void* in, int64_t rows, KvDType dtype, int64_t kv_heads, int64_t head_dim,
                  float* out);

}  // namespace jamba::kernels

#endif  // JAMBA_KERNELS_KV_DTYPE_H_
