// Triad bandwidth and peak FMA microkernels, compiled for every SIMD target with Highway; the best
// target this CPU supports runs.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "bench/machine_bench.cc"
// clang-format off: foreach_target.h must come first, then highway.h (Highway's re-inclusion idiom).
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// clang-format on
#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <memory>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "bench/machine_bench.h"
#include "hwy/highway.h"
#include "kernels/cpu/matmul_bf16_dot.h"

HWY_BEFORE_NAMESPACE();
namespace jamba::bench::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

void Triad(float* a, const float* b, const float* c, float s, int64_t begin, int64_t end) {
  const hn::ScalableTag<float> df;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  const auto vs = hn::Set(df, s);
  int64_t i = begin;
  for (; i + lanes <= end; i += lanes) {
    hn::StoreU(hn::MulAdd(vs, hn::LoadU(df, c + i), hn::LoadU(df, b + i)), df, a + i);
  }
  for (; i < end; ++i) a[i] = b[i] + s * c[i];
}

// 12 independent FMA chains stay in registers: the rate is bounded by FMA throughput only.
// Returns flops done.
double FmaLoop(int64_t iterations, float* sink) {
  const hn::ScalableTag<float> df;
  const auto m = hn::Set(df, 0.999999f);
  const auto add = hn::Set(df, 1e-7f);
  auto a0 = hn::Set(df, 1.0f), a1 = hn::Set(df, 1.1f), a2 = hn::Set(df, 1.2f),
       a3 = hn::Set(df, 1.3f);
  auto a4 = hn::Set(df, 1.4f), a5 = hn::Set(df, 1.5f), a6 = hn::Set(df, 1.6f),
       a7 = hn::Set(df, 1.7f);
  auto a8 = hn::Set(df, 1.8f), a9 = hn::Set(df, 1.9f), a10 = hn::Set(df, 2.0f),
       a11 = hn::Set(df, 2.1f);
  for (int64_t i = 0; i < iterations; ++i) {
    a0 = hn::MulAdd(a0, m, add);
    a1 = hn::MulAdd(a1, m, add);
    a2 = hn::MulAdd(a2, m, add);
    a3 = hn::MulAdd(a3, m, add);
    a4 = hn::MulAdd(a4, m, add);
    a5 = hn::MulAdd(a5, m, add);
    a6 = hn::MulAdd(a6, m, add);
    a7 = hn::MulAdd(a7, m, add);
    a8 = hn::MulAdd(a8, m, add);
    a9 = hn::MulAdd(a9, m, add);
    a10 = hn::MulAdd(a10, m, add);
    a11 = hn::MulAdd(a11, m, add);
  }
  const auto sum = hn::Add(hn::Add(hn::Add(a0, a1), hn::Add(a2, a3)),
                           hn::Add(hn::Add(hn::Add(a4, a5), hn::Add(a6, a7)),
                                   hn::Add(hn::Add(a8, a9), hn::Add(a10, a11))));
  *sink += hn::GetLane(hn::SumOfLanes(df, sum));
  return static_cast<double>(iterations) * 12.0 * 2.0 * static_cast<double>(hn::Lanes(df));
}

}  // namespace jamba::bench::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace jamba::bench {

HWY_EXPORT(Triad);
HWY_EXPORT(FmaLoop);

namespace {

constexpr size_t kHugePage = size_t{2} << 20;

// FmaLoop's twelve register-resident chains on vdpbf16ps, for CPUs with AVX512_BF16 (callers
// check): 16 fp32 lanes, each adding two bf16 products per instruction.
#if defined(__x86_64__)
__attribute__((target("avx512f,avx512bw,avx512bf16"))) double Bf16DotLoop(int64_t iterations,
                                                                          float* sink) {
  __m512 acc[12];
  for (int j = 0; j < 12; ++j) acc[j] = _mm512_set1_ps(static_cast<float>(j));
  __m512bh a = reinterpret_cast<__m512bh>(_mm512_set1_epi16(0x3f80));  // 1.0
  __m512bh b = reinterpret_cast<__m512bh>(_mm512_set1_epi16(0x3380));  // 2^-24
  for (int64_t i = 0; i < iterations; ++i) {
#pragma GCC unroll 12
    for (int j = 0; j < 12; ++j) acc[j] = _mm512_dpbf16_ps(acc[j], a, b);
    // Opaque to the optimiser: the operands could otherwise be folded out of the loop.
    __asm__ volatile("" : "+v"(a), "+v"(b));
  }
  __m512 sum = acc[0];
  for (int j = 1; j < 12; ++j) sum = _mm512_add_ps(sum, acc[j]);
  *sink += _mm512_cvtss_f32(sum);
  return static_cast<double>(iterations) * 12.0 * 16 * 4;
}
#else
double Bf16DotLoop(int64_t, float*) { return 0; }
#endif

struct FreeDeleter {
  void operator()(float* p) const { std::free(p); }
};

// `count` floats set to `value`, on 2 MiB pages where the OS grants them.
std::unique_ptr<float[], FreeDeleter> HugePageArray(int64_t count, float value) {
  const size_t bytes =
      (static_cast<size_t>(count) * sizeof(float) + kHugePage - 1) / kHugePage * kHugePage;
  auto* data = static_cast<float*>(std::aligned_alloc(kHugePage, bytes));
  if (data == nullptr) std::abort();
#ifdef MADV_HUGEPAGE
  ::madvise(data, bytes, MADV_HUGEPAGE);
#endif
  std::fill_n(data, count, value);
  return std::unique_ptr<float[], FreeDeleter>(data);
}

}  // namespace

double MeasureTriad(kernels::cpu::ThreadPool& pool, size_t array_bytes) {
  using Clock = std::chrono::steady_clock;
  const int64_t n = static_cast<int64_t>(array_bytes / sizeof(float));
  const auto a = HugePageArray(n, 0.0f), b = HugePageArray(n, 1.0f), c = HugePageArray(n, 2.0f);
  const int threads = pool.num_threads();
  const int64_t per_thread = (n + threads - 1) / threads;
  auto triad = [&] {
    pool.ParallelFor(threads, [&](int64_t task, int) {
      const int64_t begin = task * per_thread;
      HWY_DYNAMIC_DISPATCH(Triad)
      (a.get(), b.get(), c.get(), 3.0f, begin, std::min(n, begin + per_thread));
    });
  };
  triad();  // first pass: caches and TLB start cold, which does not belong in the figure
  double best = 1e30;
  for (int run = 0; run < 5; ++run) {
    const auto start = Clock::now();
    triad();
    best = std::min(best, std::chrono::duration<double>(Clock::now() - start).count());
  }
  return 12.0 * static_cast<double>(n) / best;
}

// The sum over threads of each thread's flops per second of its own CPU time, best of three: a
// core shared with another process still reports what the core can do. `loop` runs one thread's
// microkernel into its sink and returns the flops it did.
double PeakRate(kernels::cpu::ThreadPool& pool, const std::function<double(float*)>& loop) {
  const int threads = pool.num_threads();
  std::vector<float> sinks(static_cast<size_t>(threads) * 16, 0.0f);
  double best = 0;
  for (int run = 0; run < 3; ++run) {
    std::vector<double> rate(static_cast<size_t>(threads), 0.0);
    pool.ParallelFor(threads, [&](int64_t task, int) {
      timespec begin, end;
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &begin);
      const double flops = loop(&sinks[task * 16]);
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &end);
      const double seconds = static_cast<double>(end.tv_sec - begin.tv_sec) +
                             1e-9 * static_cast<double>(end.tv_nsec - begin.tv_nsec);
      rate[task] = flops / seconds;
    });
    double total = 0;
    for (double r : rate) total += r;
    best = std::max(best, total);
  }
  return best;
}

MachineCeilings MeasureMachine(kernels::cpu::ThreadPool& pool, size_t array_bytes) {
  MachineCeilings result;
  result.threads = pool.num_threads();
  const int64_t available = hwy::SupportedTargets() & HWY_TARGETS;
  result.simd_target = hwy::TargetName(available & -available);  // lowest bit: the best target
  result.triad_bytes_per_second = MeasureTriad(pool, array_bytes);
  const int64_t iterations = 20'000'000;
  result.peak_flops =
      PeakRate(pool, [&](float* sink) { return HWY_DYNAMIC_DISPATCH(FmaLoop)(iterations, sink); });
  if (kernels::cpu::CpuHasAvx512Bf16()) {
    result.peak_bf16_dot_flops =
        PeakRate(pool, [&](float* sink) { return Bf16DotLoop(iterations, sink); });
  }
  return result;
}

}  // namespace jamba::bench
#endif  // HWY_ONCE
