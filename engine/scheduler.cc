// The continuous-batching loop. Each iteration: admit queued requests, drop cancelled or expired
// ones, build one batch (decode tokens first, then prefill chunks round-robin within the token
// budget), run one forward pass, then sample for every request whose prompt is complete.
#include "engine/scheduler.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "engine/exhausted_resource.h"

namespace jamba::engine {

Scheduler::Scheduler(const JambaModel& model, const SchedulerOptions& options)
    : model_(model), options_(options), workspace_(model.backend()) {
  thread_ = std::thread([this] { Loop(); });
}

Scheduler::~Scheduler() {
  {
    absl::MutexLock lock(&mu_);
    accepting_ = false;
    stop_ = true;
  }
  work_cv_.SignalAll();
  thread_.join();
}

absl::Status Scheduler::Submit(std::shared_ptr<Request> request) {
  if (request->state == nullptr) return absl::InvalidArgumentError("request has no sequence state");
  if (request->prompt.empty() && !request->generation.has_value()) {
    return absl::InvalidArgumentError("request has no tokens to feed and nothing to generate");
  }
  if (request->prompt.empty() && request->state->position() == 0) {
    return absl::InvalidArgumentError("cannot generate from an empty sequence: give a prompt");
  }
  // The whole context the request may reach: its prompt, then as many tokens as it may generate
  // (bounded by the context limit).
  const int64_t position = request->state->position();
  int64_t grow = static_cast<int64_t>(request->prompt.size());
  if (request->generation.has_value()) {
    const StopConditions& stop = request->generation->stop();
    grow += std::clamp<int64_t>(stop.max_context_tokens - position - grow, 0, stop.max_tokens);
  }
  if (absl::Status fits = model_.CheckContextFits(*request->state, grow); !fits.ok()) return fits;
  {
    absl::MutexLock lock(&mu_);
    if (!accepting_) return absl::FailedPreconditionError("the engine is shutting down");
    if (static_cast<int64_t>(queue_.size()) >= options_.max_queued) {
      return ResourceExhausted(
          ExhaustedResource::kRequestQueue,
          absl::StrCat("request queue is full (", options_.max_queued, " waiting); retry later"));
    }
    queue_.push_back(std::move(request));
  }
  work_cv_.Signal();
  return absl::OkStatus();
}

void Scheduler::Drain() {
  absl::MutexLock lock(&mu_);
  accepting_ = false;
  while (!queue_.empty() || running_count_ > 0) idle_cv_.Wait(&mu_);
}

int64_t Scheduler::queue_depth() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(queue_.size());
}

int64_t Scheduler::running() const {
  absl::MutexLock lock(&mu_);
  return running_count_;
}

Scheduler::StepStats Scheduler::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

void Scheduler::Finish(const std::shared_ptr<Request>& request, const absl::Status& status) {
  if (request->callbacks.on_done) request->callbacks.on_done(status);
}

void Scheduler::Loop() {
  std::vector<std::shared_ptr<Request>> running;
  for (;;) {
    std::vector<std::shared_ptr<Request>> abandoned;
    std::vector<std::shared_ptr<Request>> admitted;
    {
      absl::MutexLock lock(&mu_);
      while (!stop_ && queue_.empty() && running.empty()) {
        running_count_ = 0;
        idle_cv_.SignalAll();
        work_cv_.Wait(&mu_);
      }
      if (stop_) {
        abandoned.assign(queue_.begin(), queue_.end());
        queue_.clear();
        abandoned.insert(abandoned.end(), running.begin(), running.end());
        running.clear();
        running_count_ = 0;
      } else {
        while (!queue_.empty() && static_cast<int>(running.size()) < options_.max_running) {
          admitted.push_back(queue_.front());
          running.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
        running_count_ = static_cast<int64_t>(running.size());
      }
    }
    // Progress 0 marks the end of queueing for the request's timings.
    for (const auto& r : admitted) {
      if (r->callbacks.on_prefill_progress) {
        r->callbacks.on_prefill_progress(0, static_cast<int64_t>(r->prompt.size()));
      }
    }
    if (!abandoned.empty() || running.empty()) {
      for (const auto& r : abandoned) Finish(r, absl::CancelledError("the engine shut down"));
      absl::MutexLock lock(&mu_);
      idle_cv_.SignalAll();
      if (stop_) return;
      continue;
    }

    // Requests stopped by their caller or their deadline leave before the step; so does one
    // about to feed tokens to a state whose KV rows fail their check (a damaged session
    // segment, checked once before the rows are first read), alone rather than failing the
    // whole batch's forward pass. A request that only samples from stored logits reads no rows.
    const absl::Time now = absl::Now();
    std::erase_if(running, [&](const std::shared_ptr<Request>& r) {
      absl::Status status;
      const bool feeds = r->to_feed.has_value() || r->prompt_fed < r->prompt.size();
      if (absl::Status verified = feeds ? r->state->kv().Verify() : absl::OkStatus();
          !verified.ok()) {
        status = verified;
      } else if (r->cancelled.load(std::memory_order_relaxed)) {
        status = absl::CancelledError("request cancelled");
      } else if (now >= r->deadline) {
        status = absl::DeadlineExceededError("deadline exceeded");
      } else {
        return false;
      }
      if (r->generation && !r->generation->finished()) {
        const std::string rest = r->generation->Cancel();
        if (!rest.empty() && r->callbacks.on_step) {
          GenerationStep last;
          last.text_delta = rest;
          last.finished = true;
          last.token_is_output = false;
          last.has_token = false;
          r->callbacks.on_step(last);
        }
      }
      Finish(r, status);
      return true;
    });
    if (!running.empty()) Step(running);
    {
      absl::MutexLock lock(&mu_);
      running_count_ = static_cast<int64_t>(running.size());
      if (running.empty() && queue_.empty()) idle_cv_.SignalAll();
    }
  }
}

void Scheduler::Step(std::vector<std::shared_ptr<Request>>& running) {
  std::vector<ForwardItem> items;
  std::vector<Request*> item_requests;
  std::vector<bool> item_is_decode;
  std::vector<int32_t> feed_tokens(running.size());
  int64_t budget = options_.max_batch_tokens;

  // Decode tokens first: one per generating request, so decoding never waits for prefills.
  for (size_t i = 0; i < running.size(); ++i) {
    Request& r = *running[i];
    if (!r.to_feed.has_value()) continue;
    feed_tokens[i] = *r.to_feed;
    items.push_back({r.state, std::span<const int32_t>(&feed_tokens[i], 1), false});
    item_requests.push_back(&r);
    item_is_decode.push_back(true);
    --budget;
  }
  // Then prefill chunks, starting from a rotating position for fairness.
  std::vector<Request*> prefilling;
  for (const auto& r : running) {
    if (r->prompt_fed < r->prompt.size()) prefilling.push_back(r.get());
  }
  if (!prefilling.empty()) {
    const size_t start = prefill_cursor_++ % prefilling.size();
    for (size_t k = 0; k < prefilling.size() && budget > 0; ++k) {
      Request& r = *prefilling[(start + k) % prefilling.size()];
      const int64_t remaining = static_cast<int64_t>(r.prompt.size() - r.prompt_fed);
      const int64_t n = std::min({remaining, options_.prefill_chunk, std::max<int64_t>(budget, 1)});
      items.push_back(
          {r.state, std::span<const int32_t>(r.prompt).subspan(r.prompt_fed, n), false});
      item_requests.push_back(&r);
      item_is_decode.push_back(false);
      budget -= n;
    }
  }

  if (!items.empty()) {
    const absl::Status status = model_.Forward(items, workspace_);
    if (!status.ok()) {
      // Nothing changed in any state; fail every request of this batch.
      std::erase_if(running, [&](const std::shared_ptr<Request>& r) {
        if (std::find(item_requests.begin(), item_requests.end(), r.get()) == item_requests.end())
          return false;
        Finish(r, status);
        return true;
      });
      return;
    }
    int64_t tokens = 0;
    for (size_t k = 0; k < items.size(); ++k) {
      Request& r = *item_requests[k];
      tokens += static_cast<int64_t>(items[k].tokens.size());
      if (item_is_decode[k]) {
        r.to_feed.reset();
      } else {
        r.prompt_fed += items[k].tokens.size();
        if (r.callbacks.on_prefill_progress) {
          r.callbacks.on_prefill_progress(static_cast<int64_t>(r.prompt_fed),
                                          static_cast<int64_t>(r.prompt.size()));
        }
      }
    }
    absl::MutexLock lock(&mu_);
    ++stats_.steps;
    stats_.last_batch_sequences = static_cast<int64_t>(items.size());
    stats_.last_batch_tokens = tokens;
  }

  // Sample for every request whose prompt is in and whose last token was fed; retire finished ones.
  std::erase_if(running, [&](const std::shared_ptr<Request>& rp) {
    Request& r = *rp;
    if (r.prompt_fed < r.prompt.size() || r.to_feed.has_value()) return false;
    if (!r.generation.has_value() || r.generation->finished()) {
      Finish(rp, absl::OkStatus());
      return true;
    }
    GenerationStep step = r.generation->Step(r.state->last_logits(), r.state->position());
    if (r.callbacks.on_step) r.callbacks.on_step(step);
    if (!step.finished || r.feed_final_token) {
      r.to_feed = step.token;
      return false;
    }
    Finish(rp, absl::OkStatus());
    return true;
  });
}

}  // namespace jamba::engine
