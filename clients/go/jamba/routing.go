// Routing and retries: the x-jamba-session metadata that lets a consistent-hash load balancer
// keep a session on one jambad replica, and the retry of calls jambad refused before doing
// anything (UNAVAILABLE with a google.rpc.RetryInfo).
package jamba

import (
	"context"
	"time"

	"github.com/jamba-project/jamba/clients/go/jambapb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// SessionMetadataKey names the session a call acts on ("sessions/{id}"), for load balancers.
const SessionMetadataKey = "x-jamba-session"

// DefaultMaxRetries is how often a refused call is sent again unless WithMaxRetries says.
const DefaultMaxRetries = 3

// WithMaxRetries bounds how often a call jambad refused before doing anything (UNAVAILABLE with
// RetryInfo) is sent again, retry_delay apart (0: never).
func WithMaxRetries(n int) Option { return func(o *options) { o.maxRetries = &n } }

// withSession adds the x-jamba-session metadata of session (an id or a name) to ctx.
func withSession(ctx context.Context, session string) context.Context {
	if session == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, SessionMetadataKey, SessionName(session))
}

// sessionOf is the session a unary request acts on ("" for none): what the interceptor routes by.
func sessionOf(req interface{}) string {
	switch r := req.(type) {
	case *jambapb.CreateSessionRequest:
		return r.GetSessionId() // "" when the server picks the id
	case *jambapb.GetSessionRequest:
		return r.GetName()
	case *jambapb.DeleteSessionRequest:
		return r.GetName()
	case *jambapb.ForkSessionRequest:
		return r.GetName() // the session forked from
	case *jambapb.RewindSessionRequest:
		return r.GetName()
	case *jambapb.ListCheckpointsRequest:
		return r.GetParent()
	}
	return ""
}

// retrier decides, call by call, whether a failure is retried.
type retrier struct{ left int }

// wait sleeps before the next attempt and reports whether err may be retried: UNAVAILABLE with
// a RetryInfo, retries left, and ctx's deadline not passed by the end of the delay.
func (r *retrier) wait(ctx context.Context, err error) bool {
	s, ok := status.FromError(err)
	if !ok || s.Code() != codes.Unavailable || r.left <= 0 {
		return false
	}
	delay, ok := (&Error{status: s}).RetryDelay()
	if !ok {
		return false // not the server's own refusal: it may have done some work
	}
	if deadline, has := ctx.Deadline(); has && time.Now().Add(delay).After(deadline) {
		return false
	}
	r.left--
	timer := time.NewTimer(delay)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// unaryInterceptor routes and retries every unary call, the generated stubs' included.
func unaryInterceptor(maxRetries int) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply interface{}, cc *grpc.ClientConn,
		invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		ctx = withSession(ctx, sessionOf(req))
		r := retrier{left: maxRetries}
		for {
			err := invoker(ctx, method, req, reply, cc, opts...)
			if err == nil || !r.wait(ctx, err) {
				return err
			}
		}
	}
}
