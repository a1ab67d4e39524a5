// recordVerdict: the verdict of verify written into backup.json, atomically, files untouched.
import assert from 'node:assert/strict';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseBackupMetadata, type BackupMetadata } from '../../src/repository/backup-metadata.js';
import { readClusterCatalog } from '../../src/repository/catalog.js';
import { recordVerdict } from '../../src/repository/verdict.js';
import { fakeBackup, tempDir } from './fixtures.js';

test('damaged with the reason, then whole again; only backup.json changes', async () => {
  const repo = await tempDir();
  const dir = await fakeBackup(repo, 'a', '20250101T000000Z');
  const before = await stat(join(dir, 'base.tar'));
  const read = async (): Promise<BackupMetadata> => {
    const parsed = parseBackupMetadata(await readFile(join(dir, 'backup.json'), 'utf8'));
    assert.ok(parsed.ok);
    return parsed.metadata;
  };
  const problems = Array.from({ length: 25 }, (_, i) => `checksum mismatch for file "base/1/${i}"`);
  await recordVerdict(dir, await read(), { problems, at: new Date('2025-03-01T10:00:00Z') });
  const damaged = await read();
  assert.equal(damaged.status, 'damaged');
  assert.deepEqual(damaged.damage, {
    reason: 'checksum mismatch for file "base/1/0" (and 24 more problems)',
    problems: problems.slice(0, 20),
    foundAt: '2025-03-01T10:00:00.000Z',
  });
  assert.equal(damaged.verifiedAt, '2025-03-01T10:00:00.000Z');
  const catalog = await readClusterCatalog(repo, 'a');
  assert.deepEqual(catalog.backups, []);
  assert.equal(catalog.unusable[0]?.reason, 'pgfleet verify found it damaged at 2025-03-01T10:00:00.000Z: checksum mismatch for file "base/1/0" (and 24 more problems)');

  await recordVerdict(dir, damaged, { problems: [], at: new Date('2025-03-02T10:00:00Z') });
  const whole = await read();
  assert.equal(whole.status, 'ok');
  assert.equal(whole.damage, undefined);
  assert.equal(whole.verifiedAt, '2025-03-02T10:00:00.000Z');
  assert.deepEqual((await readClusterCatalog(repo, 'a')).backups.map((b) => b.metadata.id), ['20250101T000000Z']);
  // The data files were not touched; no temporary file is left.
  assert.equal((await stat(join(dir, 'base.tar'))).mtimeMs, before.mtimeMs);
  assert.deepEqual((await readdir(dir)).sort(), ['backup.json', 'backup_manifest', 'base.tar']);
});
