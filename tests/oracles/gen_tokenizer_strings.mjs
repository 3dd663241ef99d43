// Writes tests/data/tokenizers/oracle_strings.json: the texts the tokenizer oracle test encodes
// (deterministic: a seeded generator; rerun only to change the set, then rerun the oracle).
//   node tests/oracles/gen_tokenizer_strings.mjs tools/demo_corpus.txt > tests/data/tokenizers/oracle_strings.json
import { readFileSync } from 'node:fs';

let seed = 0x5eed1234;
function random() {  // mulberry32
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = (list) => list[Math.floor(random() * list.length)];
const int = (n) => Math.floor(random() * n);

const corpus = readFileSync(process.argv[2], 'utf8').split('\n').filter((l) => l.length > 0);
const words = corpus.join(' ').split(/\s+/).filter((w) => w.length > 0);
const specials = ['<|pad|>', '<|startoftext|>', '<|endoftext|>', '<|unk|>', '<|bom|>', '<|eom|>',
  '<|system|>', '<|user|>', '<|assistant|>', '<|tool|>', '<|im_start|>', '<|im_end|>', '<think>',
  '</think>', '<tool_call>'];
const nearMisses = ['<|eom', '<|', '|>', '<think >', '< think>', '<|USER|>', '<<|bom|>>', '<0x41>',
  '<0xF0><0x9F>', '\u2581', '\u2581\u2581x', '<|im_start|', '</think', '<tool_call>x'];
const whitespace = [' ', '  ', '   ', '\t', '\n', '\n\n', '\r\n', ' \t ', '\u00a0', '\u3000',
  '\u2003', '\u200b', '\u2028', '        '];
const code = ['int main(void) {', 'return x + y;', '}', 'for (i = 0; i < n; ++i)', 'def f(a, b):',
  '    if a is None:', 'const x = await fetch(url);', '#include <vector>', 'x->y[3] |= 0x1F;',
  'SELECT * FROM t WHERE id = 42;', '"key": [1, 2, 3]', '// TODO: fix', '\tpass', 'λx. x x',
  'std::vector<int32_t> ids;', 'if (a && !b) { c(); }', '<div class="a">b</div>', '$HOME/.cache'];
const emoji = ['😀', '🎉', '👍🏽', '👨‍👩‍👧‍👦', '🇯🇵', '🏳️‍🌈', '❤️', '🦜', '🧑🏿‍💻', '☕', '✅', '🫠'];
const cjkRanges = [[0x4e00, 0x9fff], [0x3040, 0x30ff], [0xac00, 0xd7a3], [0x3400, 0x4dbf]];
const combining = [0x0300, 0x0301, 0x0302, 0x0308, 0x0327, 0x0332, 0x20dd, 0x0e31, 0x05b7, 0x093f];

function randomCodePoint() {
  const kind = int(10);
  if (kind < 2) return 0x20 + int(0x5f);
  if (kind < 4) { const [a, b] = pick(cjkRanges); return a + int(b - a + 1); }
  if (kind < 5) return combining[int(combining.length)];
  if (kind < 6) return 0x10000 + int(0x10ffff - 0x10000 + 1);  // astral planes
  if (kind < 7) return 0x1f300 + int(0x700);  // emoji blocks
  let cp;
  do { cp = 0x80 + int(0x10000 - 0x80); } while (cp >= 0xd800 && cp <= 0xdfff);
  return cp;
}
const randomUnicode = (n) => Array.from({ length: n }, () => String.fromCodePoint(randomCodePoint())).join('');
const cjk = (n) => Array.from({ length: n }, () => { const [a, b] = pick(cjkRanges); return String.fromCodePoint(a + int(b - a + 1)); }).join('');
const english = (n) => Array.from({ length: n }, () => pick(words)).join(' ');
const withMarks = (text) => [...text].map((c) => c + (random() < 0.3 ? String.fromCodePoint(pick(combining)) : '')).join('');

function fragment() {
  switch (int(12)) {
    case 0: case 1: return english(1 + int(12));
    case 2: return pick(code);
    case 3: return cjk(1 + int(8));
    case 4: return pick(emoji);
    case 5: return pick(whitespace);
    case 6: return pick(specials);
    case 7: return pick(nearMisses);
    case 8: return randomUnicode(1 + int(6));
    case 9: return withMarks(english(1 + int(3)));
    case 10: return String(int(100000));
    default: return pick(corpus).slice(0, 1 + int(80));
  }
}

const strings = ['', ' ', '  ', '\n', 'a', 'Hello', ' Hello', 'Hello ', '  Hello  world  ',
  '<|startoftext|>Hello<|endoftext|>', '<|bom|><|user|> Hi<|eom|>', ' <think>x</think> ',
  '<think></think>', 'a<tool_call>b <tool_call> c', '\u2581Hello', '\t\t\tindented', ...specials,
  ...nearMisses];
for (const line of corpus) strings.push(line);
while (strings.length < 10500) {
  const parts = 1 + int(8);
  let text = '';
  for (let i = 0; i < parts; ++i) {
    text += fragment();
    if (random() < 0.5) text += pick([' ', ' ', '', '\n']);
  }
  strings.push(text);
}
for (let i = 0; i < 30; ++i) {  // long texts: exact cuts inside words and long runs
  let text = '';
  while (text.length < 2000 + int(6000)) text += fragment() + pick([' ', '', '\n', '  ']);
  strings.push(text);
}
strings.push('x'.repeat(3000), ' '.repeat(500), 'ab'.repeat(1500), '\u2581'.repeat(300), '🎉'.repeat(400));
process.stdout.write(JSON.stringify(strings, null, 0) + '\n');
