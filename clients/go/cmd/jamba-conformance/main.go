// Command jamba-conformance runs the shared client conformance scenario
// (clients/conformance/scenario.json) against a live jambad with the Go client, printing one
// JSON line per step as clients/conformance/README.md describes.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jamba-project/jamba/clients/go/jamba"
	"github.com/jamba-project/jamba/clients/go/jambapb"
	"google.golang.org/protobuf/proto"
)

type scenario struct {
	APIKeys map[string]string `json:"api_keys"`
	Steps   []step            `json:"steps"`
}

type step struct {
	Name              string   `json:"name"`
	Call              string   `json:"call"`
	Server            string   `json:"server"`
	Key               string   `json:"key"`
	APIKey            *string  `json:"api_key"`
	SessionID         string   `json:"session_id"`
	NewSessionID      string   `json:"new_session_id"`
	TextFile          string   `json:"text_file"`
	ChunkBytes        int      `json:"chunk_bytes"`
	Text              *string  `json:"text"`
	Prompt            *string  `json:"prompt"`
	Commit            bool     `json:"commit"`
	MaxTokens         *int32   `json:"max_tokens"`
	Temperature       *float32 `json:"temperature"`
	TopP              *float32 `json:"top_p"`
	Seed              *uint64  `json:"seed"`
	CheckpointFromEnd int      `json:"checkpoint_from_end"`
	PageSize          int32    `json:"page_size"`
	SessionIDPrefix   string   `json:"session_id_prefix"`
	ExpectCode        string   `json:"expect_code"`
	Record            []string `json:"record"`
	// Chat steps.
	HistoryFrom       string       `json:"history_from"`
	Messages          []message    `json:"messages"`
	Tools             []tool       `json:"tools"`
	Documents         []document   `json:"documents"`
	TemplateVariables *string      `json:"template_variables"`
	ToolChoice        *toolChoice  `json:"tool_choice"`
	ToolResults       *toolResults `json:"tool_results"`
}

type message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type tool struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Parameters  string `json:"parameters"`
}

type document struct {
	Title    string            `json:"title"`
	Text     string            `json:"text"`
	Metadata map[string]string `json:"metadata"`
}

type toolChoice struct {
	Mode     string `json:"mode"`
	Function string `json:"function"`
}

type toolResults struct {
	For      string   `json:"for"`
	Contents []string `json:"contents"`
}

// chat is what a chat Generate step sent and got back, for the steps that continue it.
type chat struct {
	sent  *jambapb.ChatMessages
	reply *jamba.Completion
}

type runner struct {
	servers map[string]string // "" is the default server
	dir     string            // the scenario's directory: text_file paths are relative to it
	prefix  string
	keys    map[string]string
	clients map[[2]string]*jamba.Client // one per server and API key
	chats   map[string]chat
	stdin   *bufio.Reader
}

func main() {
	server := flag.String("server", "", "jambad address, HOST:PORT (plaintext)")
	servers := flag.String("servers", "", "NAME=HOST:PORT,... of the scenario's other servers")
	scenarioPath := flag.String("scenario", "", "path of scenario.json")
	prefix := flag.String("prefix", "", "replaces {prefix} in session ids")
	flag.Parse()
	if *server == "" || *scenarioPath == "" || *prefix == "" {
		fmt.Fprintln(os.Stderr, "usage: jamba-conformance --server HOST:PORT --scenario scenario.json --prefix NAME")
		os.Exit(2)
	}
	data, err := os.ReadFile(*scenarioPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var sc scenario
	if err := json.Unmarshal(data, &sc); err != nil {
		fmt.Fprintln(os.Stderr, "scenario:", err)
		os.Exit(2)
	}
	r := &runner{servers: map[string]string{"": *server}, dir: filepath.Dir(*scenarioPath),
		prefix: *prefix, keys: sc.APIKeys, clients: map[[2]string]*jamba.Client{},
		chats: map[string]chat{}, stdin: bufio.NewReader(os.Stdin)}
	for _, entry := range strings.Split(*servers, ",") {
		if entry == "" {
			continue
		}
		parts := strings.SplitN(entry, "=", 2)
		if len(parts) != 2 || parts[0] == "" || parts[1] == "" {
			fmt.Fprintf(os.Stderr, "--servers: %q is not NAME=HOST:PORT\n", entry)
			os.Exit(2)
		}
		r.servers[parts[0]] = parts[1]
	}
	out := json.NewEncoder(os.Stdout)
	for _, s := range sc.Steps {
		values := map[string]interface{}{}
		code := "OK"
		if err := r.run(s, values); err != nil {
			var e *jamba.Error
			if errors.As(err, &e) {
				code = jamba.CodeName(e.Code())
			} else {
				// Failed inside the client (a bug, or a step it cannot run): say why, go on.
				code = "CLIENT_ERROR"
				fmt.Fprintf(os.Stderr, "step %s: %v\n", s.Name, err)
			}
			values = map[string]interface{}{}
		}
		line := map[string]interface{}{"step": s.Name, "code": code, "values": values}
		if err := out.Encode(line); err != nil {
			os.Exit(1)
		}
	}
	for _, c := range r.clients {
		c.Close()
	}
}

func (r *runner) expand(s string) string { return strings.ReplaceAll(s, "{prefix}", r.prefix) }

// unexpandID writes "{prefix}" back at the start of an id, so that every client records the same.
func (r *runner) unexpandID(id string) string {
	if strings.HasPrefix(id, r.prefix) {
		return "{prefix}" + strings.TrimPrefix(id, r.prefix)
	}
	return id
}

// unexpandName is unexpandID for a session name ("sessions/{prefix}-doc").
func (r *runner) unexpandName(name string) string {
	return jamba.SessionName(r.unexpandID(jamba.SessionID(name)))
}

func (r *runner) client(s step) (*jamba.Client, error) {
	key := r.keys[s.Key]
	if s.APIKey != nil {
		key = *s.APIKey
	}
	id := [2]string{s.Server, key}
	if c, ok := r.clients[id]; ok {
		return c, nil
	}
	address, ok := r.servers[s.Server]
	if !ok {
		return nil, fmt.Errorf("no --servers address for %q", s.Server)
	}
	c, err := jamba.Dial(address, jamba.WithInsecure(), jamba.WithAPIKey(key))
	if err != nil {
		return nil, err
	}
	r.clients[id] = c
	return c, nil
}

// restart asks the runner to restart a server (a control line on stdout) and waits for its new
// address on stdin.
func (r *runner) restart(server string) error {
	for id, c := range r.clients {
		if id[0] == server {
			c.Close()
			delete(r.clients, id)
		}
	}
	line, _ := json.Marshal(map[string]string{"control": "restart", "server": server})
	fmt.Println(string(line))
	reply, err := r.stdin.ReadString('\n')
	parts := strings.SplitN(strings.TrimSpace(reply), "=", 2)
	if err != nil || len(parts) != 2 || parts[0] != server || parts[1] == "" {
		return fmt.Errorf("the runner did not restart %q: %q (%v)", server, reply, err)
	}
	r.servers[server] = parts[1]
	return nil
}

// conversation is the step's chat, or nil: the history of an earlier step with its reply
// (history_from), the step's own messages, tools, documents and template variables, then a
// result for each tool call of an earlier step's reply (tool_results).
func (r *runner) conversation(s step) (*jambapb.ChatMessages, error) {
	if s.HistoryFrom == "" && s.Messages == nil && s.Tools == nil && s.Documents == nil &&
		s.TemplateVariables == nil && s.ToolResults == nil {
		return nil, nil
	}
	conv := &jambapb.ChatMessages{}
	if s.HistoryFrom != "" {
		earlier, ok := r.chats[s.HistoryFrom]
		if !ok {
			return nil, fmt.Errorf("no chat step %q", s.HistoryFrom)
		}
		conv = proto.Clone(earlier.sent).(*jambapb.ChatMessages)
		conv.Messages = append(conv.Messages, earlier.reply.AssistantMessage())
	}
	for _, m := range s.Messages {
		role, ok := jambapb.ChatMessage_Role_value[m.Role]
		if !ok {
			return nil, fmt.Errorf("unknown role %q", m.Role)
		}
		conv.Messages = append(conv.Messages,
			&jambapb.ChatMessage{Role: jambapb.ChatMessage_Role(role), Content: m.Content})
	}
	if s.Tools != nil {
		conv.Tools = nil
		for _, t := range s.Tools {
			var parameters interface{}
			if t.Parameters != "" {
				parameters = t.Parameters
			}
			built, err := jamba.NewTool(t.Name, t.Description, parameters)
			if err != nil {
				return nil, err
			}
			conv.Tools = append(conv.Tools, built)
		}
	}
	if s.Documents != nil {
		conv.Documents = nil
		for _, d := range s.Documents {
			conv.Documents = append(conv.Documents, jamba.NewDocument(d.Text, d.Title, d.Metadata))
		}
	}
	if s.TemplateVariables != nil {
		conv.TemplateVariables = *s.TemplateVariables
	}
	if s.ToolResults != nil {
		earlier, ok := r.chats[s.ToolResults.For]
		if !ok {
			return nil, fmt.Errorf("no chat step %q", s.ToolResults.For)
		}
		calls := earlier.reply.ToolCalls
		if len(calls) != len(s.ToolResults.Contents) {
			return nil, fmt.Errorf("%s made %d tool calls, the step has %d results",
				s.ToolResults.For, len(calls), len(s.ToolResults.Contents))
		}
		for i, call := range calls {
			conv.Messages = append(conv.Messages, jamba.ToolResultMessage(call, s.ToolResults.Contents[i]))
		}
	}
	return conv, nil
}

func (r *runner) run(s step, values map[string]interface{}) error {
	if s.Call == "RestartServer" {
		return r.restart(s.Server)
	}
	c, err := r.client(s)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	session := r.expand(s.SessionID)
	record := func(key string, value interface{}) {
		for _, k := range s.Record {
			if k == key {
				values[key] = value
			}
		}
	}
	recordSession := func(got *jambapb.Session) {
		record("session_name", r.unexpandName(got.GetName()))
		record("token_count", got.GetTokenCount())
	}
	switch s.Call {
	case "CreateSession":
		created, err := c.CreateSession(ctx, session)
		if err != nil {
			return err
		}
		recordSession(created)
	case "AppendToSession":
		updated, err := c.AppendFile(ctx, session, filepath.Join(r.dir, s.TextFile),
			&jamba.AppendOptions{ChunkBytes: s.ChunkBytes})
		if err != nil {
			return err
		}
		recordSession(updated)
	case "Generate":
		conv, err := r.conversation(s)
		if err != nil {
			return err
		}
		req := &jambapb.GenerateRequest{}
		switch {
		case s.SessionID != "" && conv != nil:
			req = jamba.SessionChatRequest(session, conv, s.Commit)
		case s.SessionID != "":
			in := &jambapb.SessionInput{Session: jamba.SessionName(session), Commit: s.Commit}
			if s.Text != nil {
				in.Content = &jambapb.SessionInput_Text{Text: *s.Text}
			}
			req.Input = &jambapb.GenerateRequest_Session{Session: in}
		case conv != nil:
			req = jamba.ChatRequest(conv)
		case s.Prompt != nil:
			req.Input = &jambapb.GenerateRequest_Prompt{Prompt: *s.Prompt}
		}
		req.MaxTokens = s.MaxTokens
		if s.ToolChoice != nil {
			if s.ToolChoice.Mode == "FUNCTION" {
				req.ToolChoice = jamba.ForceTool(s.ToolChoice.Function)
			} else if mode, ok := jambapb.ToolChoice_Mode_value[s.ToolChoice.Mode]; ok {
				req.ToolChoice = &jambapb.ToolChoice{Mode: jambapb.ToolChoice_Mode(mode)}
			} else {
				return fmt.Errorf("unknown tool choice mode %q", s.ToolChoice.Mode)
			}
		}
		if s.Temperature != nil || s.TopP != nil || s.Seed != nil {
			req.Sampling = &jambapb.SamplingParams{Temperature: s.Temperature, TopP: s.TopP, Seed: s.Seed}
		}
		stream, err := c.Generate(ctx, req)
		if err != nil {
			return err
		}
		completion, err := stream.Collect(nil)
		if err != nil {
			return err
		}
		if conv != nil {
			r.chats[s.Name] = chat{sent: conv, reply: completion}
		}
		record("token_ids", completion.TokenIDs)
		record("finish_reason", completion.FinishReason.String())
		record("text", completion.Text)
		record("reasoning", completion.Reasoning)
		calls := []map[string]string{}
		for _, call := range completion.ToolCalls {
			calls = append(calls, map[string]string{
				"id": call.GetId(), "name": call.GetName(), "arguments": call.GetArguments()})
		}
		record("tool_calls", calls)
		record("malformed_tool_call", completion.MalformedToolCall)
		if completion.Session != nil {
			record("session_token_count", completion.Session.GetTokenCount())
		}
		u := completion.Usage
		record("usage", map[string]int32{
			"prompt_tokens":     u.GetPromptTokens(),
			"restored_tokens":   u.GetRestoredTokens(),
			"recomputed_tokens": u.GetRecomputedTokens(),
			"completion_tokens": u.GetCompletionTokens(),
		})
	case "ForkSession":
		fork, err := c.ForkSession(ctx, session, "", r.expand(s.NewSessionID))
		if err != nil {
			return err
		}
		recordSession(fork)
	case "ListCheckpoints":
		checkpoints, pages, err := listCheckpoints(ctx, c, session)
		if err != nil {
			return err
		}
		positions := []int32{}
		for _, cp := range checkpoints {
			positions = append(positions, cp.GetTokenCount())
		}
		record("positions", positions)
		record("pages", pages)
	case "RewindSession":
		checkpoints, _, err := listCheckpoints(ctx, c, session)
		if err != nil {
			return err
		}
		i := len(checkpoints) - 1 - s.CheckpointFromEnd
		if i < 0 || i >= len(checkpoints) {
			return fmt.Errorf("%s has %d checkpoints", session, len(checkpoints))
		}
		rewound, err := c.RewindSession(ctx, session, checkpoints[i].GetName(), "")
		if err != nil {
			return err
		}
		recordSession(rewound)
	case "ListSessions":
		it := c.ListSessions(ctx, s.PageSize)
		ids := []string{}
		prefix := r.expand(s.SessionIDPrefix)
		for {
			listed, err := it.Next()
			if err == jamba.Done {
				break
			}
			if err != nil {
				return err
			}
			if id := jamba.SessionID(listed.GetName()); strings.HasPrefix(id, prefix) {
				ids = append(ids, r.unexpandID(id))
			}
		}
		record("session_ids", ids)
		record("pages", it.Pages())
	case "GetSession":
		got, err := c.GetSession(ctx, session)
		if err != nil {
			return err
		}
		recordSession(got)
	case "DeleteSession":
		return c.DeleteSession(ctx, session, "")
	default:
		return fmt.Errorf("unknown call %q", s.Call)
	}
	return nil
}

// listCheckpoints fetches every page of a session's checkpoints, counting the pages.
func listCheckpoints(ctx context.Context, c *jamba.Client, session string) ([]*jambapb.Checkpoint, int, error) {
	var all []*jambapb.Checkpoint
	pages, token := 0, ""
	for {
		page, err := c.ListCheckpointsPage(ctx, session, 0, token)
		if err != nil {
			return nil, pages, err
		}
		pages++
		all = append(all, page.GetCheckpoints()...)
		if token = page.GetNextPageToken(); token == "" {
			return all, pages, nil
		}
	}
}
