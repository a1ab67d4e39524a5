import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { archiveOrder, classifyArchiveName } from '../../src/restore/source.js';

describe('classifyArchiveName', () => {
  test('pg_basebackup\'s archive names, every compression', () => {
    assert.deepEqual(classifyArchiveName('base.tar'), { name: 'base.tar', kind: 'base', oid: null, compression: 'none' });
    assert.deepEqual(classifyArchiveName('base.tar.gz'), { name: 'base.tar.gz', kind: 'base', oid: null, compression: 'gzip' });
    assert.deepEqual(classifyArchiveName('base.tgz'), { name: 'base.tgz', kind: 'base', oid: null, compression: 'gzip' });
    assert.deepEqual(classifyArchiveName('16384.tar.lz4'), { name: '16384.tar.lz4', kind: 'tablespace', oid: 16384, compression: 'lz4' });
    assert.deepEqual(classifyArchiveName('pg_wal.tar.zst'), { name: 'pg_wal.tar.zst', kind: 'wal', oid: null, compression: 'zstd' });
  });
  test('anything else is not an archive', () => {
    for (const name of ['backup_manifest', 'backup.json', 'base.tar.bz2', '0.tar', '016384.tar', '4294967296.tar', 'base', 'x.tar']) {
      assert.equal(classifyArchiveName(name), null, name);
    }
  });
  test('order: base, tablespaces by OID, WAL', () => {
    const names = ['pg_wal.tar', '16390.tar', 'base.tar.gz', '16384.tar'];
    const sorted = names.map((n) => classifyArchiveName(n)!).sort(archiveOrder).map((a) => a.name);
    assert.deepEqual(sorted, ['base.tar.gz', '16384.tar', '16390.tar', 'pg_wal.tar']);
  });
});
