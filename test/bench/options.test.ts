import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FLEET_TOOLS, selectFleetTools } from './fleet-summary.js';
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
    connect: 'tcp',
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
    fleetJobs: ['backup-agent', 'backup-direct', 'restore-agent', 'restore-local'],
    fleetCompressions: ['none', 'lz4', 'zstd'],
    fleetTools: ['pgfleet', 'pgbackrest-pm1', 'pgbackrest-pm2'],
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
  assert.throws(() => parseBenchOptions(['--connect', 'pipe'], {}), { message: '--connect: "pipe" is not one of tcp, socket' });
});

test('--connect: the basebackup part over TCP by default, over the Unix socket when asked', () => {
  assert.equal(parseBenchOptions([], {}).connect, 'tcp');
  assert.equal(parseBenchOptions(['--connect', 'socket'], {}).connect, 'socket');
  assert.equal(parseBenchOptions(['--connect', 'tcp'], {}).connect, 'tcp');
});

test('the fleet part\'s subset: --fleet-jobs, --fleet-compressions, --fleet-tools (pgbackrest = both process-max)', () => {
  const all = parseBenchOptions([], {});
  assert.deepEqual(all.fleetJobs, ['backup-agent', 'backup-direct', 'restore-agent', 'restore-local']);
  assert.deepEqual(all.fleetCompressions, ['none', 'lz4', 'zstd']);
  assert.deepEqual(all.fleetTools, ['pgfleet', 'pgbackrest-pm1', 'pgbackrest-pm2']);
  assert.deepEqual(selectFleetTools(all.fleetJobs, all.fleetTools), FLEET_TOOLS);

  const one = parseBenchOptions(['--fleet-only', '--fleet-jobs', 'backup-agent', '--fleet-compressions', 'lz4', '--fleet-tools', 'pgfleet'], {});
  assert.deepEqual(one.fleetJobs, ['backup-agent']);
  assert.deepEqual(one.fleetCompressions, ['lz4']);
  assert.deepEqual(one.fleetTools, ['pgfleet']);
  assert.deepEqual(selectFleetTools(one.fleetJobs, one.fleetTools), { backup: ['pgfleet-agent'], restore: [] });

  const some = parseBenchOptions(['--fleet-jobs', 'restore-local,backup-agent, restore-local', '--fleet-compressions', 'zstd,none',
    '--fleet-tools', 'pgbackrest,pgfleet'], {});
  assert.deepEqual(some.fleetJobs, ['backup-agent', 'restore-local']);
  assert.deepEqual(some.fleetCompressions, ['none', 'zstd']);
  assert.deepEqual(some.fleetTools, ['pgfleet', 'pgbackrest-pm1', 'pgbackrest-pm2']);
  assert.deepEqual(selectFleetTools(some.fleetJobs, some.fleetTools), {
    backup: ['pgfleet-agent', 'pgbackrest-pm1', 'pgbackrest-pm2'],
    restore: ['pgfleet-local', 'pgbackrest-pm1', 'pgbackrest-pm2'],
  });
  // pgBackRest alone, on the restores only.
  assert.deepEqual(selectFleetTools(['restore-agent'], parseBenchOptions(['--fleet-tools', 'pgbackrest-pm2'], {}).fleetTools),
    { backup: [], restore: ['pgbackrest-pm2'] });
});

test('the fleet part\'s subset: unknown names, empty lists and --no-fleet are errors that name the flag', () => {
  assert.throws(() => parseBenchOptions(['--fleet-jobs', 'backup'], {}), {
    message: 'unknown fleet job "backup": choose from backup-agent, backup-direct, restore-agent, restore-local',
  });
  assert.throws(() => parseBenchOptions(['--fleet-compressions', 'gzip'], {}), { message: 'unknown compression "gzip": choose from none, lz4, zstd' });
  assert.throws(() => parseBenchOptions(['--fleet-tools', 'barman'], {}), {
    message: 'unknown fleet tool "barman": choose from pgfleet, pgbackrest-pm1, pgbackrest-pm2, pgbackrest',
  });
  assert.throws(() => parseBenchOptions(['--fleet-tools', ' , '], {}), { message: '--fleet-tools names no fleet tool' });
  assert.throws(() => parseBenchOptions(['--no-fleet', '--fleet-jobs', 'backup-agent'], {}), {
    message: '--fleet-jobs, --fleet-compressions and --fleet-tools pick from the fleet part, which --no-fleet skips',
  });
});
