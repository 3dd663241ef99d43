// The retry rule shared by every call: UNAVAILABLE with a google.rpc.RetryInfo (jambad refused
// the call before doing anything), at most maxRetries times, retry_delay apart, never past the
// call's deadline.
package ai.jamba.client;

import com.google.rpc.RetryInfo;
import io.grpc.Deadline;
import io.grpc.Status;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/** One call's retries. */
final class Retry {
  private int left;
  private final Deadline deadline; // null: none

  Retry(int maxRetries, Deadline deadline) {
    this.left = maxRetries;
    this.deadline = deadline;
  }

  Deadline deadline() {
    return deadline;
  }

  /**
   * Sleeps before the next attempt and returns true if {@code failure} may be retried; false
   * (at once) otherwise.
   */
  boolean await(Throwable failure) {
    JambaException error = JambaException.from(failure);
    if (error.getCode() != Status.Code.UNAVAILABLE || left <= 0) {
      return false;
    }
    Optional<RetryInfo> info = error.getRetryInfo();
    if (info.isEmpty()) {
      return false; // not the server's own refusal: it may have done some work
    }
    long nanos =
        TimeUnit.SECONDS.toNanos(info.get().getRetryDelay().getSeconds())
            + info.get().getRetryDelay().getNanos();
    if (deadline != null && deadline.timeRemaining(TimeUnit.NANOSECONDS) <= nanos) {
      return false;
    }
    left--;
    try {
      TimeUnit.NANOSECONDS.sleep(nanos);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
    return true;
  }
}
