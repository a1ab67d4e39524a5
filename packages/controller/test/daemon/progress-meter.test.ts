import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProgressMeter } from '../../src/daemon/progress-meter.js';

test('rate over the window and the time left at that rate', () => {
  const m = new ProgressMeter(5_000);
  assert.deepEqual(m.update(0, 1000, 0), { doneBytes: 0, totalBytes: 1000, rateBytesPerSecond: 0, etaSeconds: -1 });
  assert.deepEqual(m.update(100, 1000, 1_000), { doneBytes: 100, totalBytes: 1000, rateBytesPerSecond: 100, etaSeconds: 9 });
  assert.deepEqual(m.update(300, 1000, 2_000), { doneBytes: 300, totalBytes: 1000, rateBytesPerSecond: 150, etaSeconds: 700 / 150 });
});

test('old samples leave the window, so a stall shows', () => {
  const m = new ProgressMeter(2_000);
  m.update(0, 0, 0);
  m.update(1000, 0, 1_000);
  m.update(2000, 0, 2_000);
  const r = m.update(2000, 0, 4_000); // nothing for two seconds
  assert.equal(r.rateBytesPerSecond, 0);
  assert.equal(r.etaSeconds, -1);
});

test('no total or a passed estimate gives an unknown ETA', () => {
  const m = new ProgressMeter();
  m.update(0, 0, 0);
  assert.equal(m.update(500, 0, 1_000).etaSeconds, -1);
  const n = new ProgressMeter();
  n.update(0, 100, 0);
  assert.equal(n.update(150, 100, 1_000).etaSeconds, -1);
});
