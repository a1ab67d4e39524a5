// Reference backups made WITHOUT pgfleet, in pg_basebackup's tar layout (base.tar, <oid>.tar,
// pg_wal.tar, optionally compressed), to test the hand restore and to compare with pgfleet.
//
// - 'pg_basebackup': the system pg_basebackup 15 (-F t -X stream -c fast). It refuses servers
//   newer than itself ("incompatible server version 16.x"), whatever the -X method, so it is
//   only usable for servers 13-15.
// - 'low-level': the SQL backup API on one session (pg_start_backup/pg_stop_backup
//   non-exclusive on 13/14, pg_backup_start/pg_backup_stop on 15+), the data directory and
//   tablespaces archived by the system tar, backup_label and tablespace_map (returned by the
//   stop call) appended to base.tar, and the WAL segments from the start segment to the stop
//   segment copied into pg_wal.tar with archive_status/<seg>.done, as -X fetch would. A
//   temporary physical slot reserved before the start keeps those segments from recycling.
//   Works for every version, runs as root, reads the server's files directly: the cluster
//   must be local. No backup_manifest is written.
//
// Both leave the server untouched (no configuration change).

import { copyFile, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { TestCluster } from './cluster.js';
import { run } from './os-user.js';
import { hasProgram, type Compression } from './restore.js';
import { systemBin } from './versions.js';

export type ReferenceMethod = 'pg_basebackup' | 'low-level';

export interface ReferenceBackupOptions {
  cluster: TestCluster;
  /** Created if absent; must be empty. */
  outDir: string;
  /** Default: pg_basebackup for servers 13-15, low-level for 16+. */
  method?: ReferenceMethod;
  compression?: Compression;
  label?: string;
}

export interface ReferenceBackup {
  method: ReferenceMethod;
  dir: string;
  /** Archive file names in dir, sorted. */
  files: string[];
}

const PG_BASEBACKUP_MAX_SERVER = 15;

export function defaultReferenceMethod(version: number): ReferenceMethod {
  return version <= PG_BASEBACKUP_MAX_SERVER ? 'pg_basebackup' : 'low-level';
}

export async function takeReferenceBackup(opts: ReferenceBackupOptions): Promise<ReferenceBackup> {
  const method = opts.method ?? defaultReferenceMethod(opts.cluster.version);
  const compression = opts.compression ?? 'none';
  await mkdir(opts.outDir, { recursive: true });
  if ((await readdir(opts.outDir)).length > 0) throw new Error(`directory "${opts.outDir}" exists but is not empty`);
  if (compression !== 'none' && !hasProgram(compression)) {
    throw new Error(`the "${compression}" program is not installed (apt-get install ${compression})`);
  }
  if (method === 'pg_basebackup') {
    if (opts.cluster.version > PG_BASEBACKUP_MAX_SERVER) {
      throw new Error(`pg_basebackup 15 cannot back up PostgreSQL ${opts.cluster.version}: use method "low-level"`);
    }
    const args = ['-D', opts.outDir, '-F', 't', '-X', 'stream', '-c', 'fast', '--no-sync', '-l', opts.label ?? 'pgfleet reference'];
    if (compression !== 'none') args.push(`--compress=client-${compression}`);
    args.push('-d', opts.cluster.connectionString);
    await run(systemBin('pg_basebackup'), args);
  } else {
    await lowLevelBackup(opts.cluster, opts.outDir, opts.label ?? 'pgfleet reference');
    if (compression !== 'none') await compressArchives(opts.outDir, compression);
  }
  const files = (await readdir(opts.outDir)).sort();
  return { method, dir: opts.outDir, files };
}

const TAR_QUIET = ['--warning=no-file-changed', '--warning=no-file-removed', '--ignore-failed-read'];

/** tar, accepting exit code 1 ("some files differ": files changed while read, expected here). */
async function tarTolerant(args: string[]): Promise<void> {
  const result = await run('tar', [...TAR_QUIET, ...args], { allowFailure: true });
  if (result.code !== 0 && result.code !== 1) {
    throw new Error(`tar ${args.join(' ')} failed (exit code ${String(result.code)}): ${result.stderr.trim()}`);
  }
}

// What the server itself leaves out of base.tar (PROTOCOL.md 2.5), as tar --exclude patterns
// (unanchored; "*" matches "/"). pg_tblspc symlinks are left out as with TABLESPACE_MAP.
const BASE_EXCLUDES = [
  'pg_wal/[0-9A-F]*',
  'pg_wal/archive_status/*',
  'pg_wal/summaries/*',
  'pg_tblspc/*',
  'pg_replslot/*',
  'pg_stat_tmp/*',
  'pg_dynshmem/*',
  'pg_notify/*',
  'pg_serial/*',
  'pg_snapshots/*',
  'pg_subtrans/*',
  'pgsql_tmp*',
  'pg_internal.init*',
];
const TOP_LEVEL_SKIP = new Set([
  'postmaster.pid',
  'postmaster.opts',
  'backup_label',
  'tablespace_map',
  'backup_manifest',
  'postgresql.auto.conf.tmp',
  'current_logfiles.tmp',
]);

const WAL_SEGMENT = /^[0-9A-F]{24}$/;

async function lowLevelBackup(cluster: TestCluster, outDir: string, label: string): Promise<void> {
  const client = await cluster.connect();
  const modern = cluster.version >= 15;
  try {
    const slot = `pgfleet_reference_${process.pid}_${Date.now()}`;
    await client.query('SELECT pg_create_physical_replication_slot($1, true, true)', [slot]);
    await client.query(modern ? 'SELECT pg_backup_start($1, true)' : 'SELECT pg_start_backup($1, true, false)', [label]);

    const dataEntries = (await readdir(cluster.dataDir)).filter((name) => !TOP_LEVEL_SKIP.has(name)).sort();
    await tarTolerant([
      '-c', '-f', path.join(outDir, 'base.tar'), '-C', cluster.dataDir,
      ...BASE_EXCLUDES.map((p) => `--exclude=${p}`),
      ...dataEntries,
    ]);
    for (const ts of await cluster.refreshTablespaces()) {
      const entries = (await readdir(ts.location)).sort();
      await tarTolerant(['-c', '-f', path.join(outDir, `${ts.oid}.tar`), '-C', ts.location, '--exclude=pgsql_tmp*', ...entries]);
    }

    const stop = await client.query<{ lsn: string; labelfile: string; spcmapfile: string | null }>(
      modern
        ? 'SELECT lsn::text AS lsn, labelfile, spcmapfile FROM pg_backup_stop(false)'
        : 'SELECT lsn::text AS lsn, labelfile, spcmapfile FROM pg_stop_backup(false, false)',
    );
    const row = stop.rows[0];
    if (!row) throw new Error('the backup stop function returned no row');
    const startFile = /^START WAL LOCATION: \S+ \(file ([0-9A-F]{24})\)$/m.exec(row.labelfile)?.[1];
    if (!startFile) throw new Error(`no start WAL file in backup_label:\n${row.labelfile}`);
    const endResult = await client.query<{ name: string }>('SELECT pg_walfile_name($1::pg_lsn) AS name', [row.lsn]);
    const endFile = endResult.rows[0]?.name;
    if (!endFile) throw new Error(`no WAL file name for the stop location ${row.lsn}`);

    const staging = path.join(outDir, '.staging');
    await mkdir(path.join(staging, 'wal', 'archive_status'), { recursive: true });
    await writeFile(path.join(staging, 'backup_label'), row.labelfile, { mode: 0o600 });
    await writeFile(path.join(staging, 'tablespace_map'), row.spcmapfile ?? '', { mode: 0o600 });
    await run('tar', ['-r', '-f', path.join(outDir, 'base.tar'), '-C', staging, 'backup_label', 'tablespace_map']);

    // Segments of the backup's timeline between the start and stop segments, inclusive.
    const timeline = startFile.slice(0, 8);
    const walDir = path.join(cluster.dataDir, 'pg_wal');
    const segments = (await readdir(walDir))
      .filter((name) => WAL_SEGMENT.test(name) && name.startsWith(timeline) && name >= startFile && name <= endFile)
      .sort();
    if (segments[0] !== startFile || segments[segments.length - 1] !== endFile) {
      throw new Error(`WAL segments ${startFile}..${endFile} are not all in "${walDir}" (found ${segments.join(', ')})`);
    }
    const walMembers: string[] = [];
    for (const segment of segments) {
      await copyFile(path.join(walDir, segment), path.join(staging, 'wal', segment));
      await writeFile(path.join(staging, 'wal', 'archive_status', `${segment}.done`), '');
      walMembers.push(segment, `archive_status/${segment}.done`);
    }
    await run('tar', ['-c', '-f', path.join(outDir, 'pg_wal.tar'), '-C', path.join(staging, 'wal'), ...walMembers]);
    await rm(staging, { recursive: true, force: true });
  } finally {
    // The temporary slot goes with the session.
    await client.end().catch(() => undefined);
  }
}

async function compressArchives(dir: string, compression: Exclude<Compression, 'none'>): Promise<void> {
  for (const name of await readdir(dir)) {
    if (!name.endsWith('.tar')) continue;
    const file = path.join(dir, name);
    if (compression === 'gzip') await run('gzip', ['-q', file]);
    else if (compression === 'lz4') await run('lz4', ['-q', '--rm', file, `${file}.lz4`]);
    else await run('zstd', ['-q', '--rm', file]);
    if (existsSync(file)) throw new Error(`"${file}" was not replaced by its compressed form`);
  }
}
