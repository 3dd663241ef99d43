// Tests for *Error: the gRPC code is kept and the google.rpc details are decoded.
package jamba

import (
	"errors"
	"testing"
	"time"

	"github.com/golang/protobuf/ptypes"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestErrorKeepsCodeAndDetails(t *testing.T) {
	st, err := status.New(codes.NotFound, "session \"x\" not found").WithDetails(
		&errdetails.ErrorInfo{Reason: "SESSION_NOT_FOUND", Domain: ErrorDomain},
		&errdetails.ResourceInfo{ResourceType: "jamba.v1.Session", ResourceName: "sessions/x"},
		&errdetails.RetryInfo{RetryDelay: ptypes.DurationProto(1500 * time.Millisecond)},
	)
	if err != nil {
		t.Fatal(err)
	}
	wrapped := newError(st.Err())
	var e *Error
	if !errors.As(wrapped, &e) {
		t.Fatalf("%T is not an *Error", wrapped)
	}
	if e.Code() != codes.NotFound || status.Code(wrapped) != codes.NotFound {
		t.Errorf("code %v", e.Code())
	}
	if e.Reason() != "SESSION_NOT_FOUND" {
		t.Errorf("reason %q", e.Reason())
	}
	if e.ResourceInfo().GetResourceName() != "sessions/x" {
		t.Errorf("resource %v", e.ResourceInfo())
	}
	if delay, ok := e.RetryDelay(); !ok || delay != 1500*time.Millisecond {
		t.Errorf("retry delay %v %v", delay, ok)
	}
	if got := e.Error(); got != "jamba: NOT_FOUND (SESSION_NOT_FOUND): session \"x\" not found" {
		t.Errorf("message %q", got)
	}
}

func TestErrorWithoutDetails(t *testing.T) {
	e := newError(status.Error(codes.DeadlineExceeded, "deadline")).(*Error)
	if e.Reason() != "" || e.ErrorInfo() != nil || e.FieldViolations() != nil {
		t.Errorf("details from nowhere: %v", e.Details())
	}
	if CodeName(e.Code()) != "DEADLINE_EXCEEDED" {
		t.Errorf("code name %q", CodeName(e.Code()))
	}
	if newError(nil) != nil {
		t.Error("newError(nil) is not nil")
	}
}
