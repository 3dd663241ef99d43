// A tool-call round trip with the Node client: the model is offered a weather tool; when it
// calls it, the program runs the tool and sends the result back, and the model answers from it.
// Reasoning is printed apart from the answer.
//
//   node dist/examples/tool_call.js --server HOST:PORT --api-key KEY \
//       [--question "Weather in Oslo?"] [--tool-choice auto|none|required|get_weather]
//
// The served model needs a chat template with tools (ModelInfo.tokenizer.toolCallFormat
// "hermes" or "jamba", e.g. the reasoning-3b demo preset). A model with random weights rarely
// calls a tool by itself: --tool-choice get_weather (or required) makes the reply a call.
// TLS: --ca FILE; mutual TLS: also --cert FILE --key FILE; without --ca, plaintext (loopback).
import * as fs from 'node:fs';
import { parseArgs } from 'node:util';
import {
  JambaClient,
  JambaError,
  chatMessages,
  chatRequest,
  forceTool,
  makeTool,
  toolChoice,
  toolResultMessage,
  userMessage,
} from '../src/index';
import type { ChatMessages, Completion, ToolChoice } from '../src/index';

const WEATHER = makeTool('get_weather', 'The current weather in a city', {
  type: 'object',
  properties: { city: { type: 'string' } },
  required: ['city'],
});

/** The tool itself (a stand-in for a real weather service): its result as JSON. */
function getWeather(argumentsJson: string): string {
  let city = 'unknown';
  try {
    const parsed = JSON.parse(argumentsJson) as { city?: unknown };
    if (typeof parsed.city === 'string') {
      city = parsed.city;
    }
  } catch {
    // arguments the model made up: keep "unknown"
  }
  return JSON.stringify({ city, temperature_c: 22, conditions: 'sunny' });
}

/** One assistant turn, streamed: reasoning as it comes (on stderr), tool calls once complete. */
async function reply(
  client: JambaClient,
  chat: ChatMessages,
  choice: ToolChoice,
): Promise<Completion> {
  const completion = await client
    .generate({ ...chatRequest(chat), toolChoice: choice, maxTokens: 64, sampling: { seed: 7 } })
    .collectDeltas((delta) => process.stderr.write(delta.reasoning));
  process.stderr.write('\n');
  console.log(`reasoning: '${completion.reasoning}'`);
  console.log(`answer: '${completion.text}'`);
  const u = completion.usage;
  console.log(
    `[${completion.finishReason}; ${u?.promptTokens} prompt tokens, ` +
      `${u?.completionTokens} generated]`,
  );
  return completion;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      server: { type: 'string', default: '127.0.0.1:50051' },
      'api-key': { type: 'string', default: process.env.JAMBA_API_KEY ?? '' },
      question: { type: 'string', default: 'What is the weather in Paris?' },
      'tool-choice': { type: 'string', default: 'auto' },
      ca: { type: 'string' },
      cert: { type: 'string' },
      key: { type: 'string' },
    },
  });
  const given = values['tool-choice']!;
  const choice =
    given === 'auto' || given === 'none' || given === 'required'
      ? toolChoice(given)
      : forceTool(given);
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
    const info = await client.getModelInfo();
    console.log(`tool calls read as '${info.tokenizer?.toolCallFormat}'`);
    const chat = chatMessages([userMessage(values.question!)], { tools: [WEATHER] });
    const first = await reply(client, chat, choice);
    if (first.toolCalls.length === 0) {
      return 0; // answered without the tool
    }
    chat.messages!.push(first.assistantMessage()); // the turn, with its calls
    for (const call of first.toolCalls) {
      console.log(`tool call ${call.id}: ${call.name} ${call.arguments}`);
      const result = getWeather(call.arguments);
      console.log(`tool result: ${result}`);
      chat.messages!.push(toolResultMessage(call, result));
    }
    await reply(client, chat, toolChoice('auto')); // generation continues from the result
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
