// Unit tests of the Node client that need no server: UTF-8 chunking, names, error decoding.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import * as protobuf from 'protobufjs';
import { utf8Chunks } from '../src/chunker';
import { JambaError, codeName, sessionId, sessionName } from '../src/index';
import { errorProtos } from '../src/protos';

async function chunks(text: string | Uint8Array, max: number): Promise<string[]> {
  const out: string[] = [];
  for await (const chunk of utf8Chunks([text], max)) {
    out.push(chunk);
  }
  return out;
}

test('chunks end on character boundaries and add up to the text', async () => {
  const text = 'héllo wörld — ∑ 𝄞 '.repeat(50);
  for (let max = 4; max <= 40; max++) {
    const got = await chunks(text, max);
    assert.equal(got.join(''), text);
    for (const chunk of got) {
      const bytes = Buffer.byteLength(chunk);
      assert.ok(bytes > 0 && bytes <= max, `chunk of ${bytes} bytes with max ${max}`);
    }
  }
});

test('empty input has no chunks', async () => {
  assert.deepEqual(await chunks('', 16), []);
});

test('malformed UTF-8 is an error', async () => {
  await assert.rejects(chunks(Uint8Array.from([0x61, 0xff, 0x62]), 16), TypeError);
});

test('session names and ids', () => {
  assert.equal(sessionName('notes'), 'sessions/notes');
  assert.equal(sessionName('sessions/notes'), 'sessions/notes');
  assert.equal(sessionId('sessions/notes'), 'notes');
});

test('JambaError keeps the code and decodes google.rpc details', () => {
  const root = errorProtos();
  const Status = root.lookupType('google.rpc.Status');
  const ErrorInfo = root.lookupType('google.rpc.ErrorInfo');
  const ResourceInfo = root.lookupType('google.rpc.ResourceInfo');
  const any = (type: protobuf.Type, value: object) => ({
    type_url: `type.googleapis.com/${type.fullName.slice(1)}`,
    value: type.encode(type.fromObject(value)).finish(),
  });
  const details = Status.encode(
    Status.fromObject({
      code: grpc.status.NOT_FOUND,
      message: 'no such session',
      details: [
        any(ErrorInfo, { reason: 'SESSION_NOT_FOUND', domain: 'jamba.ai' }),
        any(ResourceInfo, { resourceType: 'jamba.v1.Session', resourceName: 'sessions/x' }),
      ],
    }),
  ).finish();
  const metadata = new grpc.Metadata();
  metadata.set('grpc-status-details-bin', Buffer.from(details));
  const serviceError = Object.assign(new Error('5 NOT_FOUND: no such session'), {
    code: grpc.status.NOT_FOUND,
    details: 'no such session',
    metadata,
  });
  const error = JambaError.from(serviceError);
  assert.ok(error instanceof JambaError);
  assert.equal(error.code, grpc.status.NOT_FOUND);
  assert.equal(error.codeName, 'NOT_FOUND');
  assert.equal(error.reason, 'SESSION_NOT_FOUND');
  assert.equal(error.resourceInfo?.resourceName, 'sessions/x');
  assert.equal(codeName(grpc.status.INVALID_ARGUMENT), 'INVALID_ARGUMENT');
});
