import assert from 'node:assert/strict';
import { test } from 'node:test';
import { allTargetsPass, median, summariseTool, summariseVariant, type Sample } from './summary.js';
import type { VariantName } from './variants.js';

function sample(over: Partial<Sample> & Pick<Sample, 'tool' | 'variant'>): Sample {
  return { run: 1, position: 1, ok: true, wallMs: 1000, peakRssKb: 10_000, outputBytes: 1_000_000, ...over };
}

/** Runs of both tools for a variant with the given times (ms), RSS (KiB) and sizes. */
function pair(variant: VariantName, pgMs: number[], fleetMs: number[], fleetRssKb = 50_000, pgBytes = 1000, fleetBytes = 1000): Sample[] {
  return [
    ...pgMs.map((wallMs, i) => sample({ tool: 'pg_basebackup', variant, run: i + 1, wallMs, outputBytes: pgBytes })),
    ...fleetMs.map((wallMs, i) => sample({ tool: 'pgfleet', variant, run: i + 1, wallMs, peakRssKb: fleetRssKb, outputBytes: fleetBytes })),
  ];
}

test('median of odd, even and empty lists, whatever the order', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(median([7]), 7);
  assert.equal(median([]), null);
});

test('a tool summary uses successful runs only: median time, max RSS, median size, distinct errors', () => {
  const summary = summariseTool([
    sample({ tool: 'pgfleet', variant: 'tar', wallMs: 300, peakRssKb: 20, outputBytes: 5 }),
    sample({ tool: 'pgfleet', variant: 'tar', wallMs: 100, peakRssKb: 90, outputBytes: 7 }),
    sample({ tool: 'pgfleet', variant: 'tar', ok: false, wallMs: 1, peakRssKb: 999, outputBytes: null, error: 'boom' }),
    sample({ tool: 'pgfleet', variant: 'tar', ok: false, wallMs: 1, outputBytes: null, error: 'boom' }),
  ]);
  assert.deepEqual(summary, { runs: 4, okRuns: 2, medianMs: 200, peakRssKb: 90, outputBytes: 6, errors: ['boom'] });
});

test('tar target: a time ratio of exactly 1.10 passes, above it fails', () => {
  const pass = summariseVariant('tar', pair('tar', [1000, 1000, 1000], [1100, 1000, 1200]));
  assert.equal(pass.timeRatio, 1.1);
  assert.deepEqual(pass.targets[0], { name: 'time ratio <= 1.10', pass: true, detail: '1.10' });
  const fail = summariseVariant('tar', pair('tar', [1000], [1111]));
  assert.deepEqual(fail.targets[0], { name: 'time ratio <= 1.10', pass: false, detail: '1.11' });
});

test('gzip targets: faster than pg_basebackup and size within 10%', () => {
  const ok = summariseVariant('gzip', pair('gzip', [2000], [1800], 50_000, 1000, 1090));
  assert.deepEqual(ok.targets.slice(0, 2), [
    { name: 'faster than pg_basebackup -z', pass: true, detail: 'ratio 0.90' },
    { name: 'size within 10%', pass: true, detail: '+9.0%' },
  ]);
  const slowBig = summariseVariant('gzip', pair('gzip', [2000], [2000], 50_000, 1000, 850));
  assert.deepEqual(slowBig.targets.slice(0, 2), [
    { name: 'faster than pg_basebackup -z', pass: false, detail: 'ratio 1.00' },
    { name: 'size within 10%', pass: false, detail: '-15.0%' },
  ]);
});

test('every variant checks pgfleet peak RSS below 150 MB (150 MB itself fails)', () => {
  const below = summariseVariant('lz4', pair('lz4', [1], [1], 150 * 1024 - 1));
  assert.deepEqual(below.targets, [{ name: 'pgfleet peak RSS < 150 MB', pass: true, detail: '150 MB' }]);
  const at = summariseVariant('zstd', pair('zstd', [1], [1], 150 * 1024));
  assert.equal(at.targets[0]?.pass, false);
});

test('a failed tool leaves its targets unevaluated, not passed', () => {
  const samples = [
    sample({ tool: 'pg_basebackup', variant: 'tar' }),
    sample({ tool: 'pgfleet', variant: 'tar', ok: false, outputBytes: null, error: 'exit code 1: no' }),
  ];
  const row = summariseVariant('tar', samples);
  assert.equal(row.timeRatio, null);
  assert.deepEqual(row.targets, [
    { name: 'time ratio <= 1.10', pass: null, detail: 'not measured' },
    { name: 'pgfleet peak RSS < 150 MB', pass: null, detail: 'not measured' },
  ]);
  assert.equal(allTargetsPass([row]), null);
  const good = summariseVariant('plain', pair('plain', [1], [1]));
  assert.equal(allTargetsPass([good]), true);
  const bad = summariseVariant('tar', pair('tar', [1000], [2000]));
  assert.equal(allTargetsPass([row, good, bad]), false);
  assert.equal(allTargetsPass([]), null);
});
