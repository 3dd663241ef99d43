// WorkerPool: a bounded queue that refuses instead of growing.
#include "service/worker_pool.h"

#include <atomic>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"

namespace jamba::service {
namespace {

TEST(WorkerPoolTest, RefusesWhenEveryThreadIsBusyAndTheQueueIsFull) {
  absl::Notification started;
  absl::Notification release;
  std::atomic<int> ran{0};
  {
    WorkerPool pool(/*threads=*/1, /*max_queued=*/1);
    ASSERT_TRUE(pool.TrySubmit([&] {
      started.Notify();
      release.WaitForNotification();
      ++ran;
    }));
    started.WaitForNotification();
    EXPECT_EQ(pool.active(), 1);
    EXPECT_TRUE(pool.TrySubmit([&] { ++ran; }));   // waits in the one queue slot
    EXPECT_FALSE(pool.TrySubmit([&] { ++ran; }));  // no thread and no slot
    EXPECT_EQ(pool.queued(), 1);
    release.Notify();
  }  // the destructor runs what was queued, then joins
  EXPECT_EQ(ran.load(), 2);
}

TEST(WorkerPoolTest, AZeroQueueStillTakesWorkForIdleThreads) {
  std::atomic<int> ran{0};
  {
    WorkerPool pool(/*threads=*/2, /*max_queued=*/0);
    EXPECT_TRUE(pool.TrySubmit([&] { ++ran; }));
  }
  EXPECT_EQ(ran.load(), 1);
}

}  // namespace
}  // namespace jamba::service
