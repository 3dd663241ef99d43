"""Errors of the jamba client: one exception class per gRPC status code, carrying the code and
the decoded google.rpc details (ErrorInfo, BadRequest, ResourceInfo, RetryInfo, QuotaFailure)."""

from __future__ import annotations

import datetime
from typing import Any, Optional

import grpc
from google.protobuf import any_pb2
from google.protobuf import message as protobuf_message
from google.rpc import error_details_pb2, status_pb2

# The trailer in which gRPC servers send a serialized google.rpc.Status.
STATUS_DETAILS_KEY = "grpc-status-details-bin"

_DETAIL_TYPES: tuple[type[protobuf_message.Message], ...] = (
    error_details_pb2.ErrorInfo,
    error_details_pb2.BadRequest,
    error_details_pb2.ResourceInfo,
    error_details_pb2.RetryInfo,
    error_details_pb2.QuotaFailure,
)


class JambaError(Exception):
    """A failed jambad call. `code` is the gRPC status code; never parse `message`.

    Attributes:
        code: the grpc.StatusCode of the call.
        message: the status message (for people, not programs).
        details: the google.rpc details, unpacked into their message types (unknown types stay
            google.protobuf.Any).
    """

    def __init__(
        self, code: grpc.StatusCode, message: str = "", details: Optional[list[Any]] = None
    ) -> None:
        super().__init__(f"{code.name}: {message}" if message else code.name)
        self.code = code
        self.message = message
        self.details: list[Any] = list(details or [])

    def detail(self, detail_type: type[protobuf_message.Message]) -> Optional[Any]:
        """The first detail of this type, or None."""
        return next((d for d in self.details if isinstance(d, detail_type)), None)

    @property
    def error_info(self) -> Optional[error_details_pb2.ErrorInfo]:
        return self.detail(error_details_pb2.ErrorInfo)

    @property
    def reason(self) -> str:
        """ErrorInfo.reason (e.g. "SESSION_NOT_FOUND"), or "" when the error has none."""
        info = self.error_info
        return info.reason if info is not None else ""

    @property
    def field_violations(self) -> list[tuple[str, str]]:
        """BadRequest's (field, description) pairs; empty without a BadRequest."""
        bad_request = self.detail(error_details_pb2.BadRequest)
        if bad_request is None:
            return []
        return [(v.field, v.description) for v in bad_request.field_violations]

    @property
    def resource_info(self) -> Optional[error_details_pb2.ResourceInfo]:
        return self.detail(error_details_pb2.ResourceInfo)

    @property
    def retry_delay(self) -> Optional[datetime.timedelta]:
        """RetryInfo.retry_delay, when the server says the call may be retried after it."""
        retry = self.detail(error_details_pb2.RetryInfo)
        return retry.retry_delay.ToTimedelta() if retry is not None else None


class CancelledError(JambaError):
    """CANCELLED: the call was cancelled; nothing was committed."""


class UnknownError(JambaError):
    """UNKNOWN."""


class InvalidArgumentError(JambaError):
    """INVALID_ARGUMENT: see field_violations."""


class DeadlineExceededError(JambaError):
    """DEADLINE_EXCEEDED: the deadline passed; nothing was committed."""


class NotFoundError(JambaError):
    """NOT_FOUND: no such session or checkpoint for this tenant."""


class AlreadyExistsError(JambaError):
    """ALREADY_EXISTS: the session id is taken."""


class PermissionDeniedError(JambaError):
    """PERMISSION_DENIED."""


class ResourceExhaustedError(JambaError):
    """RESOURCE_EXHAUSTED: a full queue (see retry_delay) or a quota."""


class FailedPreconditionError(JambaError):
    """FAILED_PRECONDITION: e.g. the session is bound to another model."""


class AbortedError(JambaError):
    """ABORTED: etag mismatch or the session is busy; re-read and decide whether to retry."""


class OutOfRangeError(JambaError):
    """OUT_OF_RANGE."""


class UnimplementedError(JambaError):
    """UNIMPLEMENTED."""


class InternalError(JambaError):
    """INTERNAL: a server bug."""


class UnavailableError(JambaError):
    """UNAVAILABLE: the server is unreachable, starting or draining."""


class DataLossError(JambaError):
    """DATA_LOSS: a session's stored files are corrupted."""


class UnauthenticatedError(JambaError):
    """UNAUTHENTICATED: the API key is missing or unknown."""


_BY_CODE: dict[grpc.StatusCode, type[JambaError]] = {
    grpc.StatusCode.CANCELLED: CancelledError,
    grpc.StatusCode.UNKNOWN: UnknownError,
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgumentError,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceededError,
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExistsError,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDeniedError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhaustedError,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPreconditionError,
    grpc.StatusCode.ABORTED: AbortedError,
    grpc.StatusCode.OUT_OF_RANGE: OutOfRangeError,
    grpc.StatusCode.UNIMPLEMENTED: UnimplementedError,
    grpc.StatusCode.INTERNAL: InternalError,
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
    grpc.StatusCode.DATA_LOSS: DataLossError,
    grpc.StatusCode.UNAUTHENTICATED: UnauthenticatedError,
}


def unpack_details(status: status_pb2.Status) -> list[Any]:
    """Unpacks each Any of a google.rpc.Status into its known message type."""
    details: list[Any] = []
    for packed in status.details:
        for detail_type in _DETAIL_TYPES:
            if packed.Is(detail_type.DESCRIPTOR):
                detail = detail_type()
                packed.Unpack(detail)
                details.append(detail)
                break
        else:
            unknown = any_pb2.Any()
            unknown.CopyFrom(packed)
            details.append(unknown)
    return details


def error_from_status(
    code: grpc.StatusCode, message: str = "", details: Optional[list[Any]] = None
) -> JambaError:
    """The JambaError subclass for a code."""
    return _BY_CODE.get(code, JambaError)(code, message, details)


def from_rpc_error(error: grpc.RpcError) -> JambaError:
    """Converts an error raised by a grpc stub (a grpc.Call) into a JambaError."""
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    text = (error.details() if hasattr(error, "details") else "") or ""
    details: list[Any] = []
    trailers = error.trailing_metadata() if hasattr(error, "trailing_metadata") else None
    for key, value in trailers or ():
        if key == STATUS_DETAILS_KEY:
            status = status_pb2.Status()
            try:
                status.ParseFromString(value)
            except protobuf_message.DecodeError:
                break  # a malformed trailer: keep the code and message
            details = unpack_details(status)
            text = text or status.message
    return error_from_status(code, text, details)
