// Streaming generation: Generate returns a stream read with an iterator-style Recv loop, and
// Collect gathers a whole stream into one Completion (answer, reasoning and tool calls apart).
package jamba

import (
	"context"
	"io"
	"strings"

	"github.com/jamba-project/jamba/clients/go/jambapb"
)

// GenerateStream is one Generate call's stream of deltas.
type GenerateStream struct {
	client   *Client
	ctx      context.Context    // the call's, retries included
	close    context.CancelFunc // cancels ctx
	req      *jambapb.GenerateRequest
	stream   jambapb.GenerationService_GenerateClient
	cancel   context.CancelFunc // cancels the current attempt
	retry    retrier
	received bool // a response arrived: the call is no longer retried
}

// Generate starts a generation. Read it with Recv until io.EOF (or use Collect); Close it to
// stop early. A generation from a session names it in x-jamba-session. If jambad refuses it
// before its first response (UNAVAILABLE with RetryInfo), it is sent again, retry_delay apart;
// nothing else is retried: with SessionInput.commit it changes the session.
func (c *Client) Generate(ctx context.Context, req *jambapb.GenerateRequest) (*GenerateStream, error) {
	ctx, stop := context.WithCancel(withSession(ctx, req.GetSession().GetSession()))
	g := &GenerateStream{client: c, ctx: ctx, close: stop, req: req,
		retry: retrier{left: c.maxRetries}}
	for {
		err := g.start()
		if err == nil {
			return g, nil
		}
		if !g.retry.wait(g.ctx, err) {
			stop()
			return nil, newError(err)
		}
	}
}

func (g *GenerateStream) start() error {
	ctx, cancel := context.WithCancel(g.ctx)
	stream, err := g.client.Generation.Generate(ctx, g.req)
	if err != nil {
		cancel()
		return err
	}
	g.stream, g.cancel = stream, cancel
	return nil
}

// Recv returns the next delta; io.EOF after the last one (which has finish_reason and usage);
// otherwise an *Error.
func (g *GenerateStream) Recv() (*jambapb.GenerateResponse, error) {
	for {
		resp, err := g.stream.Recv()
		if err == nil {
			g.received = true
			return resp, nil
		}
		g.cancel()
		if err == io.EOF {
			g.close()
			return nil, io.EOF
		}
		if g.received || !g.retry.wait(g.ctx, err) {
			g.close()
			return nil, newError(err)
		}
		if serr := g.start(); serr != nil {
			g.close()
			return nil, newError(serr)
		}
	}
}

// Close cancels the call if it is still running (a committing generation then commits nothing).
func (g *GenerateStream) Close() { g.close() }

// Completion is a whole generation.
type Completion struct {
	Text              string              // every delta's text, concatenated (a chat reply: the answer)
	Reasoning         string              // a chat reply's reasoning (its <think> block)
	ToolCalls         []*jambapb.ToolCall // a chat reply's tool calls, each once complete
	TokenIDs          []int32             // every sampled token
	FinishReason      jambapb.FinishReason
	Usage             *jambapb.Usage
	Seed              uint64
	Session           *jambapb.Session // the updated session, after a committing generation
	MalformedToolCall bool             // a tool-call block did not parse: it is in Text as written
}

// AssistantMessage is the reply as an assistant message (answer, reasoning and tool calls), to
// send back before the tool results or the next user message.
func (c *Completion) AssistantMessage() *jambapb.ChatMessage {
	return AssistantMessage(c.Text, c.ToolCalls, c.Reasoning)
}

// Collect reads the rest of the stream into a Completion, calling onDelta (when not nil) with
// each delta's text as it arrives.
func (g *GenerateStream) Collect(onDelta func(text string)) (*Completion, error) {
	return g.CollectDeltas(func(resp *jambapb.GenerateResponse) {
		if onDelta != nil && resp.GetText() != "" {
			onDelta(resp.GetText())
		}
	})
}

// CollectDeltas reads the rest of the stream into a Completion, calling onDelta (when not nil)
// with each response as it arrives (its text, reasoning and tool calls).
func (g *GenerateStream) CollectDeltas(onDelta func(*jambapb.GenerateResponse)) (*Completion, error) {
	defer g.Close()
	var text, reasoning strings.Builder
	completion := &Completion{TokenIDs: []int32{}, ToolCalls: []*jambapb.ToolCall{}}
	for {
		resp, err := g.Recv()
		if err == io.EOF {
			completion.Text = text.String()
			completion.Reasoning = reasoning.String()
			return completion, nil
		}
		if err != nil {
			return nil, err
		}
		text.WriteString(resp.GetText())
		reasoning.WriteString(resp.GetReasoning())
		completion.ToolCalls = append(completion.ToolCalls, resp.GetToolCalls()...)
		if onDelta != nil {
			onDelta(resp)
		}
		completion.TokenIDs = append(completion.TokenIDs, resp.GetTokenIds()...)
		if resp.GetFinishReason() != jambapb.FinishReason_FINISH_REASON_UNSPECIFIED {
			completion.FinishReason = resp.GetFinishReason()
			completion.MalformedToolCall = resp.GetMalformedToolCall()
		}
		if resp.Usage != nil {
			completion.Usage = resp.GetUsage()
		}
		if resp.Seed != nil {
			completion.Seed = resp.GetSeed()
		}
		if resp.Session != nil {
			completion.Session = resp.GetSession()
		}
	}
}

// Ask is a common request: a user chat message on a session, the reply generated as the
// assistant's turn. commit keeps the question and the reply in the session.
func Ask(session, question string, commit bool) *jambapb.GenerateRequest {
	return &jambapb.GenerateRequest{Input: &jambapb.GenerateRequest_Session{Session: &jambapb.SessionInput{
		Session: SessionName(session),
		Content: &jambapb.SessionInput_Messages{Messages: &jambapb.ChatMessages{Messages: []*jambapb.ChatMessage{
			{Role: jambapb.ChatMessage_USER, Content: question}}}},
		Commit: commit,
	}}}
}

// GetModelInfo describes the served model, its tokenizer, the backend and the server's limits.
func (c *Client) GetModelInfo(ctx context.Context) (*jambapb.ModelInfo, error) {
	info, err := c.Model.GetModelInfo(ctx, &jambapb.GetModelInfoRequest{})
	return info, newError(err)
}

// TokenizeChat returns the tokens of a chat (with its tools and documents) as Generate renders
// it, ending with the assistant-turn header.
func (c *Client) TokenizeChat(ctx context.Context, chat *jambapb.ChatMessages) ([]int32, error) {
	resp, err := c.Model.Tokenize(ctx, &jambapb.TokenizeRequest{
		Input: &jambapb.TokenizeRequest_Messages{Messages: chat}})
	if err != nil {
		return nil, newError(err)
	}
	return resp.GetTokenIds(), nil
}
