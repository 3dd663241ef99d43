// The ceilings every CPU figure is compared with, measured on this machine in the same run:
// memory bandwidth (STREAM-style triad over arrays far larger than the caches) and the peak fp32
// FMA and bf16 dot-product rates (register-resident microkernels on every thread).
#ifndef JAMBA_BENCH_MACHINE_BENCH_H_
#define JAMBA_BENCH_MACHINE_BENCH_H_

#include <string>

#include "kernels/cpu/thread_pool.h"

namespace jamba::bench {

struct MachineCeilings {
  double triad_bytes_per_second = 0;  // a[i] = b[i] + s * c[i], 12 bytes per element (STREAM)
  double peak_flops = 0;  // fp32, 2 flops per FMA lane; per thread by its CPU time, summed
  // AVX512_BF16 vdpbf16ps (4 flops per fp32 lane: two bf16 products and their sums), measured
  // the same way; 0 where the CPU lacks the instruction.
  double peak_bf16_dot_flops = 0;
  int threads = 0;
  std::string simd_target;
};

// `array_bytes` per triad array (default 512 MiB: far beyond any L3).
MachineCeilings MeasureMachine(kernels::cpu::ThreadPool& pool,
                               size_t array_bytes = size_t{512} << 20);

// The triad alone (bytes/s, best of five passes). The arrays ask for 2 MiB pages, as the CPU
// backend's packed weights do, so the ceiling is what memory delivers without TLB misses.
double MeasureTriad(kernels::cpu::ThreadPool& pool, size_t array_bytes = size_t{512} << 20);

}  // namespace jamba::bench

#endif  // JAMBA_BENCH_MACHINE_BENCH_H_
