// Package jamba is a thin Go client for jambad, the jamba.v1 gRPC service: connection set-up
// (TLS, mutual TLS, API key), sessions (create, append a file in chunks with progress, fork,
// rewind, list, delete), streaming generation, and errors that keep their gRPC status.
//
// The generated messages and stubs are in package jambapb; this package passes them through
// rather than wrapping them, so every field of the API stays reachable.
package jamba

// The stubs are generated from the repository's proto/ into ../jambapb (gitignored).
//go:generate protoc -I ../../../proto --go_out=.. --go_opt=module=github.com/jamba-project/jamba/clients/go --go-grpc_out=.. --go-grpc_opt=module=github.com/jamba-project/jamba/clients/go jamba/v1/generation.proto jamba/v1/generation_service.proto jamba/v1/model.proto jamba/v1/model_service.proto jamba/v1/session.proto jamba/v1/session_service.proto
