// The official OpenAI SDK for Node (npm `openai`, v4) as a client of jambad's OpenAI-compatible
// HTTP API, against the real jambad on the demo model: chat and completions, streamed and not;
// stop strings; seeds; logprobs; errors as the SDK's error classes (400, 401, 404, 429 with
// Retry-After); sessions through extra headers and the body field, with another tenant's session
// a 404; a client that aborts its stream freeing its worker for a queued request; a session
// resumed after a restart continuing exactly as one that never stopped; and on the reasoning-3b
// demo preset, a tool-call round trip, reasoning apart from the answer (streamed and not), and a
// tool conversation in a session across a restart; documents reaching the template.
//
// Run by ctest (openai_sdk_test) as `node --test`; JAMBA_BUILD_DIR names the build tree. The
// packages come from scripts/install-deps (`npm ci` here), never at test time.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const { default: OpenAI } = await import('openai').catch((error) => {
  throw new Error(`the npm package openai is missing here: run scripts/install-deps (${error})`);
});

const buildDir = process.env.JAMBA_BUILD_DIR;
assert.ok(buildDir, 'JAMBA_BUILD_DIR must name the build tree');
const jambad = join(buildDir, 'service', 'jambad');
const modelDir = join(buildDir, 'demo-model');
// The reasoning-3b preset: tokenizer.json only, a ChatML template with Hermes tools and <think>.
const reasoningModelDir = join(buildDir, 'demo-model-reasoning-3b');
const model = 'demo-model';
const keys = { acme: 'acme-sdk-key', globex: 'globex-sdk-key' };

const work = mkdtempSync(join(tmpdir(), 'jamba-openai-sdk-'));
after(() => rmSync(work, { recursive: true, force: true }));
const keyFile = join(work, 'api-keys');
for (const [tenant, key] of Object.entries(keys)) {
  appendFileSync(keyFile, execFileSync(jambad, ['hash-key', tenant, key]));
}

// Starts jambad on free loopback ports; resolves once it listens.
function startJambad(flags = [], sessionDir = join(work, `sessions-${Math.random()}`),
  modelPath = modelDir) {
  const child = spawn(jambad, [
    '--model', modelPath, '--listen', '127.0.0.1:0', '--http-listen', '127.0.0.1:0',
    '--metrics-listen', '127.0.0.1:0', '--session-dir', sessionDir, '--threads', '2',
    '--api-key-file', keyFile, '--drain-timeout', '20s', ...flags,
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stderr.on('data', (data) => { log += data; });
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    child.on('exit', (code) => reject(new Error(`jambad exited (${code}):\n${log}`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      const event = JSON.parse(line);
      if (event.event !== 'listening') return;
      resolve({
        sessionDir,
        http: event.http_port,
        metrics: event.metrics_port,
        log: () => log,
        client: (tenant = 'acme') => new OpenAI({
          baseURL: `http://127.0.0.1:${event.http_port}/v1`, apiKey: keys[tenant], maxRetries: 0,
        }),
        async stop() {
          child.kill('SIGTERM');
          return exited;
        },
      });
    });
  });
}

// The error a request is rejected with.
async function rejection(promise) {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail('the request succeeded');
}

const chatBody = (content, extra = {}) => ({
  model, messages: [{ role: 'user', content }], ...extra,
});

test('chat completions, streamed and not, give the same reply and usage', async () => {
  const server = await startJambad();
  try {
    const client = server.client();
    const body = chatBody('Once upon a time', { max_tokens: 12, temperature: 0 });
    const whole = await client.chat.completions.create(body);
    assert.equal(whole.object, 'chat.completion');
    assert.equal(whole.model, model);
    assert.equal(whole.choices[0].message.role, 'assistant');
    assert.ok(['stop', 'length'].includes(whole.choices[0].finish_reason));
    assert.equal(whole.usage.total_tokens, whole.usage.prompt_tokens + whole.usage.completion_tokens);
    assert.equal(whole.usage.prompt_tokens_details.cached_tokens, 0);

    const stream = await client.chat.completions.create({
      ...body, stream: true, stream_options: { include_usage: true },
    });
    let text = '';
    let role;
    let usage;
    let finish;
    for await (const chunk of stream) {
      if (chunk.usage) usage = chunk.usage;
      if (chunk.choices.length === 0) continue;
      role ??= chunk.choices[0].delta.role;
      text += chunk.choices[0].delta.content ?? '';
      finish = chunk.choices[0].finish_reason ?? finish;
    }
    assert.equal(role, 'assistant');
    assert.equal(text, whole.choices[0].message.content);
    assert.equal(finish, whole.choices[0].finish_reason);
    assert.deepEqual(usage, whole.usage);
  } finally {
    await server.stop();
  }
});

test('completions, streamed and not; stop strings; seeds; logprobs', async () => {
  const server = await startJambad();
  try {
    const client = server.client();
    const base = { model, prompt: 'The tale of', max_tokens: 24, temperature: 0, ignore_eos: true };
    const whole = await client.completions.create(base);
    assert.equal(whole.object, 'text_completion');
    const full = whole.choices[0].text;
    assert.equal(whole.choices[0].finish_reason, 'length');
    let streamed = '';
    for await (const chunk of await client.completions.create({ ...base, stream: true })) {
      streamed += chunk.choices[0]?.text ?? '';
    }
    assert.equal(streamed, full);

    // A stop string from the middle of the reply ends it just before its first occurrence.
    const middle = Math.floor(full.length / 2);
    const stop = full.slice(middle, middle + 3);
    assert.equal(stop.length, 3, `too short a reply: ${JSON.stringify(full)}`);
    const stopped = await client.completions.create({ ...base, stop: [stop, 'never-seen'] });
    assert.equal(stopped.choices[0].text, full.slice(0, full.indexOf(stop)));
    assert.equal(stopped.choices[0].finish_reason, 'stop');

    // A seed reproduces a sampled reply, streamed or not.
    const sampled = { ...base, temperature: 1.0, seed: 4242 };
    const first = await client.completions.create(sampled);
    const second = await client.completions.create(sampled);
    assert.equal(second.choices[0].text, first.choices[0].text);
    let again = '';
    for await (const chunk of await client.completions.create({ ...sampled, stream: true })) {
      again += chunk.choices[0]?.text ?? '';
    }
    assert.equal(again, first.choices[0].text);

    // Completions logprobs: one entry per generated token, with alternatives.
    const legacy = await client.completions.create({ ...base, max_tokens: 6, logprobs: 2 });
    const lp = legacy.choices[0].logprobs;
    assert.equal(lp.tokens.length, legacy.usage.completion_tokens);
    assert.equal(lp.token_logprobs.length, lp.tokens.length);
    for (const top of lp.top_logprobs) assert.ok(Object.keys(top).length >= 1);

    // Chat logprobs: the tokens' bytes spell the reply (the text drops the leading space of the
    // reply's first piece, as SentencePiece's decoding of a text's start does).
    const chat = await client.chat.completions.create(chatBody('Once upon a time', {
      max_tokens: 8, temperature: 0, ignore_eos: true, logprobs: true, top_logprobs: 3,
    }));
    const content = chat.choices[0].logprobs.content;
    assert.equal(content.length, chat.usage.completion_tokens);
    const bytes = Buffer.from(content.flatMap((token) => token.bytes));
    const spelled = bytes.toString('utf8');
    assert.ok(spelled.endsWith(chat.choices[0].message.content), spelled);
    assert.ok(spelled.length - chat.choices[0].message.content.length <= 1, spelled);
    for (const token of content) {
      assert.ok(token.logprob <= 0);
      assert.equal(token.top_logprobs.length, 3);
    }
  } finally {
    await server.stop();
  }
});

test('errors arrive as the SDK error classes with OpenAI fields', async () => {
  const server = await startJambad();
  try {
    const client = server.client();
    const hot = await rejection(client.chat.completions.create(chatBody('hi', { temperature: 5 })));
    assert.ok(hot instanceof OpenAI.BadRequestError);
    assert.equal(hot.status, 400);
    assert.equal(hot.param, 'temperature');
    assert.equal(hot.code, 'invalid_field');

    // Arguments are a JSON object, not checked against the schema: strict adherence is refused.
    const strict = await rejection(client.chat.completions.create(chatBody('weather?', {
      tools: [{ type: 'function', function: { name: 'get_weather', strict: true, parameters: { type: 'object' } } }],
    })));
    assert.equal(strict.status, 400);
    assert.equal(strict.param, 'tools[0].function.strict');
    assert.equal(strict.code, 'unsupported_parameter');

    const orphan = await rejection(client.chat.completions.create({
      model,
      messages: [{ role: 'user', content: 'x' }, { role: 'tool', content: 'y' }],
    }));
    assert.equal(orphan.param, 'messages[1].tool_call_id');

    const many = await rejection(client.chat.completions.create(chatBody('hi', { n: 2 })));
    assert.equal(many.param, 'n');

    const wrongKey = new OpenAI({ baseURL: `http://127.0.0.1:${server.http}/v1`, apiKey: 'nope', maxRetries: 0 });
    const unauthorized = await rejection(wrongKey.models.list());
    assert.ok(unauthorized instanceof OpenAI.AuthenticationError);
    assert.equal(unauthorized.code, 'api_key_invalid');

    const otherModel = await rejection(client.chat.completions.create({ ...chatBody('hi'), model: 'gpt-4o' }));
    assert.ok(otherModel instanceof OpenAI.NotFoundError);
    assert.equal(otherModel.code, 'model_not_found');

    const models = await client.models.list();
    assert.deepEqual(models.data.map((m) => m.id), [model]);
    assert.equal((await client.models.retrieve(model)).id, model);
  } finally {
    await server.stop();
  }
});

test('sessions: only new messages are sent, cached_tokens shows what was restored', async () => {
  const server = await startJambad();
  try {
    const acme = server.client();
    const headers = { 'X-Jamba-Session': 'notes', 'X-Jamba-Session-Create': 'true' };
    const first = await acme.chat.completions.create(
      chatBody('My name is Ada.', { max_tokens: 6, temperature: 0 }), { headers });
    assert.equal(first.session.committed, true);
    assert.equal(first.session.name, 'sessions/notes');
    const held = first.session.token_count;
    // The committed reply is closed as the template closes a turn: one <|eom|> after it.
    assert.equal(held, first.usage.prompt_tokens + first.usage.completion_tokens + 1);

    // The body field names it too; without commit the session stays as it is.
    const peek = await acme.chat.completions.create(chatBody('What is my name?', {
      max_tokens: 6, temperature: 0, session: 'sessions/notes', session_commit: false,
    }));
    assert.equal(peek.usage.prompt_tokens_details.cached_tokens, held);
    assert.equal(peek.session.committed, false);
    const next = await acme.chat.completions.create(
      chatBody('What is my name?', { max_tokens: 6, temperature: 0 }),
      { headers: { 'X-Jamba-Session': 'notes' } });
    assert.equal(next.usage.prompt_tokens_details.cached_tokens, held);
    assert.equal(next.choices[0].message.content, peek.choices[0].message.content);
    assert.ok(next.session.token_count > held);

    const stranger = await rejection(server.client('globex').chat.completions.create(
      chatBody('What is her name?'), { headers: { 'X-Jamba-Session': 'notes' } }));
    assert.ok(stranger instanceof OpenAI.NotFoundError);
    assert.equal(stranger.code, 'session_not_found');
  } finally {
    await server.stop();
  }
});

test('a full queue is 429 with Retry-After; an aborted stream frees its worker', async () => {
  const server = await startJambad(['--worker-threads', '1', '--worker-queue', '1',
    '--max-completion-tokens', '200000', '--retry-delay', '2s']);
  try {
    const client = server.client();
    const long = await client.completions.create({
      model, prompt: 'Once', max_tokens: 150000, ignore_eos: true, stream: true,
    });
    const chunks = long[Symbol.asyncIterator]();
    await chunks.next();  // it runs
    const queued = client.completions.create({ model, prompt: 'Once', max_tokens: 3 });
    // Until the stream pool's queue holds it (a generous minute at most).
    for (let i = 0; i < 600; i++) {
      const metrics = await (await fetch(`http://127.0.0.1:${server.metrics}/metrics`)).text();
      if (metrics.includes('jambad_queue_depth{queue="stream_workers"} 1')) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const refused = await rejection(client.completions.create({ model, prompt: 'Once', max_tokens: 3 }));
    assert.ok(refused instanceof OpenAI.RateLimitError);
    assert.equal(refused.headers['retry-after'], '2');
    assert.equal(refused.code, 'queue_full');

    long.controller.abort();  // the client goes away mid-stream
    const reply = await queued;
    assert.equal(reply.usage.completion_tokens, 3);
    const cancelled = server.log().split('\n').filter((line) => line.includes('"code":"CANCELLED"'));
    assert.equal(cancelled.length, 1);
  } finally {
    await server.stop();
  }
});

test('a session resumed after a restart continues exactly as one that never stopped', async () => {
  const sessionDir = join(work, 'restart-sessions');
  const turn = (content, max_tokens) => chatBody(content, {
    max_tokens, temperature: 0.9, seed: 11, logprobs: true,
  });
  const session = (id) => ({ headers: { 'X-Jamba-Session': id, 'X-Jamba-Session-Create': 'true' } });
  let control;
  let held;
  {
    const server = await startJambad([], sessionDir);
    const client = server.client();
    for (const id of ['story', 'control']) {
      held = (await client.chat.completions.create(turn('Tell me a story.', 8), session(id))).session.token_count;
    }
    control = await client.chat.completions.create(turn('Go on.', 12), session('control'));
    assert.equal(await server.stop(), 0);
  }
  const server = await startJambad([], sessionDir);
  try {
    const resumed = await server.client().chat.completions.create(turn('Go on.', 12), session('story'));
    assert.equal(resumed.choices[0].message.content, control.choices[0].message.content);
    assert.deepEqual(resumed.choices[0].logprobs, control.choices[0].logprobs);
    assert.equal(resumed.usage.prompt_tokens_details.cached_tokens, held);
    assert.equal(resumed.session.token_count, control.session.token_count);
  } finally {
    await server.stop();
  }
});

const weatherTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'The weather in a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } } },
  },
};
const callWeather = { type: 'function', function: { name: 'get_weather' } };

// The tool calls, reasoning and content of a stream, put together as a client does.
async function collect(stream) {
  const out = { content: '', reasoning: '', calls: [], finish: null };
  for await (const chunk of stream) {
    const choice = chunk.choices[0];
    if (!choice) continue;
    out.content += choice.delta.content ?? '';
    out.reasoning += choice.delta.reasoning_content ?? '';
    for (const call of choice.delta.tool_calls ?? []) out.calls[call.index] = call;
    out.finish = choice.finish_reason ?? out.finish;
  }
  return out;
}

test('tools: the model calls one, the result goes back, the reply goes on; streamed the same', async () => {
  const server = await startJambad([], undefined, reasoningModelDir);
  try {
    const client = server.client();
    const ask = {
      model: 'demo-model-reasoning-3b',
      messages: [{ role: 'user', content: 'Weather in Paris?' }],
      tools: [weatherTool], tool_choice: callWeather, max_tokens: 60, seed: 11,
    };
    const called = await client.chat.completions.create(ask);
    const choice = called.choices[0];
    assert.equal(choice.finish_reason, 'tool_calls');
    assert.equal(choice.message.content, null);
    assert.equal(choice.message.tool_calls.length, 1);
    const call = choice.message.tool_calls[0];
    assert.equal(call.type, 'function');
    assert.equal(call.function.name, 'get_weather');
    assert.match(call.id, /^call_/);
    const args = JSON.parse(call.function.arguments);
    assert.equal(typeof args, 'object');
    assert.ok(!Array.isArray(args) && args !== null);

    const streamed = await collect(await client.chat.completions.create({ ...ask, stream: true }));
    assert.equal(streamed.finish, 'tool_calls');
    assert.equal(streamed.calls.length, 1);
    assert.equal(streamed.calls[0].function.name, 'get_weather');
    assert.equal(streamed.calls[0].function.arguments, call.function.arguments);
    assert.equal(streamed.content, '');

    const answered = await client.chat.completions.create({
      model: 'demo-model-reasoning-3b',
      messages: [...ask.messages, choice.message,
        { role: 'tool', tool_call_id: call.id, content: '22 degrees, sunny' }],
      tools: [weatherTool], max_tokens: 8, seed: 12,
    });
    assert.ok(answered.usage.completion_tokens > 0);
    // The call and its result are part of the prompt now (<tool_call>, <tool_response> and text).
    assert.ok(answered.usage.prompt_tokens > called.usage.prompt_tokens + 8,
      `${answered.usage.prompt_tokens} vs ${called.usage.prompt_tokens}`);
  } finally {
    await server.stop();
  }
});

test('reasoning comes apart from the answer, streamed and not', async () => {
  const server = await startJambad([], undefined, reasoningModelDir);
  try {
    const client = server.client();
    const ask = {
      model: 'demo-model-reasoning-3b',
      messages: [{ role: 'user', content: 'What is 2+2?' }], max_tokens: 24, seed: 7,
    };
    const whole = await client.chat.completions.create(ask);
    const message = whole.choices[0].message;
    assert.ok(message.reasoning_content.length > 0);
    assert.ok(!message.reasoning_content.includes('<think>'));
    assert.equal(message.content, '');
    const streamed = await collect(await client.chat.completions.create({ ...ask, stream: true }));
    assert.equal(streamed.reasoning, message.reasoning_content);
    assert.equal(streamed.content, message.content);

    // The template's own switch, through chat_template_kwargs: no thinking prefix, no <think>.
    const direct = await client.chat.completions.create({
      ...ask, chat_template_kwargs: { enable_thinking: false },
    });
    assert.ok(direct.usage.prompt_tokens < whole.usage.prompt_tokens);
    assert.equal(direct.choices[0].message.reasoning_content, undefined);
    assert.ok(direct.choices[0].message.content.length > 0);
  } finally {
    await server.stop();
  }
});

test('documents reach the template', async () => {
  const server = await startJambad();
  try {
    const client = server.client();
    const ask = chatBody('Summarize.', { max_tokens: 1, temperature: 0 });
    const plain = await client.chat.completions.create(ask);
    const withDocuments = await client.chat.completions.create({
      ...ask, documents: [{ title: 'Q3 report', text: 'Revenue rose by four percent.', source: 'q3.pdf' }],
    });
    assert.ok(withDocuments.usage.prompt_tokens > plain.usage.prompt_tokens + 6,
      `${withDocuments.usage.prompt_tokens} vs ${plain.usage.prompt_tokens}`);
    const bad = await rejection(client.chat.completions.create({ ...ask, documents: [{ title: 'no text' }] }));
    assert.equal(bad.status, 400);
    assert.equal(bad.param, 'documents[0].text');
  } finally {
    await server.stop();
  }
});

test('a tool conversation in a session continues the same after a restart', async () => {
  const sessionDir = join(work, 'tool-sessions');
  const headers = (create) => ({ headers: { 'X-Jamba-Session': 'agent', ...(create ? { 'X-Jamba-Session-Create': 'true' } : {}) } });
  const result = (id) => ({
    model: 'demo-model-reasoning-3b',
    messages: [{ role: 'tool', tool_call_id: id, content: '-3 degrees, snow' }],
    max_tokens: 12, temperature: 0, session_commit: false,
  });
  let before;
  let callId;
  {
    const server = await startJambad([], sessionDir, reasoningModelDir);
    const client = server.client();
    const called = await client.chat.completions.create({
      model: 'demo-model-reasoning-3b',
      messages: [{ role: 'system', content: 'You call tools.' }, { role: 'user', content: 'Weather in Oslo?' }],
      tools: [weatherTool], tool_choice: 'required', max_tokens: 60, seed: 21,
    }, headers(true));
    assert.equal(called.choices[0].finish_reason, 'tool_calls');
    assert.equal(called.session.committed, true);
    callId = called.choices[0].message.tool_calls[0].id;
    before = await client.chat.completions.create(result(callId), headers(false));
    assert.equal(await server.stop(), 0);
  }
  const server = await startJambad([], sessionDir, reasoningModelDir);
  try {
    const after = await server.client().chat.completions.create(result(callId), headers(false));
    assert.deepEqual(after.choices[0].message, before.choices[0].message);
    assert.equal(after.usage.prompt_tokens_details.cached_tokens, before.usage.prompt_tokens_details.cached_tokens);
    assert.ok(after.usage.prompt_tokens_details.cached_tokens > 0);
  } finally {
    await server.stop();
  }
});
