// Errors returned by the client: *Error keeps the call's gRPC status (code, message and the
// google.rpc details jambad sends) so callers can match on codes and reasons.
package jamba

import (
	"fmt"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ErrorDomain is ErrorInfo.domain on every error jambad itself returns.
const ErrorDomain = "jamba.ai"

// Error is a failed call. It implements GRPCStatus, so status.Code(err) and status.FromError(err)
// work on it as on any gRPC error; use errors.As to get at the details.
type Error struct {
	status *status.Status
}

// newError converts err to an *Error when it carries a gRPC status (it always does when it comes
// from a call); other errors (a file that cannot be read, ...) are returned as they are.
func newError(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := err.(*Error); ok {
		return err
	}
	if s, ok := status.FromError(err); ok {
		return &Error{status: s}
	}
	return err
}

func (e *Error) Error() string {
	if reason := e.Reason(); reason != "" {
		return fmt.Sprintf("jamba: %s (%s): %s", CodeName(e.Code()), reason, e.Message())
	}
	return fmt.Sprintf("jamba: %s: %s", CodeName(e.Code()), e.Message())
}

// GRPCStatus returns the call's status.
func (e *Error) GRPCStatus() *status.Status { return e.status }

// Code is the gRPC status code (codes.NotFound, codes.InvalidArgument, ...).
func (e *Error) Code() codes.Code { return e.status.Code() }

// Message is the status message, for people: match on Code and Reason instead.
func (e *Error) Message() string { return e.status.Message() }

// Details are the decoded google.rpc details (*errdetails.ErrorInfo, *errdetails.BadRequest, ...).
func (e *Error) Details() []interface{} { return e.status.Details() }

// ErrorInfo is the error's google.rpc.ErrorInfo, or nil (errors made by gRPC itself have none).
func (e *Error) ErrorInfo() *errdetails.ErrorInfo {
	for _, d := range e.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info
		}
	}
	return nil
}

// Reason is ErrorInfo.reason ("SESSION_NOT_FOUND", "ETAG_MISMATCH", ...), or "".
func (e *Error) Reason() string {
	if info := e.ErrorInfo(); info != nil {
		return info.GetReason()
	}
	return ""
}

// FieldViolations are the BadRequest field violations of an INVALID_ARGUMENT error.
func (e *Error) FieldViolations() []*errdetails.BadRequest_FieldViolation {
	for _, d := range e.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			return br.GetFieldViolations()
		}
	}
	return nil
}

// ResourceInfo names the session or checkpoint the error is about, or is nil.
func (e *Error) ResourceInfo() *errdetails.ResourceInfo {
	for _, d := range e.Details() {
		if info, ok := d.(*errdetails.ResourceInfo); ok {
			return info
		}
	}
	return nil
}

// CodeName is the canonical name of a gRPC status code ("NOT_FOUND" for codes.NotFound), as
// other languages print it.
func CodeName(c codes.Code) string {
	if name, ok := codeNames[c]; ok {
		return name
	}
	return fmt.Sprintf("CODE(%d)", uint32(c))
}

var codeNames = map[codes.Code]string{
	codes.OK: "OK", codes.Canceled: "CANCELLED", codes.Unknown: "UNKNOWN",
	codes.InvalidArgument: "INVALID_ARGUMENT", codes.DeadlineExceeded: "DEADLINE_EXCEEDED",
	codes.NotFound: "NOT_FOUND", codes.AlreadyExists: "ALREADY_EXISTS",
	codes.PermissionDenied: "PERMISSION_DENIED", codes.ResourceExhausted: "RESOURCE_EXHAUSTED",
	codes.FailedPrecondition: "FAILED_PRECONDITION", codes.Aborted: "ABORTED",
	codes.OutOfRange: "OUT_OF_RANGE", codes.Unimplemented: "UNIMPLEMENTED",
	codes.Internal: "INTERNAL", codes.Unavailable: "UNAVAILABLE", codes.DataLoss: "DATA_LOSS",
	codes.Unauthenticated: "UNAUTHENTICATED",
}

// RetryDelay is how long the server asks to wait before retrying (a full queue, a draining
// server), and whether it said so at all.
func (e *Error) RetryDelay() (time.Duration, bool) {
	for _, d := range e.Details() {
		if info, ok := d.(*errdetails.RetryInfo); ok && info.GetRetryDelay() != nil {
			delay := info.GetRetryDelay()
			return time.Duration(delay.GetSeconds())*time.Second + time.Duration(delay.GetNanos()), true
		}
	}
	return 0, false
}
