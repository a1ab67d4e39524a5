import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compareBackupIds, isBackupId, newBackupId } from '../../src/repository/backup-id.js';

const at = new Date('2025-03-04T05:06:07.890Z');

test('a backup id is the UTC start second', () => {
  assert.equal(newBackupId(at, new Set()), '20250304T050607Z');
  assert.ok(isBackupId('20250304T050607Z'));
});

test('a second backup in the same second gets a counter', () => {
  assert.equal(newBackupId(at, new Set(['20250304T050607Z'])), '20250304T050607Z-2');
  assert.equal(newBackupId(at, new Set(['20250304T050607Z', '20250304T050607Z-2'])), '20250304T050607Z-3');
  assert.ok(isBackupId('20250304T050607Z-3'));
});

test('names that are not ids are rejected', () => {
  for (const name of ['.tmp-20250304T050607Z', '20250304T050607', 'latest', '20250304T050607Z-', '../x']) {
    assert.equal(isBackupId(name), false, name);
  }
});

test('ids order by time, then counter (not as plain strings: -10 after -9)', () => {
  const ids = ['20250304T050607Z-10', '20250101T000000Z', '20250304T050607Z-9', '20250304T050607Z'];
  assert.deepEqual([...ids].sort(compareBackupIds),
    ['20250101T000000Z', '20250304T050607Z', '20250304T050607Z-9', '20250304T050607Z-10']);
});
