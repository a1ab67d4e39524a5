// Request-field limits and error texts bounded for the wire.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FIELD_LIMITS, InvalidOptionError, boundText, checkFieldCount, checkFieldLength } from '../src/index.js';

describe('wire limits', () => {
  test('a field over its limit is refused, naming the field, never echoing the value', () => {
    checkFieldLength('RestoreSpec.data_dir', '/x'.repeat(2048), FIELD_LIMITS.path);
    assert.throws(() => checkFieldLength('RestoreSpec.data_dir', `/${'a'.repeat(120 * 1024)}`, FIELD_LIMITS.path), (err: unknown) => {
      assert.ok(err instanceof InvalidOptionError);
      assert.equal(err.message, 'request field "RestoreSpec.data_dir" is too long (122881 bytes, at most 4096)');
      return true;
    });
    // Bytes, not characters: 1366 three-byte characters are 4098 bytes.
    assert.throws(() => checkFieldLength('f', '€'.repeat(1366), 4096), /\(4098 bytes, at most 4096\)/);
    checkFieldLength('f', '€'.repeat(1365), 4096);
    checkFieldCount('RestoreSpec.files', 10, FIELD_LIMITS.entries);
    assert.throws(() => checkFieldCount('RestoreSpec.files', 5000, 4096), /^InvalidOptionError: request field "RestoreSpec.files" has too many entries \(5000, at most 4096\)$/);
  });

  test('boundText: short texts unchanged, long ones cut on a character boundary with a marker', () => {
    assert.equal(boundText('could not open "/tmp/é"\nsecond line', 100), 'could not open "/tmp/é"\nsecond line');
    const long = `é${'x'.repeat(10_000)}`;
    const cut = boundText(long, 100);
    assert.ok(Buffer.byteLength(cut) <= 100);
    assert.match(cut, /^éx+ \.\.\. \[\d+ more bytes\]$/);
    const kept = Buffer.byteLength(cut.replace(/ \.\.\. \[\d+ more bytes\]$/, ''));
    assert.equal(Number(/\[(\d+) more/.exec(cut)?.[1]), Buffer.byteLength(long) - kept);
    // Multi-byte characters are never split.
    for (let max = 20; max < 60; max += 1) {
      const t = boundText('€'.repeat(100), max);
      assert.ok(Buffer.byteLength(t) <= max, `max ${max}`);
      assert.ok(!t.includes('\uFFFD'), `max ${max}`);
    }
    // A lone surrogate (not encodable) becomes U+FFFD.
    assert.equal(boundText('a\uD800b', 100), 'a\uFFFDb');
    assert.equal(boundText('\uD83D\uDE00', 100), '\uD83D\uDE00');
  });
});
