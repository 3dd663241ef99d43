// The tokenizer oracle: encodes and decodes the committed strings with Hugging Face's own
// tokenizers (the Rust library through its official Node binding, package "tokenizers") and
// writes what it gives as JSON, one case per line, for tests/engine/text/tokenizer_json_oracle_test.cc.
// Run from tests/oracles (ES module imports resolve from here):
//   node tokenizer_oracle.mjs ../data/tokenizers/<file>.json ../data/tokenizers/oracle_strings.json
//
// Per string: "plain" (special added tokens not recognised: transformers' split_special_tokens=True),
// "special" (recognised; null: the same as plain), "bos" (plain with add_special_tokens, every 10th
// string), and the decodes of "special" with skip_special_tokens true ("skip") and false ("keep")
// and of "plain" with false ("plain_text"); a decode that equals the string is null.
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import tokenizers from 'tokenizers';

const { Tokenizer } = tokenizers;
const VERSION = JSON.parse(readFileSync(new URL('./node_modules/tokenizers/package.json', import.meta.url))).version;

function fail(message) {
  process.stderr.write(`tokenizer_oracle: ${message}\n`);
  process.exit(1);
}

// The binding cannot set encode_special_tokens. With it, tokenizers skips the matches of special
// tokens (they still consume their text); the same ids come from a copy of the file whose special
// added tokens cannot match: removed when the model's vocabulary has them, else renamed to
// something no text holds (so later added tokens keep their ids). Equivalent as long as no special
// token's text can overlap another added token's match, which is checked here.
function splitSpecialVariant(json) {
  const specials = json.added_tokens.filter((t) => t.special).map((t) => t.content);
  const others = json.added_tokens.filter((t) => !t.special).map((t) => t.content);
  for (const s of specials) {
    for (const o of others) {
      for (let k = 1; k <= Math.min(s.length, o.length); ++k) {
        if (s.endsWith(o.slice(0, k)) || s.includes(o)) fail(`special "${s}" overlaps "${o}"`);
      }
    }
  }
  const copy = structuredClone(json);
  copy.added_tokens = copy.added_tokens
    .filter((t) => !(t.special && t.content in copy.model.vocab))
    .map((t) => (t.special ? { ...t, content: `\u0000\u0001disabled:${t.content}` } : t));
  return copy;
}

// A known tokenization, worked out by hand, so the oracle itself is checked before use.
async function selfCheck() {
  const tiny = Tokenizer.fromString(JSON.stringify({
    version: '1.0', truncation: null, padding: null, added_tokens: [], normalizer: null,
    pre_tokenizer: null, post_processor: null, decoder: null,
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null,
      end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, ignore_merges: false,
      vocab: { a: 0, b: 1, c: 2, ab: 3, abc: 4, bc: 5 }, merges: ['a b', 'ab c', 'b c'] },
  }));
  // abcab: a+b (rank 0) twice, then ab+c; bcab: a+b first although b+c is further left.
  for (const [text, ids] of [['abcab', [4, 3]], ['bcab', [5, 3]]]) {
    const got = (await tiny.encode(text, null, { addSpecialTokens: false })).getIds();
    if (JSON.stringify(got) !== JSON.stringify(ids)) fail(`self-check ${text}: ${got} != ${ids}`);
  }
}

async function main() {
  const [tokenizerPath, stringsPath] = process.argv.slice(2);
  if (!tokenizerPath || !stringsPath) fail('usage: node tokenizer_oracle.mjs <tokenizer.json> <strings.json>');
  await selfCheck();
  const json = JSON.parse(readFileSync(tokenizerPath, 'utf8'));
  const full = Tokenizer.fromString(JSON.stringify(json));
  const plain = Tokenizer.fromString(JSON.stringify(splitSpecialVariant(json)));
  const strings = JSON.parse(readFileSync(stringsPath, 'utf8'));
  const lines = [];
  for (let i = 0; i < strings.length; ++i) {
    const text = strings[i];
    const special = (await full.encode(text, null, { addSpecialTokens: false })).getIds();
    const plainIds = (await plain.encode(text, null, { addSpecialTokens: false })).getIds();
    const orNull = (decoded) => (decoded === text ? null : decoded);
    const item = {
      plain: plainIds,
      special: JSON.stringify(special) === JSON.stringify(plainIds) ? null : special,
      skip: orNull(await full.decode(special, true)),
      keep: orNull(await full.decode(special, false)),
      plain_text: orNull(await full.decode(plainIds, false)),
    };
    if (i % 10 === 0) item.bos = (await plain.encode(text, null, { addSpecialTokens: true })).getIds();
    lines.push(JSON.stringify(item));
  }
  process.stdout.write(`{"oracle": "tokenizers ${VERSION} (Node binding)", "tokenizer": "${basename(tokenizerPath)}", ` +
    `"strings": "${basename(stringsPath)}", "count": ${strings.length}, "cases": [\n` + lines.join(',\n') + '\n]}\n');
}

main().catch((error) => fail(error.stack || String(error)));
