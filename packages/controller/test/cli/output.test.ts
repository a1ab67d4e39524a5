import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatBytes, formatDuration, formatProgress, formatTable } from '../../src/cli/output.js';

test('sizes, durations and progress lines', () => {
  assert.equal(formatBytes(0), '0 bytes');
  assert.equal(formatBytes(10239), '10239 bytes');
  assert.equal(formatBytes(10240), '10 kB');
  assert.equal(formatBytes(50 * 1024 * 1024), '50 MB');
  assert.equal(formatDuration(-1), '?');
  assert.equal(formatDuration(59.4), '59s');
  assert.equal(formatDuration(125), '2m05s');
  assert.equal(formatDuration(3720), '1h02m');
  assert.equal(formatProgress({ doneBytes: 30 * 1048576, totalBytes: 40 * 1048576, rateBytesPerSecond: 5 * 1048576, etaSeconds: 2 }),
    '30 MB of 40 MB (75%), 5120 kB/s, ETA 2s');
  assert.equal(formatProgress({ doneBytes: 512, totalBytes: 0, rateBytesPerSecond: 0, etaSeconds: -1 }), '512 bytes');
});

test('tables pad columns', () => {
  assert.equal(formatTable(['A', 'LONGER'], [['x', '1'], ['yyyy', '22']]), 'A     LONGER\n----  ------\nx     1\nyyyy  22\n');
});
