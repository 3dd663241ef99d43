// The Node client end to end: `--step ingest` creates a session, streams a document into it with
// progress and asks a question (without committing it); `--step resume`, any later process (even
// after a server restart), asks another question of the stored session: its usage shows the
// document's tokens restored, not recomputed.
//
//   node dist/examples/resume_document.js --step ingest --server HOST:PORT --api-key KEY \
//       --session notes --document contract.txt --question "Who are the parties?"
//   node dist/examples/resume_document.js --step resume --server HOST:PORT --api-key KEY \
//       --session notes --question "When does it end?"
//
// TLS: --ca FILE; mutual TLS: also --cert FILE --key FILE; without --ca, plaintext (loopback).
// The key may also come from $JAMBA_API_KEY.
import * as fs from 'node:fs';
import { parseArgs } from 'node:util';
import { JambaClient, JambaError, sessionName } from '../src/index';

async function ask(client: JambaClient, session: string, question: string): Promise<void> {
  process.stdout.write(`Q: ${question}\nA:`);
  const answer = await client
    .generate({
      session: { session: sessionName(session), text: `\n\nQuestion: ${question}\nAnswer:` },
      maxTokens: 48,
      sampling: { temperature: 0.7, seed: 7 },
    })
    .collect((text) => process.stdout.write(text)); // the answer as it is generated
  const u = answer.usage;
  console.log(
    `\n[${answer.finishReason}; ${u?.promptTokens} prompt tokens: ${u?.restoredTokens} ` +
      `restored, ${u?.recomputedTokens} computed; ${u?.completionTokens} generated]`,
  );
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      step: { type: 'string' },
      server: { type: 'string', default: '127.0.0.1:50051' },
      'api-key': { type: 'string', default: process.env.JAMBA_API_KEY ?? '' },
      session: { type: 'string', default: 'example-document' },
      document: { type: 'string' },
      question: { type: 'string', default: 'What is this document about?' },
      ca: { type: 'string' },
      cert: { type: 'string' },
      key: { type: 'string' },
    },
  });
  const { step, document } = values;
  const session = values.session!;
  if ((step !== 'ingest' && step !== 'resume') || (step === 'ingest' && !document)) {
    console.error('resume_document: --step ingest|resume (ingest needs --document)');
    return 2;
  }
  const client = new JambaClient(values.server!, {
    apiKey: values['api-key'],
    ...(values.ca === undefined
      ? { insecure: true }
      : {
          tls: {
            ca: fs.readFileSync(values.ca),
            cert: values.cert === undefined ? undefined : fs.readFileSync(values.cert),
            key: values.key === undefined ? undefined : fs.readFileSync(values.key),
          },
        }),
  });
  try {
    if (step === 'ingest') {
      await client.createSession(session);
      const stored = await client.appendFile(session, document!, {
        chunkBytes: 64 * 1024,
        onProgress: (p) =>
          console.error(
            `  ${p.bytesReceived} bytes, ${p.tokensProcessed}/${p.tokensReceived} tokens processed`,
          ),
      });
      console.log(`ingested ${stored.name}: ${stored.tokenCount} tokens`);
    } else {
      const stored = await client.getSession(session);
      console.log(`resuming ${stored.name}: ${stored.tokenCount} tokens`);
    }
    await ask(client, session, values.question!);
    return 0;
  } catch (error) {
    if (error instanceof JambaError) {
      // The gRPC code and, when the server sent one, the stable reason to match on.
      console.error(`error: ${error.codeName}: ${error.details} (reason: ${error.reason})`);
      return 1;
    }
    throw error;
  } finally {
    client.close();
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  },
);
