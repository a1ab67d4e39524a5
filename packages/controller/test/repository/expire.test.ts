import assert from 'node:assert/strict';
import { readdir, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { readClusterCatalog } from '../../src/repository/catalog.js';
import { expireCluster, planExpire } from '../../src/repository/expire.js';
import { backupDir, backupsDir } from '../../src/repository/layout.js';
import { fakeBackup, tempDir } from './fixtures.js';

const IDS = ['20250101T000000Z', '20250102T000000Z', '20250102T000000Z-2', '20250103T000000Z', '20250104T000000Z'];

test('expire keeps exactly the newest N full backups', async () => {
  const repo = await tempDir();
  for (const id of IDS) await fakeBackup(repo, 'a', id);
  const plan = await expireCluster(repo, 'a', { retention: { full: 2, days: null } });
  assert.deepEqual(plan.remove.map((b) => b.metadata.id), IDS.slice(0, 3));
  assert.deepEqual(plan.keep.map((b) => b.metadata.id), IDS.slice(3));
  assert.deepEqual((await readdir(backupsDir(repo, 'a'))).sort(), IDS.slice(3));
  // Running it again changes nothing.
  const again = await expireCluster(repo, 'a', { retention: { full: 2, days: null } });
  assert.deepEqual(again.remove, []);
});

test('expire with fewer backups than N removes nothing; dry run touches nothing', async () => {
  const repo = await tempDir();
  for (const id of IDS.slice(0, 2)) await fakeBackup(repo, 'a', id);
  assert.deepEqual((await expireCluster(repo, 'a', { retention: { full: 3, days: null } })).remove, []);
  const dry = await expireCluster(repo, 'a', { retention: { full: 1, days: null }, dryRun: true });
  assert.deepEqual(dry.remove.map((b) => b.metadata.id), [IDS[0]]);
  assert.equal((await readClusterCatalog(repo, 'a')).backups.length, 2);
});

test('expire skips backups in use and reports them kept', async () => {
  const repo = await tempDir();
  for (const id of IDS.slice(0, 3)) await fakeBackup(repo, 'a', id);
  const plan = await expireCluster(repo, 'a', { retention: { full: 1, days: null }, inUse: (id) => id === IDS[0] });
  assert.deepEqual(plan.remove.map((b) => b.metadata.id), [IDS[1]]);
  assert.deepEqual(plan.keep.map((b) => b.metadata.id), [IDS[0], IDS[2]]);
});

test('damaged backups never count as kept: older ones go, newer ones and unreadable ones stay', async () => {
  const repo = await tempDir();
  for (const id of IDS) await fakeBackup(repo, 'a', id);
  // IDS[1] and IDS[4] are damaged (a truncated file); IDS[0]'s backup.json is unreadable.
  await truncate(join(backupDir(repo, 'a', IDS[1] as string), 'base.tar'), 10);
  await truncate(join(backupDir(repo, 'a', IDS[4] as string), 'base.tar'), 10);
  await writeFile(join(backupDir(repo, 'a', IDS[0] as string), 'backup.json'), '{');
  // Usable: IDS[2], IDS[3]; keeping 1 keeps IDS[3].
  const plan = await expireCluster(repo, 'a', { retention: { full: 1, days: null } });
  assert.deepEqual(plan.remove.map((b) => b.metadata.id), [IDS[1], IDS[2]]);
  assert.deepEqual(plan.keep.map((b) => b.metadata.id), [IDS[3]]);
  assert.deepEqual((await readdir(backupsDir(repo, 'a'))).sort(), [IDS[0], IDS[3], IDS[4]]);
});

test('retention by days keeps what restores to any moment of the window, and the newest N too', async () => {
  const now = new Date('2025-01-10T12:00:00Z');
  const entry = (id: string, finishedAt: string) => ({ path: `/r/${id}`, metadata: { id, type: 'full', finishedAt } }) as unknown as Parameters<typeof planExpire>[0][number];
  const backups = [
    entry('20250101T000000Z', '2025-01-01T01:00:00Z'),
    entry('20250105T000000Z', '2025-01-05T01:00:00Z'),
    entry('20250107T000000Z', '2025-01-07T01:00:00Z'),
    entry('20250109T000000Z', '2025-01-09T01:00:00Z'),
  ];
  const ids = (plan: ReturnType<typeof planExpire>) => [plan.remove.map((b) => b.metadata.id), plan.keep.map((b) => b.metadata.id)];
  // Window of 2 days: from 2025-01-08T12:00Z; 01-09 is in it, 01-07 is needed for its first moments.
  assert.deepEqual(ids(planExpire(backups, { full: null, days: 2 }, undefined, [], now)),
    [['20250101T000000Z', '20250105T000000Z'], ['20250107T000000Z', '20250109T000000Z']]);
  // Both rules: a backup goes only when neither keeps it.
  assert.deepEqual(ids(planExpire(backups, { full: 3, days: 1 }, undefined, [], now)),
    [['20250101T000000Z'], ['20250105T000000Z', '20250107T000000Z', '20250109T000000Z']]);
  // Everything older than the window: the newest one still stays.
  assert.deepEqual(ids(planExpire(backups, { full: null, days: 1 }, undefined, [], new Date('2026-01-01T00:00:00Z'))),
    [['20250101T000000Z', '20250105T000000Z', '20250107T000000Z'], ['20250109T000000Z']]);
});
