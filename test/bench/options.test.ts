import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_CACHE_DIR, parseBenchOptions } from './options.js';

test('defaults: 2.2 GB, 3 runs, every variant, drop caches, pgbackrest when installed', () => {
  assert.deepEqual(parseBenchOptions([], {}), {
    help: false,
    scale: undefined,
    sizeGb: 2.2,
    runs: 3,
    rebuild: false,
    cacheDir: DEFAULT_CACHE_DIR,
    outDir: undefined,
    variants: ['tar', 'plain', 'gzip', 'lz4', 'zstd'],
    pgfleetCmd: undefined,
    dropCaches: true,
    pgbackrest: true,
    timeoutS: 1800,
    wal: true,
    walOnly: false,
    walSeconds: 60,
    walScale: 20,
    fleet: true,
    fleetOnly: false,
    quick: false,
    walProfileDir: undefined,
    fleetProfileDir: undefined,
  });
});

test('--quick: a small dataset and a short WAL load, unless given explicitly', () => {
  const quick = parseBenchOptions(['--quick'], {});
  assert.equal(quick.quick, true);
  assert.equal(quick.sizeGb, 0.3);
  assert.equal(quick.walSeconds, 20);
  const given = parseBenchOptions(['--quick', '--size-gb', '1', '--wal-seconds', '30'], {});
  assert.equal(given.sizeGb, 1);
  assert.equal(given.walSeconds, 30);
});

test('the fleet part: --fleet-only, --no-fleet, and their conflicts', () => {
  assert.equal(parseBenchOptions(['--fleet-only'], {}).fleetOnly, true);
  assert.equal(parseBenchOptions(['--no-fleet'], {}).fleet, false);
  assert.throws(() => parseBenchOptions(['--fleet-only', '--no-fleet'], {}), /exclude each other/);
  assert.throws(() => parseBenchOptions(['--fleet-only', '--wal-only'], {}), /exclude each other/);
});

test('the WAL part: --wal-only, --no-wal, its load length and scale', () => {
  const only = parseBenchOptions(['--wal-only', '--wal-seconds', '15', '--wal-scale', '5'], {});
  assert.equal(only.walOnly, true);
  assert.equal(only.walSeconds, 15);
  assert.equal(only.walScale, 5);
  assert.equal(parseBenchOptions(['--no-wal'], {}).wal, false);
  assert.throws(() => parseBenchOptions(['--wal-only', '--no-wal'], {}), { message: '--wal-only and --no-wal exclude each other' });
  assert.throws(() => parseBenchOptions(['--wal-seconds', '0'], {}), { message: 'invalid value "0" for --wal-seconds: expected a positive integer' });
});

test('flags are read, variants keep the canonical order without duplicates', () => {
  const opts = parseBenchOptions(
    ['--size-gb', '0.2', '--scale', '8', '--runs', '1', '--rebuild', '--variants', 'zstd, tar,zstd', '--no-drop-caches',
      '--no-pgbackrest', '--cache-dir', '/x', '--out-dir', '/y', '--timeout-s', '60', '--pgfleet-cmd', 'a b'],
    { PGFLEET_BENCH_CMD: 'ignored' },
  );
  assert.equal(opts.sizeGb, 0.2);
  assert.equal(opts.scale, 8);
  assert.equal(opts.runs, 1);
  assert.equal(opts.rebuild, true);
  assert.deepEqual(opts.variants, ['tar', 'zstd']);
  assert.equal(opts.dropCaches, false);
  assert.equal(opts.pgbackrest, false);
  assert.equal(opts.cacheDir, '/x');
  assert.equal(opts.outDir, '/y');
  assert.equal(opts.timeoutS, 60);
  assert.equal(opts.pgfleetCmd, 'a b');
});

test('PGFLEET_BENCH_CMD substitutes the pgfleet command when --pgfleet-cmd is absent', () => {
  assert.equal(parseBenchOptions([], { PGFLEET_BENCH_CMD: ' /bin/x ' }).pgfleetCmd, '/bin/x');
  assert.equal(parseBenchOptions([], { PGFLEET_BENCH_CMD: '  ' }).pgfleetCmd, undefined);
});

test('bad values are errors that name the flag', () => {
  assert.throws(() => parseBenchOptions(['--runs', '0'], {}), { message: 'invalid value "0" for --runs: expected a positive integer' });
  assert.throws(() => parseBenchOptions(['--runs', '1.5'], {}), { message: 'invalid value "1.5" for --runs: expected a positive integer' });
  assert.throws(() => parseBenchOptions(['--size-gb', 'big'], {}), { message: 'invalid value "big" for --size-gb: expected a positive number' });
  assert.throws(() => parseBenchOptions(['--variants', 'tar,bzip2'], {}), {
    message: 'unknown variant "bzip2": choose from tar, plain, gzip, lz4, zstd',
  });
  assert.throws(() => parseBenchOptions(['--variants', ','], {}), { message: '--variants names no variant' });
  assert.throws(() => parseBenchOptions(['--nope'], {}), { code: 'ERR_PARSE_ARGS_UNKNOWN_OPTION' });
});
