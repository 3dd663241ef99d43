// Runs the shared client conformance scenario (clients/conformance/scenario.json) against a live
// jambad with the Node client, printing one JSON line per step as clients/conformance/README.md
// describes.
//
//   node dist/conformance/conformance.js --server HOST:PORT [--servers NAME=HOST:PORT,...] \
//       --scenario scenario.json --prefix NAME
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { parseArgs } from 'node:util';
import {
  JambaClient,
  JambaError,
  chatMessages,
  chatRequest,
  forceTool,
  makeDocument,
  makeTool,
  sessionChatRequest,
  sessionId,
  sessionName,
  toolResultMessage,
} from '../src/index';
import type {
  ChatMessage,
  ChatMessages,
  Checkpoint,
  Completion,
  GenerateRequest,
  Session,
} from '../src/index';

interface Step {
  name: string;
  call: string;
  server?: string;
  key?: string;
  api_key?: string;
  session_id?: string;
  new_session_id?: string;
  text_file?: string;
  chunk_bytes?: number;
  text?: string;
  prompt?: string;
  commit?: boolean;
  max_tokens?: number;
  temperature?: number;
  top_p?: number;
  seed?: number;
  checkpoint_from_end?: number;
  page_size?: number;
  session_id_prefix?: string;
  record?: string[];
  history_from?: string;
  messages?: { role: ChatMessage['role']; content: string }[];
  tools?: { name: string; description?: string; parameters?: string }[];
  documents?: { title?: string; text: string; metadata?: Record<string, string> }[];
  template_variables?: string;
  tool_choice?: { mode: 'AUTO' | 'NONE' | 'REQUIRED' | 'FUNCTION'; function?: string };
  tool_results?: { for: string; contents: string[] };
}

interface Scenario {
  api_keys: Record<string, string>;
  steps: Step[];
}

type Values = Record<string, unknown>;

/** Lines of stdin, read one at a time (the runner's answers to control lines). */
class Lines {
  private readonly buffered: string[] = [];
  private readonly waiting: ((line: string | undefined) => void)[] = [];
  private ended = false;
  private readonly lines = readline.createInterface({ input: process.stdin });

  constructor() {
    const lines = this.lines;
    lines.on('line', (line) => {
      const waiter = this.waiting.shift();
      if (waiter) {
        waiter(line);
      } else {
        this.buffered.push(line);
      }
    });
    lines.on('close', () => {
      this.ended = true;
      for (const waiter of this.waiting.splice(0)) {
        waiter(undefined);
      }
    });
  }

  /** Stops reading stdin (else it keeps the process alive). */
  close(): void {
    this.lines.close();
  }

  next(): Promise<string | undefined> {
    const line = this.buffered.shift();
    if (line !== undefined || this.ended) {
      return Promise.resolve(line);
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }
}

class Runner {
  private readonly clients = new Map<string, JambaClient>(); // by server and key
  // What each chat Generate step sent and got back, for the steps that continue it.
  private readonly chats = new Map<string, { sent: ChatMessages; reply: Completion }>();
  private lines: Lines | undefined;

  constructor(
    private readonly servers: Map<string, string>, // '' is the default server
    private readonly dir: string,
    private readonly prefix: string,
    private readonly apiKeys: Record<string, string>,
  ) {}

  private expand(s: string): string {
    return s.split('{prefix}').join(this.prefix);
  }

  /** Writes "{prefix}" back at the start of an id, so that every client records the same. */
  private unexpandId(id: string): string {
    return id.startsWith(this.prefix) ? `{prefix}${id.slice(this.prefix.length)}` : id;
  }

  /** unexpandId for a session name ("sessions/{prefix}-doc"). */
  private unexpandName(name: string): string {
    return sessionName(this.unexpandId(sessionId(name)));
  }

  private client(step: Step): JambaClient {
    const key = step.api_key ?? this.apiKeys[step.key ?? ''] ?? '';
    const server = step.server ?? '';
    const address = this.servers.get(server);
    if (address === undefined) {
      throw new Error(`no --servers address for ${server}`);
    }
    const id = JSON.stringify([server, key]);
    let client = this.clients.get(id);
    if (client === undefined) {
      client = new JambaClient(address, {
        insecure: true,
        apiKey: key,
        callTimeoutMs: 300_000,
      });
      this.clients.set(id, client);
    }
    return client;
  }

  close(): void {
    for (const client of this.clients.values()) {
      client.close();
    }
    this.lines?.close();
  }

  /**
   * Asks the runner to restart a server (a control line on stdout) and waits for its new
   * address on stdin.
   */
  private async restart(server: string): Promise<void> {
    for (const [id, client] of this.clients) {
      if ((JSON.parse(id) as string[])[0] === server) {
        client.close();
        this.clients.delete(id);
      }
    }
    process.stdout.write(`${JSON.stringify({ control: 'restart', server })}\n`);
    this.lines ??= new Lines();
    const reply = await this.lines.next();
    const at = reply?.indexOf('=') ?? -1;
    if (reply === undefined || at < 0 || reply.slice(0, at) !== server || at === reply.length - 1) {
      throw new Error(`the runner did not restart ${server}: ${reply}`);
    }
    this.servers.set(server, reply.slice(at + 1));
  }

  /**
   * The step's chat, or undefined: the history of an earlier step with its reply
   * (history_from), the step's own messages, tools, documents and template variables, then a
   * result for each tool call of an earlier step's reply (tool_results).
   */
  private conversation(step: Step): ChatMessages | undefined {
    const keys = ['history_from', 'messages', 'tools', 'documents', 'template_variables'];
    if (!keys.some((k) => k in step) && step.tool_results === undefined) {
      return undefined;
    }
    let messages: ChatMessage[] = [];
    let earlier: ChatMessages | undefined;
    if (step.history_from !== undefined) {
      const chat = this.chats.get(step.history_from);
      if (chat === undefined) {
        throw new Error(`no chat step ${step.history_from}`);
      }
      earlier = chat.sent;
      messages = [...(chat.sent.messages ?? []), chat.reply.assistantMessage()];
    }
    for (const m of step.messages ?? []) {
      messages.push({ role: m.role, content: m.content });
    }
    if (step.tool_results !== undefined) {
      const chat = this.chats.get(step.tool_results.for);
      const calls = chat?.reply.toolCalls ?? [];
      if (calls.length !== step.tool_results.contents.length) {
        const given = step.tool_results.contents.length;
        throw new Error(`the step has ${given} tool results for ${calls.length} calls`);
      }
      const contents = step.tool_results.contents;
      calls.forEach((call, i) => messages.push(toolResultMessage(call, contents[i]!)));
    }
    const templateVariables = step.template_variables ?? earlier?.templateVariables;
    return chatMessages(messages, {
      tools:
        step.tools?.map((t) => makeTool(t.name, t.description ?? '', t.parameters || undefined)) ??
        earlier?.tools,
      documents:
        step.documents?.map((d) =>
          makeDocument(d.text, { title: d.title ?? '', metadata: d.metadata ?? {} }),
        ) ?? earlier?.documents,
      templateVariables: templateVariables ? templateVariables : undefined,
    });
  }

  async run(step: Step, values: Values): Promise<void> {
    if (step.call === 'RestartServer') {
      await this.restart(step.server ?? '');
      return;
    }
    const client = this.client(step);
    const session = this.expand(step.session_id ?? '');
    const record = (key: string, value: unknown): void => {
      if (step.record?.includes(key)) {
        values[key] = value;
      }
    };
    const recordSession = (got: Session): void => {
      record('session_name', this.unexpandName(got.name));
      record('token_count', got.tokenCount);
    };
    switch (step.call) {
      case 'CreateSession': {
        const created = await client.createSession(session);
        recordSession(created);
        break;
      }
      case 'AppendToSession': {
        const updated = await client.appendFile(
          session,
          path.join(this.dir, step.text_file ?? ''),
          { chunkBytes: step.chunk_bytes },
        );
        recordSession(updated);
        break;
      }
      case 'Generate': {
        const conversation = this.conversation(step);
        let request: GenerateRequest = {};
        if (step.session_id !== undefined && conversation !== undefined) {
          request = sessionChatRequest(session, conversation, step.commit ?? false);
        } else if (step.session_id !== undefined) {
          request.session = {
            session: sessionName(session),
            text: step.text,
            commit: step.commit ?? false,
          };
        } else if (conversation !== undefined) {
          request = chatRequest(conversation);
        } else if (step.prompt !== undefined) {
          request.prompt = step.prompt;
        }
        request.maxTokens = step.max_tokens;
        if (step.tool_choice !== undefined) {
          request.toolChoice =
            step.tool_choice.mode === 'FUNCTION'
              ? forceTool(step.tool_choice.function ?? '')
              : { mode: step.tool_choice.mode };
        }
        request.sampling = {
          temperature: step.temperature,
          topP: step.top_p,
          seed: step.seed,
        };
        const completion = await client.generate(request).collect();
        if (conversation !== undefined) {
          this.chats.set(step.name, { sent: conversation, reply: completion });
        }
        record('token_ids', completion.tokenIds);
        record('finish_reason', completion.finishReason);
        record('text', completion.text);
        record('reasoning', completion.reasoning);
        record(
          'tool_calls',
          completion.toolCalls.map((c) => ({ id: c.id, name: c.name, arguments: c.arguments })),
        );
        record('malformed_tool_call', completion.malformedToolCall);
        if (completion.session) {
          record('session_token_count', completion.session.tokenCount);
        }
        const u = completion.usage;
        record('usage', {
          prompt_tokens: u?.promptTokens ?? 0,
          restored_tokens: u?.restoredTokens ?? 0,
          recomputed_tokens: u?.recomputedTokens ?? 0,
          completion_tokens: u?.completionTokens ?? 0,
        });
        break;
      }
      case 'ForkSession': {
        const fork = await client.forkSession(session, this.expand(step.new_session_id ?? ''));
        recordSession(fork);
        break;
      }
      case 'ListCheckpoints': {
        const { checkpoints, pages } = await listCheckpoints(client, session);
        record(
          'positions',
          checkpoints.map((c) => c.tokenCount),
        );
        record('pages', pages);
        break;
      }
      case 'RewindSession': {
        const { checkpoints } = await listCheckpoints(client, session);
        const target = checkpoints[checkpoints.length - 1 - (step.checkpoint_from_end ?? 0)];
        if (target === undefined) {
          throw new Error(`${session} has ${checkpoints.length} checkpoints`);
        }
        recordSession(await client.rewindSession(session, target.name));
        break;
      }
      case 'ListSessions': {
        const idPrefix = this.expand(step.session_id_prefix ?? '');
        const pages = client.listSessions(step.page_size ?? 0);
        const ids: string[] = [];
        for await (const listed of pages) {
          const id = sessionId(listed.name);
          if (id.startsWith(idPrefix)) {
            ids.push(this.unexpandId(id));
          }
        }
        record('session_ids', ids);
        record('pages', pages.pages);
        break;
      }
      case 'GetSession': {
        const got = await client.getSession(session);
        recordSession(got);
        break;
      }
      case 'DeleteSession':
        await client.deleteSession(session);
        break;
      default:
        throw new Error(`unknown call ${step.call}`);
    }
  }
}

/** Fetches every page of a session's checkpoints, counting the pages. */
async function listCheckpoints(
  client: JambaClient,
  session: string,
): Promise<{ checkpoints: Checkpoint[]; pages: number }> {
  const checkpoints: Checkpoint[] = [];
  let pages = 0;
  let token = '';
  do {
    const page = await client.listCheckpointsPage(session, 0, token);
    pages++;
    checkpoints.push(...page.checkpoints);
    token = page.nextPageToken;
  } while (token !== '');
  return { checkpoints, pages };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      server: { type: 'string' },
      servers: { type: 'string', default: '' },
      scenario: { type: 'string' },
      prefix: { type: 'string' },
    },
  });
  if (values.server === undefined || values.scenario === undefined || !values.prefix) {
    console.error(
      'usage: conformance --server HOST:PORT [--servers NAME=HOST:PORT,...] ' +
        '--scenario scenario.json --prefix NAME',
    );
    process.exit(2);
  }
  const servers = new Map<string, string>([['', values.server]]);
  for (const entry of (values.servers ?? '').split(',').filter((e) => e !== '')) {
    const at = entry.indexOf('=');
    if (at <= 0 || at === entry.length - 1) {
      console.error(`--servers: ${entry} is not NAME=HOST:PORT`);
      process.exit(2);
    }
    servers.set(entry.slice(0, at), entry.slice(at + 1));
  }
  const scenario = JSON.parse(fs.readFileSync(values.scenario, 'utf8')) as Scenario;
  const runner = new Runner(
    servers,
    path.dirname(values.scenario),
    values.prefix,
    scenario.api_keys,
  );
  try {
    for (const step of scenario.steps) {
      let values: Values = {};
      let code = 'OK';
      try {
        await runner.run(step, values);
      } catch (error) {
        if (error instanceof JambaError) {
          code = error.codeName;
        } else {
          // Failed inside the client (a bug, or a step it cannot run): say why, go on.
          console.error(`step ${step.name}:`, error);
          code = 'CLIENT_ERROR';
        }
        values = {};
      }
      process.stdout.write(`${JSON.stringify({ step: step.name, code, values })}\n`);
    }
  } finally {
    runner.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
