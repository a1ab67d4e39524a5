// The two WAL sinks of the receiver (src/wal/wal-sinks.ts), the directory sink in both of its
// layouts (pg_basebackup's pg_wal, pg_receivewal's directory). Segments are 1 MB here (the
// smallest valid size) to keep the test fast.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { constants as zlibConstants, gunzipSync } from 'node:zlib';
import { DirectoryWalSink, TarWalSink, type WalSink } from '../../src/wal/wal-sinks.js';
import type { ChunkKind, Streamer, TarMember } from '../../src/archive/streamer.js';

const SEG = 1024 * 1024;
const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'pgfleet-walsink-'));
  dirs.push(d);
  return d;
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const seg1 = '000000010000000000000002';
const seg2 = '000000010000000000000003';
const history = '00000002.history';
const historyText = Buffer.from('1\t0/3000000\tno recovery target specified\n');

/** The same sequence for both sinks: a complete segment, an incomplete one, a history file. */
async function drive(sink: WalSink): Promise<void> {
  await sink.writeHistoryFile(history, historyText);
  await sink.open(seg1);
  await sink.write(0, Buffer.alloc(300_000, 1));
  await sink.write(300_000, Buffer.alloc(SEG - 300_000, 2));
  await sink.close({ complete: true });
  await sink.open(seg2);
  await sink.write(0, Buffer.from('partial'));
  await sink.write(7, Buffer.from(' segment'));
  await sink.close({ complete: false });
  await sink.finish();
  await sink.dispose();
}

function expectedSegment1(): Buffer {
  return Buffer.concat([Buffer.alloc(300_000, 1), Buffer.alloc(SEG - 300_000, 2)]);
}

function expectedSegment2(): Buffer {
  const b = Buffer.alloc(SEG);
  b.write('partial segment');
  return b;
}

test('directory sink: full-size segments, .done only for complete ones and history files', async () => {
  const dir = join(tmp(), 'pg_wal');
  await drive(new DirectoryWalSink({ directory: dir, segmentSize: SEG, sync: true }));
  assert.deepEqual(readdirSync(dir).sort(), [seg1, seg2, history, 'archive_status'].sort());
  assert.deepEqual(readdirSync(join(dir, 'archive_status')).sort(), [`${seg1}.done`, `${history}.done`]);
  assert.ok(readFileSync(join(dir, seg1)).equals(expectedSegment1()));
  assert.ok(readFileSync(join(dir, seg2)).equals(expectedSegment2()), 'the incomplete segment is zero-padded to full size');
  assert.ok(readFileSync(join(dir, history)).equals(historyText));
  assert.equal(statSync(join(dir, seg1)).mode & 0o777, 0o600);
  assert.equal(statSync(join(dir, 'archive_status')).mode & 0o777, 0o700);
  assert.equal(statSync(join(dir, 'archive_status', `${seg1}.done`)).size, 0);
});

test('directory sink: segments are padded when opened; modes follow group access', async () => {
  const dir = join(tmp(), 'wal');
  const sink = new DirectoryWalSink({ directory: dir, segmentSize: SEG, sync: false, fileMode: 0o640, directoryMode: 0o750 });
  await sink.open(seg1);
  assert.equal(statSync(join(dir, seg1)).size, SEG, 'pre-allocated before any data');
  await sink.write(10, Buffer.from('x'));
  await assert.rejects(sink.write(5, Buffer.from('y')), { name: 'InternalError' });
  await assert.rejects(sink.write(SEG - 1, Buffer.from('yy')), { name: 'InternalError' });
  await assert.rejects(sink.open(seg2), { name: 'InternalError', message: `WAL file "${seg1}" is still open` });
  await sink.close({ complete: false });
  assert.equal(statSync(join(dir, seg1)).mode & 0o777, 0o640);
  assert.equal(statSync(dir).mode & 0o777, 0o750);
  await assert.rejects(sink.open('../escape'), { name: 'InternalError' });
  await sink.dispose();
});

test('directory sink: a file system error names the file', async () => {
  const parent = tmp();
  writeFileSync(join(parent, 'not-a-dir'), '');
  const sink = new DirectoryWalSink({ directory: join(parent, 'not-a-dir'), segmentSize: SEG });
  await assert.rejects(sink.open(seg1), (err: unknown) => {
    assert.equal((err as Error).name, 'FileIoError');
    assert.match((err as Error).message, new RegExp(`^could not create directory "${join(parent, 'not-a-dir', 'archive_status')}": `));
    return true;
  });
  await sink.dispose();
});

class Collector implements Streamer {
  chunks: Buffer[] = [];
  kinds = new Set<ChunkKind>();
  finalized = 0;
  disposed = 0;
  async content(member: TarMember | null, data: Buffer, kind: ChunkKind): Promise<void> {
    assert.equal(member, null);
    this.kinds.add(kind);
    this.chunks.push(Buffer.from(data));
  }
  async finalize(): Promise<void> {
    this.finalized++;
  }
  async dispose(): Promise<void> {
    this.disposed++;
  }
}

test('tar sink: a pg_wal.tar that tar reads, with full-size members and the end-of-archive', async () => {
  const out = new Collector();
  await drive(new TarWalSink({ segmentSize: SEG, next: out }));
  assert.deepEqual([...out.kinds], ['unknown']);
  assert.equal(out.finalized, 1);
  assert.equal(out.disposed, 1);
  const bytes = Buffer.concat(out.chunks);
  assert.equal(bytes.length % 512, 0);
  assert.ok(bytes.subarray(-1024).every((b) => b === 0));
  const dir = tmp();
  const file = join(dir, 'pg_wal.tar');
  writeFileSync(file, bytes);
  const listing = execFileSync('tar', ['--numeric-owner', '-tvf', file], { encoding: 'utf8' }).trim().split('\n');
  const entries = listing.map((l) => {
    const f = l.split(/\s+/);
    return [f[0], f[1], f[2], f.at(-1)];
  });
  assert.deepEqual(entries, [
    ['-rw-------', '0/0', String(historyText.length), history],
    ['-rw-------', '0/0', '0', `archive_status/${history}.done`],
    ['-rw-------', '0/0', String(SEG), seg1],
    ['-rw-------', '0/0', '0', `archive_status/${seg1}.done`],
    ['-rw-------', '0/0', String(SEG), seg2],
  ]);
  const x = join(dir, 'x');
  execFileSync('mkdir', [x]);
  execFileSync('tar', ['-xf', file, '-C', x]);
  assert.ok(readFileSync(join(x, seg1)).equals(expectedSegment1()));
  assert.ok(readFileSync(join(x, seg2)).equals(expectedSegment2()));
  assert.ok(readFileSync(join(x, history)).equals(historyText));
  // Owner names as PostgreSQL's tar.c writes them.
  assert.match(execFileSync('tar', ['-tvf', file], { encoding: 'utf8' }), /^-rw------- postgres\/postgres /);
});

test('tar sink: writes must be sequential; finish with a file open is an error; dispose once', async () => {
  const out = new Collector();
  const sink = new TarWalSink({ segmentSize: SEG, next: out });
  await sink.open(seg1);
  await sink.write(0, Buffer.from('abc'));
  await assert.rejects(sink.write(10, Buffer.from('gap')), {
    name: 'InternalError', message: `write of 3 bytes at offset 10 in WAL file "${seg1}" (at 3)`,
  });
  await assert.rejects(sink.finish(), { name: 'InternalError', message: `WAL file "${seg1}" is still open` });
  await sink.dispose();
  await sink.dispose();
  assert.equal(out.disposed, 1);
  assert.equal(out.finalized, 0);
});

// pg_receivewal's layout: .partial while written, renamed when complete, no archive_status.

test('directory sink, pg_receivewal layout: complete segments renamed, the incomplete one stays .partial', async () => {
  const dir = tmp();
  const sink = new DirectoryWalSink({ directory: dir, segmentSize: SEG, sync: true, markDone: false, partialFiles: true, fileMode: 0o640 });
  assert.equal(sink.writingName(seg1), `${seg1}.partial`);
  await drive(sink);
  assert.deepEqual(readdirSync(dir).sort(), [seg1, `${seg2}.partial`, history].sort());
  assert.ok(readFileSync(join(dir, seg1)).equals(expectedSegment1()));
  assert.ok(readFileSync(join(dir, `${seg2}.partial`)).equals(expectedSegment2()), 'pre-allocated to full size');
  assert.ok(readFileSync(join(dir, history)).equals(historyText));
  for (const name of readdirSync(dir)) assert.equal(statSync(join(dir, name)).mode & 0o777, 0o640, name);
  assert.equal(await sink.hasHistoryFile(history), true);
  assert.equal(await sink.hasHistoryFile('00000003.history'), false);
  assert.deepEqual(await sink.findStart(), { lsn: 3n * BigInt(SEG), timeline: 1 });
});

test('directory sink, pg_receivewal layout: a full-size .partial is written again in place; 0 bytes is padded; any other size is refused', async () => {
  const dir = tmp();
  const old = Buffer.alloc(SEG, 9);
  writeFileSync(join(dir, `${seg1}.partial`), old);
  const sink = new DirectoryWalSink({ directory: dir, segmentSize: SEG, sync: true, markDone: false, partialFiles: true });
  await sink.open(seg1);
  await sink.write(0, Buffer.alloc(10, 1));
  await sink.close({ complete: false });
  const now = readFileSync(join(dir, `${seg1}.partial`));
  assert.ok(now.subarray(0, 10).equals(Buffer.alloc(10, 1)));
  assert.ok(now.subarray(10).equals(old.subarray(10)), 'the rest of the file is left as it was');

  writeFileSync(join(dir, `${seg2}.partial`), '');
  await sink.open(seg2);
  assert.equal(statSync(join(dir, `${seg2}.partial`)).size, SEG);
  await sink.close({ complete: false });

  writeFileSync(join(dir, '000000010000000000000009.partial'), Buffer.alloc(4096));
  await assert.rejects(sink.open('000000010000000000000009'), {
    name: 'WalFormatError',
    message: `write-ahead log file "${join(dir, '000000010000000000000009.partial')}" has 4096 bytes, should be 0 or ${SEG}`,
    hint: /^pg_receivewal leaves such a file when it is killed while it fills a new segment with zeros/,
  });
  await sink.dispose();
});

test('directory sink, pg_receivewal layout: a receiver killed while it pads a new segment leaves a file the next run takes up', async () => {
  const dir = tmp();
  // Large enough that writing its zeros takes long enough to be killed in the middle.
  const size = 256 * SEG;
  const file = join(dir, `${seg1}.partial`);
  const script = `
    import { DirectoryWalSink } from ${JSON.stringify(new URL('../../src/wal/wal-sinks.ts', import.meta.url).href)};
    const sink = new DirectoryWalSink({ directory: ${JSON.stringify(dir)}, segmentSize: ${size}, sync: false, markDone: false, partialFiles: true });
    await sink.open(${JSON.stringify(seg1)});
    process.stdout.write('padded');
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  // Killed as soon as the file has any size: in the middle of the padding, or right after the
  // size was set.
  while (!(existsSync(file) && statSync(file).size > 0) && child.exitCode === null) await new Promise((r) => setImmediate(r));
  child.kill('SIGKILL');
  assert.equal(await exited, 'SIGKILL', `the child was to be killed while it padded (it printed "${out}")`);
  assert.equal(out, '', 'killed before the padding ended');
  assert.equal(statSync(file).size, size, 'the file has the whole segment\'s size');

  const sink = new DirectoryWalSink({ directory: dir, segmentSize: size, sync: false, markDone: false, partialFiles: true });
  await sink.open(seg1);
  await sink.write(0, Buffer.from('resumed'));
  await sink.close({ complete: false });
  await sink.dispose();
  const handle = await open(file);
  try {
    const tail = Buffer.alloc(4096, 1);
    await handle.read(tail, 0, tail.length, size - tail.length);
    assert.ok(tail.equals(Buffer.alloc(tail.length)), 'what was not written yet reads as zeros');
  } finally {
    await handle.close();
  }
});

for (const method of ['gzip', 'lz4'] as const) {
  const suffix = method === 'gzip' ? '.gz' : '.lz4';
  const tool = method === 'gzip' ? 'gzip' : 'lz4';
  test(`directory sink, pg_receivewal layout, ${method}: ${suffix} files that ${tool} -t accepts, history compressed too`, async () => {
    const dir = tmp();
    // A compressed .partial left by a killed receiver is started again from empty.
    writeFileSync(join(dir, `${seg2}${suffix}.partial`), Buffer.from('garbage from an earlier run'));
    await drive(new DirectoryWalSink({
      directory: dir, segmentSize: SEG, sync: true, markDone: false, partialFiles: true, compression: { method, level: method === 'gzip' ? 1 : 0 },
    }));
    assert.deepEqual(readdirSync(dir).sort(), [`${seg1}${suffix}`, `${seg2}${suffix}.partial`, `${history}${suffix}`].sort());
    const unpack = (name: string): Buffer => {
      execFileSync(tool, ['-t', join(dir, name)]);
      return execFileSync(tool, ['-dc', join(dir, name)], { maxBuffer: 4 * SEG });
    };
    assert.ok(unpack(`${seg1}${suffix}`).equals(expectedSegment1()));
    assert.ok(statSync(join(dir, `${seg1}${suffix}`)).size < SEG / 10);
    assert.equal(unpack(`${seg2}${suffix}.partial`).toString(), 'partial segment', 'compressed files are not padded');
    assert.ok(unpack(`${history}${suffix}`).equals(historyText));
  });
}

test('directory sink, gzip: sync() makes what was written decodable from the file before the segment ends', async () => {
  const dir = tmp();
  const sink = new DirectoryWalSink({ directory: dir, segmentSize: SEG, sync: true, markDone: false, partialFiles: true, compression: { method: 'gzip', level: -1 } });
  await sink.open(seg1);
  await sink.write(0, Buffer.from('first part,'));
  await sink.sync();
  await sink.write(11, Buffer.from(' not yet synced'));
  const onDisk = readFileSync(join(dir, `${seg1}.gz.partial`));
  assert.equal(gunzipSync(onDisk, { finishFlush: zlibConstants.Z_SYNC_FLUSH }).toString(), 'first part,');
  await sink.dispose();
});
