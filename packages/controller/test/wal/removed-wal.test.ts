// WAL the server removed before the archive received it, as the repository remembers it
// (removed-wal.ts): one note per first missing segment, the resume point filled in once, shown
// while the archive holds WAL before the gap, dropped by expire once nothing before it is left.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, unlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { summarizeWalArchive } from '../../src/wal/archive-summary.js';
import { activeRemovedWal, noteRemovedWal, noteResumed, pruneRemovedWal, readRemovedWal } from '../../src/wal/removed-wal.js';
import { expireWal } from '../../src/wal/wal-expire.js';

const MB = 1024 * 1024;
const seg = (n: number): string => `00000001000000000000${n.toString(16).toUpperCase().padStart(4, '0')}`;

/** A repository whose cluster "c" archived segments 2, 3 and a .partial of 4, then resumed at 8 (gap 4..7). */
async function repo(): Promise<string> {
  const dir = await mkdtemp(join(os.tmpdir(), 'removed-wal-'));
  const tl = join(dir, 'c', 'wal', '00000001');
  await mkdir(tl, { recursive: true });
  await writeFile(join(dir, 'c', 'wal', 'archive.json'), JSON.stringify({ format: 1, systemIdentifier: '7301234567890123456', segmentSize: MB }));
  for (const n of [`${seg(2)}.lz4`, `${seg(3)}.lz4`, `${seg(4)}.lz4.partial`, `${seg(8)}.lz4`, `${seg(9)}.lz4.partial`]) await writeFile(join(tl, n), '');
  return dir;
}

const note = { timeline: 1, firstMissing: seg(4), detectedAt: '2026-12-06T20:00:00.000Z', serverError: 'requested WAL segment ... removed' };

test('a removal is noted once, resumed once, and shown with its message and hint while WAL before it is kept', async () => {
  const dir = await repo();
  assert.deepEqual(await readRemovedWal(dir, 'c'), []);
  await noteRemovedWal(dir, 'c', note);
  await noteRemovedWal(dir, 'c', { ...note, detectedAt: '2026-12-06T21:00:00.000Z' });
  assert.deepEqual(await readRemovedWal(dir, 'c'), [{ ...note, resumedAt: null }], 'the same gap found again keeps its first note');
  assert.equal((await noteResumed(dir, 'c', '0/800000')).length, 1);
  assert.equal((await noteResumed(dir, 'c', '0/900000')).length, 0, 'a later session start changes nothing');
  const summary = await summarizeWalArchive(dir, 'c');
  assert.deepEqual(summary?.timelines[0]?.gaps, [{ from: seg(4), to: seg(7), segments: 4 }], 'the old .partial counts as missing');
  const [shown] = activeRemovedWal('c', await readRemovedWal(dir, 'c'), summary);
  assert.equal(shown?.message, `the server of cluster "c" removed WAL segment ${seg(4)} before the archive received it: point-in-time recovery across it is impossible`);
  assert.equal(shown?.hint, 'Take a new backup ("pgfleet backup c"): the archive streams again from 0/800000, so recovery to any point after that backup works again; ' +
    'backups before it recover only up to the gap. Raise max_slot_wal_keep_size, or keep archive outages shorter, so that the server keeps the WAL until the archive has it.');
  assert.equal(shown?.resumedAt, '0/800000');
  await pruneRemovedWal(dir, 'c', summary);
  assert.equal((await readRemovedWal(dir, 'c')).length, 1, 'kept while segments before the gap are');
});

test('expire keeps the note while a kept backup starts before the gap, and drops it with the WAL before it', async () => {
  const dir = await repo();
  await noteRemovedWal(dir, 'c', note);
  await expireWal(dir, 'c', [{ startLsn: '0/300028', timeline: 1 }]);
  assert.equal((await readRemovedWal(dir, 'c')).length, 1, 'segment 3 and the .partial of 4 are still there');
  await expireWal(dir, 'c', [{ startLsn: '0/800028', timeline: 1 }]);
  assert.deepEqual(await readRemovedWal(dir, 'c'), []);
  assert.equal(JSON.parse(await readFile(join(dir, 'c', 'wal', 'removed.json'), 'utf8')).format, 1);
  // Without the note file at all, the report shows nothing.
  await unlink(join(dir, 'c', 'wal', 'removed.json'));
  assert.deepEqual(activeRemovedWal('c', await readRemovedWal(dir, 'c'), await summarizeWalArchive(dir, 'c')), []);
});
