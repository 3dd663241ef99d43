// A failed jambad call: keeps the gRPC status code and decodes the google.rpc details jambad sends.
package ai.jamba.client;

import com.google.protobuf.Any;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import com.google.rpc.BadRequest;
import com.google.rpc.ErrorInfo;
import com.google.rpc.QuotaFailure;
import com.google.rpc.ResourceInfo;
import com.google.rpc.RetryInfo;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusException;
import io.grpc.StatusRuntimeException;
import io.grpc.protobuf.StatusProto;
import java.util.List;
import java.util.Optional;

/**
 * A jambad call that ended with a status other than OK. Match on {@link #getCode()} and {@link
 * #getReason()} (the stable {@code ErrorInfo.reason}), never on the message.
 */
public final class JambaException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  private final transient Status status;
  private final transient Metadata trailers;
  private final transient com.google.rpc.Status details;

  private JambaException(Status status, Metadata trailers, Throwable cause) {
    super(describe(status, trailers), cause);
    this.status = status;
    this.trailers = trailers == null ? new Metadata() : trailers;
    com.google.rpc.Status parsed = StatusProto.fromStatusAndTrailers(status, this.trailers);
    this.details = parsed;
  }

  /** Wraps a gRPC error (StatusRuntimeException, StatusException); anything else as UNKNOWN. */
  public static JambaException from(Throwable t) {
    if (t instanceof JambaException) {
      return (JambaException) t;
    }
    if (t instanceof StatusRuntimeException) {
      StatusRuntimeException e = (StatusRuntimeException) t;
      return new JambaException(e.getStatus(), e.getTrailers(), e);
    }
    if (t instanceof StatusException) {
      StatusException e = (StatusException) t;
      return new JambaException(e.getStatus(), e.getTrailers(), e);
    }
    return new JambaException(Status.fromThrowable(t), Status.trailersFromThrowable(t), t);
  }

  private static String describe(Status status, Metadata trailers) {
    String reason = "";
    com.google.rpc.Status details =
        StatusProto.fromStatusAndTrailers(status, trailers == null ? new Metadata() : trailers);
    for (Any any : details.getDetailsList()) {
      if (any.is(ErrorInfo.class)) {
        try {
          reason = " (" + any.unpack(ErrorInfo.class).getReason() + ")";
        } catch (InvalidProtocolBufferException e) {
          // A malformed detail: describe the error without it.
        }
      }
    }
    return status.getCode() + reason + ": " + status.getDescription();
  }

  /** The gRPC status code: NOT_FOUND, INVALID_ARGUMENT, ... */
  public Status.Code getCode() {
    return status.getCode();
  }

  /** The full gRPC status (code, description, cause). */
  public Status getStatus() {
    return status;
  }

  /** The call's trailing metadata. */
  public Metadata getTrailers() {
    return trailers;
  }

  /** The details of the {@code google.rpc.Status} sent; none for gRPC's own errors. */
  public List<Any> getDetails() {
    return details.getDetailsList();
  }

  /** The first detail of the given type, if there is one. */
  public <T extends Message> Optional<T> getDetail(Class<T> type) {
    for (Any any : details.getDetailsList()) {
      if (any.is(type)) {
        try {
          return Optional.of(any.unpack(type));
        } catch (InvalidProtocolBufferException e) {
          return Optional.empty();
        }
      }
    }
    return Optional.empty();
  }

  /** {@code ErrorInfo.reason} (SESSION_NOT_FOUND, ETAG_MISMATCH, ...), or "" when there is none. */
  public String getReason() {
    return getDetail(ErrorInfo.class).map(ErrorInfo::getReason).orElse("");
  }

  public Optional<ErrorInfo> getErrorInfo() {
    return getDetail(ErrorInfo.class);
  }

  /** The bad fields of an INVALID_ARGUMENT error. */
  public Optional<BadRequest> getBadRequest() {
    return getDetail(BadRequest.class);
  }

  /** The session or checkpoint the error is about. */
  public Optional<ResourceInfo> getResourceInfo() {
    return getDetail(ResourceInfo.class);
  }

  /** How long to wait before retrying (a full queue, a draining server). */
  public Optional<RetryInfo> getRetryInfo() {
    return getDetail(RetryInfo.class);
  }

  public Optional<QuotaFailure> getQuotaFailure() {
    return getDetail(QuotaFailure.class);
  }
}
