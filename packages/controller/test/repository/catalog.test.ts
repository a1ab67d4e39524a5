import assert from 'node:assert/strict';
import { mkdir, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { findBackup, readClusterCatalog } from '../../src/repository/catalog.js';
import { backupsDir } from '../../src/repository/layout.js';
import { fakeBackup, tempDir } from './fixtures.js';

test('a missing cluster directory is an empty catalog', async () => {
  const repo = await tempDir();
  assert.deepEqual(await readClusterCatalog(repo, 'a'), { backups: [], unusable: [], inProgress: [] });
});

test('only directories with a valid backup.json and all their files are usable', async () => {
  const repo = await tempDir();
  await fakeBackup(repo, 'a', '20250101T000000Z');
  await fakeBackup(repo, 'a', '20250102T000000Z-2');
  await fakeBackup(repo, 'a', '20250102T000000Z');
  const noMeta = await fakeBackup(repo, 'a', '20250103T000000Z');
  await rm(join(noMeta, 'backup.json'));
  const missingFile = await fakeBackup(repo, 'a', '20250104T000000Z');
  await rm(join(missingFile, 'base.tar'));
  const shortFile = await fakeBackup(repo, 'a', '20250105T000000Z');
  await truncate(join(shortFile, 'base.tar'), 10);
  const badJson = await fakeBackup(repo, 'a', '20250106T000000Z');
  await writeFile(join(badJson, 'backup.json'), '{"format":1,');
  const otherCluster = await fakeBackup(repo, 'b', '20250107T000000Z');
  await mkdir(join(backupsDir(repo, 'a'), '20250107T000000Z'));
  await writeFile(join(backupsDir(repo, 'a'), '20250107T000000Z', 'backup.json'), await (await import('node:fs/promises')).readFile(join(otherCluster, 'backup.json')));
  await mkdir(join(backupsDir(repo, 'a'), '.tmp-20250108T000000Z'));
  await mkdir(join(backupsDir(repo, 'a'), 'notes'));

  const catalog = await readClusterCatalog(repo, 'a');
  assert.deepEqual(catalog.backups.map((b) => b.metadata.id), ['20250101T000000Z', '20250102T000000Z', '20250102T000000Z-2']);
  assert.deepEqual(catalog.inProgress, ['.tmp-20250108T000000Z']);
  assert.deepEqual(catalog.unusable.map((u) => [u.name, u.reason.replace(/: .*/, ': ...')]), [
    ['20250103T000000Z', 'no backup.json (incomplete backup)'],
    ['20250104T000000Z', 'file "base.tar" is missing'],
    ['20250105T000000Z', 'file "base.tar" has size 10, backup.json says 1024'],
    ['20250106T000000Z', 'backup.json: ...'],
    ['20250107T000000Z', 'backup.json names cluster "b"'],
  ]);
});

test('findBackup resolves an id or "latest" among usable backups only', async () => {
  const repo = await tempDir();
  await fakeBackup(repo, 'a', '20250101T000000Z');
  await fakeBackup(repo, 'a', '20250102T000000Z');
  const broken = await fakeBackup(repo, 'a', '20250103T000000Z');
  await rm(join(broken, 'backup.json'));
  assert.equal((await findBackup(repo, 'a', 'latest'))?.metadata.id, '20250102T000000Z');
  assert.equal((await findBackup(repo, 'a', ''))?.metadata.id, '20250102T000000Z');
  assert.equal((await findBackup(repo, 'a', '20250101T000000Z'))?.metadata.id, '20250101T000000Z');
  assert.equal(await findBackup(repo, 'a', '20250103T000000Z'), null);
  assert.equal(await findBackup(repo, 'none', 'latest'), null);
});

test('a backup verify found damaged is unusable, with the recorded reason and its metadata; a truncated file keeps the metadata too', async () => {
  const repo = await tempDir();
  const good = await fakeBackup(repo, 'a', '20250101T000000Z');
  const damaged = await fakeBackup(repo, 'a', '20250102T000000Z');
  const meta = JSON.parse(await (await import('node:fs/promises')).readFile(join(damaged, 'backup.json'), 'utf8')) as Record<string, unknown>;
  await writeFile(join(damaged, 'backup.json'), JSON.stringify({
    ...meta, status: 'damaged', damage: { reason: 'checksum mismatch for file "base/1/1"', problems: ['checksum mismatch for file "base/1/1"'], foundAt: '2025-02-01T00:00:00.000Z' },
  }));
  const short = await fakeBackup(repo, 'a', '20250103T000000Z');
  await truncate(join(short, 'base.tar'), 10);
  const noDamage = await fakeBackup(repo, 'a', '20250104T000000Z');
  await writeFile(join(noDamage, 'backup.json'), JSON.stringify({ ...meta, id: '20250104T000000Z', status: 'damaged' }));

  const catalog = await readClusterCatalog(repo, 'a');
  assert.deepEqual(catalog.backups.map((b) => b.path), [good]);
  assert.deepEqual(catalog.unusable.map((u) => [u.name, u.reason, u.metadata?.id ?? null]), [
    ['20250102T000000Z', 'pgfleet verify found it damaged at 2025-02-01T00:00:00.000Z: checksum mismatch for file "base/1/1"', '20250102T000000Z'],
    ['20250103T000000Z', 'file "base.tar" has size 10, backup.json says 1024', '20250103T000000Z'],
    ['20250104T000000Z', 'backup.json: status is "damaged" but field "damage" is missing or malformed', null],
  ]);
  assert.equal((await findBackup(repo, 'a', 'latest'))?.metadata.id, '20250101T000000Z');
});
