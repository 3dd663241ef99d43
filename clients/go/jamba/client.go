// The jambad client: connection options (TLS, mutual TLS, API key), session methods, streaming
// generation and model information, over the generated jambapb stubs.
package jamba

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/jamba-project/jamba/clients/go/jambapb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// Client talks to one jambad. It is safe for concurrent use; Close it when done.
type Client struct {
	conn *grpc.ClientConn
	// The generated stubs, for anything not wrapped here: their errors are plain gRPC errors;
	// their unary calls are routed and retried as the client's own (see routing.go).
	Sessions   jambapb.SessionServiceClient
	Generation jambapb.GenerationServiceClient
	Model      jambapb.ModelServiceClient
	maxRetries int
}

type options struct {
	apiKey     string
	tlsConfig  *tls.Config
	tlsErr     error
	insecure   bool
	dialOpts   []grpc.DialOption
	maxRetries *int
}

// Option configures Dial.
type Option func(*options)

// WithAPIKey sends `authorization: Bearer <key>` with every call.
func WithAPIKey(key string) Option { return func(o *options) { o.apiKey = key } }

// WithTLS verifies the server against the PEM CA certificates in caFile ("" = the system roots).
// TLS with the system roots is also the default when no transport option is given.
func WithTLS(caFile string) Option {
	return func(o *options) { o.tlsConfig, o.tlsErr = tlsConfig(caFile, "", "") }
}

// WithMutualTLS is WithTLS plus a client certificate and key (PEM files) for servers that
// require one (tls_require_client_cert).
func WithMutualTLS(caFile, certFile, keyFile string) Option {
	return func(o *options) { o.tlsConfig, o.tlsErr = tlsConfig(caFile, certFile, keyFile) }
}

// WithTLSConfig uses a ready tls.Config.
func WithTLSConfig(config *tls.Config) Option {
	return func(o *options) { o.tlsConfig, o.tlsErr = config, nil }
}

// WithInsecure uses plaintext: only for a server on the same machine (loopback), since the API
// key would travel in the clear.
func WithInsecure() Option { return func(o *options) { o.insecure = true } }

// WithDialOptions adds gRPC dial options (interceptors, keepalive, a custom dialer, ...).
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(o *options) { o.dialOpts = append(o.dialOpts, opts...) }
}

func tlsConfig(caFile, certFile, keyFile string) (*tls.Config, error) {
	config := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, err
		}
		config.RootCAs = x509.NewCertPool()
		if !config.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("jamba: no PEM certificates in %s", caFile)
		}
	}
	if certFile != "" || keyFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, err
		}
		config.Certificates = []tls.Certificate{cert}
	}
	return config, nil
}

// apiKey is the per-call `authorization` metadata.
type apiKey struct {
	key        string
	requireTLS bool
}

func (k apiKey) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + k.key}, nil
}

func (k apiKey) RequireTransportSecurity() bool { return k.requireTLS }

// Dial connects to jambad at target ("host:port"). The connection is made lazily, on the first
// call; Dial only fails on bad options.
func Dial(target string, opts ...Option) (*Client, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.tlsErr != nil {
		return nil, o.tlsErr
	}
	maxRetries := DefaultMaxRetries
	if o.maxRetries != nil {
		if *o.maxRetries < 0 {
			return nil, errors.New("jamba: WithMaxRetries needs a count >= 0")
		}
		maxRetries = *o.maxRetries
	}
	dialOpts := []grpc.DialOption{grpc.WithChainUnaryInterceptor(unaryInterceptor(maxRetries))}
	switch {
	case o.insecure && o.tlsConfig != nil:
		return nil, errors.New("jamba: WithInsecure and a TLS option are exclusive")
	case o.insecure:
		dialOpts = append(dialOpts, grpc.WithInsecure())
	case o.tlsConfig != nil:
		dialOpts = append(dialOpts, grpc.WithTransportCredentials(credentials.NewTLS(o.tlsConfig)))
	default:
		dialOpts = append(dialOpts, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12})))
	}
	if o.apiKey != "" {
		dialOpts = append(dialOpts, grpc.WithPerRPCCredentials(apiKey{key: o.apiKey, requireTLS: !o.insecure}))
	}
	conn, err := grpc.Dial(target, append(dialOpts, o.dialOpts...)...)
	if err != nil {
		return nil, err
	}
	return &Client{
		conn:       conn,
		Sessions:   jambapb.NewSessionServiceClient(conn),
		Generation: jambapb.NewGenerationServiceClient(conn),
		Model:      jambapb.NewModelServiceClient(conn),
		maxRetries: maxRetries,
	}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// SessionName turns a session id ("notes") into its resource name ("sessions/notes"); a name is
// returned as it is. Every method taking a session accepts either.
func SessionName(session string) string {
	if strings.HasPrefix(session, "sessions/") {
		return session
	}
	return "sessions/" + session
}

// SessionID is the id part of a session name ("sessions/notes" -> "notes").
func SessionID(name string) string { return strings.TrimPrefix(name, "sessions/") }

// CreateSession creates an empty session with the given id ("" lets the server choose one).
func (c *Client) CreateSession(ctx context.Context, id string) (*jambapb.Session, error) {
	s, err := c.Sessions.CreateSession(ctx, &jambapb.CreateSessionRequest{SessionId: id})
	return s, newError(err)
}

// GetSession reads a session.
func (c *Client) GetSession(ctx context.Context, session string) (*jambapb.Session, error) {
	s, err := c.Sessions.GetSession(ctx, &jambapb.GetSessionRequest{Name: SessionName(session)})
	return s, newError(err)
}

// DeleteSession deletes a session; etag, when not empty, must match the session's.
func (c *Client) DeleteSession(ctx context.Context, session, etag string) error {
	_, err := c.Sessions.DeleteSession(ctx, &jambapb.DeleteSessionRequest{Name: SessionName(session), Etag: etag})
	return newError(err)
}

// ForkSession copies session at checkpoint ("" = its current end) into a new session newID.
func (c *Client) ForkSession(ctx context.Context, session, checkpoint, newID string) (*jambapb.Session, error) {
	s, err := c.Sessions.ForkSession(ctx, &jambapb.ForkSessionRequest{
		Name: SessionName(session), Checkpoint: checkpoint, SessionId: newID})
	return s, newError(err)
}

// RewindSession truncates session to one of its checkpoints (a checkpoint name), dropping the
// later ones; etag, when not empty, must match the session's.
func (c *Client) RewindSession(ctx context.Context, session, checkpoint, etag string) (*jambapb.Session, error) {
	s, err := c.Sessions.RewindSession(ctx, &jambapb.RewindSessionRequest{
		Name: SessionName(session), Checkpoint: checkpoint, Etag: etag})
	return s, newError(err)
}

// ListCheckpoints returns all of a session's checkpoints, by token position (every page).
func (c *Client) ListCheckpoints(ctx context.Context, session string) ([]*jambapb.Checkpoint, error) {
	var all []*jambapb.Checkpoint
	token := ""
	for {
		page, err := c.ListCheckpointsPage(ctx, session, 0, token)
		if err != nil {
			return nil, err
		}
		all = append(all, page.GetCheckpoints()...)
		if token = page.GetNextPageToken(); token == "" {
			return all, nil
		}
	}
}

// ListCheckpointsPage returns one page of a session's checkpoints (pageSize 0: the server's
// default; pageToken "": the first page).
func (c *Client) ListCheckpointsPage(ctx context.Context, session string, pageSize int32, pageToken string) (*jambapb.ListCheckpointsResponse, error) {
	resp, err := c.Sessions.ListCheckpoints(ctx, &jambapb.ListCheckpointsRequest{
		Parent: SessionName(session), PageSize: pageSize, PageToken: pageToken})
	return resp, newError(err)
}

// Done is returned by an iterator's Next after the last item.
var Done = errors.New("jamba: no more items")

// SessionIterator pages through ListSessions.
type SessionIterator struct {
	ctx     context.Context
	client  *Client
	req     *jambapb.ListSessionsRequest
	page    []*jambapb.Session
	pages   int
	last    bool
	lastErr error
}

// ListSessions lists the tenant's sessions, newest first, fetching pageSize at a time
// (0 = the server's default).
func (c *Client) ListSessions(ctx context.Context, pageSize int32) *SessionIterator {
	return &SessionIterator{ctx: ctx, client: c, req: &jambapb.ListSessionsRequest{PageSize: pageSize}}
}

// Next returns the next session, Done after the last one, or the error of a page request.
func (it *SessionIterator) Next() (*jambapb.Session, error) {
	for len(it.page) == 0 {
		if it.lastErr != nil {
			return nil, it.lastErr
		}
		if it.last {
			return nil, Done
		}
		resp, err := it.client.Sessions.ListSessions(it.ctx, it.req)
		if err != nil {
			it.lastErr = newError(err)
			return nil, it.lastErr
		}
		it.pages++
		it.page = resp.GetSessions()
		it.req.PageToken = resp.GetNextPageToken()
		it.last = it.req.PageToken == ""
	}
	s := it.page[0]
	it.page = it.page[1:]
	return s, nil
}

// Pages is the number of pages fetched so far.
func (it *SessionIterator) Pages() int { return it.pages }

// AppendOptions tune AppendText and AppendFile. The zero value is fine.
type AppendOptions struct {
	// ChunkBytes is the largest text chunk sent (default 256 KiB); chunks end on UTF-8
	// character boundaries. Keep it well below the server's max_request_bytes.
	ChunkBytes int
	// Role USER makes the whole text one user chat message; unset appends raw text.
	Role jambapb.ChatMessage_Role
	// Etag, when set, makes the append fail with ABORTED if the session changed meanwhile.
	Etag string
	// ProgressIntervalTokens asks for progress every so many tokens (0 = the server's default).
	ProgressIntervalTokens int32
	// OnProgress, when set, is called with every progress report, in order.
	OnProgress func(*jambapb.AppendProgress)
}

// AppendFile streams a UTF-8 text file into a session and returns the committed session. A
// refused append reads the file again from the start.
func (c *Client) AppendFile(ctx context.Context, session, path string, opts *AppendOptions) (*jambapb.Session, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return c.AppendText(ctx, session, f, opts)
}

// AppendText streams UTF-8 text from r into a session and returns the committed session.
// All or nothing: on any error (or a cancelled ctx) the session is unchanged. An append jambad
// refused before doing anything (UNAVAILABLE with RetryInfo) is sent again from where r started
// when r is an io.Seeker (a file, a strings.Reader, ...); another reader only if none of it had
// been read.
func (c *Client) AppendText(ctx context.Context, session string, r io.Reader, opts *AppendOptions) (*jambapb.Session, error) {
	if opts == nil {
		opts = &AppendOptions{}
	}
	seeker, seekable := r.(io.Seeker)
	var start int64
	if seekable {
		var err error
		if start, err = seeker.Seek(0, io.SeekCurrent); err != nil {
			seekable = false // a pipe, a terminal: not seekable after all
		}
	}
	retry := retrier{left: c.maxRetries}
	for {
		counted := &countingReader{r: r}
		committed, err := c.appendOnce(ctx, session, counted, opts)
		if err == nil {
			return committed, nil
		}
		if !seekable && counted.n > 0 {
			return nil, err // some of a one-shot reader was read: it cannot be sent again
		}
		if !retry.wait(ctx, err) {
			return nil, err
		}
		if seekable {
			if _, serr := seeker.Seek(start, io.SeekStart); serr != nil {
				return nil, err
			}
		}
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// appendOnce is one AppendToSession call.
func (c *Client) appendOnce(ctx context.Context, session string, r io.Reader, opts *AppendOptions) (*jambapb.Session, error) {
	chunkBytes := opts.ChunkBytes
	if chunkBytes <= 0 {
		chunkBytes = 256 << 10
	}
	ctx, cancel := context.WithCancel(withSession(ctx, session))
	defer cancel() // on an early return, abandons the call: the server then commits nothing
	stream, err := c.Sessions.AppendToSession(ctx)
	if err != nil {
		return nil, newError(err)
	}
	config := &jambapb.AppendToSessionConfig{
		Session:                SessionName(session),
		MessageRole:            opts.Role,
		Etag:                   opts.Etag,
		ProgressIntervalTokens: opts.ProgressIntervalTokens,
	}
	// One goroutine sends, this one receives: the server reports progress while chunks arrive.
	sendErr := make(chan error, 1)
	go func() {
		err := sendChunks(stream, config, newChunker(r, chunkBytes))
		if err != nil {
			cancel() // abandon the append: the server keeps the session as it was
		}
		sendErr <- err
	}()
	var committed *jambapb.Session
	for {
		resp, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			cancel()
			if local := <-sendErr; local != nil {
				return nil, local // reading r failed, which cancelled the call
			}
			return nil, newError(err)
		}
		if p := resp.GetProgress(); p != nil && opts.OnProgress != nil {
			opts.OnProgress(p)
		}
		if s := resp.GetSession(); s != nil {
			committed = s
		}
	}
	// The call ended with OK, so the sender has sent everything and half-closed.
	<-sendErr
	if committed == nil {
		return nil, errors.New("jamba: AppendToSession ended without the committed session")
	}
	return committed, nil
}

// sendChunks sends the config, every chunk and the half-close. A failed Send means the call has
// ended; its status is what Recv returns, so that error is not reported twice.
func sendChunks(stream jambapb.SessionService_AppendToSessionClient, config *jambapb.AppendToSessionConfig, c *chunker) error {
	req := &jambapb.AppendToSessionRequest{Request: &jambapb.AppendToSessionRequest_Config{Config: config}}
	if stream.Send(req) != nil {
		return nil
	}
	for {
		chunk, err := c.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if stream.Send(&jambapb.AppendToSessionRequest{Request: &jambapb.AppendToSessionRequest_Text{Text: string(chunk)}}) != nil {
			return nil
		}
	}
	_ = stream.CloseSend()
	return nil
}
