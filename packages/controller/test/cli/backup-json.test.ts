// The recoverable window as the CLI prints it: the JSON from the wire record, the table cell and the note under the table.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { BackupRecord__Output } from '@pgfleet/proto';
import { backupJson, recoverableToText, recoverableWindowNote } from '../../src/cli/backup-json.js';

function record(window: Partial<NonNullable<BackupRecord__Output['recoverableWindow']>> | null): BackupRecord__Output {
  const base = {
    id: '20261206T140000Z', cluster: 'main', label: '', status: 'ok', startLsn: '0/2000028', endLsn: '0/2000120', timeline: 1,
    systemIdentifier: '1', serverVersionNum: 170000, tablespaces: [], files: [], sizeBytes: '1', dataBytes: '1', compression: 'none',
    walMethod: 'stream', via: 'direct', startedAt: '', finishedAt: '2026-12-06T14:00:05.000Z', verifiedAt: '', type: 'full',
    pgfleetVersion: '0.1.0', path: '/repo', damage: '',
  };
  return {
    ...base,
    recoverableWindow: window === null ? null : {
      fromLsn: '0/2000120', fromTime: '2026-12-06T14:00:05.000Z', fromTimeline: 1, toLsn: '0/2000120', toTime: '', toTimeline: 1,
      end: 'archive-end', firstMissing: '', ...window,
    },
  } as BackupRecord__Output;
}

test('the window in JSON, in the RECOVERABLE TO cell, and the note a gap gets', () => {
  const live = backupJson(record({ toLsn: '0/5000A8', toTime: '2026-12-06T15:00:00.000Z', end: 'receiver' }));
  assert.deepEqual(live.recoverableWindow, {
    from: { lsn: '0/2000120', time: '2026-12-06T14:00:05.000Z', timeline: 1 },
    to: { lsn: '0/5000A8', time: '2026-12-06T15:00:00.000Z', timeline: 1 }, end: 'receiver', firstMissing: null,
  });
  assert.equal(recoverableToText(live), '0/5000A8');
  assert.equal(recoverableWindowNote(live), null);
  const gap = backupJson(record({ toLsn: '0/4000000', end: 'gap', firstMissing: '000000010000000000000004' }));
  assert.equal(gap.recoverableWindow?.to.time, null);
  assert.equal(recoverableToText(gap), '0/4000000 (gap)');
  assert.equal(recoverableWindowNote(gap), 'backup 20261206T140000Z of cluster "main" recovers only to 0/4000000: WAL segment 000000010000000000000004 is missing from the archive');
  assert.equal(recoverableToText(backupJson(record({ toLsn: '0/9000000', toTimeline: 2 }))), '0/9000000 (TL 2)');
  assert.equal(recoverableToText(backupJson(record({}))), '0/2000120 (end only)');
  assert.equal(recoverableToText(backupJson(record({ end: 'no-archive' }))), '0/2000120 (no archive)');
  // A controller older than 1.5, or a damaged backup: no window.
  const none = backupJson(record(null));
  assert.equal(none.recoverableWindow, null);
  assert.equal(recoverableToText(none), '-');
});
