import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classifyTarArchive } from '../../src/verify/tar-backup.js';

test('classifies the archive names a tar-format backup may hold, as pg_verifybackup does', () => {
  assert.deepEqual(classifyTarArchive('base.tar'), { name: 'base.tar', kind: 'base', tablespaceOid: null });
  for (const suffix of ['.tar', '.tgz', '.tar.gz', '.tar.lz4', '.tar.zst']) {
    assert.equal(classifyTarArchive(`base${suffix}`)?.kind, 'base');
    assert.equal(classifyTarArchive(`pg_wal${suffix}`)?.kind, 'wal');
    assert.deepEqual(classifyTarArchive(`16384${suffix}`), { name: `16384${suffix}`, kind: 'tablespace', tablespaceOid: 16384 });
  }
  for (const bad of ['base.tar.bz2', 'base', 'basefoo.tar', 'pg_wal', 'pg_wal.zip', '0.tar', '4294967296.tar', '12a.tar', 'x.tar', 'backup_label', '.tar']) {
    assert.equal(classifyTarArchive(bad), null, bad);
  }
  assert.equal(classifyTarArchive('4294967295.tar')?.tablespaceOid, 4294967295);
});
