import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InvalidOptionError, NotAllowedError } from '@pgfleet/core';
import {
  checkRestoreOptions, checkTablespaceTargets, originalLocations, planTargets, tablespaceTargets, targetName,
} from '../../src/restore/plan.js';
import type { ArchiveInfo } from '../../src/restore/source.js';

const paths = { dataDir: '/srv/data', walDir: null, mappings: [], roots: null, backup: null };

describe('restore plan (pure)', () => {
  test('targets by kind, named as messages name them', () => {
    const targets = planTargets({ ...paths, walDir: '/srv/wal', mappings: [{ oldDir: '/old/ts', newDir: '/srv/ts' }] });
    assert.deepEqual(targets.map((t) => [t.kind, targetName(t)]), [
      ['data-directory', 'data directory'], ['wal-directory', 'WAL directory'], ['tablespace-mapping', 'tablespace directory'],
    ]);
    assert.equal(targetName({ kind: 'tablespace', path: '/x', oid: 16384 }), 'directory of tablespace 16384');
  });
  test('options: mode, conninfo, absolute paths, port', () => {
    assert.throws(() => checkRestoreOptions({ dataDir: '/d', mode: 'bogus' as never }), { message: 'no recovery mode given' });
    assert.throws(() => checkRestoreOptions({ dataDir: '/d', mode: 'none', primaryConninfo: 'host=x' }),
      { message: '--primary-conninfo is only allowed with --mode standby' });
    assert.throws(() => checkRestoreOptions({ dataDir: 'rel', mode: 'none' }), { message: 'data directory "rel" is not an absolute path' });
    assert.throws(() => checkRestoreOptions({ dataDir: '/d', mode: 'none', port: 70000 }), InvalidOptionError);
    checkRestoreOptions({ dataDir: '/d', mode: 'standby', primaryConninfo: 'host=x' });
  });
  test('overlap, allowedRoots, a mapping given twice, the backup itself', () => {
    assert.throws(() => planTargets({ ...paths, walDir: '/srv/data/wal' }), { message: 'WAL directory "/srv/data/wal" lies within data directory "/srv/data"' });
    assert.throws(() => planTargets({ ...paths, roots: ['/other'] }), NotAllowedError);
    assert.throws(() => planTargets({ ...paths, mappings: [{ oldDir: '/o', newDir: '/n1' }, { oldDir: '/o', newDir: '/n2' }] }),
      { message: 'tablespace "/o" is mapped more than once' });
    assert.throws(() => planTargets({ ...paths, backup: '/srv' }), { message: 'data directory "/srv/data" overlaps the backup "/srv"' });
  });
  test('original locations: tablespace_map, else the source, else absolute links', () => {
    const links = new Map([[1, '/l1'], [2, 'relative']]);
    assert.deepEqual([...originalLocations({ map: new Map([[3, '/m']]), source: new Map([[4, '/s']]), links })], [[3, '/m']]);
    assert.deepEqual([...originalLocations({ map: null, source: new Map([[4, '/s']]), links })], [[4, '/s']]);
    assert.deepEqual([...originalLocations({ map: null, source: null, links })], [[1, '/l1']]);
  });
  test('tablespace targets: external ones checked like the others, archives without a location restored in place', () => {
    const archives: ArchiveInfo[] = [
      { name: 'base.tar', kind: 'base', oid: null, compression: 'none', size: null },
      { name: '16384.tar', kind: 'tablespace', oid: 16384, compression: 'none', size: null },
      { name: '16385.tar', kind: 'tablespace', oid: 16385, compression: 'none', size: null },
    ];
    const planned = [{ oid: 16384, originalLocation: '/old/ts', location: '/srv/ts', mapped: true }];
    const { tablespaces, warnings } = tablespaceTargets(planned, archives, '/srv/data');
    assert.deepEqual(tablespaces.map((t) => [t.kind, t.oid, t.location]), [
      ['external', 16384, '/srv/ts'], ['in-place', 16385, '/srv/data/pg_tblspc/16385'],
    ]);
    assert.deepEqual(warnings, ['tablespace 16385 has no location in the backup; it is restored in place, as "pg_tblspc/16385"']);
    const targets = planTargets({ ...paths, mappings: [{ oldDir: '/old/ts', newDir: '/srv/ts' }] });
    assert.deepEqual(checkTablespaceTargets(tablespaces, targets, null), [{ kind: 'tablespace', path: '/srv/ts', oid: 16384 }]);
    const inside = tablespaceTargets([{ ...planned[0]!, location: '/srv/data/ts' }], archives, '/srv/data').tablespaces;
    assert.throws(() => checkTablespaceTargets(inside, targets, null), { message: 'directory of tablespace 16384 "/srv/data/ts" lies within data directory "/srv/data"' });
    assert.throws(() => checkTablespaceTargets(tablespaces, targets, ['/srv/data']), NotAllowedError);
  });
});
