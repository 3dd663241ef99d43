// Runs the shared client conformance scenario (clients/conformance/scenario.json) against a live
// jambad with the Node client, printing one JSON line per step as clients/conformance/README.md
// describes.
//
//   node dist/conformance/conformance.js --server HOST:PORT --scenario scenario.json --prefix NAME
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { JambaClient, JambaError, sessionId, sessionName } from '../src/index';
import type { Checkpoint, GenerateRequest, Session } from '../src/index';

interface Step {
  name: string;
  call: string;
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
}

interface Scenario {
  api_keys: Record<string, string>;
  steps: Step[];
}

type Values = Record<string, unknown>;

class Runner {
  private readonly clients = new Map<string, JambaClient>();

  constructor(
    private readonly server: string,
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
    let client = this.clients.get(key);
    if (client === undefined) {
      client = new JambaClient(this.server, {
        insecure: true,
        apiKey: key,
        callTimeoutMs: 300_000,
      });
      this.clients.set(key, client);
    }
    return client;
  }

  close(): void {
    for (const client of this.clients.values()) {
      client.close();
    }
  }

  async run(step: Step, values: Values): Promise<void> {
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
        const request: GenerateRequest = { maxTokens: step.max_tokens };
        if (step.session_id !== undefined) {
          request.session = {
            session: sessionName(session),
            text: step.text,
            commit: step.commit ?? false,
          };
        } else if (step.prompt !== undefined) {
          request.prompt = step.prompt;
        }
        request.sampling = {
          temperature: step.temperature,
          topP: step.top_p,
          seed: step.seed,
        };
        const completion = await client.generate(request).collect();
        record('token_ids', completion.tokenIds);
        record('finish_reason', completion.finishReason);
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
      scenario: { type: 'string' },
      prefix: { type: 'string' },
    },
  });
  if (values.server === undefined || values.scenario === undefined || !values.prefix) {
    console.error('usage: conformance --server HOST:PORT --scenario scenario.json --prefix NAME');
    process.exit(2);
  }
  const scenario = JSON.parse(fs.readFileSync(values.scenario, 'utf8')) as Scenario;
  const runner = new Runner(
    values.server,
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
