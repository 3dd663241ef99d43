// Writes tests/data/tokenizers/variant_*.json: the pipeline components the two Llama-style files
// do not use, on the vocabulary of llama_legacy_jamba.json, so the oracle covers them too, and
// oracle_strings_2k.json (every fifth string). Run from tests/oracles:
//   node gen_tokenizer_variants.mjs
import { readFileSync, writeFileSync } from 'node:fs';

const dir = '../data/tokenizers';
const base = JSON.parse(readFileSync(`${dir}/llama_legacy_jamba.json`, 'utf8'));
const marker = '\u2581';
const added = (changes) => base.added_tokens.map((t) => ({ ...t, ...(changes[t.content] ?? {}) }));
const template = {
  type: 'TemplateProcessing',
  single: [{ SpecialToken: { id: '<|startoftext|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } },
    { SpecialToken: { id: '<|endoftext|>', type_id: 0 } }],
  pair: [{ Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
  special_tokens: {
    '<|startoftext|>': { id: '<|startoftext|>', ids: [1], tokens: ['<|startoftext|>'] },
    '<|endoftext|>': { id: '<|endoftext|>', ids: [2], tokens: ['<|endoftext|>'] },
  },
};

// Metaspace (always, split) after a Split on ",", Strip and Replace normalizers, no byte fallback
// (unknown characters fuse into <|unk|>), ignore_merges, the Metaspace decoder, BOS+EOS template,
// single_word and rstrip added tokens.
const metaspaceDecoder = {
  ...base,
  added_tokens: added({ '<think>': { normalized: false, single_word: true }, '</think>': { lstrip: false } }),
  normalizer: { type: 'Sequence', normalizers: [
    { type: 'Strip', strip_left: true, strip_right: false },
    { type: 'Replace', pattern: { String: '\t' }, content: '  ' }] },
  pre_tokenizer: { type: 'Sequence', pretokenizers: [
    { type: 'Split', pattern: { String: ',' }, behavior: 'Isolated', invert: false },
    { type: 'Metaspace', replacement: marker, prepend_scheme: 'always', split: true }] },
  post_processor: template,
  decoder: { type: 'Metaspace', replacement: marker, prepend_scheme: 'always', split: true },
  model: { ...base.model, byte_fallback: false, fuse_unk: true, ignore_merges: true },
};

// Splits that remove, merge and invert; Metaspace "first" without split; per-token decoders.
const splits = {
  ...base,
  added_tokens: added({ '<|im_end|>': { rstrip: true, lstrip: true }, '<think>': { normalized: false } }),
  normalizer: null,
  pre_tokenizer: { type: 'Sequence', pretokenizers: [
    { type: 'Split', pattern: { String: '\n' }, behavior: 'Removed', invert: false },
    { type: 'Split', pattern: { String: ' ' }, behavior: 'MergedWithPrevious', invert: false },
    { type: 'Split', pattern: { String: '.' }, behavior: 'Contiguous', invert: false },
    { type: 'Split', pattern: { String: 'e' }, behavior: 'MergedWithNext', invert: true },
    { type: 'Metaspace', replacement: marker, prepend_scheme: 'first', split: false }] },
  decoder: { type: 'Sequence', decoders: [
    // (A stop > 0 panics in tokenizers 0.23.2 on a token Strip empties: not used.)
    { type: 'Strip', content: marker, start: 1, stop: 0 },
    { type: 'Replace', pattern: { String: marker }, content: ' ' },
    { type: 'ByteFallback' },
    { type: 'Fuse' }] },
  model: { ...base.model, fuse_unk: false },
};

writeFileSync(`${dir}/variant_metaspace_decoder.json`, JSON.stringify(metaspaceDecoder) + '\n');
writeFileSync(`${dir}/variant_splits.json`, JSON.stringify(splits) + '\n');
const strings = JSON.parse(readFileSync(`${dir}/oracle_strings.json`, 'utf8'));
writeFileSync(`${dir}/oracle_strings_2k.json`, JSON.stringify(strings.filter((_, i) => i % 5 === 0)) + '\n');
