import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { readClusterCatalog } from '../../src/repository/catalog.js';
import { backupsDir } from '../../src/repository/layout.js';
import { abortBackup, beginBackup, commitBackup } from '../../src/repository/staging.js';
import { sampleMetadata, tempDir } from './fixtures.js';

const at = new Date('2025-05-06T07:08:09Z');

test('a staged backup is invisible until committed, then listed with its files', async () => {
  const repo = await tempDir();
  const staged = await beginBackup(repo, 'a', at);
  assert.equal(staged.id, '20250506T070809Z');
  assert.equal(staged.dir, join(backupsDir(repo, 'a'), '.tmp-20250506T070809Z'));
  await writeFile(join(staged.dir, 'base.tar'), Buffer.alloc(2048));
  await writeFile(join(staged.dir, 'backup_manifest'), 'm');
  assert.deepEqual((await readClusterCatalog(repo, 'a')).backups, []);

  const { files: _f, sizeBytes: _s, ...meta } = sampleMetadata('a', staged.id);
  const { metadata, path } = await commitBackup(staged, meta);
  assert.deepEqual(metadata.files, [{ name: 'backup_manifest', size: 1 }, { name: 'base.tar', size: 2048 }]);
  assert.equal(metadata.sizeBytes, 2049);
  assert.deepEqual(await readdir(backupsDir(repo, 'a')), ['20250506T070809Z']);
  assert.deepEqual(JSON.parse(await readFile(join(path, 'backup.json'), 'utf8')), metadata);
  assert.deepEqual((await readClusterCatalog(repo, 'a')).backups.map((b) => b.metadata.id), [staged.id]);
});

test('ids already used by a backup, a staging or an expiring directory are not reused', async () => {
  const repo = await tempDir();
  const first = await beginBackup(repo, 'a', at);
  const second = await beginBackup(repo, 'a', at);
  assert.equal(second.id, '20250506T070809Z-2');
  await abortBackup(first);
  await abortBackup(second);
  assert.deepEqual(await readdir(backupsDir(repo, 'a')), []);
});

test('commit refuses metadata for another backup', async () => {
  const repo = await tempDir();
  const staged = await beginBackup(repo, 'a', at);
  const { files: _f, sizeBytes: _s, ...meta } = sampleMetadata('a', 'x');
  await assert.rejects(commitBackup(staged, meta), {
    message: `backup metadata names "a/x", staged is "a/${staged.id}"`,
  });
});
