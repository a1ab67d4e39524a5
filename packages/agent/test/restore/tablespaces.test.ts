import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InvalidOptionError } from '@pgfleet/core';
import { formatTablespaceMap, parseTablespaceMap, planTablespaces } from '../../src/restore/tablespaces.js';

describe('tablespace_map', () => {
  test('parses PostgreSQL\'s format, with escaped backslash, newline and carriage return', () => {
    const text = '16384 /data/ts1\n16385 /data/odd\\\\name\\\nwith newline\\\r\n';
    assert.deepEqual([...parseTablespaceMap(text)], [[16384, '/data/ts1'], [16385, '/data/odd\\name\nwith newline\r']]);
  });
  test('format and parse round-trip', () => {
    const entries: Array<[number, string]> = [[1, '/a b'], [2, '/c\\d'], [3, '/e\nf'], [4, '/g\rh']];
    assert.deepEqual([...parseTablespaceMap(formatTablespaceMap(entries))], entries);
    assert.equal(formatTablespaceMap([[16384, '/x\\y']]), '16384 /x\\\\y\n');
  });
  test('empty map, blank lines', () => {
    assert.equal(parseTablespaceMap('').size, 0);
    assert.deepEqual([...parseTablespaceMap('\n16384 /a\n\n')], [[16384, '/a']]);
  });
  test('malformed lines are errors', () => {
    assert.throws(() => parseTablespaceMap('garbage\n'), { message: 'invalid line in file "tablespace_map": "garbage"' });
    assert.throws(() => parseTablespaceMap('x1 /a\n'), { message: 'invalid tablespace OID "x1" in file "tablespace_map"' });
    assert.throws(() => parseTablespaceMap('1 /a\n1 /b\n'), { message: 'tablespace OID "1" appears twice in file "tablespace_map"' });
  });
});

describe('planTablespaces', () => {
  const originals = new Map([[16385, '/old/ts2'], [16384, '/old/ts1']]);
  test('mapped ones move, others stay at their original location; ordered by OID', () => {
    assert.deepEqual(planTablespaces(originals, [{ oldDir: '/old/ts2', newDir: '/new/ts2' }]), [
      { oid: 16384, originalLocation: '/old/ts1', location: '/old/ts1', mapped: false },
      { oid: 16385, originalLocation: '/old/ts2', location: '/new/ts2', mapped: true },
    ]);
  });
  test('a mapping that matches no tablespace is an error naming the locations', () => {
    assert.throws(() => planTablespaces(originals, [{ oldDir: '/old/ts3', newDir: '/new' }]), (err: unknown) => {
      assert.ok(err instanceof InvalidOptionError);
      assert.equal(err.message, 'tablespace mapping "/old/ts3" matches no tablespace in the backup');
      assert.equal(err.hint, 'OLDDIR must be a tablespace location as the backup records it: "/old/ts2", "/old/ts1".');
      return true;
    });
    assert.throws(() => planTablespaces(new Map(), [{ oldDir: '/a', newDir: '/b' }]), { hint: 'The backup has no user tablespaces; leave out -T.' } as object);
  });
});
