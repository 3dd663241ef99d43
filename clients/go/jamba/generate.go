// Streaming generation: Generate returns a stream read with an iterator-style Recv loop, and
// Collect gathers a whole stream into one Completion.
package jamba

import (
	"context"
	"io"
	"strings"

	"github.com/jamba-project/jamba/clients/go/jambapb"
)

// GenerateStream is one Generate call's stream of deltas.
type GenerateStream struct {
	stream jambapb.GenerationService_GenerateClient
	cancel context.CancelFunc
}

// Generate starts a generation. Read it with Recv until io.EOF (or use Collect); Close it to
// stop early. Generate is not retried: with SessionInput.commit it changes the session.
func (c *Client) Generate(ctx context.Context, req *jambapb.GenerateRequest) (*GenerateStream, error) {
	ctx, cancel := context.WithCancel(ctx)
	stream, err := c.Generation.Generate(ctx, req)
	if err != nil {
		cancel()
		return nil, newError(err)
	}
	return &GenerateStream{stream: stream, cancel: cancel}, nil
}

// Recv returns the next delta; io.EOF after the last one (which has finish_reason and usage);
// otherwise an *Error.
func (g *GenerateStream) Recv() (*jambapb.GenerateResponse, error) {
	resp, err := g.stream.Recv()
	if err != nil {
		g.cancel()
		if err == io.EOF {
			return nil, io.EOF
		}
		return nil, newError(err)
	}
	return resp, nil
}

// Close cancels the call if it is still running (a committing generation then commits nothing).
func (g *GenerateStream) Close() { g.cancel() }

// Completion is a whole generation.
type Completion struct {
	Text         string  // every delta's text, concatenated
	TokenIDs     []int32 // every sampled token
	FinishReason jambapb.FinishReason
	Usage        *jambapb.Usage
	Seed         uint64
	Session      *jambapb.Session // the updated session, after a committing generation
}

// Collect reads the rest of the stream into a Completion, calling onDelta (when not nil) with
// each delta's text as it arrives.
func (g *GenerateStream) Collect(onDelta func(text string)) (*Completion, error) {
	defer g.Close()
	var text strings.Builder
	completion := &Completion{TokenIDs: []int32{}}
	for {
		resp, err := g.Recv()
		if err == io.EOF {
			completion.Text = text.String()
			return completion, nil
		}
		if err != nil {
			return nil, err
		}
		text.WriteString(resp.GetText())
		if onDelta != nil && resp.GetText() != "" {
			onDelta(resp.GetText())
		}
		completion.TokenIDs = append(completion.TokenIDs, resp.GetTokenIds()...)
		if resp.GetFinishReason() != jambapb.FinishReason_FINISH_REASON_UNSPECIFIED {
			completion.FinishReason = resp.GetFinishReason()
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
