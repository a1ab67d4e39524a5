// Where streaming resumes in a directory of pg_receivewal's files (FindStreamingStart's rules):
// the newest segment decides, complete files count only with the right size (plain size, gzip
// ISIZE, lz4 decompressed size), .partial files are not checked.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { compressWalFileContent } from '../../src/wal/compressed-wal-file.js';
import { findStreamingStart } from '../../src/wal/streaming-start.js';

const SEG = 1024 * 1024;
const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'pgfleet-start-'));
  dirs.push(d);
  return d;
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function files(entries: Record<string, Buffer | number>): string {
  const dir = tmp();
  for (const [name, content] of Object.entries(entries)) {
    writeFileSync(join(dir, name), typeof content === 'number' ? Buffer.alloc(content) : content);
  }
  return dir;
}

async function start(dir: string): Promise<{ start: { lsn: bigint; timeline: number } | null; warnings: string[] }> {
  const warnings: string[] = [];
  const found = await findStreamingStart(dir, SEG, { onWarning: (m) => warnings.push(m) });
  return { start: found, warnings };
}

test('an empty directory, or other files only: no start point', async () => {
  assert.deepEqual(await start(files({})), { start: null, warnings: [] });
  assert.deepEqual(await start(files({ 'README': 3, '00000002.history': 10, '000000010000000000000003.tmp': SEG })), { start: null, warnings: [] });
  // Segment 0 never counts (pg_receivewal tests high_segno > 0).
  assert.deepEqual(await start(files({ '000000010000000000000000': SEG })), { start: null, warnings: [] });
});

test('after the newest complete segment; at the beginning of the newest .partial one', async () => {
  assert.deepEqual((await start(files({ '000000010000000000000003': SEG, '000000010000000000000004': SEG }))).start,
    { lsn: 0x500000n, timeline: 1 });
  assert.deepEqual((await start(files({ '000000010000000000000004': SEG, '000000010000000000000005.partial': SEG }))).start,
    { lsn: 0x500000n, timeline: 1 });
  // A .partial is not checked: any size will do, streaming rewrites it from its beginning.
  assert.deepEqual((await start(files({ '000000010000000000000005.partial': 10 }))).start, { lsn: 0x500000n, timeline: 1 });
  // The complete file beats a .partial of the same segment and timeline.
  assert.deepEqual((await start(files({ '000000010000000000000005': SEG, '000000010000000000000005.partial': SEG }))).start,
    { lsn: 0x600000n, timeline: 1 });
  // Segment numbers above 4 GB of WAL.
  assert.deepEqual((await start(files({ '000000010000000200000FFF': SEG }))).start, { lsn: 0x3_0000_0000n, timeline: 1 });
});

test('the highest segment first, then the highest timeline', async () => {
  assert.deepEqual((await start(files({
    '000000010000000000000006': SEG, '000000020000000000000005': SEG, '000000020000000000000005.partial': SEG,
  }))).start, { lsn: 0x700000n, timeline: 1 });
  assert.deepEqual((await start(files({
    '000000010000000000000006': SEG, '000000020000000000000006.partial': SEG,
  }))).start, { lsn: 0x600000n, timeline: 2 });
});

test('a complete segment of the wrong size is skipped with a warning', async () => {
  const r = await start(files({ '000000010000000000000003': SEG, '000000010000000000000004': SEG - 1 }));
  assert.deepEqual(r.start, { lsn: 0x400000n, timeline: 1 });
  assert.deepEqual(r.warnings, [`segment file "000000010000000000000004" has incorrect size ${SEG - 1}, skipping`]);
});

test('gzip: the size stated in the trailer decides', async () => {
  const good = gzipSync(Buffer.alloc(SEG, 7));
  const short = gzipSync(Buffer.alloc(SEG - 8192, 7));
  const r = await start(files({
    '000000010000000000000003.gz': good, '000000010000000000000004.gz': short, '000000010000000000000005.gz.partial': 3,
  }));
  assert.deepEqual(r.start, { lsn: 0x500000n, timeline: 1 });
  assert.deepEqual(r.warnings, [`compressed segment file "000000010000000000000004.gz" has incorrect uncompressed size ${SEG - 8192}, skipping`]);
  const noPartial = await start(files({ '000000010000000000000003.gz': good, '000000010000000000000004.gz': short }));
  assert.deepEqual(noPartial.start, { lsn: 0x400000n, timeline: 1 });
  await assert.rejects(findStreamingStart(files({ '000000010000000000000003.gz': 2 }), SEG), {
    name: 'FileIoError', message: /^could not read compressed file ".*000000010000000000000003\.gz": read 2 of 4$/,
  });
});

test('lz4: the file is decompressed and its size counted, whoever compressed it', async () => {
  const dir = tmp();
  writeFileSync(join(dir, '000000010000000000000003.lz4'), await compressWalFileContent({ method: 'lz4', level: 0 }, Buffer.alloc(SEG, 1)));
  writeFileSync(join(dir, 'raw4'), Buffer.alloc(SEG, 2));
  // The lz4 program (as an archive_command would use it): linked blocks, content checksum.
  execFileSync('lz4', ['-q', '-f', join(dir, 'raw4'), join(dir, '000000010000000000000004.lz4')]);
  writeFileSync(join(dir, 'raw5'), Buffer.alloc(SEG + 1, 3));
  execFileSync('lz4', ['-q', '-f', join(dir, 'raw5'), join(dir, '000000010000000000000005.lz4')]);
  const r = await start(dir);
  assert.deepEqual(r.start, { lsn: 0x500000n, timeline: 1 });
  assert.deepEqual(r.warnings, [`compressed segment file "000000010000000000000005.lz4" has incorrect uncompressed size ${SEG + 1}, skipping`]);
  writeFileSync(join(dir, '000000010000000000000006.lz4'), Buffer.from('not lz4 at all'));
  await assert.rejects(findStreamingStart(dir, SEG), {
    name: 'FileIoError', message: /^could not decompress ".*000000010000000000000006\.lz4": bad frame magic number/,
  });
});

test('a directory that cannot be read is a FileIoError naming it', async () => {
  const missing = join(tmp(), 'nope');
  await assert.rejects(findStreamingStart(missing, SEG), {
    name: 'FileIoError', message: `could not read directory "${missing}": no such file or directory`,
  });
});
