// Package jamba is a thin Go client for jambad, the jamba.v1 gRPC service: connection set-up
// (TLS, mutual TLS, API key), sessions (create, append a file in chunks with progress, fork,
// rewind, list, delete), streaming generation (the answer, reasoning and tool calls apart),
// chat builders (tools, tool results, documents, tool choice), and errors that keep their gRPC
// status.
//
// Routing and retries: every call that acts on a session sends its name as x-jamba-session
// metadata, for consistent-hash load balancers. A call jambad refused before doing anything
// (UNAVAILABLE with a RetryInfo: starting, draining, not the session's owner) is sent again after
// RetryInfo.retry_delay, at most WithMaxRetries times (default 3) and within ctx's deadline; a
// Generate only before its first response, an append only if its text can be read again. No
// other failure is retried.
//
// The generated messages and stubs are in package jambapb; this package passes them through
// rather than wrapping them, so every field of the API stays reachable.
package jamba

// The stubs are generated from the repository's proto/ into ../jambapb (gitignored).
//go:generate protoc -I ../../../proto --go_out=.. --go_opt=module=github.com/jamba-project/jamba/clients/go --go-grpc_out=.. --go-grpc_opt=module=github.com/jamba-project/jamba/clients/go jamba/v1/generation.proto jamba/v1/generation_service.proto jamba/v1/model.proto jamba/v1/model_service.proto jamba/v1/session.proto jamba/v1/session_service.proto
