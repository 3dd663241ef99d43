// Splits a byte stream into text chunks of at most N UTF-8 bytes that end on character
// boundaries, for AppendToSession (each chunk is a proto string of whole characters).

/** The length of the longest prefix of `bytes` that does not end inside a character. */
export function lastBoundary(bytes: Uint8Array): number {
  const end = bytes.length;
  for (let i = end - 1; i >= 0 && i >= end - 4; i--) {
    const lead = bytes[i]!;
    if ((lead & 0xc0) !== 0x80) {
      const size = lead < 0x80 ? 1 : lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
      return end - i >= size ? end : i;
    }
  }
  return end;
}

/**
 * Yields the text of `source` (Buffers or strings) as chunks of at most `maxBytes` UTF-8 bytes.
 * Malformed UTF-8 throws a TypeError.
 */
export async function* utf8Chunks(
  source: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>,
  maxBytes: number,
): AsyncGenerator<string> {
  if (!Number.isInteger(maxBytes) || maxBytes < 4) {
    throw new RangeError('chunk size must be at least 4 bytes (one character)');
  }
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let pending: Buffer = Buffer.alloc(0);
  for await (const piece of source) {
    pending = Buffer.concat([pending, typeof piece === 'string' ? Buffer.from(piece) : piece]);
    while (pending.length >= maxBytes) {
      const cut = lastBoundary(pending.subarray(0, maxBytes));
      yield decoder.decode(pending.subarray(0, cut));
      pending = pending.subarray(cut);
    }
  }
  if (pending.length > 0) {
    yield decoder.decode(pending);
  }
}
