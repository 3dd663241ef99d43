// Chat building blocks: messages of every role (with tool calls, tool results and reasoning),
// tool definitions with a JSON Schema, documents, the tool choice, and the GenerateRequest of a
// chat, stateless or on a session.
package jamba

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/jamba-project/jamba/clients/go/jambapb"
)

// SystemMessage is an instruction message (by convention the first).
func SystemMessage(content string) *jambapb.ChatMessage {
	return &jambapb.ChatMessage{Role: jambapb.ChatMessage_SYSTEM, Content: content}
}

// UserMessage is a message of the application's user.
func UserMessage(content string) *jambapb.ChatMessage {
	return &jambapb.ChatMessage{Role: jambapb.ChatMessage_USER, Content: content}
}

// AssistantMessage is a previous reply: its answer, tool calls and reasoning
// (Completion.AssistantMessage builds it from a reply).
func AssistantMessage(content string, toolCalls []*jambapb.ToolCall, reasoning string) *jambapb.ChatMessage {
	return &jambapb.ChatMessage{Role: jambapb.ChatMessage_ASSISTANT, Content: content,
		ToolCalls: toolCalls, Reasoning: reasoning}
}

// ToolResultMessage is the result of a tool call, for the model to read; it answers call (its id
// and name are copied).
func ToolResultMessage(call *jambapb.ToolCall, content string) *jambapb.ChatMessage {
	return &jambapb.ChatMessage{Role: jambapb.ChatMessage_TOOL, Content: content,
		ToolCallId: call.GetId(), Name: call.GetName()}
}

// JSONObject returns v as the text of a JSON object: a string, []byte or json.RawMessage must
// already be one; anything else (a map, a struct) is marshalled and must become one. what names
// the value in the error.
func JSONObject(v interface{}, what string) (string, error) {
	var text []byte
	switch t := v.(type) {
	case string:
		text = []byte(t)
	case []byte:
		text = t
	case json.RawMessage:
		text = t
	default:
		var err error
		if text, err = json.Marshal(v); err != nil {
			return "", fmt.Errorf("jamba: %s: %w", what, err)
		}
	}
	var object map[string]interface{}
	if err := json.Unmarshal(text, &object); err != nil || object == nil {
		return "", fmt.Errorf("jamba: %s must be a JSON object, got %.80s", what, string(text))
	}
	return string(text), nil
}

// NewTool is a function the model may call: its name (1 to 64 of [A-Za-z0-9_.-]), what it does,
// and the JSON Schema of its arguments (nil for the server's default {}, or anything JSONObject
// takes). It fails for an empty name or parameters that are not a JSON object.
func NewTool(name, description string, parameters interface{}) (*jambapb.Tool, error) {
	if name == "" {
		return nil, errors.New("jamba: a tool needs a name")
	}
	tool := &jambapb.Tool{Name: name, Description: description}
	if parameters != nil {
		schema, err := JSONObject(parameters, "the parameters of tool "+name)
		if err != nil {
			return nil, err
		}
		tool.Parameters = schema
	}
	return tool, nil
}

// NewDocument is a document the model may use: its text, an optional title, and more fields
// (author, date, ...).
func NewDocument(text, title string, metadata map[string]string) *jambapb.Document {
	return &jambapb.Document{Text: text, Title: title, Metadata: metadata}
}

// AutoToolChoice lets the model decide whether to call a tool (the default).
func AutoToolChoice() *jambapb.ToolChoice {
	return &jambapb.ToolChoice{Mode: jambapb.ToolChoice_AUTO}
}

// NoToolChoice makes the reply call no tool.
func NoToolChoice() *jambapb.ToolChoice { return &jambapb.ToolChoice{Mode: jambapb.ToolChoice_NONE} }

// RequiredToolChoice makes the reply call one of the tools offered.
func RequiredToolChoice() *jambapb.ToolChoice {
	return &jambapb.ToolChoice{Mode: jambapb.ToolChoice_REQUIRED}
}

// ForceTool makes the reply call the tool function.
func ForceTool(function string) *jambapb.ToolChoice {
	return &jambapb.ToolChoice{Mode: jambapb.ToolChoice_FUNCTION, Function: function}
}

// ParseToolChoice reads "auto", "none", "required", or a tool's name (which forces that tool).
func ParseToolChoice(choice string) (*jambapb.ToolChoice, error) {
	switch strings.ToLower(choice) {
	case "auto":
		return AutoToolChoice(), nil
	case "none":
		return NoToolChoice(), nil
	case "required":
		return RequiredToolChoice(), nil
	case "":
		return nil, errors.New("jamba: a tool choice is auto, none, required or the name of a tool")
	}
	return ForceTool(choice), nil
}

// Chat is the ChatMessages of a request: the messages, with tools the model may call, documents
// it may use and extra chat-template variables (nil for none, e.g.
// map[string]interface{}{"enable_thinking": false}, or anything JSONObject takes).
func Chat(messages []*jambapb.ChatMessage, tools []*jambapb.Tool, documents []*jambapb.Document,
	templateVariables interface{}) (*jambapb.ChatMessages, error) {
	chat := &jambapb.ChatMessages{Messages: messages, Tools: tools, Documents: documents}
	if templateVariables != nil {
		variables, err := JSONObject(templateVariables, "the template variables")
		if err != nil {
			return nil, err
		}
		chat.TemplateVariables = variables
	}
	return chat, nil
}

// ChatRequest is a stateless request for the reply to a chat.
func ChatRequest(chat *jambapb.ChatMessages) *jambapb.GenerateRequest {
	return &jambapb.GenerateRequest{Input: &jambapb.GenerateRequest_Messages{Messages: chat}}
}

// SessionChatRequest appends a chat to a session and asks for the reply; commit keeps both in
// the session.
func SessionChatRequest(session string, chat *jambapb.ChatMessages, commit bool) *jambapb.GenerateRequest {
	return &jambapb.GenerateRequest{Input: &jambapb.GenerateRequest_Session{Session: &jambapb.SessionInput{
		Session: SessionName(session),
		Content: &jambapb.SessionInput_Messages{Messages: chat},
		Commit:  commit,
	}}}
}
