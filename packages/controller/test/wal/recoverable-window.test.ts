// Each backup's recoverable window, on a repository made here: segment files (empty: only their
// names are read), real history files, and archive.json (1 MB segments).
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { readArchiveView, recoverableWindow, type ArchiveView } from '../../src/wal/recoverable-window.js';
import type { ClusterWalState } from '../../src/wal/wal-state.js';

const MB = 1024 * 1024;
const SYSTEM = '7301234567890123456';

async function repo(files: Record<string, string[]>, histories: Record<string, string> = {}, system = SYSTEM): Promise<string> {
  const dir = await mkdtemp(join(os.tmpdir(), 'recoverable-window-'));
  const wal = join(dir, 'c', 'wal');
  await mkdir(wal, { recursive: true });
  await writeFile(join(wal, 'archive.json'), JSON.stringify({ format: 1, systemIdentifier: system, segmentSize: MB }));
  for (const [tl, names] of Object.entries(files)) {
    await mkdir(join(wal, tl), { recursive: true });
    for (const n of names) await writeFile(join(wal, tl, n), '');
  }
  for (const [tl, text] of Object.entries(histories)) {
    await mkdir(join(wal, tl), { recursive: true });
    await writeFile(join(wal, tl, `${tl}.history`), text);
  }
  return dir;
}

const seg = (tl: number, n: number, suffix = '.lz4'): string =>
  `${tl.toString(16).padStart(8, '0').toUpperCase()}00000000${n.toString(16).padStart(8, '0').toUpperCase()}${suffix}`;

function backup(startLsn: string, endLsn: string, timeline = 1): { startLsn: string; endLsn: string; timeline: number; finishedAt: string; systemIdentifier: string } {
  return { startLsn, endLsn, timeline, finishedAt: '2026-12-06T14:00:00.000Z', systemIdentifier: SYSTEM };
}

function live(timeline: number, flushedLsn: string): ClusterWalState {
  return {
    cluster: 'c', archive: 'stream', via: 'direct', state: 'streaming', since: '2026-12-06T14:00:00.000Z', stalledSince: null, slotExists: true, reason: null, reasonCode: null,
    slot: 'pgfleet_c', applicationName: 'pgfleet_c', synchronous: false, compression: 'lz4', systemIdentifier: SYSTEM, timeline,
    receivedLsn: flushedLsn, flushedLsn, serverLsn: flushedLsn, lagBytes: 0, lagSeconds: 0, slotRetainedBytes: 0, maxRetainedBytes: null,
    retainedOverLimit: false, warnings: [], lastAckAt: '2026-12-06T14:05:00.000Z', refusedPushes: [],
  };
}

function window(b: ReturnType<typeof backup>, view: ArchiveView): [string, string | null, number, string, string | null] {
  const w = recoverableWindow(b, view);
  assert.deepEqual(w.from, { lsn: b.endLsn, time: b.finishedAt, timeline: b.timeline });
  return [w.to.lsn, w.to.time, w.to.timeline, w.end, w.firstMissing];
}

test('one timeline: to the newest complete segment, to the receiver\'s position inside the .partial, to the first gap', async () => {
  const dir = await repo({ '00000001': [seg(1, 2), seg(1, 3), seg(1, 6), seg(1, 7), seg(1, 8, '.lz4.partial')] });
  const idle = await readArchiveView(dir, 'c', null);
  // Starts before the gap (segments 4 and 5 missing): the archive carries it to the end of 3.
  assert.deepEqual(window(backup('0/200028', '0/300100'), idle), ['0/400000', null, 1, 'gap', seg(1, 4, '')]);
  // Starts after it: up to the end of the newest complete segment; the .partial counts only with the receiver's word.
  assert.deepEqual(window(backup('0/600028', '0/600100'), idle), ['0/800000', null, 1, 'archive-end', null]);
  const streaming = await readArchiveView(dir, 'c', live(1, '0/8123A0'));
  const [lsn, time, timeline, end, firstMissing] = window(backup('0/600028', '0/600100'), streaming);
  assert.deepEqual([lsn, timeline, end, firstMissing], ['0/8123A0', 1, 'receiver', null]);
  assert.ok(time !== null && Math.abs(Date.parse(time) - Date.now()) < 60_000, `the receiver's position is now (lag 0): ${time}`);
  // The receiver on another timeline says nothing about this one's .partial.
  assert.deepEqual(window(backup('0/600028', '0/600100'), await readArchiveView(dir, 'c', live(2, '0/8123A0'))),
    ['0/800000', null, 1, 'archive-end', null]);
});

test('a backup the archive does not carry past its end: the window is its end only, with the reason', async () => {
  const dir = await repo({ '00000001': [seg(1, 3), seg(1, 4), seg(1, 5)] });
  const view = await readArchiveView(dir, 'c', null);
  // The archive starts after the backup's start: the segment holding it is missing.
  assert.deepEqual(window(backup('0/200028', '0/300100'), view), ['0/300100', '2026-12-06T14:00:00.000Z', 1, 'gap', seg(1, 2, '')]);
  // A backup ending past the archive's end.
  assert.deepEqual(window(backup('0/500028', '0/6000A0'), view), ['0/6000A0', '2026-12-06T14:00:00.000Z', 1, 'archive-end', null]);
  // Another server's archive, and none at all.
  const other = await readArchiveView(await repo({ '00000001': [seg(1, 2), seg(1, 3)] }, {}, '42'), 'c', null);
  assert.deepEqual(window(backup('0/200028', '0/2000A0'), other), ['0/2000A0', '2026-12-06T14:00:00.000Z', 1, 'no-archive', null]);
  const none = await readArchiveView(await mkdtemp(join(os.tmpdir(), 'recoverable-window-')), 'c', null);
  assert.equal(none.summary, null);
  assert.deepEqual(window(backup('0/200028', '0/2000A0'), none), ['0/2000A0', '2026-12-06T14:00:00.000Z', 1, 'no-archive', null]);
});

test('timelines: followed when they branch off after the backup, read from the new timeline from the switch segment on', async () => {
  // Timeline 2 branched off at 0/7000A0 (segment 7, of which timeline 1 holds only the .partial);
  // timeline 1 lacks segment 5; timeline 3 branched off timeline 1 at 0/250000, before the backups below.
  const dir = await repo({
    '00000001': [seg(1, 2), seg(1, 3), seg(1, 4), seg(1, 6), seg(1, 7, '.lz4.partial')],
    '00000002': [seg(2, 7), seg(2, 8), seg(2, 9), seg(2, 10, '.lz4.partial')],
    '00000003': [seg(3, 2), seg(3, 3), seg(3, 4), seg(3, 5), seg(3, 6), seg(3, 7), seg(3, 8), seg(3, 9), seg(3, 10), seg(3, 11), seg(3, 12)],
  }, {
    '00000002': '1\t0/7000A0\tno recovery target specified\n',
    '00000003': '1\t0/250000\tno recovery target specified\n',
  });
  const view = await readArchiveView(dir, 'c', live(2, '0/A00100'));
  assert.deepEqual([...view.histories.keys()].sort(), [2, 3]);
  // On timeline 1 before the gap: segment 5 of timeline 1 is missing, whichever branch follows.
  assert.deepEqual(window(backup('0/300028', '0/300100'), view), ['0/500000', null, 1, 'gap', seg(1, 5, '')]);
  // After the gap on timeline 1, before the switch: timeline 2 from segment 7 on, to the receiver.
  const [lsn, , timeline, end] = window(backup('0/600028', '0/600100'), view);
  assert.deepEqual([lsn, timeline, end], ['0/A00100', 2, 'receiver']);
  // Taken on timeline 1 after the switch (an abandoned branch): timeline 2 does not hold it, and
  // timeline 1 ends in the .partial: its own end only.
  assert.deepEqual(window(backup('0/700100', '0/7001A0'), view), ['0/7001A0', '2026-12-06T14:00:00.000Z', 1, 'archive-end', null]);
  // Taken on timeline 2.
  assert.deepEqual(window(backup('0/800028', '0/800100', 2), view).slice(2), [2, 'receiver', null]);
  // Without the receiver's word timeline 2 ends with its newest complete segment.
  assert.deepEqual(window(backup('0/600028', '0/600100'), await readArchiveView(dir, 'c', null)), ['0/A00000', null, 2, 'archive-end', null]);
});

test('an ancestor timeline whose archive ends before the switch stops the window there; an unreadable history is not followed', async () => {
  const dir = await repo({
    '00000001': [seg(1, 2), seg(1, 3)],
    '00000002': [seg(2, 6), seg(2, 7)],
    '00000003': [seg(3, 2), seg(3, 3), seg(3, 4)],
  }, { '00000002': '1\t0/6000A0\tno recovery target specified\n', '00000003': 'not a history\n' });
  const view = await readArchiveView(dir, 'c', null);
  assert.deepEqual([...view.histories.keys()], [2]);
  assert.deepEqual(window(backup('0/200028', '0/200100'), view), ['0/400000', null, 1, 'gap', seg(1, 4, '')]);
});
