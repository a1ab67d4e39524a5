import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProgressLines } from '../../src/cli/progress-lines.js';

const sample = (doneBytes: number) => ({ doneBytes, totalBytes: 4 * 1024 * 1024, rateBytesPerSecond: 0, etaSeconds: -1 });

test('no transfer line before one interval has passed since the start, then one per interval and cluster', () => {
  const p = new ProgressLines(1000);
  p.started('a', 10_000);
  p.started('b', 10_500);
  assert.equal(p.line('a', 'transfer', sample(0), 10_000), null);
  assert.equal(p.line('a', 'transfer', sample(1024), 10_999), null);
  assert.equal(p.line('a', 'transfer', sample(1024 * 1024), 11_000), '1024 kB of 4096 kB (25%)');
  assert.equal(p.line('a', 'transfer', sample(2 * 1024 * 1024), 11_500), null);
  assert.equal(p.line('b', 'transfer', sample(2 * 1024 * 1024), 11_500), '2048 kB of 4096 kB (50%)');
  assert.equal(p.line('a', 'transfer', sample(3 * 1024 * 1024), 12_000), '3072 kB of 4096 kB (75%)');
});

test('verification is announced once when it begins, then shows its progress per interval', () => {
  const p = new ProgressLines(5000);
  p.started('a', 0);
  assert.equal(p.line('a', 'verify', sample(0), 100), 'verifying against its backup_manifest');
  assert.equal(p.line('a', 'verify', sample(1024), 200), null);
  assert.equal(p.line('a', 'verify', sample(4 * 1024 * 1024), 5100), 'verifying: 4096 kB of 4096 kB (100%)');
});

test('a sample for a cluster whose start was not seen is shown at once', () => {
  const p = new ProgressLines(1000);
  assert.equal(p.line('x', 'transfer', sample(512), 5), '512 bytes of 4096 kB (0%)');
});
