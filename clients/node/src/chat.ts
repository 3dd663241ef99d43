// Chat building blocks: messages of every role (with tool calls, tool results and reasoning),
// tool definitions with a JSON Schema, documents, the tool choice, and the GenerateRequest of a
// chat, stateless or on a session. They build the jamba.v1 messages as plain objects.
import type { ChatMessage } from './generated/jamba/v1/ChatMessage';
import type { ChatMessages } from './generated/jamba/v1/ChatMessages';
import type { Document } from './generated/jamba/v1/Document';
import type { GenerateRequest } from './generated/jamba/v1/GenerateRequest';
import type { Tool } from './generated/jamba/v1/Tool';
import type { ToolCall } from './generated/jamba/v1/ToolCall';
import type { ToolChoice } from './generated/jamba/v1/ToolChoice';

/** A tool call as a request carries it (a reply's calls are of this shape too). */
export interface ToolCallLike {
  id?: string;
  name?: string;
  arguments?: string;
}

/** `json` (text) checked to be a JSON object, or `value` serialized; `what` names it in errors. */
export function jsonObject(value: unknown, what: string): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new TypeError(`${what} is not valid JSON: ${(error as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new TypeError(`${what} must be a JSON object, got ${text.slice(0, 80)}`);
  }
  return text;
}

/** An instruction message (by convention the first). */
export function systemMessage(content: string): ChatMessage {
  return { role: 'SYSTEM', content };
}

/** A message of the application's user. */
export function userMessage(content: string): ChatMessage {
  return { role: 'USER', content };
}

/**
 * A previous reply: its answer, tool calls and reasoning (`Completion.assistantMessage()` builds
 * it from a reply).
 */
export function assistantMessage(
  content: string,
  toolCalls: ToolCallLike[] = [],
  reasoning = '',
): ChatMessage {
  return {
    role: 'ASSISTANT',
    content,
    toolCalls: toolCalls.map((c) => ({
      id: c.id ?? '',
      name: c.name ?? '',
      arguments: c.arguments ?? '',
    })),
    reasoning,
  };
}

/** The result of a tool call, for the model to read; the call's id and name are copied. */
export function toolResultMessage(call: ToolCallLike, content: string): ChatMessage {
  if (!call.id) {
    throw new TypeError('a tool result needs the id of the call it answers');
  }
  return { role: 'TOOL', content, toolCallId: call.id, name: call.name ?? '' };
}

/**
 * A function the model may call: its name (1 to 64 of [A-Za-z0-9_.-]), what it does, and the
 * JSON Schema of its arguments (an object, or JSON text; omitted: the server's default {}).
 * Throws a TypeError for an empty name or parameters that are not a JSON object.
 */
export function makeTool(name: string, description = '', parameters?: object | string): Tool {
  if (!name) {
    throw new TypeError('a tool needs a name');
  }
  return {
    name,
    description,
    parameters:
      parameters === undefined ? '' : jsonObject(parameters, `the parameters of tool ${name}`),
  };
}

/** A document the model may use: its text, an optional title, and more fields. */
export function makeDocument(
  text: string,
  options: { title?: string; metadata?: Record<string, string> } = {},
): Document {
  if (!text) {
    throw new TypeError('a document needs its text');
  }
  return { text, title: options.title ?? '', metadata: options.metadata ?? {} };
}

/** Makes the reply call the tool `name`. */
export function forceTool(name: string): ToolChoice {
  if (!name) {
    throw new TypeError('forceTool needs a tool name');
  }
  return { mode: 'FUNCTION', function: name };
}

/**
 * A tool choice: 'auto' (the model decides, the default), 'none' (no tool), 'required' (one of
 * the tools offered), or `{ function: name }` (that tool).
 */
export function toolChoice(
  choice: 'auto' | 'none' | 'required' | { function: string },
): ToolChoice {
  if (typeof choice === 'object' && choice !== null) {
    return forceTool(choice.function);
  }
  switch (choice) {
    case 'auto':
      return { mode: 'AUTO' };
    case 'none':
      return { mode: 'NONE' };
    case 'required':
      return { mode: 'REQUIRED' };
    default:
      throw new TypeError(
        `unknown tool choice ${JSON.stringify(choice)}: ` +
          "use 'auto', 'none', 'required' or { function: name }",
      );
  }
}

/** The ChatMessages of a request: messages, with tools, documents and template variables. */
export function chatMessages(
  messages: ChatMessage[],
  options: { tools?: Tool[]; documents?: Document[]; templateVariables?: object | string } = {},
): ChatMessages {
  return {
    messages,
    tools: options.tools ?? [],
    documents: options.documents ?? [],
    templateVariables:
      options.templateVariables === undefined
        ? ''
        : jsonObject(options.templateVariables, 'the template variables'),
  };
}

/** A stateless request for the reply to a chat. */
export function chatRequest(chat: ChatMessages): GenerateRequest {
  return { messages: chat };
}

/** A request that appends a chat to a session first; `commit` keeps it and the reply. */
export function sessionChatRequest(
  session: string,
  chat: ChatMessages,
  commit: boolean,
): GenerateRequest {
  const name = session.startsWith('sessions/') ? session : `sessions/${session}`;
  return { session: { session: name, messages: chat, commit } };
}

export type { ToolCall };
