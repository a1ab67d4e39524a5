import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { compressWalFileContent } from '../../../src/wal/compressed-wal-file.js';
import { listWalArchive, locateWalArchiveFile } from '../../../src/wal/archive/wal-archive-listing.js';
import { readWalArchiveFile, restoreWalArchiveFile } from '../../../src/wal/archive/wal-archive-read.js';
import { readArchivedTimelineHistory, resolveTargetTimeline } from '../../../src/wal/archive/wal-archive-timelines.js';
import { checkWalArchiveCoverage } from '../../../src/wal/archive/wal-archive-coverage.js';
import { walSegmentName } from '../../../src/wal/segment.js';
import { WalFormatError } from '../../../src/errors.js';

const SEG = 1024 * 1024;

/** A segment whose first page has a long header naming its own address and size. */
function segment(segno: number, tli: number, bytes = SEG): Buffer {
  const b = Buffer.alloc(bytes);
  b.writeUInt16LE(0xD110, 0);
  b.writeUInt16LE(0x0002, 2);
  b.writeUInt32LE(tli, 4);
  b.writeBigUInt64LE(BigInt(segno) * BigInt(SEG), 8);
  b.writeUInt32LE(SEG, 32);
  b.writeUInt32LE(8192, 36);
  return b;
}

const name = (tli: number, segno: number): string => walSegmentName(tli, BigInt(segno), SEG);

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'wal-archive-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('lists a flat archive, follows a timeline switch and finds the first missing segment', () => withDir(async (dir) => {
  // Timeline 1: segments 1..4 (4 only partial, as the old primary's receiver left it); timeline 2 from 0/400100.
  for (const s of [1, 2, 3]) await writeFile(join(dir, name(1, s)), segment(s, 1));
  await writeFile(join(dir, `${name(1, 4)}.partial`), segment(4, 1));
  await writeFile(join(dir, '00000002.history'), '1\t0/400100\tno recovery target specified\n');
  await writeFile(join(dir, `${name(2, 4)}.gz`), gzipSync(segment(4, 1)));
  await writeFile(join(dir, `${name(2, 5)}.lz4`), await compressWalFileContent({ method: 'lz4', level: 0 }, segment(5, 2)));
  await writeFile(join(dir, `${name(2, 6)}.gz.partial`), gzipSync(segment(6, 2, 8192)));
  await writeFile(join(dir, 'foreign.txt'), 'x');
  const listing = await listWalArchive(dir, { segmentSize: SEG });
  assert.equal(listing.layout, 'flat');
  assert.deepEqual(listing.segments.map((f) => f.name), [
    name(1, 1), name(1, 2), name(1, 3), `${name(1, 4)}.partial`, `${name(2, 4)}.gz`, `${name(2, 5)}.lz4`, `${name(2, 6)}.gz.partial`,
  ]);
  assert.equal(resolveTargetTimeline(listing, 'latest', 1), 2);
  assert.equal(resolveTargetTimeline(listing, 'current', 1), 1);
  const history2 = await readArchivedTimelineHistory(listing, 2);
  const toEnd = checkWalArchiveCoverage(listing, { startLsn: 0x100028n, history: history2, endLsn: null });
  assert.deepEqual(toEnd, { firstSegment: name(1, 1), lastSegment: name(2, 6), firstMissing: null, endsPartial: true });
  // On timeline 1 alone, segment 4 exists only as a partial: fine as the end, the archive ends there.
  const history1 = await readArchivedTimelineHistory(listing, 1);
  assert.equal(checkWalArchiveCoverage(listing, { startLsn: 0x100028n, history: history1, endLsn: null }).lastSegment, name(1, 4));
  // A gap: segment 2 deleted.
  await rm(join(dir, name(1, 2)));
  const gap = checkWalArchiveCoverage(await listWalArchive(dir, { segmentSize: SEG }), { startLsn: 0x100028n, history: history2, endLsn: 0x300000n });
  assert.equal(gap.firstMissing, name(1, 2));
  const present = checkWalArchiveCoverage(await listWalArchive(dir, { segmentSize: SEG }),
    { startLsn: 0x100028n, history: history2, endLsn: 0x500010n, present: new Set([name(1, 2)]) });
  assert.equal(present.firstMissing, null);
  // Past the archive's end: a partial segment in the middle of the range is incomplete.
  assert.equal(checkWalArchiveCoverage(listing, { startLsn: 0x100028n, history: history2, endLsn: 0x800000n }).firstMissing, name(2, 6));
  assert.equal(checkWalArchiveCoverage(listing, { startLsn: 0x100028n, history: history2, endLsn: 0x600000n }).firstMissing, null);
}));

test('reads the timelines layout and restores files atomically, padding a partial and refusing damage', () => withDir(async (dir) => {
  const archive = join(dir, 'wal');
  await mkdir(join(archive, '00000001'), { recursive: true });
  await mkdir(join(archive, '00000002'), { recursive: true });
  await writeFile(join(archive, '00000001', `${name(1, 1)}.gz`), gzipSync(segment(1, 1)));
  await writeFile(join(archive, '00000001', name(2, 9)), segment(9, 2)); // wrong directory: ignored
  await writeFile(join(archive, '00000002', '00000002.history.gz'), gzipSync('1\t0/200000\tx\n'));
  await writeFile(join(archive, '00000002', `${name(2, 2)}.partial`), segment(2, 2, 16384));
  const listing = await listWalArchive(archive, { segmentSize: SEG });
  assert.equal(listing.layout, 'timelines');
  assert.deepEqual(listing.segments.map((f) => f.segment), [name(1, 1), name(2, 2)]);
  assert.equal((await readArchivedTimelineHistory(listing, 2))[1]?.end, 0x200000n);

  const located = await locateWalArchiveFile(archive, name(2, 2));
  assert.deepEqual(located, { path: join(archive, '00000002', `${name(2, 2)}.partial`), compression: 'none', partial: true });
  assert.equal(await locateWalArchiveFile(archive, name(2, 3)), null);
  assert.equal(await locateWalArchiveFile(archive, '00000003.history'), null);
  const dest = join(dir, 'RECOVERYXLOG');
  await writeFile(dest, 'old');
  assert.equal(await restoreWalArchiveFile(located!, dest, { segment: name(2, 2), partial: true }), SEG);
  const restored = await readFile(dest);
  assert.equal(restored.length, SEG);
  assert.deepEqual(restored.subarray(0, 16384), segment(2, 2, 16384));
  const history = await locateWalArchiveFile(archive, '00000002.history');
  assert.equal((await readWalArchiveFile(history!)).toString(), '1\t0/200000\tx\n');

  // Damaged: truncated gzip, short complete segment, a segment under the wrong name.
  const bad = join(dir, 'bad.gz');
  const whole = gzipSync(segment(1, 1));
  await writeFile(bad, whole.subarray(0, whole.length - 6));
  await assert.rejects(restoreWalArchiveFile({ path: bad, compression: 'gzip' }, join(dir, 'x'), { segment: name(1, 1) }), /could not decompress/);
  await writeFile(bad, gzipSync(segment(1, 1, 8192)));
  await assert.rejects(restoreWalArchiveFile({ path: bad, compression: 'gzip' }, join(dir, 'x'), { segment: name(1, 1) }),
    (err: unknown) => err instanceof WalFormatError && /holds 8192 bytes instead of 1048576/.test(err.message));
  await writeFile(bad, gzipSync(segment(1, 1)));
  await assert.rejects(restoreWalArchiveFile({ path: bad, compression: 'gzip' }, join(dir, 'x'), { segment: name(1, 3) }),
    /does not belong to segment/);
  await assert.rejects(readFile(join(dir, 'x')), /ENOENT/);
  await assert.rejects(readFile(join(dir, 'x.pgfleet-tmp')), /ENOENT/);
}));
