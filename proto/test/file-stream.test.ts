// File streams: the writer hands out file ids, coalesces small writes into chunks and sends a
// file from disk; the reader checks ids, open files and names, and counts bytes. Files of one
// writer interleave and each arrives whole at the reader.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { FileIoError, ProtocolError } from '@pgfleet/core';
import { FileStreamReader, FileStreamWriter, type FileFrame } from '../src/index.js';

/** A writer whose frames go into `frames`, as encoded and decoded by nobody (same shapes). */
function recording(chunkBytes?: number): { writer: FileStreamWriter; frames: FileFrame[] } {
  const frames: FileFrame[] = [];
  return { writer: new FileStreamWriter(async (f) => { frames.push(f); }, chunkBytes), frames };
}

const fail = (problem: string): never => { throw new ProtocolError(problem); };

/** What a reader makes of the frames: each file's bytes by name. */
function read(frames: FileFrame[], maxOpen?: number): Map<string, Buffer> {
  const reader = new FileStreamReader({ fail, ...(maxOpen ? { maxOpen } : {}) });
  const out = new Map<string, Buffer[]>();
  for (const f of frames) {
    if ('fileBegin' in f) out.set(reader.begin({ ...f.fileBegin, size: String(f.fileBegin.size), tablespaceOid: 0, tablespaceLocation: '' } as never).name, []);
    else if ('data' in f) {
      const { file, chunk } = reader.data(f.data as never);
      out.get(file.name)?.push(chunk);
    } else reader.end(f.fileEnd as never);
  }
  assert.deepEqual(reader.open, []);
  return new Map([...out].map(([n, b]) => [n, Buffer.concat(b)]));
}

test('two files written at the same time interleave under their own ids and arrive whole', async () => {
  const { writer, frames } = recording(8);
  const base = await writer.begin({ name: 'base.tar' });
  const wal = await writer.begin({ name: 'pg_wal.tar' });
  assert.deepEqual([base.fileId, wal.fileId], [1, 2]);
  await base.write(Buffer.from('0123456'));
  await wal.write(Buffer.from('walwalwalwal'));
  await base.content(null, Buffer.from('789abcdef'), 'unknown');
  await wal.finalize();
  await base.finalize();
  assert.deepEqual(writer.begun, ['base.tar', 'pg_wal.tar']);
  // Writes below the chunk size are held back and sent together.
  assert.deepEqual(frames.map((f) => Object.keys(f)[0]), ['fileBegin', 'fileBegin', 'data', 'data', 'fileEnd', 'fileEnd']);
  const files = read(frames);
  assert.equal(files.get('base.tar')?.toString(), '0123456789abcdef');
  assert.equal(files.get('pg_wal.tar')?.toString(), 'walwalwalwal');
});

test('sendFile sends a file from disk in chunks; a file that cannot be read is a FileIoError naming it', async () => {
  const dir = await mkdtemp(join(os.tmpdir(), 'pgfleet-proto-test-'));
  const body = Buffer.alloc(100_000, 3);
  await writeFile(join(dir, 'base.tar'), body);
  const { writer, frames } = recording(30_000);
  const seen: number[] = [];
  assert.equal(await writer.sendFile(join(dir, 'base.tar'), { name: 'base.tar', size: body.length }, { onChunk: (n) => seen.push(n) }), body.length);
  assert.deepEqual(read(frames).get('base.tar'), body);
  assert.equal(seen.at(-1), body.length);
  assert.deepEqual((frames[0] as { fileBegin: { size: string } }).fileBegin.size, String(body.length));
  await assert.rejects(writer.sendFile(join(dir, 'missing'), { name: 'x' }), (err: unknown) =>
    err instanceof FileIoError && err.message === `could not open file "${join(dir, 'missing')}": no such file or directory`);
});

test('sendFile reads ahead: files past the reads in flight, of a whole number of chunks, empty, arrive whole in order; a failed send closes the file', async () => {
  const dir = await mkdtemp(join(os.tmpdir(), 'pgfleet-proto-test-'));
  const sizes = [0, 1, 30_000, 30_000 * 10, 30_000 * 20 + 5];
  for (const [i, size] of sizes.entries()) {
    const body = Buffer.alloc(size);
    for (let k = 0; k < size; k++) body[k] = (k * 7 + i) & 0xff;
    await writeFile(join(dir, `f${i}`), body);
    const { writer, frames } = recording(30_000);
    assert.equal(await writer.sendFile(join(dir, `f${i}`), { name: `f${i}`, size }), size);
    assert.deepEqual(read(frames).get(`f${i}`) ?? Buffer.alloc(0), body, `size ${size}`);
    // Chunks of the full size but the last: no read was split.
    const lengths = frames.flatMap((f) => ('data' in f ? [(f.data as { chunk: Buffer }).chunk.length] : []));
    assert.ok(lengths.slice(0, -1).every((n) => n === 30_000), `size ${size}: ${lengths.join(',')}`);
  }
  const fds = readdirSync('/proc/self/fd').length;
  let sent = 0;
  const failing = new FileStreamWriter(async (f) => {
    if ('data' in f && ++sent === 3) throw new Error('the transport broke');
  }, 30_000);
  await assert.rejects(failing.sendFile(join(dir, `f${sizes.length - 1}`), { name: 'x' }), { message: 'the transport broke' });
  assert.equal(readdirSync('/proc/self/fd').length, fds);
});

test('the reader: one open file at most when asked, a name once, data and end only for an open id', () => {
  const begin = (name: string, fileId: number) => ({ name, fileId, size: '0', tablespaceOid: 0, tablespaceLocation: '' });
  const one = new FileStreamReader({ fail, maxOpen: 1 });
  one.begin(begin('base.tar', 1));
  assert.throws(() => one.begin(begin('pg_wal.tar', 2)), { message: '"file_begin" while "base.tar" is still open' });
  const reader = new FileStreamReader({ fail });
  const base = reader.begin(begin('base.tar', 5));
  assert.equal(reader.data({ fileId: 5, chunk: Buffer.from('abc') }).file, base);
  assert.equal(base.bytes, 3);
  assert.throws(() => reader.data({ fileId: 6, chunk: Buffer.from('x') }), { message: '"data" outside a file' });
  assert.equal(reader.end({ fileId: 5 }), base);
  assert.throws(() => reader.end({ fileId: 5 }), { message: '"file_end" outside a file' });
  assert.throws(() => reader.begin(begin('base.tar', 6)), { message: 'file "base.tar" sent twice' });
  // An id may be used again once its file has ended.
  assert.equal(reader.begin(begin('pg_wal.tar', 5)).name, 'pg_wal.tar');
});

test('a writer that reuses its buffer once write() resolved does not change what was sent or held back', async () => {
  const { writer, frames } = recording(8);
  const file = await writer.begin({ name: 'base.tar' });
  const reused = Buffer.alloc(5);
  for (const text of ['abcde', 'fghij', 'klmno']) {
    reused.write(text);
    await file.write(reused);
  }
  reused.fill(0);
  await file.finalize();
  assert.equal(read(frames).get('base.tar')?.toString(), 'abcdefghijklmno');
  // Messages of at least the chunk size, the rest at the end.
  assert.deepEqual(frames.filter((f) => 'data' in f).map((f) => (f as { data: { chunk: Buffer } }).data.chunk.length), [10, 5]);
});
