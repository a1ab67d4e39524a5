import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InvalidOptionError } from '@pgfleet/core';
import { describeMode, parseRecoveryMode, parseTablespaceMapping } from '../../src/restore/options.js';

describe('parseTablespaceMapping', () => {
  test('OLD=NEW, canonicalized', () => {
    assert.deepEqual(parseTablespaceMapping('/data/ts1/=/new/./ts1'), { oldDir: '/data/ts1', newDir: '/new/ts1' });
  });
  test('"\\=" is a literal "="', () => {
    assert.deepEqual(parseTablespaceMapping('/a\\=b=/c\\=d'), { oldDir: '/a=b', newDir: '/c=d' });
  });
  for (const [arg, message] of [
    ['/a', 'invalid tablespace mapping format "/a", must be "OLDDIR=NEWDIR"'],
    ['=/b', 'invalid tablespace mapping format "=/b", must be "OLDDIR=NEWDIR"'],
    ['/a=', 'invalid tablespace mapping format "/a=", must be "OLDDIR=NEWDIR"'],
    ['/a=/b=/c', 'multiple "=" signs in tablespace mapping "/a=/b=/c"'],
    ['a=/b', 'old directory is not an absolute path in tablespace mapping "a=/b"'],
    ['/a=b', 'new directory is not an absolute path in tablespace mapping "/a=b"'],
  ] as const) {
    test(`rejects ${arg}`, () => {
      assert.throws(() => parseTablespaceMapping(arg), (err: unknown) => err instanceof InvalidOptionError && err.message === message);
    });
  }
});

describe('parseRecoveryMode / describeMode', () => {
  test('the three modes, nothing else', () => {
    assert.equal(parseRecoveryMode('standby'), 'standby');
    assert.equal(parseRecoveryMode('promote'), 'promote');
    assert.equal(parseRecoveryMode('none'), 'none');
    assert.throws(() => parseRecoveryMode('primary'), { message: 'invalid recovery mode "primary", must be "standby", "promote" or "none"' });
  });
  test('each mode says what the copy becomes', () => {
    assert.equal(describeMode('standby', '/d'), 'restoring into "/d" as a standby (--mode standby): it will stay in recovery, read-only by design, and follow its primary_conninfo');
    assert.equal(describeMode('promote', '/d'), 'restoring into "/d" as a new primary (--mode promote): once consistent it leaves recovery and accepts writes on a new timeline');
    assert.equal(describeMode('none', '/d'), 'restoring into "/d" with files only (--mode none): recovery configuration exactly as in the backup');
  });
});
