// A small mailbox between the engine thread (producer) and the API caller (consumer).
#include "sdk/request_runner.h"

#include <deque>
#include <variant>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace jamba::sdk {
namespace {

struct Progress {
  int64_t done;
  int64_t total;
};

class Mailbox {
 public:
  void Push(std::variant<Progress, engine::GenerationStep> event) {
    absl::MutexLock lock(&mu_);
    events_.push_back(std::move(event));
  }
  void Close(const absl::Status& status) {
    absl::MutexLock lock(&mu_);
    status_ = status;
    closed_ = true;
  }
  // Waits for events or the end; returns false when closed and drained.
  bool Take(std::deque<std::variant<Progress, engine::GenerationStep>>* out, absl::Status* status) {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(this, &Mailbox::Ready));
    out->swap(events_);
    events_.clear();
    if (out->empty() && closed_) {
      *status = status_;
      return false;
    }
    return true;
  }

 private:
  bool Ready() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return closed_ || !events_.empty(); }

  absl::Mutex mu_;
  std::deque<std::variant<Progress, engine::GenerationStep>> events_ ABSL_GUARDED_BY(mu_);
  absl::Status status_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

absl::Status RunRequest(engine::Scheduler& scheduler, std::shared_ptr<engine::Request> request,
                        const RunObserver& observer) {
  auto mailbox = std::make_shared<Mailbox>();
  if (observer.on_progress) {
    request->callbacks.on_prefill_progress = [mailbox](int64_t done, int64_t total) {
      mailbox->Push(Progress{done, total});
    };
  }
  request->callbacks.on_step = [mailbox](const engine::GenerationStep& step) {
    mailbox->Push(step);
  };
  request->callbacks.on_done = [mailbox](const absl::Status& status) { mailbox->Close(status); };
  if (absl::Status submitted = scheduler.Submit(request); !submitted.ok()) return submitted;

  std::deque<std::variant<Progress, engine::GenerationStep>> events;
  absl::Status status;
  bool observer_cancelled = false;
  while (mailbox->Take(&events, &status)) {
    for (const auto& event : events) {
      if (request->cancelled.load(std::memory_order_relaxed)) break;
      bool keep_going = true;
      if (const auto* progress = std::get_if<Progress>(&event)) {
        if (observer.on_progress)
          keep_going = observer.on_progress(progress->done, progress->total);
      } else if (observer.on_step) {
        keep_going = observer.on_step(std::get<engine::GenerationStep>(event));
      }
      if (!keep_going) {
        observer_cancelled = true;
        request->cancelled.store(true, std::memory_order_relaxed);
      }
    }
  }
  // The scheduler may have finished the request before the observer's cancel reached it; the
  // caller still asked to stop and saw no events after that, so the answer is CANCELLED.
  if (observer_cancelled && status.ok()) return absl::CancelledError("request cancelled");
  return status;
}

}  // namespace jamba::sdk
