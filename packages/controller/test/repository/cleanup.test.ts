import assert from 'node:assert/strict';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { cleanupCluster } from '../../src/repository/cleanup.js';
import { backupsDir } from '../../src/repository/layout.js';
import { fakeBackup, tempDir } from './fixtures.js';

test('cleanup removes staging, expiring and metadata-less backups, keeps usable and suspicious ones', async () => {
  const repo = await tempDir();
  const dir = backupsDir(repo, 'a');
  await fakeBackup(repo, 'a', '20250101T000000Z');
  const incomplete = await fakeBackup(repo, 'a', '20250102T000000Z');
  await rm(join(incomplete, 'backup.json'));
  const corrupt = await fakeBackup(repo, 'a', '20250103T000000Z');
  await writeFile(join(corrupt, 'backup.json'), 'not json');
  await mkdir(join(dir, '.tmp-20250104T000000Z'));
  await writeFile(join(dir, '.tmp-20250104T000000Z', 'base.tar'), 'partial');
  await mkdir(join(dir, '.expire-20241231T000000Z'));
  await writeFile(join(dir, 'README'), 'left alone');

  const result = await cleanupCluster(repo, 'a');
  assert.deepEqual(result.removed.sort(), [
    join(dir, '.expire-20241231T000000Z'), join(dir, '.tmp-20250104T000000Z'), join(dir, '20250102T000000Z'),
  ]);
  assert.deepEqual(result.kept.map((k) => k.path), [corrupt]);
  assert.deepEqual((await readdir(dir)).sort(), ['20250101T000000Z', '20250103T000000Z', 'README']);
});

test('cleanup of a cluster without a directory does nothing', async () => {
  const repo = await tempDir();
  assert.deepEqual(await cleanupCluster(repo, 'x'), { removed: [], kept: [] });
});
