// The WAL archive's summary (ranges, gaps), the restore window's backup rule and WAL expiry,
// on a repository made here from empty files (the names are what they read).
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { summarizeWalArchive } from '../../src/wal/archive-summary.js';
import { expireWal } from '../../src/wal/wal-expire.js';
import { backupCoveredByArchive, clusterWalReport } from '../../src/wal/wal-report.js';
import type { ClusterWalState } from '../../src/wal/wal-state.js';
import { fakeBackup } from '../repository/fixtures.js';

const MB = 1024 * 1024;

async function repo(files: Record<string, string[]>): Promise<string> {
  const dir = await mkdtemp(join(os.tmpdir(), 'wal-retention-'));
  const wal = join(dir, 'c', 'wal');
  await mkdir(wal, { recursive: true });
  await writeFile(join(wal, 'archive.json'), JSON.stringify({ format: 1, systemIdentifier: '42', segmentSize: MB }));
  for (const [tl, names] of Object.entries(files)) {
    await mkdir(join(wal, tl));
    for (const n of names) await writeFile(join(wal, tl, n), '');
  }
  return dir;
}

test('the summary lists each timeline\'s range, its partial and its gaps (an old .partial counts as missing)', async () => {
  const dir = await repo({
    '00000001': ['000000010000000000000002.lz4', '000000010000000000000003.lz4', '000000010000000000000005.lz4.partial',
      '000000010000000000000006.lz4', '000000010000000000000007.lz4.partial'],
    '00000002': ['00000002.history', '000000020000000000000007.lz4', '000000020000000000000008.lz4.partial'],
  });
  const s = await summarizeWalArchive(dir, 'c');
  assert.ok(s);
  const [one, two] = s.timelines;
  assert.deepEqual([one?.firstSegment, one?.lastSegment, one?.completeSegments, one?.partial, one?.history],
    ['000000010000000000000002', '000000010000000000000007', 3, '000000010000000000000007.lz4.partial', false]);
  assert.deepEqual(one?.gaps, [{ from: '000000010000000000000004', to: '000000010000000000000005', segments: 2 }]);
  assert.deepEqual([two?.startLsn, two?.completeEndLsn, two?.partial, two?.history, two?.gaps], ['0/700000', '0/800000', '000000020000000000000008.lz4.partial', true, []]);
  // A backup ending after the gap is carried forward; one ending before it is not.
  assert.equal(backupCoveredByArchive({ endLsn: '0/600100', timeline: 1 }, s), true);
  assert.equal(backupCoveredByArchive({ endLsn: '0/300100', timeline: 1 }, s), false);
  assert.equal(backupCoveredByArchive({ endLsn: '0/700100', timeline: 2 }, s), true);
  assert.equal(backupCoveredByArchive({ endLsn: '0/700100', timeline: 3 }, s), false);
});

test('expire removes the segments before the oldest kept backup\'s start on every timeline, never a history file; nothing without a kept backup', async () => {
  const dir = await repo({
    '00000001': ['000000010000000000000002.lz4', '000000010000000000000003.lz4', '000000010000000000000004.lz4.partial'],
    '00000002': ['00000002.history', '000000020000000000000004.lz4', '000000020000000000000005.lz4'],
  });
  assert.deepEqual(await expireWal(dir, 'c', []), { removed: [], keptFrom: null });
  const dry = await expireWal(dir, 'c', [{ startLsn: '0/400028', timeline: 2 }, { startLsn: '0/500028', timeline: 2 }], { dryRun: true });
  assert.deepEqual(dry.removed, ['000000010000000000000002.lz4', '000000010000000000000003.lz4']);
  assert.equal((await readdir(join(dir, 'c', 'wal', '00000001'))).length, 3, 'a dry run removes nothing');
  const done = await expireWal(dir, 'c', [{ startLsn: '0/400028', timeline: 2 }]);
  assert.deepEqual(done.removed, dry.removed);
  assert.equal(done.keptFrom, '000000020000000000000004');
  assert.deepEqual(await readdir(join(dir, 'c', 'wal', '00000001')), ['000000010000000000000004.lz4.partial']);
  assert.deepEqual((await readdir(join(dir, 'c', 'wal', '00000002'))).sort(), ['00000002.history', '000000020000000000000004.lz4', '000000020000000000000005.lz4']);
});

test('the restore window starts at the oldest carried backup\'s end, where a restore of it is first consistent', async () => {
  // fakeBackup's backup runs from 0/2000028 to 0/2000100: segment 0x20 with 1 MB segments.
  const dir = await repo({ '00000001': ['000000010000000000000020.lz4', '000000010000000000000021.lz4'] });
  await fakeBackup(dir, 'c', '20250101T000000Z');
  const live = {
    cluster: 'c', archive: 'stream', via: 'direct', state: 'failed', since: null, stalledSince: null, slotExists: null, reason: null, reasonCode: null,
    slot: 'pgfleet_c', applicationName: 'pgfleet_c', synchronous: false, compression: 'lz4', systemIdentifier: '42', timeline: 1,
    receivedLsn: null, flushedLsn: null, serverLsn: null, lagBytes: null, lagSeconds: null, slotRetainedBytes: null, maxRetainedBytes: null,
    retainedOverLimit: false, warnings: [], lastAckAt: '2025-01-01T00:10:00.000Z', refusedPushes: [],
  } as unknown as ClusterWalState;
  const report = await clusterWalReport(dir, 'c', live);
  assert.deepEqual(report.restoreFrom, { lsn: '0/2000100', time: '2025-01-01T00:00:01.000Z', backupId: '20250101T000000Z' });
  assert.deepEqual(report.restoreTo, { lsn: '0/2200000', time: '2025-01-01T00:10:00.000Z' });
});
