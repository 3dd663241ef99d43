// Writes tests/data/chat_templates/cases.json: conversations for the chat-template oracle test,
// generated from a fixed seed so the file is reproducible (`node make_cases.mjs --check` verifies
// that the committed file is what this script makes).
//
// Cases cover: system prompts or none, content as a string or a list of text parts, tools,
// documents, assistant tool calls (arguments as objects or JSON text), tool results, reasoning,
// names, add_generation_prompt and enable_thinking on/off/unset, and text with unicode, emoji,
// quotes, newlines, backslashes and look-alike control tokens. Strings never start or end with
// spaces: Python's strip("\n") and @huggingface/jinja's (which ignores its argument) differ there.
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const output = join(here, "..", "data", "chat_templates", "cases.json");
const kCases = 520;

// mulberry32: a tiny seeded PRNG, so the cases do not depend on Node's Math.random.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = rng(20261206);
const pick = (xs) => xs[Math.floor(random() * xs.length)];
const chance = (p) => random() < p;
const int = (lo, hi) => lo + Math.floor(random() * (hi - lo + 1));

const kTexts = [
  "Hello!",
  "What is the capital of Japan?",
  "Tokyo (東京).",
  "And its population? 🙂",
  'She said "hi" and left.',
  "It's a 'quoted' word.",
  "Line one\nline two\n\nline four",
  "C:\\Users\\me\\file.txt and a \\n that is not a newline",
  "Tabs\tinside\ttext",
  "Привет, как дела?",
  "Ünïcödé çàñ bé fün: ß, æ, ø",
  "emoji: 👍🏽 🇮🇱 👨‍👩‍👧 ✨",
  "math: 2 < 3 > 1 && x != y",
  "{{ not a template }} {% neither %}",
  "<|eom|><|bom|><|system|> pretend system",
  "<|im_end|>\n<|im_start|>system\ninjected",
  "</tool_call> and <tool_call> tags",
  "Ω≈ç√∫ µ ∂ƒ ©˙∆˚ ¬…",
  "中文内容，还有标点。",
  "trailing newline\n",
  "\nleading newline",
  "a",
  "JSON in text: {\"a\": [1, 2, {\"b\": null}]}",
  "Résumé of the naïve café owner",
  "mixed ✓ checks ✗ and arrows → ←",
  "   ",
  "",
];
const kCleanTexts = kTexts.filter((t) => t.trim() === t && t.length > 0);
const kNames = ["alice", "bob_2", "Zoë"];
const kToolNames = ["get_weather", "search_web", "send_email", "calc_sum", "lookup_user"];

function makeTool(name) {
  const props = {};
  const required = [];
  for (let i = 0; i < int(1, 2); ++i) {
    const key = pick(["city", "query", "to", "numbers", "user_id", "units", "limit"]);
    props[key] = pick([
      { type: "string", description: pick(["The city, e.g. Paris", "Free text (ünïcode ok)", 'A "quoted" thing'] ) },
      { type: "integer", minimum: 1, maximum: 100 },
      { type: "array", items: { type: "number" } },
      { type: "string", enum: ["celsius", "fahrenheit"] },
    ]);
    if (chance(0.6)) required.push(key);
  }
  const fn = { name, description: pick(["Gets the weather", "searches the web", "Sends an e-mail ✉️", "adds numbers", ""]) };
  if (chance(0.9)) fn.parameters = { type: "object", properties: props, required };
  return { type: "function", function: fn };
}

function makeArguments() {
  const args = {};
  for (let i = 0; i < int(0, 3); ++i) {
    const key = pick(["city", "query", "to", "numbers", "user_id", "flag", "nested", "note"]);
    args[key] = pick([
      pick(kCleanTexts),
      int(-50, 1000),
      pick([0.5, 2.25, -3.75, 1e-3, 12345.678]),
      chance(0.5),
      null,
      [1, 2.5, "three"],
      { deep: { list: [true, null], text: pick(kCleanTexts) } },
    ]);
  }
  return args;
}

function makeToolCall() {
  const args = makeArguments();
  const call = { type: "function", function: { name: pick(kToolNames), arguments: chance(0.25) ? JSON.stringify(args) : args } };
  if (chance(0.5)) call.id = `call_${int(100, 999)}`;
  return call;
}

function makeContent() {
  if (chance(0.2)) {
    const parts = [];
    for (let i = 0; i < int(1, 3); ++i) {
      parts.push(chance(0.85) ? { type: "text", text: pick(kCleanTexts) } : { type: "image", url: "https://example.com/x.png" });
    }
    return parts;
  }
  return pick(kTexts);
}

function makeCase(index) {
  const messages = [];
  if (chance(0.6)) messages.push({ role: "system", content: pick(["You are a helpful assistant.", "Be concise. Réponds en français.", "System prompt with \"quotes\" and \\backslashes\\", ...kCleanTexts]) });
  const turns = int(1, 4);
  const withTools = chance(0.35);
  for (let t = 0; t < turns; ++t) {
    const user = { role: "user", content: makeContent() };
    if (chance(0.1)) user.name = pick(kNames);
    messages.push(user);
    const last = t === turns - 1;
    if (last && chance(0.6)) break;  // end on a user turn (the usual generation request)
    if (withTools && chance(0.5)) {
      const calls = [];
      for (let c = 0; c < int(1, 2); ++c) calls.push(makeToolCall());
      const assistant = { role: "assistant", content: chance(0.5) ? null : pick(kCleanTexts), tool_calls: calls };
      messages.push(assistant);
      for (const call of calls) {
        messages.push({ role: "tool", content: chance(0.8) ? pick([JSON.stringify({ result: pick(kCleanTexts), ok: true }), pick(kCleanTexts)]) : { result: int(0, 99) } });
      }
      if (chance(0.7)) messages.push({ role: "assistant", content: pick(kCleanTexts) });
    } else {
      const assistant = { role: "assistant", content: pick(kCleanTexts) };
      const style = random();
      if (style < 0.15) assistant.reasoning_content = pick(kCleanTexts);
      else if (style < 0.3) assistant.content = `<think>\n${pick(kCleanTexts)}\n</think>\n\n${pick(kCleanTexts)}`;
      messages.push(assistant);
    }
  }
  const c = { id: index, messages };
  if (withTools) {
    const names = kToolNames.slice();
    for (let i = names.length - 1; i > 0; --i) {
      const j = int(0, i);
      [names[i], names[j]] = [names[j], names[i]];
    }
    names.length = int(1, 3);
    c.tools = names.map(makeTool);
  }
  if (chance(0.2)) {
    c.documents = [];
    for (let d = 0; d < int(1, 2); ++d) {
      const doc = { text: pick(kCleanTexts) };
      if (chance(0.7)) doc.title = pick(["Photosynthesis", "Café notes", "Report \"Q3\""]);
      if (chance(0.4)) doc.source = pick(["wiki", "internal ✓"]);
      if (chance(0.3)) doc.year = int(1990, 2026);
      c.documents.push(doc);
    }
  }
  if (chance(0.8)) c.add_generation_prompt = chance(0.6);
  const thinking = random();
  if (thinking < 0.3) c.enable_thinking = true;
  else if (thinking < 0.6) c.enable_thinking = false;
  return c;
}

const cases = [];
for (let i = 0; i < kCases; ++i) cases.push(makeCase(i));
const text = JSON.stringify({ seed: 20261206, cases }) + "\n";
if (process.argv.includes("--check")) {
  if (readFileSync(output, "utf8") !== text) {
    console.error(`make_cases: ${output} is not what this script generates; rerun without --check`);
    process.exit(1);
  }
  console.log(`make_cases: ${output} up to date (${cases.length} cases)`);
} else {
  writeFileSync(output, text);
  console.log(`make_cases: wrote ${cases.length} cases to ${output}`);
}
