// ThreadPool: every task runs exactly once, thread indices are in range and never shared by two
// tasks running at the same time (they index per-thread scratch), concurrent callers are safe,
// jobs run whether workers find them while polling or after blocking, and a one-thread pool runs
// everything inline on the caller.
#include "kernels/cpu/thread_pool.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace jamba::kernels::cpu {
namespace {

// Marks thread slots busy while a task runs; any overlap on one slot is counted.
class SlotChecker {
 public:
  explicit SlotChecker(int slots) : busy_(static_cast<size_t>(slots)) {}
  void Enter(int slot) {
    if (busy_[slot].exchange(true)) collisions_.fetch_add(1);
  }
  void Leave(int slot) { busy_[slot].store(false); }
  int collisions() const { return collisions_.load(); }

 private:
  std::vector<std::atomic<bool>> busy_;
  std::atomic<int> collisions_{0};
};

TEST(ThreadPoolTest, EveryTaskRunsExactlyOnceWithThreadIndexInRange) {
  for (int threads : {1, 2, 3, 8}) {
    ThreadPool pool(threads);
    ASSERT_EQ(pool.num_threads(), threads);
    for (int64_t tasks :
         {int64_t{1}, int64_t{2}, int64_t{3}, int64_t{7}, int64_t{100}, int64_t{10007}}) {
      std::vector<std::atomic<int>> runs(static_cast<size_t>(tasks));
      std::atomic<int> bad_thread{0};
      pool.ParallelFor(tasks, [&](int64_t task, int thread) {
        runs[task].fetch_add(1);
        if (thread < 0 || thread >= threads) bad_thread.fetch_add(1);
      });
      for (int64_t t = 0; t < tasks; ++t) {
        ASSERT_EQ(runs[t].load(), 1)
            << "task " << t << " of " << tasks << ", " << threads << " threads";
      }
      EXPECT_EQ(bad_thread.load(), 0);
    }
  }
}

TEST(ThreadPoolTest, ZeroOrNegativeTaskCountCallsNothing) {
  ThreadPool pool(3);
  int calls = 0;
  pool.ParallelFor(0, [&](int64_t, int) { ++calls; });
  pool.ParallelFor(-5, [&](int64_t, int) { ++calls; });
  EXPECT_EQ(calls, 0);
}

TEST(ThreadPoolTest, WorkIsSpreadOverThreads) {
  ThreadPool pool(3);
  std::vector<std::atomic<int>> per_thread(3);
  // Tasks that take a while, so workers wake up and take some.
  pool.ParallelFor(128, [&](int64_t, int thread) {
    per_thread[thread].fetch_add(1);
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  });
  int total = 0, used = 0;
  for (auto& count : per_thread) {
    total += count.load();
    used += count.load() > 0;
  }
  EXPECT_EQ(total, 128);
  EXPECT_GE(used, 2) << "only the caller ran tasks";
}

TEST(ThreadPoolTest, ThreadIndexIsNeverSharedByConcurrentTasks) {
  ThreadPool pool(3);
  SlotChecker slots(3);
  pool.ParallelFor(200, [&](int64_t, int thread) {
    slots.Enter(thread);
    std::this_thread::sleep_for(std::chrono::microseconds(50));
    slots.Leave(thread);
  });
  EXPECT_EQ(slots.collisions(), 0);
}

TEST(ThreadPoolTest, ConcurrentCallersEachGetAllTheirTasksAndExclusiveThreadIndices) {
  for (int threads : {1, 3}) {
    ThreadPool pool(threads);
    SlotChecker slots(threads);
    constexpr int kCallers = 4;
    constexpr int kCallsPerCaller = 60;
    std::atomic<int> wrong_sums{0};
    std::vector<std::thread> callers;
    for (int c = 0; c < kCallers; ++c) {
      callers.emplace_back([&, c] {
        for (int i = 0; i < kCallsPerCaller; ++i) {
          // Mix single-task calls (which may run inline) with multi-task ones.
          const int64_t tasks = (i + c) % 3 == 0 ? 1 : 1 + (i * 7 + c) % 40;
          std::atomic<int64_t> sum{0};
          pool.ParallelFor(tasks, [&](int64_t task, int thread) {
            slots.Enter(thread);
            sum.fetch_add(task + 1);
            std::this_thread::sleep_for(std::chrono::microseconds(20));
            slots.Leave(thread);
          });
          if (sum.load() != tasks * (tasks + 1) / 2) wrong_sums.fetch_add(1);
        }
      });
    }
    for (auto& t : callers) t.join();
    EXPECT_EQ(wrong_sums.load(), 0) << threads << " threads";
    EXPECT_EQ(slots.collisions(), 0) << threads << " threads: two running tasks shared an index";
  }
}

// Workers poll briefly for the next job and then block: jobs that follow at once (found while
// polling) and jobs after a pause (found after blocking) must both run completely, and a plain
// write made by a worker's task must be visible to the caller once ParallelFor returns.
TEST(ThreadPoolTest, JobsBackToBackAndAfterIdlePausesAllRunAndPublishTheirWrites) {
  ThreadPool pool(3);
  std::vector<int64_t> written(64);
  for (int job = 0; job < 400; ++job) {
    if (job % 50 == 49) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    pool.ParallelFor(static_cast<int64_t>(written.size()),
                     [&](int64_t task, int) { written[task] = job * 1000 + task; });
    for (size_t t = 0; t < written.size(); ++t) {
      ASSERT_EQ(written[t], job * 1000 + static_cast<int64_t>(t)) << "job " << job;
    }
  }
}

// A pool destroyed while its workers are polling or blocked shuts down (no hang).
TEST(ThreadPoolTest, DestructionRightAfterAJobOrAfterIdleReturns) {
  for (int pause_ms : {0, 5}) {
    ThreadPool pool(4);
    std::atomic<int> runs{0};
    pool.ParallelFor(16, [&](int64_t, int) { runs.fetch_add(1); });
    std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms));
    EXPECT_EQ(runs.load(), 16);
  }
}

TEST(ThreadPoolTest, OneThreadPoolRunsInlineInOrder) {
  ThreadPool pool(1);
  EXPECT_EQ(pool.num_threads(), 1);
  const std::thread::id caller = std::this_thread::get_id();
  std::vector<int64_t> order;
  bool all_on_caller = true;
  bool all_thread_zero = true;
  pool.ParallelFor(50, [&](int64_t task, int thread) {
    order.push_back(task);
    all_on_caller &= std::this_thread::get_id() == caller;
    all_thread_zero &= thread == 0;
  });
  ASSERT_EQ(order.size(), 50u);
  for (int64_t i = 0; i < 50; ++i) EXPECT_EQ(order[i], i);
  EXPECT_TRUE(all_on_caller);
  EXPECT_TRUE(all_thread_zero);
}

TEST(ThreadPoolTest, NonPositiveSizeMeansAvailableHardwareThreads) {
  const int available = ThreadPool::AvailableHardwareThreads();
  EXPECT_GE(available, 1);
  EXPECT_EQ(ThreadPool(0).num_threads(), available);
  EXPECT_EQ(ThreadPool(-1).num_threads(), available);
}

TEST(ThreadPoolTest, ManySmallCallsInARowDoNotLoseWakeups) {
  ThreadPool pool(3);
  std::atomic<int64_t> total{0};
  for (int i = 0; i < 2000; ++i) {
    pool.ParallelFor(4, [&](int64_t task, int) { total.fetch_add(task); });
  }
  EXPECT_EQ(total.load(), 2000 * (0 + 1 + 2 + 3));
}

}  // namespace
}  // namespace jamba::kernels::cpu
