// Command jamba-conformance runs the shared client conformance scenario
// (clients/conformance/scenario.json) against a live jambad with the Go client, printing one
// JSON line per step as clients/conformance/README.md describes.
package main

import (
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
)

type scenario struct {
	APIKeys map[string]string `json:"api_keys"`
	Steps   []step            `json:"steps"`
}

type step struct {
	Name              string   `json:"name"`
	Call              string   `json:"call"`
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
}

type runner struct {
	server  string
	dir     string // the scenario's directory: text_file paths are relative to it
	prefix  string
	keys    map[string]string
	clients map[string]*jamba.Client // one per API key
}

func main() {
	server := flag.String("server", "", "jambad address, HOST:PORT (plaintext)")
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
	r := &runner{server: *server, dir: filepath.Dir(*scenarioPath), prefix: *prefix,
		keys: sc.APIKeys, clients: map[string]*jamba.Client{}}
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
	if c, ok := r.clients[key]; ok {
		return c, nil
	}
	c, err := jamba.Dial(r.server, jamba.WithInsecure(), jamba.WithAPIKey(key))
	if err != nil {
		return nil, err
	}
	r.clients[key] = c
	return c, nil
}

func (r *runner) run(s step, values map[string]interface{}) error {
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
		req := &jambapb.GenerateRequest{MaxTokens: s.MaxTokens}
		if s.SessionID != "" {
			in := &jambapb.SessionInput{Session: jamba.SessionName(session), Commit: s.Commit}
			if s.Text != nil {
				in.Content = &jambapb.SessionInput_Text{Text: *s.Text}
			}
			req.Input = &jambapb.GenerateRequest_Session{Session: in}
		} else if s.Prompt != nil {
			req.Input = &jambapb.GenerateRequest_Prompt{Prompt: *s.Prompt}
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
		record("token_ids", completion.TokenIDs)
		record("finish_reason", completion.FinishReason.String())
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
