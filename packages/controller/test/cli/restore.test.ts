import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseTablespaceMapping } from '../../src/cli/restore.js';

test('-T OLD=NEW as pg_basebackup reads it, with \\= for a literal =', () => {
  assert.deepEqual(parseTablespaceMapping('/old/ts=/new/ts'), { oldDir: '/old/ts', newDir: '/new/ts' });
  assert.deepEqual(parseTablespaceMapping('/old\\=x=/new\\=y'), { oldDir: '/old=x', newDir: '/new=y' });
});

test('malformed mappings are refused with pg_basebackup\'s texts', () => {
  assert.throws(() => parseTablespaceMapping('/a'), { message: 'invalid tablespace mapping format "/a", must be "OLDDIR=NEWDIR"', code: 31 });
  assert.throws(() => parseTablespaceMapping('/a=/b=/c'), { message: 'multiple "=" signs in tablespace mapping' });
  assert.throws(() => parseTablespaceMapping('a=/b'), { message: 'old directory is not an absolute path in tablespace mapping: a' });
  assert.throws(() => parseTablespaceMapping('/a=b'), { message: 'new directory is not an absolute path in tablespace mapping: b' });
  assert.throws(() => parseTablespaceMapping('=/b'), { message: 'invalid tablespace mapping format "=/b", must be "OLDDIR=NEWDIR"' });
});
