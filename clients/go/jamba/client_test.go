// Tests of the client against an in-process fake jambad: chat requests (tools, documents,
// template variables, tool choice), completions with reasoning and tool calls apart, the chat
// builders' errors, the x-jamba-session routing metadata, and the retry of calls the server
// refused (UNAVAILABLE with RetryInfo).
package jamba

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang/protobuf/ptypes"
	"github.com/jamba-project/jamba/clients/go/jambapb"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
)

const retryDelay = 50 * time.Millisecond // the fake server's RetryInfo

// recorder is what the fake services saw of each call (its x-jamba-session), and the calls they
// refuse as a draining jambad does: UNAVAILABLE with RetryInfo, before doing anything.
type recorder struct {
	mu                  sync.Mutex
	sessions            map[string][]string
	refuse              map[string]int
	withoutRetryInfo    bool
	refuseAfterAChunk   int // appends refused once a chunk was read
	appended            []string
	lastGenerateRequest *jambapb.GenerateRequest
}

func newRecorder() *recorder {
	return &recorder{sessions: map[string][]string{}, refuse: map[string]int{}}
}

func (r *recorder) refusal() error {
	st := status.New(codes.Unavailable, "draining")
	info := &errdetails.ErrorInfo{Reason: "SERVER_UNAVAILABLE", Domain: ErrorDomain}
	var err error
	if r.withoutRetryInfo {
		st, err = st.WithDetails(info)
	} else {
		st, err = st.WithDetails(info, &errdetails.RetryInfo{RetryDelay: ptypes.DurationProto(retryDelay)})
	}
	if err != nil {
		panic(err)
	}
	return st.Err()
}

// enter records a call and returns the refusal to send, if any.
func (r *recorder) enter(ctx context.Context, method string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	session := "(none)"
	if md, ok := metadata.FromIncomingContext(ctx); ok && len(md.Get(SessionMetadataKey)) > 0 {
		session = md.Get(SessionMetadataKey)[0]
	}
	r.sessions[method] = append(r.sessions[method], session)
	if r.refuse[method] > 0 {
		r.refuse[method]--
		return r.refusal()
	}
	return nil
}

func (r *recorder) calls(method string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.sessions[method]...)
}

type fakeSessions struct {
	jambapb.UnimplementedSessionServiceServer
	r *recorder
}

func (f *fakeSessions) CreateSession(ctx context.Context, req *jambapb.CreateSessionRequest) (*jambapb.Session, error) {
	if err := f.r.enter(ctx, "CreateSession"); err != nil {
		return nil, err
	}
	return &jambapb.Session{Name: "sessions/" + req.GetSessionId()}, nil
}

func (f *fakeSessions) GetSession(ctx context.Context, req *jambapb.GetSessionRequest) (*jambapb.Session, error) {
	if err := f.r.enter(ctx, "GetSession"); err != nil {
		return nil, err
	}
	return &jambapb.Session{Name: req.GetName()}, nil
}

func (f *fakeSessions) DeleteSession(ctx context.Context, req *jambapb.DeleteSessionRequest) (*emptypb.Empty, error) {
	if err := f.r.enter(ctx, "DeleteSession"); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

func (f *fakeSessions) ForkSession(ctx context.Context, req *jambapb.ForkSessionRequest) (*jambapb.Session, error) {
	if err := f.r.enter(ctx, "ForkSession"); err != nil {
		return nil, err
	}
	return &jambapb.Session{Name: "sessions/" + req.GetSessionId()}, nil
}

func (f *fakeSessions) RewindSession(ctx context.Context, req *jambapb.RewindSessionRequest) (*jambapb.Session, error) {
	if err := f.r.enter(ctx, "RewindSession"); err != nil {
		return nil, err
	}
	return &jambapb.Session{Name: req.GetName()}, nil
}

func (f *fakeSessions) ListCheckpoints(ctx context.Context, req *jambapb.ListCheckpointsRequest) (*jambapb.ListCheckpointsResponse, error) {
	if err := f.r.enter(ctx, "ListCheckpoints"); err != nil {
		return nil, err
	}
	return &jambapb.ListCheckpointsResponse{}, nil
}

func (f *fakeSessions) ListSessions(ctx context.Context, req *jambapb.ListSessionsRequest) (*jambapb.ListSessionsResponse, error) {
	if err := f.r.enter(ctx, "ListSessions"); err != nil {
		return nil, err
	}
	return &jambapb.ListSessionsResponse{}, nil
}

func (f *fakeSessions) AppendToSession(stream jambapb.SessionService_AppendToSessionServer) error {
	if err := f.r.enter(stream.Context(), "AppendToSession"); err != nil {
		return err
	}
	config, err := stream.Recv()
	if err != nil {
		return err
	}
	f.r.mu.Lock()
	f.r.appended = nil
	refuseLate := f.r.refuseAfterAChunk > 0
	if refuseLate {
		f.r.refuseAfterAChunk--
	}
	f.r.mu.Unlock()
	if refuseLate {
		if _, err := stream.Recv(); err != nil { // a chunk: the client has read some content
			return err
		}
		return f.r.refusal()
	}
	bytes := 0
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		f.r.mu.Lock()
		f.r.appended = append(f.r.appended, req.GetText())
		f.r.mu.Unlock()
		bytes += len(req.GetText())
	}
	return stream.Send(&jambapb.AppendToSessionResponse{
		Progress: &jambapb.AppendProgress{BytesReceived: int64(bytes)},
		Session:  &jambapb.Session{Name: config.GetConfig().GetSession(), TokenCount: int32(bytes)},
	})
}

type fakeGeneration struct {
	jambapb.UnimplementedGenerationServiceServer
	r *recorder
}

func (f *fakeGeneration) Generate(req *jambapb.GenerateRequest, stream jambapb.GenerationService_GenerateServer) error {
	if err := f.r.enter(stream.Context(), "Generate"); err != nil {
		return err
	}
	f.r.mu.Lock()
	f.r.lastGenerateRequest = req
	f.r.mu.Unlock()
	send := func(resp *jambapb.GenerateResponse) {
		if err := stream.Send(resp); err != nil {
			panic(err)
		}
	}
	if req.GetMessages() != nil {
		// A reply as jambad streams one: reasoning first, a tool call once complete, the answer.
		send(&jambapb.GenerateResponse{Reasoning: "The user wants ", TokenIds: []int32{1}})
		send(&jambapb.GenerateResponse{Reasoning: "the weather.", TokenIds: []int32{2}})
		send(&jambapb.GenerateResponse{TokenIds: []int32{3}, ToolCalls: []*jambapb.ToolCall{
			{Id: "call_1", Name: "get_weather", Arguments: `{"city": "Paris"}`}}})
		send(&jambapb.GenerateResponse{Text: "Checking.", TokenIds: []int32{4}})
		msgs := req.GetMessages().GetMessages()
		send(&jambapb.GenerateResponse{FinishReason: jambapb.FinishReason_FINISH_REASON_TOOL_CALLS,
			MalformedToolCall: msgs[len(msgs)-1].GetContent() == "malformed"})
		return nil
	}
	send(&jambapb.GenerateResponse{Text: "Hel", TokenIds: []int32{5, 6}})
	if req.GetPrompt() == "unavailable midway" {
		return f.r.refusal()
	}
	send(&jambapb.GenerateResponse{Text: "lo", TokenIds: []int32{7},
		FinishReason: jambapb.FinishReason_FINISH_REASON_MAX_TOKENS, Usage: &jambapb.Usage{PromptTokens: 3}})
	return nil
}

// startFake serves the fake services on 127.0.0.1 and returns a client of them.
func startFake(t *testing.T, opts ...Option) (*Client, *recorder) {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := newRecorder()
	server := grpc.NewServer()
	jambapb.RegisterSessionServiceServer(server, &fakeSessions{r: r})
	jambapb.RegisterGenerationServiceServer(server, &fakeGeneration{r: r})
	go server.Serve(listener)
	t.Cleanup(server.Stop)
	client, err := Dial(listener.Addr().String(), append([]Option{WithInsecure()}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	return client, r
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestAChatRequestCarriesToolsDocumentsVariablesAndTheToolChoice(t *testing.T) {
	client, r := startFake(t)
	weather, err := NewTool("get_weather", "The weather in a city",
		map[string]interface{}{"type": "object", "properties": map[string]interface{}{}})
	if err != nil {
		t.Fatal(err)
	}
	chat, err := Chat([]*jambapb.ChatMessage{SystemMessage("Be brief."), UserMessage("Paris?")},
		[]*jambapb.Tool{weather}, []*jambapb.Document{NewDocument("Revenue grew.", "Q3",
			map[string]string{"author": "Finance"})}, map[string]interface{}{"enable_thinking": false})
	if err != nil {
		t.Fatal(err)
	}
	req := ChatRequest(chat)
	req.ToolChoice = ForceTool("get_weather")
	stream, err := client.Generate(testContext(t), req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Collect(nil); err != nil {
		t.Fatal(err)
	}
	sent := r.lastGenerateRequest.GetMessages()
	var schema map[string]interface{}
	if err := json.Unmarshal([]byte(sent.GetTools()[0].GetParameters()), &schema); err != nil || schema["type"] != "object" {
		t.Errorf("parameters %q", sent.GetTools()[0].GetParameters())
	}
	if len(sent.GetMessages()) != 2 || sent.GetMessages()[0].GetRole() != jambapb.ChatMessage_SYSTEM {
		t.Errorf("messages %v", sent.GetMessages())
	}
	if d := sent.GetDocuments()[0]; d.GetTitle() != "Q3" || d.GetMetadata()["author"] != "Finance" {
		t.Errorf("document %v", d)
	}
	if sent.GetTemplateVariables() != `{"enable_thinking":false}` {
		t.Errorf("template variables %q", sent.GetTemplateVariables())
	}
	if c := r.lastGenerateRequest.GetToolChoice(); c.GetMode() != jambapb.ToolChoice_FUNCTION || c.GetFunction() != "get_weather" {
		t.Errorf("tool choice %v", c)
	}
	session := SessionChatRequest("agent", chat, true)
	if in := session.GetSession(); in.GetSession() != "sessions/agent" || !in.GetCommit() || in.GetMessages() != chat {
		t.Errorf("session request %v", in)
	}
}

func TestTheCompletionKeepsReasoningToolCallsAndAnswerApart(t *testing.T) {
	client, _ := startFake(t)
	ctx := testContext(t)
	chat, _ := Chat([]*jambapb.ChatMessage{UserMessage("Weather in Paris?")}, nil, nil, nil)
	stream, err := client.Generate(ctx, ChatRequest(chat))
	if err != nil {
		t.Fatal(err)
	}
	var reasoning []string
	completion, err := stream.CollectDeltas(func(resp *jambapb.GenerateResponse) {
		if resp.GetReasoning() != "" {
			reasoning = append(reasoning, resp.GetReasoning())
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(reasoning, "|") != "The user wants |the weather." {
		t.Errorf("reasoning deltas %q", reasoning)
	}
	if completion.Reasoning != "The user wants the weather." || completion.Text != "Checking." {
		t.Errorf("reasoning %q, text %q", completion.Reasoning, completion.Text)
	}
	if len(completion.ToolCalls) != 1 || completion.ToolCalls[0].GetId() != "call_1" ||
		completion.ToolCalls[0].GetArguments() != `{"city": "Paris"}` {
		t.Errorf("tool calls %v", completion.ToolCalls)
	}
	if completion.FinishReason != jambapb.FinishReason_FINISH_REASON_TOOL_CALLS || completion.MalformedToolCall {
		t.Errorf("finish %v, malformed %v", completion.FinishReason, completion.MalformedToolCall)
	}
	reply := completion.AssistantMessage()
	if reply.GetRole() != jambapb.ChatMessage_ASSISTANT || reply.GetContent() != "Checking." ||
		reply.GetReasoning() != completion.Reasoning || len(reply.GetToolCalls()) != 1 {
		t.Errorf("assistant message %v", reply)
	}
	result := ToolResultMessage(completion.ToolCalls[0], "22 degrees")
	if result.GetRole() != jambapb.ChatMessage_TOOL || result.GetToolCallId() != "call_1" || result.GetName() != "get_weather" {
		t.Errorf("tool result %v", result)
	}
	chat, _ = Chat([]*jambapb.ChatMessage{UserMessage("malformed")}, nil, nil, nil)
	stream, err = client.Generate(ctx, ChatRequest(chat))
	if err != nil {
		t.Fatal(err)
	}
	if malformed, err := stream.Collect(nil); err != nil || !malformed.MalformedToolCall {
		t.Errorf("malformed flag: %v, %v", malformed, err)
	}
}

func TestChatBuildersRefuseBadInput(t *testing.T) {
	for _, parameters := range []interface{}{"[1, 2]", "{type: object}", []int{1}, `"text"`} {
		if _, err := NewTool("f", "", parameters); err == nil || !strings.Contains(err.Error(), "the parameters of tool f") {
			t.Errorf("parameters %v: %v", parameters, err)
		}
	}
	if _, err := NewTool("", "", nil); err == nil {
		t.Error("a tool without a name")
	}
	if _, err := Chat(nil, nil, nil, "[]"); err == nil {
		t.Error("template variables that are a list")
	}
	if _, err := ParseToolChoice(""); err == nil {
		t.Error("an empty tool choice")
	}
	if c, _ := ParseToolChoice("Required"); c.GetMode() != jambapb.ToolChoice_REQUIRED {
		t.Errorf("Required: %v", c)
	}
	if c, _ := ParseToolChoice("get_weather"); c.GetFunction() != "get_weather" {
		t.Errorf("a tool's name: %v", c)
	}
	if _, err := Dial("127.0.0.1:1", WithInsecure(), WithMaxRetries(-1)); err == nil {
		t.Error("a negative retry count")
	}
}

func TestSessionCallsNameTheirSessionInTheMetadata(t *testing.T) {
	client, r := startFake(t)
	ctx := testContext(t)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err := client.CreateSession(ctx, "doc")
	must(err)
	_, err = client.CreateSession(ctx, "") // the server picks the id: nothing to route by
	must(err)
	_, err = client.GetSession(ctx, "sessions/doc")
	must(err)
	must(client.DeleteSession(ctx, "doc", ""))
	_, err = client.ListCheckpoints(ctx, "doc")
	must(err)
	_, err = client.ForkSession(ctx, "doc", "", "draft")
	must(err)
	_, err = client.RewindSession(ctx, "draft", "sessions/draft/checkpoints/1", "")
	must(err)
	_, err = client.AppendText(ctx, "doc", strings.NewReader("some text"), nil)
	must(err)
	for _, req := range []*jambapb.GenerateRequest{
		{Input: &jambapb.GenerateRequest_Session{Session: &jambapb.SessionInput{Session: "sessions/doc"}}},
		{Input: &jambapb.GenerateRequest_Prompt{Prompt: "hi"}},
	} {
		stream, err := client.Generate(ctx, req)
		must(err)
		_, err = stream.Collect(nil)
		must(err)
	}
	it := client.ListSessions(ctx, 0)
	_, err = it.Next()
	if err != Done {
		t.Fatal(err)
	}
	want := map[string]string{
		"CreateSession": "sessions/doc,(none)", "GetSession": "sessions/doc", "DeleteSession": "sessions/doc",
		"ListCheckpoints": "sessions/doc", "ForkSession": "sessions/doc", "RewindSession": "sessions/draft",
		"AppendToSession": "sessions/doc", "Generate": "sessions/doc,(none)", "ListSessions": "(none)",
	}
	for method, sessions := range want {
		if got := strings.Join(r.calls(method), ","); got != sessions {
			t.Errorf("%s: x-jamba-session %s, want %s", method, got, sessions)
		}
	}
}

func TestARefusedCallIsRetriedAfterTheDelay(t *testing.T) {
	client, r := startFake(t)
	r.refuse["ForkSession"] = 2
	start := time.Now()
	fork, err := client.ForkSession(testContext(t), "doc", "", "draft")
	if err != nil {
		t.Fatal(err)
	}
	if fork.GetName() != "sessions/draft" || len(r.calls("ForkSession")) != 3 {
		t.Errorf("fork %v after %d calls", fork, len(r.calls("ForkSession")))
	}
	if elapsed := time.Since(start); elapsed < 2*retryDelay {
		t.Errorf("retried after %v", elapsed)
	}
}

func TestRetriesAreBounded(t *testing.T) {
	client, r := startFake(t)
	r.refuse["GetSession"] = 10
	_, err := client.GetSession(testContext(t), "doc")
	var e *Error
	if !errors.As(err, &e) || e.Code() != codes.Unavailable || e.Reason() != "SERVER_UNAVAILABLE" {
		t.Fatalf("error %v", err)
	}
	if n := len(r.calls("GetSession")); n != 1+DefaultMaxRetries {
		t.Errorf("%d calls", n)
	}
	once, r2 := startFake(t, WithMaxRetries(0))
	r2.refuse["GetSession"] = 1
	if _, err := once.GetSession(testContext(t), "doc"); status.Code(err) != codes.Unavailable || len(r2.calls("GetSession")) != 1 {
		t.Errorf("with no retries: %v after %d calls", err, len(r2.calls("GetSession")))
	}
}

func TestOnlyUnavailableWithRetryInfoIsRetried(t *testing.T) {
	client, r := startFake(t)
	r.refuse["GetSession"] = 2
	r.withoutRetryInfo = true // e.g. a proxy's error, or the transport's
	if _, err := client.GetSession(testContext(t), "doc"); status.Code(err) != codes.Unavailable {
		t.Fatalf("error %v", err)
	}
	if n := len(r.calls("GetSession")); n != 1 {
		t.Errorf("%d calls", n)
	}
}

func TestNoRetryPastTheDeadline(t *testing.T) {
	client, r := startFake(t)
	if _, err := client.GetSession(testContext(t), "warm-up"); err != nil {
		t.Fatal(err)
	}
	r.refuse["GetSession"] = 1
	ctx, cancel := context.WithTimeout(context.Background(), retryDelay/2)
	defer cancel()
	if _, err := client.GetSession(ctx, "doc"); status.Code(err) != codes.Unavailable {
		t.Fatalf("error %v", err)
	}
	if n := len(r.calls("GetSession")); n != 2 {
		t.Errorf("%d calls", n)
	}
}

func TestAGenerationIsRetriedOnlyBeforeItsFirstResponse(t *testing.T) {
	client, r := startFake(t)
	ctx := testContext(t)
	r.refuse["Generate"] = 2
	stream, err := client.Generate(ctx, &jambapb.GenerateRequest{Input: &jambapb.GenerateRequest_Session{
		Session: &jambapb.SessionInput{Session: "sessions/doc", Commit: true}}})
	if err != nil {
		t.Fatal(err)
	}
	completion, err := stream.Collect(nil)
	if err != nil || completion.Text != "Hello" || len(r.calls("Generate")) != 3 {
		t.Fatalf("%v, %v after %d calls", completion, err, len(r.calls("Generate")))
	}
	stream, err = client.Generate(ctx, &jambapb.GenerateRequest{Input: &jambapb.GenerateRequest_Prompt{Prompt: "unavailable midway"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Collect(nil); status.Code(err) != codes.Unavailable || len(r.calls("Generate")) != 4 {
		t.Errorf("midway: %v after %d calls", err, len(r.calls("Generate")))
	}
}

// oneShot is a reader that cannot seek (a pipe, a socket).
type oneShot struct{ r io.Reader }

func (o oneShot) Read(p []byte) (int, error) { return o.r.Read(p) }

func TestARefusedAppendIsSentAgainWhenItsTextCanBeReadAgain(t *testing.T) {
	client, r := startFake(t)
	ctx := testContext(t)
	text := strings.Repeat("ünïcödé text ", 20)
	r.refuse["AppendToSession"] = 2
	session, err := client.AppendText(ctx, "doc", strings.NewReader(text), &AppendOptions{ChunkBytes: 16})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(r.appended, ""); got != text || session.GetTokenCount() != int32(len(text)) {
		t.Errorf("appended %q", got)
	}
	if n := len(r.calls("AppendToSession")); n != 3 {
		t.Errorf("%d calls", n)
	}
	// Refused once a chunk was read: a seekable reader is read again, a one-shot one is not.
	r.refuseAfterAChunk = 1
	if _, err := client.AppendText(ctx, "doc", strings.NewReader(text), &AppendOptions{ChunkBytes: 16}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(r.appended, ""); got != text {
		t.Errorf("appended again %q", got)
	}
	r.refuseAfterAChunk = 1
	_, err = client.AppendText(ctx, "doc", oneShot{strings.NewReader(text)}, &AppendOptions{ChunkBytes: 16})
	if status.Code(err) != codes.Unavailable {
		t.Errorf("one-shot reader: %v", err)
	}
	if n := len(r.calls("AppendToSession")); n != 6 {
		t.Errorf("%d calls", n)
	}
}
