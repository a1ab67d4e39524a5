// The one receiver of the agent's Backup stream: files written as they arrive (interleaved,
// each under its file id), the grammar checked, every violation a ProtocolError naming the
// agent, an observer fed as each file is written.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Streamer } from '@pgfleet/core';
import { directoryFiles, receiveBackupStream, type BackupEvent__Output, type DirectoryFilesOptions } from '../src/index.js';

const PEER = 'agent "db1"';

const tempDir = (): Promise<string> => mkdtemp(join(os.tmpdir(), 'pgfleet-proto-test-'));

/** The receiver writing into `dir`, as the controller uses it. */
function receiveAgentBackup(events: AsyncIterable<BackupEvent__Output>, options: { dir: string; peer: string; onProgress?: (p: { doneBytes: number; totalBytes: number; receivedBytes: number }) => void; observe?: (name: string) => Streamer; directIo?: boolean }) {
  const files: DirectoryFilesOptions = { ...(options.observe ? { observe: options.observe } : {}), ...(options.directIo ? { directIo: true } : {}) };
  return receiveBackupStream(events, { peer: options.peer, open: directoryFiles(options.dir, files), ...(options.onProgress ? { onProgress: options.onProgress } : {}) });
}

/** File ids by name, as a sender hands them out. */
const ids = new Map<string, number>();
const idOf = (name: string): number => {
  if (!ids.has(name)) ids.set(name, ids.size + 1);
  return ids.get(name) as number;
};

const started: BackupEvent__Output = {
  event: 'started',
  started: { startLsn: '0/2000028', timeline: 1, systemIdentifier: '7', serverVersionNum: 150000, tablespaces: [{ oid: 16400, location: '/ts', archive: '' }], estimatedBytes: '300' },
};

function fileEvents(name: string, chunks: Buffer[], extra: { size?: number; oid?: number; location?: string } = {}): BackupEvent__Output[] {
  const fileId = idOf(name);
  return [
    { event: 'fileBegin', fileBegin: { name, size: String(extra.size ?? 0), tablespaceOid: extra.oid ?? 0, tablespaceLocation: extra.location ?? '', fileId } },
    ...chunks.map((chunk): BackupEvent__Output => ({ event: 'data', data: { fileId, chunk } })),
    { event: 'fileEnd', fileEnd: { fileId } },
  ];
}

function result(files: string[]): BackupEvent__Output {
  return {
    event: 'result',
    result: {
      systemIdentifier: '7', serverVersionNum: 150000, timeline: 1, startLsn: '0/2000028', endLsn: '0/2000100',
      tablespaces: [{ oid: 16400, location: '/ts', archive: '16400.tar' }], files, bytes: '300',
      startedAt: '2025-01-01T00:00:00Z', finishedAt: '2025-01-01T00:00:01Z', compression: 'none', walMethod: 'stream',
    },
  };
}

async function* replay(events: BackupEvent__Output[]): AsyncGenerator<BackupEvent__Output> {
  for (const e of events) yield e;
}

const BASE = Buffer.from('base archive bytes: 0123456789');
const MANIFEST = Buffer.from('{"PostgreSQL-Backup-Manifest-Version": 1}\n');

function goodStream(baseChunks: Buffer[] = [BASE]): BackupEvent__Output[] {
  return [
    started,
    ...fileEvents('base.tar', baseChunks, { size: BASE.length }),
    { event: 'progress', progress: { doneBytes: '200', totalBytes: '300' } },
    ...fileEvents('16400.tar', [Buffer.from('ts')], { oid: 16400, location: '/ts' }),
    ...fileEvents('pg_wal.tar', [Buffer.from('wal')]),
    ...fileEvents('backup_manifest', [MANIFEST]),
    result(['base.tar', '16400.tar', 'pg_wal.tar', 'backup_manifest']),
  ];
}

test('a complete stream is written file by file with its metadata', async () => {
  const dir = await tempDir();
  const seen: Array<{ doneBytes: number; totalBytes: number; receivedBytes: number }> = [];
  const outcome = await receiveAgentBackup(replay(goodStream()), { dir, peer: PEER, onProgress: (p) => seen.push(p) });
  assert.deepEqual((await readdir(dir)).sort(), ['16400.tar', 'backup_manifest', 'base.tar', 'pg_wal.tar']);
  assert.deepEqual(await readFile(join(dir, 'base.tar')), BASE);
  assert.deepEqual(await readFile(join(dir, 'backup_manifest')), MANIFEST);
  assert.deepEqual(outcome.files.map((f) => [f.name, f.size, f.tablespaceOid, f.tablespaceLocation]), [
    ['base.tar', BASE.length, null, null], ['16400.tar', 2, 16400, '/ts'], ['pg_wal.tar', 3, null, null], ['backup_manifest', MANIFEST.length, null, null],
  ]);
  assert.equal(outcome.result.endLsn, '0/2000100');
  assert.equal(outcome.started.startLsn, '0/2000028');
  assert.deepEqual(seen.at(-1), { doneBytes: 200, totalBytes: 300, receivedBytes: BASE.length + 2 + 3 + MANIFEST.length });
});

test('file content is the same wherever the data chunks are split', async () => {
  for (let cut = 0; cut <= BASE.length; cut += 1) {
    for (const chunks of [[BASE.subarray(0, cut), BASE.subarray(cut)], [...BASE].map((b) => Buffer.from([b]))]) {
      const dir = await tempDir();
      await receiveAgentBackup(replay(goodStream(chunks)), { dir, peer: PEER });
      assert.deepEqual(await readFile(join(dir, 'base.tar')), BASE, `cut at ${cut}`);
    }
  }
});

for (const directIo of [false, true]) test(`a file of many megabytes (${directIo ? 'written with O_DIRECT' : 'fdatasynced in the background as it arrives'}) is written whole`, async () => {
  const dir = await tempDir();
  const big = Buffer.alloc(40 * 1024 * 1024);
  for (let i = 0; i < big.length; i += 4096) big.writeUInt32LE(i, i);
  const chunks: Buffer[] = [];
  for (let off = 0; off < big.length; off += 256 * 1024) chunks.push(big.subarray(off, off + 256 * 1024));
  const events = goodStream().map((e) => e);
  const first = events.findIndex((e) => e.event === 'fileBegin' && e.fileBegin?.name === 'base.tar');
  events.splice(first, 3, ...fileEvents('base.tar', chunks.map((c) => c.subarray(0, c.length - 5)), { size: big.length - 5 * chunks.length }));
  await receiveAgentBackup(replay(events), { dir, peer: PEER, directIo });
  assert.ok((await readFile(join(dir, 'base.tar'))).equals(Buffer.concat(chunks.map((c) => c.subarray(0, c.length - 5)))));
  assert.deepEqual(await readFile(join(dir, 'backup_manifest')), MANIFEST);
});

async function rejectsWith(events: BackupEvent__Output[], problem: string): Promise<void> {
  const dir = await tempDir();
  await assert.rejects(receiveAgentBackup(replay(events), { dir, peer: PEER }), (err: Error & { code?: number }) => {
    assert.equal(err.message, `backup stream from agent "db1": ${problem}`);
    assert.equal(err.code, 50);
    return true;
  });
}

test('grammar violations, bad names and truncation are protocol errors naming the agent', async () => {
  const good = goodStream();
  const all = ['base.tar', '16400.tar', 'pg_wal.tar', 'backup_manifest'];
  await rejectsWith([], 'ended before the backup was complete');
  await rejectsWith(good.slice(0, 3), 'ended in the middle of file "base.tar"');
  await rejectsWith(good.slice(0, -1), 'ended before the backup was complete');
  await rejectsWith(good.slice(1), '"file_begin" before "started"');
  await rejectsWith([started, started], 'second "started" event');
  await rejectsWith([{ event: 'progress', progress: { doneBytes: '1', totalBytes: '2' } }], '"progress" before "started"');
  await rejectsWith([started, { event: 'data', data: { fileId: 1, chunk: Buffer.from('x') } }], '"data" outside a file');
  await rejectsWith([started, { event: 'fileEnd', fileEnd: { fileId: 1 } }], '"file_end" outside a file');
  await rejectsWith([started, ...fileEvents('base.tar', []).slice(0, 1), result(['base.tar'])], '"result" while "base.tar" is still open');
  await rejectsWith([...good, { event: 'progress', progress: { doneBytes: '1', totalBytes: '2' } }], 'event "progress" after the result');
  await rejectsWith([started, ...fileEvents('../etc/passwd', [])], 'unexpected file name "../etc/passwd"');
  await rejectsWith([started, ...fileEvents('backup.json', [])], 'unexpected file name "backup.json"');
  await rejectsWith([started, ...fileEvents('0.tar', [])], 'unexpected file name "0.tar"');
  await rejectsWith([started, ...fileEvents('base.tar', []), ...fileEvents('base.tar', [])], 'file "base.tar" sent twice');
  await rejectsWith([started, ...fileEvents('base.tar', [Buffer.from('abc')], { size: 4 })], 'file "base.tar" announced 4 bytes, 3 sent');
  await rejectsWith([...good.slice(0, -1), result(all.slice(1))],
    'result lists files "16400.tar", "backup_manifest", "pg_wal.tar", received "16400.tar", "backup_manifest", "base.tar", "pg_wal.tar"');
  await rejectsWith([started, ...fileEvents('base.tar', []), result(['base.tar'])], 'no "backup_manifest" received');
  await rejectsWith([started, ...fileEvents('backup_manifest', []), result(['backup_manifest'])], 'no "base.tar" received');
  await rejectsWith([started, { event: undefined } as BackupEvent__Output], 'event of unknown type (newer agent?)');
});

for (const directIo of [false, true]) test(`files interleave: pg_wal.tar arrives while base.tar does, each under its own file id${directIo ? ' (O_DIRECT)' : ''}`, async () => {
  const dir = await tempDir();
  const wal = Buffer.from('WAL written during the backup');
  const begin = (name: string, fileId: number): BackupEvent__Output => ({
    event: 'fileBegin', fileBegin: { name, size: '0', tablespaceOid: 0, tablespaceLocation: '', fileId },
  });
  const data = (fileId: number, chunk: Buffer): BackupEvent__Output => ({ event: 'data', data: { fileId, chunk } });
  const end = (fileId: number): BackupEvent__Output => ({ event: 'fileEnd', fileEnd: { fileId } });
  const events: BackupEvent__Output[] = [
    started,
    begin('base.tar', 7), data(7, BASE.subarray(0, 5)),
    begin('pg_wal.tar', 3), data(3, wal.subarray(0, 4)), data(7, BASE.subarray(5, 20)), data(3, wal.subarray(4)),
    ...fileEvents('16400.tar', [Buffer.from('ts')], { oid: 16400, location: '/ts' }),
    data(7, BASE.subarray(20)), end(7),
    begin('backup_manifest', 9), data(9, MANIFEST), end(9),
    end(3),
    result(['base.tar', 'pg_wal.tar', '16400.tar', 'backup_manifest']),
  ];
  const outcome = await receiveAgentBackup(replay(events), { dir, peer: PEER, directIo });
  assert.deepEqual(await readFile(join(dir, 'base.tar')), BASE);
  assert.deepEqual(await readFile(join(dir, 'pg_wal.tar')), wal);
  assert.deepEqual(await readFile(join(dir, 'backup_manifest')), MANIFEST);
  assert.deepEqual(outcome.files.map((f) => [f.name, f.size]), [['base.tar', BASE.length], ['pg_wal.tar', wal.length], ['16400.tar', 2], ['backup_manifest', MANIFEST.length]]);
});

test('file ids: none, or one of a file still open, is a protocol error', async () => {
  const begin = (name: string, fileId: number): BackupEvent__Output => ({
    event: 'fileBegin', fileBegin: { name, size: '0', tablespaceOid: 0, tablespaceLocation: '', fileId },
  });
  await rejectsWith([started, begin('base.tar', 0)], '"file_begin" of "base.tar" has no file id');
  await rejectsWith([started, begin('base.tar', 1), begin('pg_wal.tar', 1)], '"file_begin" of "pg_wal.tar" uses file id 1 of "base.tar", which is still open');
  await rejectsWith([started, begin('base.tar', 1), { event: 'data', data: { fileId: 2, chunk: Buffer.from('x') } }], '"data" outside a file');
  await rejectsWith([started, begin('base.tar', 1), begin('pg_wal.tar', 2), { event: 'fileEnd', fileEnd: { fileId: 1 } }, result(['base.tar', 'pg_wal.tar'])],
    '"result" while "pg_wal.tar" is still open');
  await rejectsWith([started, begin('base.tar', 1), begin('pg_wal.tar', 2)], 'ended in the middle of file "base.tar"');
});

test('a failing source stream propagates its own error', async () => {
  const dir = await tempDir();
  async function* broken(): AsyncGenerator<BackupEvent__Output> {
    yield started;
    yield* fileEvents('base.tar', [Buffer.from('x')]).slice(0, 2);
    throw new Error('connection reset');
  }
  await assert.rejects(receiveAgentBackup(broken(), { dir, peer: PEER }), { message: 'connection reset' });
});

/** A streamer that logs what it is given. */
function recorder(log: string[], name: string) {
  const bytes: Buffer[] = [];
  return {
    content: async (_m: unknown, data: Buffer, kind: string) => { bytes.push(Buffer.from(data)); log.push(`${name} ${kind} ${data.length}`); },
    finalize: async () => { log.push(`${name} finalize ${Buffer.concat(bytes).toString('latin1')}`); },
    dispose: async () => { log.push(`${name} dispose`); },
  };
}

test('observe: each file\'s bytes go to its observer as written, finalized at file_end', async () => {
  const dir = await tempDir();
  const log: string[] = [];
  await receiveAgentBackup(replay(goodStream([BASE.subarray(0, 10), BASE.subarray(10)])), {
    dir, peer: PEER, observe: (name) => recorder(log, name),
  });
  assert.deepEqual(log.filter((l) => l.startsWith('pg_wal.tar')), ['pg_wal.tar unknown 3', 'pg_wal.tar finalize wal']);
  assert.deepEqual(log.filter((l) => l.startsWith('base.tar')), [
    'base.tar unknown 10', `base.tar unknown ${BASE.length - 10}`, `base.tar finalize ${BASE.toString('latin1')}`]);
  assert.deepEqual(log.filter((l) => l.startsWith('16400.tar')), ['16400.tar unknown 2', '16400.tar finalize ts']);
  assert.deepEqual(log.filter((l) => l.startsWith('backup_manifest')), [`backup_manifest unknown ${MANIFEST.length}`, `backup_manifest finalize ${MANIFEST.toString('latin1')}`]);
  assert.equal(log.some((l) => l.endsWith(' dispose')), false);
});

test('observe: the observer of a file cut off is disposed, not finalized', async () => {
  const dir = await tempDir();
  const log: string[] = [];
  const events = goodStream().slice(0, 3); // started, file_begin base.tar, one data event
  await assert.rejects(receiveAgentBackup(replay(events), { dir, peer: PEER, observe: (name) => recorder(log, name) }),
    { message: 'backup stream from agent "db1": ended in the middle of file "base.tar"' });
  assert.deepEqual(log, [`base.tar unknown ${BASE.length}`, 'base.tar dispose']);
});

test('observe: an observer that fails fails the stream', async () => {
  const dir = await tempDir();
  const failing = { content: async () => { throw new Error('observer broke'); }, finalize: async () => {}, dispose: async () => {} };
  await assert.rejects(receiveAgentBackup(replay(goodStream()), { dir, peer: PEER, observe: () => failing }), { message: 'observer broke' });
});
