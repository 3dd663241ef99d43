// Command tool-call shows a tool-call round trip with the Go client: the model is offered a
// weather tool; when it calls it, the program runs the tool and sends the result back, and the
// model answers from it. Reasoning is printed apart from the answer.
//
//	tool-call --server HOST:PORT --api-key KEY [--question "Weather in Oslo?"] \
//	    [--tool-choice auto|none|required|get_weather]
//
// The served model needs a chat template with tools (ModelInfo.tokenizer.tool_call_format
// "hermes" or "jamba", e.g. the reasoning-3b demo preset). A model with random weights rarely
// calls a tool by itself: --tool-choice get_weather (or required) makes the reply a call.
// TLS: --ca FILE; mutual TLS: also --cert FILE --key FILE; without --ca, plaintext (loopback).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/jamba-project/jamba/clients/go/jamba"
	"github.com/jamba-project/jamba/clients/go/jambapb"
	"google.golang.org/protobuf/proto"
)

// getWeather is the tool itself (a stand-in for a real weather service).
func getWeather(arguments string) string {
	var args struct {
		City string `json:"city"`
	}
	if json.Unmarshal([]byte(arguments), &args) != nil || args.City == "" {
		args.City = "unknown"
	}
	result, _ := json.Marshal(map[string]interface{}{
		"city": args.City, "temperature_c": 22, "conditions": "sunny"})
	return string(result)
}

// reply is one assistant turn, streamed: reasoning as it comes (on stderr), tool calls once
// complete.
func reply(ctx context.Context, client *jamba.Client, chat *jambapb.ChatMessages, choice *jambapb.ToolChoice) (*jamba.Completion, error) {
	req := jamba.ChatRequest(chat)
	req.ToolChoice = choice
	req.MaxTokens = proto.Int32(64)
	req.Sampling = &jambapb.SamplingParams{Seed: proto.Uint64(7)}
	stream, err := client.Generate(ctx, req)
	if err != nil {
		return nil, err
	}
	completion, err := stream.CollectDeltas(func(resp *jambapb.GenerateResponse) {
		fmt.Fprint(os.Stderr, resp.GetReasoning())
	})
	fmt.Fprintln(os.Stderr)
	if err != nil {
		return nil, err
	}
	fmt.Printf("reasoning: '%s'\n", completion.Reasoning)
	fmt.Printf("answer: '%s'\n", completion.Text)
	fmt.Printf("[%s; %d prompt tokens, %d generated]\n", completion.FinishReason,
		completion.Usage.GetPromptTokens(), completion.Usage.GetCompletionTokens())
	return completion, nil
}

func main() {
	server := flag.String("server", "127.0.0.1:50051", "jambad address")
	apiKey := flag.String("api-key", os.Getenv("JAMBA_API_KEY"), "API key")
	question := flag.String("question", "What is the weather in Paris?", "what to ask")
	toolChoice := flag.String("tool-choice", "auto", "auto, none, required, or a tool's name")
	ca := flag.String("ca", "", "CA certificates (PEM) to verify the server: TLS")
	cert := flag.String("cert", "", "client certificate (PEM), for mutual TLS")
	key := flag.String("key", "", "client private key (PEM), for mutual TLS")
	flag.Parse()
	choice, err := jamba.ParseToolChoice(*toolChoice)
	if err != nil {
		fail(err)
	}
	weather, err := jamba.NewTool("get_weather", "The current weather in a city", map[string]interface{}{
		"type":       "object",
		"properties": map[string]interface{}{"city": map[string]string{"type": "string"}},
		"required":   []string{"city"},
	})
	if err != nil {
		fail(err)
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

	info, err := client.GetModelInfo(ctx)
	if err != nil {
		fail(err)
	}
	fmt.Printf("tool calls read as '%s'\n", info.GetTokenizer().GetToolCallFormat())
	chat, err := jamba.Chat([]*jambapb.ChatMessage{jamba.UserMessage(*question)},
		[]*jambapb.Tool{weather}, nil, nil)
	if err != nil {
		fail(err)
	}
	first, err := reply(ctx, client, chat, choice)
	if err != nil {
		fail(err)
	}
	if len(first.ToolCalls) == 0 {
		return // answered without the tool
	}
	chat.Messages = append(chat.Messages, first.AssistantMessage()) // the turn, with its calls
	for _, call := range first.ToolCalls {
		fmt.Printf("tool call %s: %s %s\n", call.GetId(), call.GetName(), call.GetArguments())
		result := getWeather(call.GetArguments())
		fmt.Printf("tool result: %s\n", result)
		chat.Messages = append(chat.Messages, jamba.ToolResultMessage(call, result))
	}
	if _, err := reply(ctx, client, chat, jamba.AutoToolChoice()); err != nil { // it goes on
		fail(err)
	}
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
