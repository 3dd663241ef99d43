// WorkerPool: a bounded queue that refuses instead of growing.
#include "service/worker_pool.h"

#include <atomic>
#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace jamba::service {
namespace {

TEST(WorkerPoolTest, RefusesWhenEveryThreadIsBusyAndTheQueueIsFull) {
  absl::Notification started;
  absl::Notification release;
  std::atomic<int> ran{0};
  {
    WorkerPool pool(/*threads=*/1, /*max_queued=*/1);
    ASSERT_TRUE(pool.TrySubmit("a", [&] {
      started.Notify();
      release.WaitForNotification();
      ++ran;
    }));
    started.WaitForNotification();
    EXPECT_EQ(pool.active(), 1);
    EXPECT_TRUE(pool.TrySubmit("a", [&] { ++ran; }));   // waits in the one queue slot
    EXPECT_FALSE(pool.TrySubmit("a", [&] { ++ran; }));  // no thread and no slot
    EXPECT_EQ(pool.queued(), 1);
    release.Notify();
  }  // the destructor runs what was queued, then joins
  EXPECT_EQ(ran.load(), 2);
}

TEST(WorkerPoolTest, AZeroQueueStillTakesWorkForIdleThreads) {
  std::atomic<int> ran{0};
  {
    WorkerPool pool(/*threads=*/2, /*max_queued=*/0);
    EXPECT_TRUE(pool.TrySubmit("a", [&] { ++ran; }));
  }
  EXPECT_EQ(ran.load(), 1);
}

TEST(WorkerPoolTest, OneTenantNeverHoldsEveryThread) {
  absl::Notification release;
  std::atomic<int> busy{0};
  absl::Notification other_ran;
  {
    WorkerPool pool(/*threads=*/4, /*max_queued=*/16);
    EXPECT_EQ(pool.max_per_tenant(), 3);
    // Tenant a fills the pool with tasks that block until released.
    for (int i = 0; i < 10; ++i) {
      ASSERT_TRUE(pool.TrySubmit("a", [&] {
        ++busy;
        release.WaitForNotification();
      }));
    }
    // Tenant b's call still runs at once, on the thread a may not take.
    ASSERT_TRUE(pool.TrySubmit("b", [&] { other_ran.Notify(); }));
    EXPECT_TRUE(other_ran.WaitForNotificationWithTimeout(absl::Seconds(10)));
    // b's thread counts as active until its task has returned, a moment after it notified.
    for (int i = 0; i < 1000 && (busy.load() < 3 || pool.active() > 3); ++i) {
      absl::SleepFor(absl::Milliseconds(10));
    }
    EXPECT_EQ(busy.load(), 3);
    EXPECT_EQ(pool.active(), 3);
    EXPECT_EQ(pool.queued(), 7);
    release.Notify();
  }
  EXPECT_EQ(busy.load(), 10);
}

TEST(WorkerPoolTest, EachTenantHasItsOwnQueueBound) {
  absl::Notification release;
  WorkerPool pool(/*threads=*/2, /*max_queued=*/2);
  // a may run on 1 thread and queue 2 more: the 4th is refused, while b is still accepted.
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(pool.TrySubmit("a", [&] { release.WaitForNotification(); })) << i;
  }
  EXPECT_FALSE(pool.TrySubmit("a", [] {}));
  EXPECT_TRUE(pool.TrySubmit("b", [] {}));
  release.Notify();
}

TEST(WorkerPoolTest, QueuedTenantsTakeTurns) {
  absl::Notification release;
  absl::Mutex mu;
  std::string order;
  {
    WorkerPool pool(/*threads=*/2, /*max_queued=*/8);
    // Tenant x blocks one thread; a blocks the other, which then serves the queue.
    ASSERT_TRUE(pool.TrySubmit("x", [&] { release.WaitForNotification(); }));
    absl::Notification hold, holding;
    ASSERT_TRUE(pool.TrySubmit("a", [&] {
      holding.Notify();
      hold.WaitForNotification();
    }));
    holding.WaitForNotification();
    // Both threads are busy now; queue a1 a2 a3 then b1 b2.
    for (const char* tag : {"a1", "a2", "a3"}) {
      ASSERT_TRUE(pool.TrySubmit("a", [&, tag] {
        absl::MutexLock lock(&mu);
        order += tag;
      }));
    }
    for (const char* tag : {"b1", "b2"}) {
      ASSERT_TRUE(pool.TrySubmit("b", [&, tag] {
        absl::MutexLock lock(&mu);
        order += tag;
      }));
    }
    hold.Notify();  // one thread frees up and serves the queue while x still blocks the other
    auto all_ran = [&] {
      absl::MutexLock lock(&mu);
      return order.size() == 10;
    };
    for (int i = 0; i < 1000 && !all_ran(); ++i) absl::SleepFor(absl::Milliseconds(10));
    {
      absl::MutexLock lock(&mu);
      EXPECT_EQ(order, "a1b1a2b2a3");
    }
    release.Notify();
  }
}

}  // namespace
}  // namespace jamba::service
