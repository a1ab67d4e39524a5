import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backupArgs, VARIANT_NAMES } from './variants.js';

const target = { dataDir: '/out/data', tablespaceMap: [{ from: '/srv/ts=1', to: '/out/ts1' }] };

test('every variant streams WAL with a fast checkpoint into -D', () => {
  for (const name of VARIANT_NAMES) {
    const args = backupArgs(name, target).join(' ');
    assert.match(args, /^-D \/out\/data -X stream -c fast -F [tp]/, name);
    assert.doesNotMatch(args, / -N| -P/, name);
  }
});

test('compression flags per variant', () => {
  assert.deepEqual(backupArgs('tar', target).slice(6), ['-F', 't']);
  assert.deepEqual(backupArgs('gzip', target).slice(6), ['-F', 't', '-z']);
  assert.deepEqual(backupArgs('lz4', target).slice(6), ['-F', 't', '-Z', 'client-lz4']);
  assert.deepEqual(backupArgs('zstd', target).slice(6), ['-F', 't', '-Z', 'client-zstd']);
});

test('plain maps each tablespace with -T, escaping "=" in paths', () => {
  assert.deepEqual(backupArgs('plain', target).slice(6), ['-F', 'p', '-T', '/srv/ts\\=1=/out/ts1']);
});
