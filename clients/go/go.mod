module github.com/jamba-project/jamba/clients/go

go 1.19

// Minimum versions: the ones Debian 12 packages, which the project's own build uses offline
// (see README.md). Newer versions work too.
require (
	google.golang.org/genproto v0.0.0-20200413115906-b5235f65be36
	google.golang.org/grpc v1.33.3
	google.golang.org/protobuf v1.28.1
)
