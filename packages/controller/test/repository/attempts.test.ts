import assert from 'node:assert/strict';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  MAX_ATTEMPTS_KEPT, attemptsDir, backupIdTime, readAttempts, readScheduleState, recordAttempt, writeScheduleState, type AttemptRecord,
} from '../../src/repository/attempts.js';
import { cleanupCluster } from '../../src/repository/cleanup.js';
import { stagingDir } from '../../src/repository/layout.js';
import { tempDir } from './fixtures.js';

const failed = (id: string): AttemptRecord => ({
  format: 'pgfleet-attempt-1', cluster: 'a', id, status: 'failed', startedAt: backupIdTime(id), endedAt: '2025-01-01T00:00:09.000Z', trigger: 'schedule',
  error: { id: 'connect', code: 40, message: 'could not connect to server "db:5432"', hint: '' },
});

test('failed attempts are recorded oldest first, the newest MAX_ATTEMPTS_KEPT kept; unreadable records skipped', async () => {
  const repo = await tempDir();
  const ids = Array.from({ length: MAX_ATTEMPTS_KEPT + 3 }, (_, i) => `20250101T00${String(Math.floor(i / 60)).padStart(2, '0')}${String(i % 60).padStart(2, '0')}Z`);
  for (const id of ids) await recordAttempt(repo, failed(id));
  const read = await readAttempts(repo, 'a');
  assert.deepEqual(read.map((r) => r.id), ids.slice(3));
  assert.deepEqual(read[0], failed(ids[3] as string));
  await writeFile(join(attemptsDir(repo, 'a'), '20260101T000000Z.json'), '{ not json');
  assert.equal((await readAttempts(repo, 'a')).length, MAX_ATTEMPTS_KEPT);
  assert.deepEqual(await readAttempts(repo, 'nothing'), []);
});

test('a staging directory found at start becomes an incomplete attempt before it is removed', async () => {
  const repo = await tempDir();
  await mkdir(stagingDir(repo, 'a', '20250102T030405Z'), { recursive: true });
  const { removed } = await cleanupCluster(repo, 'a');
  assert.equal(removed.length, 1);
  assert.deepEqual(await readdir(join(repo, 'a', 'backups')), []);
  const [r] = await readAttempts(repo, 'a');
  assert.deepEqual([r?.id, r?.status, r?.startedAt, r?.error.message], [
    '20250102T030405Z', 'incomplete', '2025-01-02T03:04:05.000Z', 'the daemon stopped during the backup; its partial files were removed',
  ]);
});

test('the schedule\'s last run is kept across restarts; a broken file reads as none', async () => {
  const repo = await tempDir();
  assert.equal(await readScheduleState(repo, 'a'), null);
  await writeScheduleState(repo, 'a', new Date('2025-01-01T03:00:00Z'), new Date('2025-01-01T03:00:00.2Z'));
  assert.deepEqual(await readScheduleState(repo, 'a'), { format: 'pgfleet-schedule-1', lastOccurrence: '2025-01-01T03:00:00.000Z', lastRunAt: '2025-01-01T03:00:00.200Z' });
  await writeFile(join(repo, 'a', 'schedule.json'), '[]');
  assert.equal(await readScheduleState(repo, 'a'), null);
});
