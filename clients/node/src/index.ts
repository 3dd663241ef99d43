// The public surface of @jamba-project/jamba-client: the client, its errors, and the generated
// message types of the jamba.v1 API (camelCase fields, enums as strings, 64-bit ints as strings).
export {
  DEFAULT_MAX_RETRIES,
  JambaClient,
  GenerateStream,
  SESSION_METADATA_KEY,
  SessionPages,
  ask,
  sessionName,
  sessionId,
} from './client';
export {
  assistantMessage,
  chatMessages,
  chatRequest,
  forceTool,
  jsonObject,
  makeDocument,
  makeTool,
  sessionChatRequest,
  systemMessage,
  toolChoice,
  toolResultMessage,
  userMessage,
} from './chat';
export type { ToolCallLike } from './chat';
export type { ConnectOptions, AppendOptions, Completion } from './client';
export { JambaError, codeName } from './errors';
export type { ErrorDetail } from './errors';
export { status } from '@grpc/grpc-js';
export { FinishReason } from './generated/jamba/v1/FinishReason';
export type { AppendProgress__Output as AppendProgress } from './generated/jamba/v1/AppendProgress';
export type { ChatMessage } from './generated/jamba/v1/ChatMessage';
export type { ChatMessages } from './generated/jamba/v1/ChatMessages';
export type { Document } from './generated/jamba/v1/Document';
export type { Tool } from './generated/jamba/v1/Tool';
export type { ToolCall__Output as ToolCall } from './generated/jamba/v1/ToolCall';
export type { ToolChoice } from './generated/jamba/v1/ToolChoice';
export type { Checkpoint__Output as Checkpoint } from './generated/jamba/v1/Checkpoint';
export type { GenerateRequest } from './generated/jamba/v1/GenerateRequest';
export type { GenerateResponse__Output as GenerateResponse } from './generated/jamba/v1/GenerateResponse';
export type { ModelInfo__Output as ModelInfo } from './generated/jamba/v1/ModelInfo';
export type { SamplingParams } from './generated/jamba/v1/SamplingParams';
export type { Session__Output as Session } from './generated/jamba/v1/Session';
export type { StopConditions } from './generated/jamba/v1/StopConditions';
export type { Usage__Output as Usage } from './generated/jamba/v1/Usage';
