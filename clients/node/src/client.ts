// The jambad client: channel set-up (TLS, mutual TLS, API key), session methods, streaming
// generation as an async iterator (the answer, reasoning and tool calls apart), and model
// information, over the proto-loader stubs; session routing metadata and retries of the calls
// jambad refused before doing anything.
import * as fs from 'node:fs';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import { assistantMessage } from './chat';
import { utf8Chunks } from './chunker';
import { JambaError } from './errors';
import { jambaProto } from './protos';
import type { AppendProgress__Output as AppendProgress } from './generated/jamba/v1/AppendProgress';
import type { AppendToSessionRequest } from './generated/jamba/v1/AppendToSessionRequest';
import type { AppendToSessionResponse__Output } from './generated/jamba/v1/AppendToSessionResponse';
import type { ChatMessage } from './generated/jamba/v1/ChatMessage';
import type { ChatMessages } from './generated/jamba/v1/ChatMessages';
import type { Checkpoint__Output as Checkpoint } from './generated/jamba/v1/Checkpoint';
import type { FinishReason__Output as FinishReason } from './generated/jamba/v1/FinishReason';
import type { GenerateRequest } from './generated/jamba/v1/GenerateRequest';
import type { GenerateResponse__Output as GenerateResponse } from './generated/jamba/v1/GenerateResponse';
import type { GenerationServiceClient } from './generated/jamba/v1/GenerationService';
import type { ListCheckpointsResponse__Output as ListCheckpointsResponse } from './generated/jamba/v1/ListCheckpointsResponse';
import type { ListSessionsResponse__Output as ListSessionsResponse } from './generated/jamba/v1/ListSessionsResponse';
import type { ModelInfo__Output as ModelInfo } from './generated/jamba/v1/ModelInfo';
import type { ModelServiceClient } from './generated/jamba/v1/ModelService';
import type { Session__Output as Session } from './generated/jamba/v1/Session';
import type { SessionServiceClient } from './generated/jamba/v1/SessionService';
import type { TokenizeRequest } from './generated/jamba/v1/TokenizeRequest';
import type { TokenizeResponse__Output as TokenizeResponse } from './generated/jamba/v1/TokenizeResponse';
import type { ToolCall__Output as ToolCall } from './generated/jamba/v1/ToolCall';
import type { Usage__Output as Usage } from './generated/jamba/v1/Usage';

/** How often a refused call is sent again, unless ConnectOptions.maxRetries says. */
export const DEFAULT_MAX_RETRIES = 3;

/** The metadata key naming the session a call acts on (`sessions/{id}`), for load balancers. */
export const SESSION_METADATA_KEY = 'x-jamba-session';

/** How to reach jambad. TLS with the system's trusted CAs is the default. */
export interface ConnectOptions {
  /** Sent as `authorization: Bearer <key>` with every call. */
  apiKey?: string;
  /** PEM CA certificates to verify the server with, and a client certificate and key (mTLS). */
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer };
  /** Plaintext: only for a server on this machine, since the API key travels in the clear. */
  insecure?: boolean;
  /** A deadline for every call, retries included, in milliseconds (streams: the whole stream). */
  callTimeoutMs?: number;
  /**
   * How often a call jambad refused before doing anything (UNAVAILABLE with RetryInfo) is sent
   * again, retry_delay apart (default 3; 0: never).
   */
  maxRetries?: number;
  /** More grpc-js channel options. */
  channelOptions?: grpc.ChannelOptions;
}

/** Options of appendText / appendFile. */
export interface AppendOptions {
  /** The largest text chunk sent (default 256 KiB); chunks end on character boundaries. */
  chunkBytes?: number;
  /** 'USER' makes the whole text one user chat message; unset appends raw text. */
  role?: ChatMessage['role'];
  /** Fail with ABORTED if the session's etag is no longer this one. */
  etag?: string;
  /** Ask for a progress report every so many tokens (0: the server's default). */
  progressIntervalTokens?: number;
  /** Called with every progress report, in order. */
  onProgress?: (progress: AppendProgress) => void;
  /** Abandons the append when aborted (the session is then unchanged). */
  signal?: AbortSignal;
}

/** A whole generation, from GenerateStream.collect(). */
export interface Completion {
  /** Every delta's text (a chat reply: the answer alone). */
  text: string;
  /** A chat reply's reasoning (its think block). */
  reasoning: string;
  /** A chat reply's tool calls, each once complete (FINISH_REASON_TOOL_CALLS). */
  toolCalls: ToolCall[];
  tokenIds: number[];
  finishReason: FinishReason;
  usage: Usage | null;
  seed?: string;
  /** The updated session, after a committing generation. */
  session: Session | null;
  /** A tool-call block the model wrote did not parse: it is in `text` as written. */
  malformedToolCall: boolean;
  /** The reply as an assistant message (answer, reasoning, tool calls), to send back. */
  assistantMessage(): ChatMessage;
}

/** The retry rule: UNAVAILABLE with RetryInfo, at most `left` times, never past the deadline. */
class Retry {
  constructor(
    private left: number,
    readonly deadline: Date | undefined,
  ) {}

  /** Waits retry_delay and resolves true if `error` may be retried; false at once otherwise. */
  async wait(error: unknown): Promise<boolean> {
    if (!(error instanceof JambaError) || error.code !== grpc.status.UNAVAILABLE) {
      return false;
    }
    if (this.left <= 0) {
      return false;
    }
    const delay = error.retryInfo?.retryDelay;
    if (!delay) {
      return false; // not the server's own refusal: it may have done some work
    }
    const ms = Number(delay.seconds) * 1000 + delay.nanos / 1e6;
    if (this.deadline !== undefined && Date.now() + ms >= this.deadline.getTime()) {
      return false;
    }
    this.left--;
    await sleep(ms);
    return true;
  }
}

/** A session id ("notes") as its resource name ("sessions/notes"); names are kept as they are. */
export function sessionName(session: string): string {
  return session.startsWith('sessions/') ? session : `sessions/${session}`;
}

/** The id part of a session name ("sessions/notes" -> "notes"). */
export function sessionId(name: string): string {
  return name.startsWith('sessions/') ? name.slice('sessions/'.length) : name;
}

/**
 * A common request: a user chat message on a session, answered as the assistant's turn; with
 * `commit` the question and the answer stay in the session.
 */
export function ask(session: string, question: string, commit: boolean): GenerateRequest {
  return {
    session: {
      session: sessionName(session),
      messages: { messages: [{ role: 'USER', content: question }] },
      commit,
    },
  };
}

/**
 * One Generate call's deltas as an async iterator (`for await`); the last delta has the finish
 * reason and usage. A chat reply's deltas carry its reasoning and answer as they are generated,
 * and each tool call once its markup is complete. Iteration throws a JambaError if the call
 * fails; a call jambad refused before its first delta (UNAVAILABLE with RetryInfo) is sent again
 * first. Leaving the loop early cancels the call (a committing generation then commits nothing).
 */
export class GenerateStream implements AsyncIterable<GenerateResponse> {
  private ended = false;
  private cancelled = false;
  private call: grpc.ClientReadableStream<GenerateResponse>;

  /** @internal */
  constructor(
    private readonly start: () => grpc.ClientReadableStream<GenerateResponse>,
    private readonly retry: Retry,
  ) {
    this.call = start();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<GenerateResponse> {
    let received = false;
    try {
      for (;;) {
        try {
          for await (const response of this.call) {
            received = true;
            yield response as GenerateResponse;
          }
          break;
        } catch (error) {
          const failure = JambaError.from(error);
          if (received || this.cancelled || !(await this.retry.wait(failure)) || this.cancelled) {
            throw failure;
          }
          this.call = this.start();
        }
      }
      this.ended = true;
    } catch (error) {
      this.ended = true;
      throw error;
    } finally {
      if (!this.ended) {
        this.cancel();
      }
    }
  }

  /** Cancels the call if it is still running. */
  cancel(): void {
    this.cancelled = true;
    this.call.cancel();
  }

  /** Reads the rest of the generation, passing each delta's text to `onText` as it arrives. */
  async collect(onText?: (text: string) => void): Promise<Completion> {
    return this.collectDeltas((delta) => {
      if (onText && delta.text !== '') {
        onText(delta.text);
      }
    });
  }

  /** Reads the rest of the generation, passing each delta (text, reasoning, tool calls) on. */
  async collectDeltas(onDelta?: (delta: GenerateResponse) => void): Promise<Completion> {
    const completion: Completion = {
      text: '',
      reasoning: '',
      toolCalls: [],
      tokenIds: [],
      finishReason: 'FINISH_REASON_UNSPECIFIED',
      usage: null,
      session: null,
      malformedToolCall: false,
      assistantMessage(): ChatMessage {
        return assistantMessage(this.text, this.toolCalls, this.reasoning);
      },
    };
    for await (const response of this) {
      completion.text += response.text;
      completion.reasoning += response.reasoning;
      completion.toolCalls.push(...response.toolCalls);
      onDelta?.(response);
      completion.tokenIds.push(...response.tokenIds);
      if (response.finishReason !== 'FINISH_REASON_UNSPECIFIED') {
        completion.finishReason = response.finishReason;
        completion.malformedToolCall = response.malformedToolCall;
      }
      if (response.usage) {
        completion.usage = response.usage;
      }
      if (response.seed !== undefined) {
        completion.seed = response.seed;
      }
      if (response.session) {
        completion.session = response.session;
      }
    }
    return completion;
  }
}

/** ListSessions as an async iterable that fetches pages while it is iterated. */
export class SessionPages implements AsyncIterable<Session> {
  /** The number of pages fetched so far. */
  pages = 0;

  constructor(
    private readonly client: JambaClient,
    private readonly pageSize: number,
  ) {}

  async *[Symbol.asyncIterator](): AsyncIterator<Session> {
    let token = '';
    do {
      const page = await this.client.listSessionsPage(this.pageSize, token);
      this.pages++;
      yield* page.sessions;
      token = page.nextPageToken;
    } while (token !== '');
  }
}

type Callback<T> = (error: grpc.ServiceError | null, value?: T) => void;

/**
 * A client of one jambad. Every method rejects with a JambaError (with `.code`) when the call
 * fails. Methods taking a `session` accept its id ("notes") or its name ("sessions/notes").
 *
 * Routing and retries: every call that acts on a session sends its name as `x-jamba-session`
 * metadata, for consistent-hash load balancers. A call jambad refused before doing anything
 * (UNAVAILABLE with a RetryInfo: starting, draining, not the session's owner) is sent again after
 * RetryInfo.retry_delay, at most `maxRetries` times (default 3) and within the call timeout; a
 * generation only before its first delta, an append only if its text can be read again. No other
 * failure is retried.
 */
export class JambaClient {
  /** The generated stubs, for anything not wrapped here (their errors are plain grpc-js ones). */
  readonly sessions: SessionServiceClient;
  readonly generation: GenerationServiceClient;
  readonly model: ModelServiceClient;
  private readonly apiKey: string;
  private readonly callTimeoutMs: number | undefined;
  private readonly maxRetries: number;

  constructor(address: string, options: ConnectOptions = {}) {
    if (options.insecure && options.tls) {
      throw new TypeError('insecure and tls are exclusive');
    }
    const maxRetries = options.maxRetries ?? DEFAULT_MAX_RETRIES;
    if (!Number.isInteger(maxRetries) || maxRetries < 0) {
      throw new RangeError('maxRetries must be a whole number >= 0');
    }
    this.maxRetries = maxRetries;
    const credentials = options.insecure
      ? grpc.credentials.createInsecure()
      : grpc.credentials.createSsl(
          options.tls?.ca ?? null,
          options.tls?.key ?? null,
          options.tls?.cert ?? null,
        );
    const proto = jambaProto().jamba.v1;
    this.sessions = new proto.SessionService(address, credentials, options.channelOptions);
    // The three stubs share one channel.
    const shared = { ...options.channelOptions, channelOverride: this.sessions.getChannel() };
    this.generation = new proto.GenerationService(address, credentials, shared);
    this.model = new proto.ModelService(address, credentials, shared);
    this.apiKey = options.apiKey ?? '';
    this.callTimeoutMs = options.callTimeoutMs;
  }

  /**
   * A call's metadata: the API key (sent over plaintext too, unlike call credentials), and the
   * session it acts on as x-jamba-session ("" for none).
   */
  private metadata(session = ''): grpc.Metadata {
    const metadata = new grpc.Metadata();
    if (this.apiKey !== '') {
      metadata.set('authorization', `Bearer ${this.apiKey}`);
    }
    if (session !== '') {
      metadata.set(SESSION_METADATA_KEY, sessionName(session));
    }
    return metadata;
  }

  private newRetry(): Retry {
    return new Retry(
      this.maxRetries,
      this.callTimeoutMs === undefined ? undefined : new Date(Date.now() + this.callTimeoutMs),
    );
  }

  private static callOptions(retry: Retry): grpc.CallOptions {
    return retry.deadline === undefined ? {} : { deadline: retry.deadline };
  }

  /** A unary call with its routing metadata ("" for no session) and retries. */
  private async unary<Req, Res>(
    method: (req: Req, md: grpc.Metadata, opts: grpc.CallOptions, cb: Callback<Res>) => unknown,
    request: Req,
    session = '',
  ): Promise<Res> {
    const retry = this.newRetry();
    for (;;) {
      try {
        return await new Promise<Res>((resolve, reject) => {
          const options = JambaClient.callOptions(retry);
          method(request, this.metadata(session), options, (error, value) => {
            if (error) {
              reject(JambaError.from(error));
            } else {
              resolve(value as Res);
            }
          });
        });
      } catch (error) {
        if (!(await retry.wait(error))) {
          throw error;
        }
      }
    }
  }

  /** Creates an empty session with the given id ("" lets the server choose one). */
  createSession(id: string): Promise<Session> {
    return this.unary(this.sessions.createSession.bind(this.sessions), { sessionId: id }, id);
  }

  getSession(session: string): Promise<Session> {
    return this.unary(
      this.sessions.getSession.bind(this.sessions),
      { name: sessionName(session) },
      session,
    );
  }

  /** Deletes a session; a non-empty `etag` must match the session's. */
  async deleteSession(session: string, etag = ''): Promise<void> {
    await this.unary(
      this.sessions.deleteSession.bind(this.sessions),
      { name: sessionName(session), etag },
      session,
    );
  }

  /** Forks a session at `checkpoint` (a checkpoint name; "" = its current end) into `newId`. */
  forkSession(session: string, newId: string, checkpoint = ''): Promise<Session> {
    return this.unary(
      this.sessions.forkSession.bind(this.sessions),
      { name: sessionName(session), sessionId: newId, checkpoint },
      session, // routed by the session forked from
    );
  }

  /** Truncates a session to one of its checkpoints (a name), deleting the later ones. */
  rewindSession(session: string, checkpoint: string, etag = ''): Promise<Session> {
    return this.unary(
      this.sessions.rewindSession.bind(this.sessions),
      { name: sessionName(session), checkpoint, etag },
      session,
    );
  }

  /** All of a session's checkpoints, by token position (every page). */
  async listCheckpoints(session: string): Promise<Checkpoint[]> {
    const all: Checkpoint[] = [];
    let pageToken = '';
    do {
      const page = await this.listCheckpointsPage(session, 0, pageToken);
      all.push(...page.checkpoints);
      pageToken = page.nextPageToken;
    } while (pageToken !== '');
    return all;
  }

  /** One page of a session's checkpoints (`pageSize` 0: the server's default). */
  listCheckpointsPage(
    session: string,
    pageSize = 0,
    pageToken = '',
  ): Promise<ListCheckpointsResponse> {
    return this.unary(
      this.sessions.listCheckpoints.bind(this.sessions),
      { parent: sessionName(session), pageSize, pageToken },
      session,
    );
  }

  /** One page of the tenant's sessions, newest first (`pageToken` "" for the first). */
  listSessionsPage(pageSize: number, pageToken = ''): Promise<ListSessionsResponse> {
    return this.unary(this.sessions.listSessions.bind(this.sessions), { pageSize, pageToken });
  }

  /** The tenant's sessions, newest first, fetched `pageSize` at a time (`for await`). */
  listSessions(pageSize = 0): SessionPages {
    return new SessionPages(this, pageSize);
  }

  /**
   * Streams a UTF-8 text file into a session; resolves to the committed session. A refused
   * append reads the file again from the start.
   */
  appendFile(session: string, path: string, options: AppendOptions = {}): Promise<Session> {
    const chunkBytes = options.chunkBytes ?? 256 * 1024;
    return this.append(
      session,
      () => fs.createReadStream(path, { highWaterMark: chunkBytes }),
      true,
      { ...options, chunkBytes },
    );
  }

  /**
   * Streams UTF-8 text (an async iterable of Buffers or strings, such as a Readable) into a
   * session in chunks, waiting for the transport when it is busy, and resolves to the committed
   * session. All or nothing: on any failure the session is unchanged. A refused append is sent
   * again from the start when `text` is an array; a one-shot iterable only if none of it was
   * read.
   */
  appendText(
    session: string,
    text: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>,
    options: AppendOptions = {},
  ): Promise<Session> {
    return this.append(session, () => text, Array.isArray(text), options);
  }

  private async append(
    session: string,
    open: () => AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>,
    replayable: boolean,
    options: AppendOptions,
  ): Promise<Session> {
    const retry = this.newRetry();
    for (;;) {
      const attempt = { taken: false };
      try {
        return await this.appendOnce(session, open(), options, retry, attempt);
      } catch (error) {
        if (!(replayable || !attempt.taken) || !(await retry.wait(error))) {
          throw error;
        }
      }
    }
  }

  /** One AppendToSession call; `attempt.taken` says whether any text was read. */
  private async appendOnce(
    session: string,
    text: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>,
    options: AppendOptions,
    retry: Retry,
    attempt: { taken: boolean },
  ): Promise<Session> {
    const call = this.sessions.appendToSession(
      this.metadata(session),
      JambaClient.callOptions(retry),
    );
    const onAbort = (): void => call.cancel();
    options.signal?.addEventListener('abort', onAbort);
    let committed: Session | null = null;
    const done = new Promise<Session>((resolve, reject) => {
      call.on('data', (response: AppendToSessionResponse__Output) => {
        if (response.progress && options.onProgress) {
          options.onProgress(response.progress);
        }
        if (response.session) {
          committed = response.session;
        }
      });
      call.on('error', (error) => reject(JambaError.from(error)));
      call.on('end', () => {
        if (committed) {
          resolve(committed);
        } else {
          reject(new Error('AppendToSession ended without the committed session'));
        }
      });
    });
    // Sending stops as soon as the call has ended (its outcome is then in `done`).
    let finished = false;
    const ended = done.then(
      () => (finished = true),
      () => (finished = true),
    );
    const send = async (request: AppendToSessionRequest): Promise<void> => {
      if (!call.write(request)) {
        await Promise.race([once(call, 'drain'), ended]);
      }
    };
    try {
      await send({
        config: {
          session: sessionName(session),
          messageRole: options.role ?? 'ROLE_UNSPECIFIED',
          etag: options.etag ?? '',
          progressIntervalTokens: options.progressIntervalTokens ?? 0,
        },
      });
      for await (const chunk of utf8Chunks(text, options.chunkBytes ?? 256 * 1024)) {
        attempt.taken = true;
        if (finished) {
          break;
        }
        await send({ text: chunk });
      }
      if (!finished) {
        call.end();
      }
      return await done;
    } catch (error) {
      call.cancel(); // e.g. reading failed: abandon the append, the session stays as it was
      throw error;
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
    }
  }

  /**
   * Starts a generation; iterate the returned stream with `for await`. A generation from a
   * session names it in x-jamba-session. Retried only if jambad refused it before its first
   * delta: with `session.commit` it changes the session.
   */
  generate(request: GenerateRequest): GenerateStream {
    const retry = this.newRetry();
    const metadata = this.metadata(request.session?.session ?? '');
    return new GenerateStream(
      () => this.generation.generate(request, metadata, JambaClient.callOptions(retry)),
      retry,
    );
  }

  /** The served model, its tokenizer, the backend and the server's limits. */
  getModelInfo(): Promise<ModelInfo> {
    return this.unary(this.model.getModelInfo.bind(this.model), {});
  }

  /** The tokens of a chat (with its tools and documents) as a generation renders it. */
  async tokenizeChat(chat: ChatMessages): Promise<number[]> {
    const response = await this.unary<TokenizeRequest, TokenizeResponse>(
      this.model.tokenize.bind(this.model),
      { messages: chat },
    );
    return response.tokenIds;
  }

  /** Closes the channel. */
  close(): void {
    this.sessions.close();
  }
}
