// The benchmark dataset: one PostgreSQL 15 cluster with a tablespace, built once per scale and
// kept under the cache directory, then started again for every bench run.
//
// Content, for a pgbench scale factor S:
//   - main directory: `pgbench -i -s S` (server-side generation), about 15 MB per scale unit;
//     pgbench_accounts' filler is blank, so this part compresses very well;
//   - tablespace ts1: table bench_events with S * EVENTS_PER_SCALE rows of mixed data (random
//     ids and amounts, timestamps, md5 fragments, a few repeated words) and its primary key,
//     about 2/3 of the main part: it compresses like ordinary application data (~2-3x).
// Everything is frozen and checkpointed, so the files do not change between runs.
//
// Layout: <cacheDir>/pg15-v1-s<S>/{data, ts1, sock, postgres.log, dataset.json}. dataset.json is
// written last: a directory without it is a failed build and is built again. The cluster is
// built with the harness's startCluster() in a temporary directory, stopped, and moved here
// (same filesystem), with the pg_tblspc symlink pointed at the new location.

import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { run, startCluster, TestCluster } from '../harness/index.js';

/** Bump when the generated content changes, so old caches are not reused by mistake. */
const DATASET_FORMAT = 'v1';
/** bench_events rows per pgbench scale unit (sized so that ts1 is ~40% of the total). */
export const EVENTS_PER_SCALE = 85_000;
/**
 * Measured on disk (PostgreSQL 15): bytes per scale unit (15.7 MB pgbench + 10.6 MB events) and
 * the fixed part (the three databases' catalogs), used to turn --size-gb into a scale.
 */
export const BYTES_PER_SCALE = 26_300_000;
export const FIXED_BYTES = 23_000_000;
const PGBENCH = '/usr/lib/postgresql/15/bin/pgbench';
const EVENTS_BATCH = 1_000_000;

/** Settings of the benchmark cluster (on top of the harness's fsync=off etc.). */
const BENCH_SETTINGS = [
  'autovacuum = off', // nothing to vacuum after the freeze; keeps background I/O out of the timings
  'shared_buffers = 128MB',
  'max_wal_size = 256MB', // after the load, checkpoints trim pg_wal down to this
  'min_wal_size = 80MB',
];

/** Only while loading: fewer checkpoints, faster index builds. Reset afterwards. */
const LOAD_SETTINGS: Record<string, string> = {
  max_wal_size: '8GB',
  checkpoint_timeout: '1h',
  maintenance_work_mem: '512MB',
  wal_buffers: '16MB',
};

export interface DatasetSizes {
  /** pg_tablespace_size('pg_default') + pg_tablespace_size('pg_global'). */
  mainBytes: number;
  /** pg_tablespace_size('ts1'). */
  tablespaceBytes: number;
  /** mainBytes + tablespaceBytes. */
  totalBytes: number;
  /** Sum of pg_database_size() over all databases (it already counts tablespace files). */
  databasesBytes: number;
}

export interface DatasetInfo {
  key: string;
  scale: number;
  eventsRows: number;
  dir: string;
  dataDir: string;
  tablespaceDir: string;
  builtAt: string;
  buildSeconds: number;
  sizes: DatasetSizes;
}

export interface OpenDatasetOptions {
  cacheDir: string;
  scale: number;
  rebuild: boolean;
  log: (line: string) => void;
}

export interface OpenDataset {
  info: DatasetInfo;
  /** Whether this call built it (false: reused from the cache). */
  built: boolean;
  /** Started; stop() it when done (the data stays in the cache). */
  cluster: TestCluster;
}

/** The pgbench scale that gives about sizeGb GB (2^30 bytes, as pg_size_pretty counts) on disk; at least 1. */
export function scaleForSize(sizeGb: number): number {
  return Math.max(1, Math.ceil((sizeGb * 2 ** 30 - FIXED_BYTES) / BYTES_PER_SCALE));
}

export function datasetKey(scale: number): string {
  return `pg15-${DATASET_FORMAT}-s${scale}`;
}

async function readInfo(dir: string): Promise<DatasetInfo | undefined> {
  try {
    const info = JSON.parse(await readFile(path.join(dir, 'dataset.json'), 'utf8')) as DatasetInfo;
    return existsSync(info.dataDir) && existsSync(info.tablespaceDir) ? info : undefined;
  } catch {
    return undefined;
  }
}

async function measureSizes(cluster: TestCluster): Promise<DatasetSizes> {
  const result = await cluster.query<{ main: string; ts: string; dbs: string }>(
    `SELECT (pg_tablespace_size('pg_default') + pg_tablespace_size('pg_global'))::text AS main,
            pg_tablespace_size('ts1')::text AS ts,
            (SELECT sum(pg_database_size(oid)) FROM pg_database)::text AS dbs`,
  );
  const row = result.rows[0];
  if (!row) throw new Error('could not read the dataset sizes');
  const mainBytes = Number(row.main);
  const tablespaceBytes = Number(row.ts);
  return { mainBytes, tablespaceBytes, totalBytes: mainBytes + tablespaceBytes, databasesBytes: Number(row.dbs) };
}

function reopen(dir: string): TestCluster {
  return new TestCluster({ version: 15, dataDir: path.join(dir, 'data'), baseDir: dir, removeDataDir: false });
}

async function load(cluster: TestCluster, scale: number, eventsRows: number, log: (line: string) => void): Promise<void> {
  for (const [name, value] of Object.entries(LOAD_SETTINGS)) {
    await cluster.query(`ALTER SYSTEM SET ${name} = '${value}'`);
  }
  await cluster.query('SELECT pg_reload_conf()');

  log(`  pgbench -i -s ${scale} (main directory)`);
  // dtGvp: drop, create tables, generate rows in the server, vacuum, primary keys.
  await run(PGBENCH, ['-i', '-I', 'dtGvp', '-s', String(scale), '-q'], { env: cluster.env });

  log(`  bench_events: ${eventsRows} rows (tablespace ts1)`);
  await cluster.query(`
    CREATE TABLE bench_events (
      id bigint NOT NULL,
      created_at timestamptz NOT NULL,
      account_id integer NOT NULL,
      kind text NOT NULL,
      amount numeric(12, 2) NOT NULL,
      note text NOT NULL
    ) TABLESPACE ts1`);
  for (let batch = 0; batch * EVENTS_BATCH < eventsRows; batch++) {
    const first = batch * EVENTS_BATCH + 1;
    const last = Math.min(eventsRows, first + EVENTS_BATCH - 1);
    // A seed per batch: the same scale always produces the same rows, and batches differ.
    await cluster.query(`
      SELECT setseed(${((batch * 37) % 1000) / 1000});
      INSERT INTO bench_events
      SELECT i,
             timestamptz '2024-01-01 00:00:00+00' + i * interval '37 ms',
             (random() * 2000000)::int,
             (ARRAY['view', 'click', 'purchase', 'refund', 'login', 'logout'])[1 + (random() * 5)::int],
             round((random() * 10000)::numeric, 2),
             (ARRAY['ok', 'retry', 'pending', 'failed'])[1 + (random() * 3)::int] || ' ' ||
               substr(md5(random()::text), 1, 8 + (random() * 24)::int) || ' ' ||
               repeat('-', (random() * 16)::int)
        FROM generate_series(${first}, ${last}) i`);
  }
  await cluster.query('ALTER TABLE bench_events ADD PRIMARY KEY (id) USING INDEX TABLESPACE ts1');

  log('  vacuum freeze, checkpoint');
  await cluster.query('VACUUM (FREEZE, ANALYZE)');
  await cluster.query('ALTER SYSTEM RESET ALL');
  await cluster.query('SELECT pg_reload_conf()');
  // Two checkpoints around a segment switch let the server recycle the load's WAL down to
  // max_wal_size, so the cached data directory does not keep gigabytes of old segments.
  await cluster.query('CHECKPOINT');
  await cluster.query('SELECT pg_switch_wal()');
  await cluster.query('CHECKPOINT');
}

async function build(dir: string, scale: number, log: (line: string) => void): Promise<DatasetInfo> {
  const started = Date.now();
  const eventsRows = scale * EVENTS_PER_SCALE;
  log(`building dataset ${path.basename(dir)} (once; later runs reuse it)`);
  const cluster = await startCluster({ version: 15, tablespaces: 1, settings: BENCH_SETTINGS });
  const tablespace = cluster.tablespaces[0];
  if (!tablespace) throw new Error('the benchmark cluster has no tablespace');
  await load(cluster, scale, eventsRows, log);
  const sizes = await measureSizes(cluster);
  await cluster.stop();

  // Move the whole harness directory into the cache (same filesystem: a rename) and point
  // the tablespace symlink at the moved tablespace directory.
  await mkdir(path.dirname(dir), { recursive: true, mode: 0o755 });
  await rename(cluster.baseDir, dir);
  const link = path.join(dir, 'data', 'pg_tblspc', String(tablespace.oid));
  const tablespaceDir = path.join(dir, path.basename(tablespace.location));
  await unlink(link);
  await symlink(tablespaceDir, link);

  const info: DatasetInfo = {
    key: path.basename(dir),
    scale,
    eventsRows,
    dir,
    dataDir: path.join(dir, 'data'),
    tablespaceDir,
    builtAt: new Date().toISOString(),
    buildSeconds: Math.round((Date.now() - started) / 1000),
    sizes,
  };
  await writeFile(path.join(dir, 'dataset.json'), `${JSON.stringify(info, null, 2)}\n`);
  return info;
}

/** Reuse (or build) the dataset for a scale and start its server. */
export async function openDataset(opts: OpenDatasetOptions): Promise<OpenDataset> {
  const dir = path.join(opts.cacheDir, datasetKey(opts.scale));
  let info = opts.rebuild ? undefined : await readInfo(dir);
  const built = info === undefined;
  if (!info) {
    await rm(dir, { recursive: true, force: true });
    info = await build(dir, opts.scale, opts.log);
  }
  const cluster = reopen(dir);
  await cluster.start();
  // Sizes as the server reports them now (also checks that the tablespace moved correctly).
  info = { ...info, sizes: await measureSizes(cluster) };
  const location = cluster.tablespaces.find((t) => t.name === 'ts1')?.location;
  if (location !== info.tablespaceDir) {
    await cluster.stop();
    throw new Error(`tablespace "ts1" of dataset "${dir}" is at "${String(location)}", expected "${info.tablespaceDir}": run with --rebuild`);
  }
  return { info, built, cluster };
}
