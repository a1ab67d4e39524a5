import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  addLsn, compareLsn, diffLsn, formatLsn, MAX_LSN, parseLsn, tryParseLsn,
} from '../../src/wal/lsn.js';
import { InternalError, InvalidOptionError } from '../../src/errors.js';

test('parseLsn accepts 1 to 8 hex digits per half in either case', () => {
  assert.equal(parseLsn('0/3000028'), 0x3000028n);
  assert.equal(parseLsn('0/03000028'), 0x3000028n);
  assert.equal(parseLsn('1/0'), 0x1_0000_0000n);
  assert.equal(parseLsn('ab/cdEF0123'), 0xab_cdef0123n);
  assert.equal(parseLsn('FFFFFFFF/FFFFFFFF'), MAX_LSN);
});

test('parseLsn rejects malformed text with a hint', () => {
  for (const bad of ['', '0', '/1', '1/', '0/123456789', '123456789/0', 'g/0', '0/3000028 ', ' 0/1', '0x1/0', '-1/0']) {
    assert.equal(tryParseLsn(bad), null, bad);
    assert.throws(() => parseLsn(bad), (err: unknown) => {
      assert.ok(err instanceof InvalidOptionError);
      assert.equal(err.message, `invalid LSN "${bad}"`);
      assert.equal(err.hint, 'An LSN is written as two hexadecimal numbers separated by a slash, such as 0/3000028.');
      return true;
    });
  }
});

test('formatLsn prints upper-case halves without padding', () => {
  assert.equal(formatLsn(0x3000028n), '0/3000028');
  assert.equal(formatLsn(0n), '0/0');
  assert.equal(formatLsn(0x1_0000_0000n), '1/0');
  assert.equal(formatLsn(0xab_cdef0123n), 'AB/CDEF0123');
  assert.equal(formatLsn(MAX_LSN), 'FFFFFFFF/FFFFFFFF');
  assert.throws(() => formatLsn(-1n), InternalError);
});

test('formatLsn and parseLsn round-trip', () => {
  for (const v of [0n, 1n, 0xFFFF_FFFFn, 0x1_0000_0000n, 0x1234_5678_9ABC_DEF0n, MAX_LSN]) {
    assert.equal(parseLsn(formatLsn(v)), v);
  }
});

test('compareLsn, addLsn and diffLsn use full 64-bit arithmetic', () => {
  assert.equal(compareLsn(1n, 2n), -1);
  assert.equal(compareLsn(2n, 2n), 0);
  assert.equal(compareLsn(MAX_LSN, 2n), 1);
  assert.equal(addLsn(0xFFFF_FFFFn, 1), 0x1_0000_0000n);
  assert.equal(addLsn(0x1_0000_0000n, -1n), 0xFFFF_FFFFn);
  assert.equal(addLsn(2n ** 60n, 2n ** 60n), 2n ** 61n);
  assert.throws(() => addLsn(MAX_LSN, 1), /outside the 64-bit range/);
  assert.throws(() => addLsn(0n, -1), /outside the 64-bit range/);
  assert.equal(diffLsn(parseLsn('1/0'), parseLsn('0/FFFFFFF0')), 16n);
  assert.equal(diffLsn(0n, 5n), -5n);
});
