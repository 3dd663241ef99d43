// The deterministic workload of the session crash test, shared by the writer process
// (session_writer_main.cc) and the test that kills it (session_crash_test.cc): which token sits at
// each position of each session, and which committed length follows which.
#ifndef JAMBA_TESTS_SDK_CRASH_PLAN_H_
#define JAMBA_TESTS_SDK_CRASH_PLAN_H_

#include <cstdint>
#include <string>

namespace jamba::testing {

inline constexpr int64_t kCrashCheckpointInterval = 4;
// Above this length the next commit is a rewind to about half, so sessions stay short (cheap to
// recompute after every kill) and rewinds, with their file removals, are killed too.
inline constexpr int64_t kCrashRewindAbove = 96;

inline std::string CrashSessionId(int session) { return "w" + std::to_string(session); }

// The token at `position` of session `session` (the golden model's vocabulary is 512).
inline int32_t CrashToken(int session, int64_t position) {
  uint64_t x = static_cast<uint64_t>(position) * 0x9e3779b97f4a7c15ULL +
               static_cast<uint64_t>(session + 1) * 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 31;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 29;
  return 3 + static_cast<int32_t>(x % 500);
}

// The committed length after `length` (-1: the session does not exist yet; creating it commits
// length 0). Appends of 1-6 tokens; rewinds land on a multiple of the checkpoint interval, where
// a checkpoint always exists.
inline int64_t CrashNextLength(int64_t length) {
  if (length < 0) return 0;
  if (length >= kCrashRewindAbove)
    return length / 2 / kCrashCheckpointInterval * kCrashCheckpointInterval;
  return length + 1 + (length * 7 + 3) % 6;
}

}  // namespace jamba::testing

#endif  // JAMBA_TESTS_SDK_CRASH_PLAN_H_
