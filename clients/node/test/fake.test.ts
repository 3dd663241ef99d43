// Tests of the Node client against an in-process fake jambad (grpc-js server): chat requests
// (tools, documents, template variables, tool choice), completions with reasoning and tool calls
// apart, the chat builders' errors, the x-jamba-session routing metadata, and the retry of calls
// the server refused (UNAVAILABLE with RetryInfo).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import {
  DEFAULT_MAX_RETRIES,
  JambaClient,
  JambaError,
  SESSION_METADATA_KEY,
  chatMessages,
  chatRequest,
  forceTool,
  makeDocument,
  makeTool,
  sessionChatRequest,
  systemMessage,
  toolChoice,
  toolResultMessage,
  userMessage,
} from '../src/index';
import type { GenerateRequest } from '../src/index';
import { errorProtos, jambaProto } from '../src/protos';

const RETRY_DELAY_MS = 50; // the fake server's RetryInfo

/** What the fake saw of each call (its x-jamba-session), and the calls it refuses. */
class Fake {
  readonly sessions = new Map<string, string[]>();
  readonly refuse = new Map<string, number>();
  refuseWithoutRetryInfo = false;
  refuseAppendsAfterAChunk = 0;
  appended: string[] = [];
  lastGenerateRequest: GenerateRequest | undefined;
  server = new grpc.Server();
  address = '';

  refusal(): grpc.ServiceError {
    const root = errorProtos();
    const Status = root.lookupType('google.rpc.Status');
    const any = (type: string, value: object) => {
      const t = root.lookupType(type);
      const encoded = t.encode(t.fromObject(value)).finish();
      return { type_url: `type.googleapis.com/${type}`, value: encoded };
    };
    const details = [
      any('google.rpc.ErrorInfo', { reason: 'SERVER_UNAVAILABLE', domain: 'jamba.ai' }),
    ];
    if (!this.refuseWithoutRetryInfo) {
      details.push(any('google.rpc.RetryInfo', { retryDelay: { nanos: RETRY_DELAY_MS * 1e6 } }));
    }
    const metadata = new grpc.Metadata();
    const status = Status.fromObject({
      code: grpc.status.UNAVAILABLE,
      message: 'draining',
      details,
    });
    metadata.set('grpc-status-details-bin', Buffer.from(Status.encode(status).finish()));
    return Object.assign(new Error('draining'), {
      code: grpc.status.UNAVAILABLE,
      details: 'draining',
      metadata,
    });
  }

  /** Records a call; the refusal to send, or null. */
  enter(method: string, call: { metadata: grpc.Metadata }): grpc.ServiceError | null {
    const session = call.metadata.get(SESSION_METADATA_KEY)[0];
    const list = this.sessions.get(method) ?? [];
    list.push(session === undefined ? '(none)' : String(session));
    this.sessions.set(method, list);
    const left = this.refuse.get(method) ?? 0;
    if (left > 0) {
      this.refuse.set(method, left - 1);
      return this.refusal();
    }
    return null;
  }

  count(method: string): number {
    return this.sessions.get(method)?.length ?? 0;
  }

  async start(): Promise<void> {
    const proto = jambaProto().jamba.v1;
    const unary =
      (method: string, reply: (request: any) => object) =>
      (call: any, callback: grpc.sendUnaryData<object>) => {
        const refused = this.enter(method, call);
        if (refused) {
          callback(refused);
        } else {
          callback(null, reply(call.request));
        }
      };
    this.server.addService(proto.SessionService.service, {
      createSession: unary('CreateSession', (r) => ({ name: `sessions/${r.sessionId}` })),
      getSession: unary('GetSession', (r) => ({ name: r.name })),
      deleteSession: unary('DeleteSession', () => ({})),
      forkSession: unary('ForkSession', (r) => ({ name: `sessions/${r.sessionId}` })),
      rewindSession: unary('RewindSession', (r) => ({ name: r.name })),
      listCheckpoints: unary('ListCheckpoints', () => ({})),
      listSessions: unary('ListSessions', () => ({})),
      appendToSession: (call: grpc.ServerDuplexStream<any, any>) => {
        const refused = this.enter('AppendToSession', call);
        if (refused) {
          call.emit('error', refused);
          return;
        }
        this.appended = [];
        const late = this.refuseAppendsAfterAChunk > 0;
        if (late) {
          this.refuseAppendsAfterAChunk--;
        }
        let session = '';
        let bytes = 0;
        let ended = false;
        call.on('data', (request: any) => {
          if (ended) {
            return;
          }
          if (request.config) {
            session = request.config.session;
          } else if (late) {
            ended = true; // a chunk was read: the client has taken some of its text
            call.emit('error', this.refusal());
          } else {
            this.appended.push(request.text);
            bytes += Buffer.byteLength(request.text);
          }
        });
        call.on('end', () => {
          if (!ended) {
            call.write({
              progress: { bytesReceived: bytes },
              session: { name: session, tokenCount: bytes },
            });
            call.end();
          }
        });
      },
    });
    this.server.addService(proto.GenerationService.service, {
      generate: (call: grpc.ServerWritableStream<any, any>) => {
        const refused = this.enter('Generate', call);
        if (refused) {
          call.emit('error', refused);
          return;
        }
        const request = call.request;
        this.lastGenerateRequest = request;
        if (request.messages) {
          // A reply as jambad streams one: reasoning, a tool call once complete, the answer.
          call.write({ reasoning: 'The user wants ', tokenIds: [1] });
          call.write({ reasoning: 'the weather.', tokenIds: [2] });
          call.write({
            toolCalls: [{ id: 'call_1', name: 'get_weather', arguments: '{"city": "Paris"}' }],
          });
          call.write({ text: 'Checking.' });
          const messages = request.messages.messages;
          call.write({
            finishReason: 'FINISH_REASON_TOOL_CALLS',
            malformedToolCall: messages[messages.length - 1].content === 'malformed',
          });
          call.end();
          return;
        }
        call.write({ text: 'Hel', tokenIds: [5] });
        if (request.prompt === 'unavailable midway') {
          call.emit('error', this.refusal());
          return;
        }
        call.write({ text: 'lo', tokenIds: [7], finishReason: 'FINISH_REASON_MAX_TOKENS' });
        call.end();
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) =>
        e ? reject(e) : resolve(p),
      ),
    );
    this.address = `127.0.0.1:${port}`;
  }

  stop(): void {
    this.server.forceShutdown();
  }
}

async function withFake(
  body: (fake: Fake, client: JambaClient) => Promise<void>,
  maxRetries?: number,
): Promise<void> {
  const fake = new Fake();
  await fake.start();
  const client = new JambaClient(fake.address, {
    insecure: true,
    callTimeoutMs: 10_000,
    maxRetries,
  });
  try {
    await body(fake, client);
  } finally {
    client.close();
    fake.stop();
  }
}

async function codeOf(promise: Promise<unknown>): Promise<number | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    assert.ok(error instanceof JambaError, String(error));
    return error.code;
  }
}

test('a chat request carries tools, documents, template variables and the tool choice', () =>
  withFake(async (fake, client) => {
    const chat = chatMessages([systemMessage('Be brief.'), userMessage('Paris?')], {
      tools: [makeTool('get_weather', 'The weather', { type: 'object' })],
      documents: [makeDocument('Revenue grew.', { title: 'Q3', metadata: { author: 'Finance' } })],
      templateVariables: { enable_thinking: false },
    });
    await client.generate({ ...chatRequest(chat), toolChoice: forceTool('get_weather') }).collect();
    const sent = fake.lastGenerateRequest!;
    assert.equal(sent.messages?.messages?.[0]?.role, 'SYSTEM');
    assert.equal(sent.messages?.tools?.[0]?.parameters, '{"type":"object"}');
    assert.equal(sent.messages?.documents?.[0]?.metadata?.['author'], 'Finance');
    assert.equal(sent.messages?.templateVariables, '{"enable_thinking":false}');
    assert.deepEqual(sent.toolChoice, { mode: 'FUNCTION', function: 'get_weather' });
    const session = sessionChatRequest('agent', chat, true);
    assert.equal(session.session?.session, 'sessions/agent');
    assert.equal(session.session?.commit, true);
  }));

test('the completion keeps reasoning, tool calls and answer apart', () =>
  withFake(async (_fake, client) => {
    const reasoning: string[] = [];
    const reply = await client
      .generate(chatRequest(chatMessages([userMessage('Weather in Paris?')])))
      .collectDeltas((delta) => {
        if (delta.reasoning !== '') {
          reasoning.push(delta.reasoning);
        }
      });
    assert.deepEqual(reasoning, ['The user wants ', 'the weather.']);
    assert.equal(reply.reasoning, 'The user wants the weather.');
    assert.equal(reply.text, 'Checking.');
    assert.equal(reply.toolCalls.length, 1);
    assert.equal(reply.toolCalls[0]?.arguments, '{"city": "Paris"}');
    assert.equal(reply.finishReason, 'FINISH_REASON_TOOL_CALLS');
    assert.equal(reply.malformedToolCall, false);
    const turn = reply.assistantMessage();
    assert.equal(turn.role, 'ASSISTANT');
    assert.equal(turn.content, 'Checking.');
    assert.equal(turn.reasoning, reply.reasoning);
    assert.equal(turn.toolCalls?.[0]?.id, 'call_1');
    const result = toolResultMessage(reply.toolCalls[0]!, '22 degrees');
    assert.deepEqual(result, {
      role: 'TOOL',
      content: '22 degrees',
      toolCallId: 'call_1',
      name: 'get_weather',
    });
    const malformed = await client
      .generate(chatRequest(chatMessages([userMessage('malformed')])))
      .collect();
    assert.equal(malformed.malformedToolCall, true);
  }));

test('the chat builders refuse bad input clearly', () => {
  assert.throws(() => makeTool('f', '', '[1, 2]'), /must be a JSON object/);
  assert.throws(() => makeTool('f', '', '{type: 1'), /not valid JSON/);
  assert.throws(() => makeTool(''), /needs a name/);
  assert.throws(() => toolChoice('requierd' as 'required'), /unknown tool choice "requierd"/);
  assert.throws(() => toolResultMessage({ name: 'f' }, 'x'), /needs the id/);
  assert.throws(() => makeDocument(''), /needs its text/);
  assert.throws(() => chatMessages([], { templateVariables: '[]' }), /must be a JSON object/);
  assert.deepEqual(toolChoice({ function: 'f' }), { mode: 'FUNCTION', function: 'f' });
  assert.throws(
    () => new JambaClient('127.0.0.1:1', { insecure: true, maxRetries: -1 }),
    RangeError,
  );
});

test('session calls name their session in the metadata', () =>
  withFake(async (fake, client) => {
    await client.createSession('doc');
    await client.createSession(''); // the server picks the id: nothing to route by
    await client.getSession('sessions/doc');
    await client.deleteSession('doc');
    await client.listCheckpoints('doc');
    await client.forkSession('doc', 'draft');
    await client.rewindSession('draft', 'sessions/draft/checkpoints/1');
    await client.appendText('doc', ['some text']);
    await client.generate({ session: { session: 'sessions/doc' } }).collect();
    await client.generate({ prompt: 'hi' }).collect();
    for await (const _ of client.listSessions()) {
      // none
    }
    assert.deepEqual(fake.sessions.get('CreateSession'), ['sessions/doc', '(none)']);
    const methods = ['GetSession', 'DeleteSession', 'ListCheckpoints', 'ForkSession'];
    for (const method of [...methods, 'AppendToSession']) {
      assert.deepEqual(fake.sessions.get(method), ['sessions/doc'], method);
    }
    assert.deepEqual(fake.sessions.get('RewindSession'), ['sessions/draft']);
    assert.deepEqual(fake.sessions.get('Generate'), ['sessions/doc', '(none)']);
    assert.deepEqual(fake.sessions.get('ListSessions'), ['(none)']);
  }));

test('a refused call is retried after the delay, a bounded number of times', () =>
  withFake(async (fake, client) => {
    fake.refuse.set('ForkSession', 2);
    const started = Date.now();
    const fork = await client.forkSession('doc', 'draft');
    assert.equal(fork.name, 'sessions/draft');
    assert.equal(fake.count('ForkSession'), 3);
    assert.ok(Date.now() - started >= 2 * RETRY_DELAY_MS - 5);
    fake.refuse.set('GetSession', 10);
    assert.equal(await codeOf(client.getSession('doc')), grpc.status.UNAVAILABLE);
    assert.equal(fake.count('GetSession'), 1 + DEFAULT_MAX_RETRIES);
  }));

test('maxRetries 0 turns retries off', () =>
  withFake(async (fake, client) => {
    fake.refuse.set('GetSession', 1);
    assert.equal(await codeOf(client.getSession('doc')), grpc.status.UNAVAILABLE);
    assert.equal(fake.count('GetSession'), 1);
  }, 0));

test('only UNAVAILABLE with RetryInfo is retried', () =>
  withFake(async (fake, client) => {
    fake.refuseWithoutRetryInfo = true; // e.g. a proxy's error, or the transport's
    fake.refuse.set('GetSession', 2);
    assert.equal(await codeOf(client.getSession('doc')), grpc.status.UNAVAILABLE);
    assert.equal(fake.count('GetSession'), 1);
  }));

test('no retry past the deadline', async () => {
  const fake = new Fake();
  await fake.start();
  const client = new JambaClient(fake.address, { insecure: true, callTimeoutMs: 1000 });
  await client.getSession('warm-up');
  const hurried = new JambaClient(fake.address, {
    insecure: true,
    callTimeoutMs: RETRY_DELAY_MS / 2,
  });
  try {
    fake.refuse.set('GetSession', 1);
    await codeOf(hurried.getSession('doc'));
    assert.ok(fake.count('GetSession') <= 2, `${fake.count('GetSession')} calls`);
  } finally {
    client.close();
    hurried.close();
    fake.stop();
  }
});

test('a generation is retried only before its first delta', () =>
  withFake(async (fake, client) => {
    fake.refuse.set('Generate', 2);
    const completion = await client
      .generate({ session: { session: 'sessions/doc', commit: true } })
      .collect();
    assert.equal(completion.text, 'Hello');
    assert.equal(fake.count('Generate'), 3);
    assert.equal(
      await codeOf(client.generate({ prompt: 'unavailable midway' }).collect()),
      grpc.status.UNAVAILABLE,
    );
    assert.equal(fake.count('Generate'), 4);
  }));

test('a refused append is sent again when its text can be read again', () =>
  withFake(async (fake, client) => {
    const text = 'ünïcödé text '.repeat(20);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jamba-node-'));
    const file = path.join(dir, 'doc.txt');
    fs.writeFileSync(file, text);
    try {
      fake.refuse.set('AppendToSession', 2);
      await client.appendFile('doc', file, { chunkBytes: 16 });
      assert.equal(fake.appended.join(''), text);
      assert.equal(fake.count('AppendToSession'), 3);
      fake.refuseAppendsAfterAChunk = 1; // refused once a chunk was sent: the file is read again
      await client.appendFile('doc', file, { chunkBytes: 16 });
      assert.equal(fake.appended.join(''), text);
      fake.refuseAppendsAfterAChunk = 1;
      await client.appendText('doc', [text], { chunkBytes: 16 }); // an array: read again
      assert.equal(fake.appended.join(''), text);
      assert.equal(fake.count('AppendToSession'), 7);
      fake.refuseAppendsAfterAChunk = 1; // a one-shot stream some text was read from: not again
      const stream = fs.createReadStream(file, { highWaterMark: 16 });
      assert.equal(
        await codeOf(client.appendText('doc', stream, { chunkBytes: 16 })),
        grpc.status.UNAVAILABLE,
      );
      assert.equal(fake.count('AppendToSession'), 8);
    } finally {
      fs.rmSync(dir, { recursive: true });
    }
  }));
