// Command resume-document shows the Go client end to end: `--step ingest` creates a session,
// streams a document into it with progress and asks a question (without committing it);
// `--step resume`, any later process (even after a server restart), asks another question of
// the stored session: its usage shows the document's tokens restored, not recomputed.
//
//	resume-document --step ingest --server HOST:PORT --api-key KEY --session notes \
//	    --document contract.txt --question "Who are the parties?"
//	resume-document --step resume --server HOST:PORT --api-key KEY --session notes \
//	    --question "When does it end?"
//
// TLS: --ca FILE; mutual TLS: also --cert FILE --key FILE; without --ca, plaintext (loopback).
// The key may also come from $JAMBA_API_KEY.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/jamba-project/jamba/clients/go/jamba"
	"github.com/jamba-project/jamba/clients/go/jambapb"
	"google.golang.org/protobuf/proto"
)

func main() {
	step := flag.String("step", "", "ingest or resume")
	server := flag.String("server", "127.0.0.1:50051", "jambad address")
	apiKey := flag.String("api-key", os.Getenv("JAMBA_API_KEY"), "API key")
	session := flag.String("session", "example-document", "session id")
	document := flag.String("document", "", "the UTF-8 text file to ingest (--step ingest)")
	question := flag.String("question", "What is this document about?", "what to ask")
	ca := flag.String("ca", "", "CA certificates (PEM) to verify the server: TLS")
	cert := flag.String("cert", "", "client certificate (PEM), for mutual TLS")
	key := flag.String("key", "", "client private key (PEM), for mutual TLS")
	flag.Parse()
	if (*step != "ingest" && *step != "resume") || (*step == "ingest" && *document == "") {
		fmt.Fprintln(os.Stderr, "resume-document: --step ingest|resume (ingest needs --document)")
		os.Exit(2)
	}

	opts := []jamba.Option{jamba.WithAPIKey(*apiKey)}
	switch {
	case *ca == "":
		opts = append(opts, jamba.WithInsecure())
	case *cert != "":
		opts = append(opts, jamba.WithMutualTLS(*ca, *cert, *key))
	default:
		opts = append(opts, jamba.WithTLS(*ca))
	}
	client, err := jamba.Dial(*server, opts...)
	if err != nil {
		fail(err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	if *step == "ingest" {
		if _, err := client.CreateSession(ctx, *session); err != nil {
			fail(err)
		}
		s, err := client.AppendFile(ctx, *session, *document, &jamba.AppendOptions{
			ChunkBytes: 64 << 10,
			OnProgress: func(p *jambapb.AppendProgress) {
				fmt.Fprintf(os.Stderr, "  %d bytes, %d/%d tokens processed\n",
					p.GetBytesReceived(), p.GetTokensProcessed(), p.GetTokensReceived())
			},
		})
		if err != nil {
			fail(err)
		}
		fmt.Printf("ingested %s: %d tokens\n", s.GetName(), s.GetTokenCount())
	} else {
		s, err := client.GetSession(ctx, *session)
		if err != nil {
			fail(err)
		}
		fmt.Printf("resuming %s: %d tokens\n", s.GetName(), s.GetTokenCount())
	}
	if err := ask(ctx, client, *session, *question); err != nil {
		fail(err)
	}
}

// ask generates an answer from the session without committing it, printing it as it streams.
func ask(ctx context.Context, client *jamba.Client, session, question string) error {
	fmt.Printf("Q: %s\nA:", question)
	stream, err := client.Generate(ctx, &jambapb.GenerateRequest{
		Input: &jambapb.GenerateRequest_Session{Session: &jambapb.SessionInput{
			Session: jamba.SessionName(session),
			Content: &jambapb.SessionInput_Text{Text: "\n\nQuestion: " + question + "\nAnswer:"},
		}},
		MaxTokens: proto.Int32(48),
		Sampling:  &jambapb.SamplingParams{Temperature: proto.Float32(0.7), Seed: proto.Uint64(7)},
	})
	if err != nil {
		return err
	}
	answer, err := stream.Collect(func(text string) { fmt.Print(text) })
	if err != nil {
		return err
	}
	u := answer.Usage
	fmt.Printf("\n[%s; %d prompt tokens: %d restored, %d computed; %d generated]\n",
		answer.FinishReason, u.GetPromptTokens(), u.GetRestoredTokens(), u.GetRecomputedTokens(),
		u.GetCompletionTokens())
	return nil
}

func fail(err error) {
	// The gRPC code and, when the server sent one, the stable reason to match on.
	var e *jamba.Error
	if errors.As(err, &e) {
		fmt.Fprintf(os.Stderr, "error: %s: %s (reason: %s)\n", jamba.CodeName(e.Code()), e.Message(), e.Reason())
	} else {
		fmt.Fprintln(os.Stderr, "error:", err)
	}
	os.Exit(1)
}
