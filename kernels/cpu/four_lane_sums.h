// The lane sums of four AVX-512 vectors at once, in one fixed order. Kernels whose results must
// be bit-identical whichever path reduces them (a bf16 dot-product row in a group of four or
// alone, a scan channel in a group of four or alone) share this one definition of the order.
#ifndef JAMBA_KERNELS_CPU_FOUR_LANE_SUMS_H_
#define JAMBA_KERNELS_CPU_FOUR_LANE_SUMS_H_

#if defined(__x86_64__)
#include <immintrin.h>

namespace jamba::kernels::cpu {

// Lane j of the result: the sum of vector j's 16 lanes in _mm512_reduce_add_ps' order (lanes i
// and i+8, then i and i+4, i and i+2, i and i+1), with the shuffles shared among the four. The
// target attribute lets callers compiled for any AVX-512 target inline it.
__attribute__((target("avx512f"))) inline __m128 FourLaneSums(__m512 a, __m512 b, __m512 c,
                                                              __m512 d) {
  // Lanes 0-7: a's (i, i+8) sums; 8-15: b's. Then c and d.
  const __m512 ab =
      _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0x44), _mm512_shuffle_f32x4(a, b, 0xEE));
  const __m512 cd =
      _mm512_add_ps(_mm512_shuffle_f32x4(c, d, 0x44), _mm512_shuffle_f32x4(c, d, 0xEE));
  // 128-bit block j: vector j's (i, i+4) sums.
  const __m512 s4 =
      _mm512_add_ps(_mm512_shuffle_f32x4(ab, cd, 0x88), _mm512_shuffle_f32x4(ab, cd, 0xDD));
  const __m512 s2 = _mm512_add_ps(s4, _mm512_shuffle_ps(s4, s4, 0xEE));  // (i, i+2)
  const __m512 s1 = _mm512_add_ps(s2, _mm512_shuffle_ps(s2, s2, 0x55));  // (0, 1)
  return _mm512_castps512_ps128(_mm512_permutexvar_ps(
      _mm512_setr_epi32(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), s1));
}

}  // namespace jamba::kernels::cpu

#endif  // __x86_64__
#endif  // JAMBA_KERNELS_CPU_FOUR_LANE_SUMS_H_
