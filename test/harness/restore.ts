// Restore of pg_basebackup-layout backups "by hand", the way an administrator would do it with
// tar, independent of pgfleet's own restore code, so that every backup pgfleet writes is
// checked by a second implementation.
//
// restoreTarByHand() follows the manual procedure of /work/shared/SEED.md, plus the step the
// administrator missed: base.tar into the data directory, pg_wal.tar into pg_wal, each
// <oid>.tar into its NEW directory, pg_tblspc/<oid> symlinks to the new directories, AND
// tablespace_map rewritten with the new paths. Without the rewrite the server re-creates the
// symlinks from the map at startup and silently uses the ORIGINAL locations.
//
// startRestored() starts such a directory as the PostgreSQL OS user on a free port:
//   - 'promote': standby.signal and recovery.signal are removed and the server is simply
//     started. With a backup_label and no signal file PostgreSQL performs crash recovery from
//     the backup's checkpoint through the WAL in pg_wal, checks that the end-of-backup point
//     was reached, and opens read-write on the SAME timeline (no timeline switch, no
//     restore_command needed). This is what "restore and use it" means for a self-contained
//     backup (-X stream / fetch). recovery.signal alone would not do: without a
//     restore_command PostgreSQL refuses to start archive recovery.
//   - 'archive-recovery': recovery.signal + restore_command=false: replays pg_wal, then ends
//     archive recovery and switches to a NEW timeline (what pgfleet's --mode promote promises).
//   - 'standby': standby.signal is ensured (primary_conninfo written by -R, if any, is kept);
//     the server stays in recovery, read-only.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, lstat, mkdir, readdir, readFile, realpath, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { TablespaceMapError, parseTablespaceMap as parseMap } from '@pgfleet/core';
import { TestCluster } from './cluster.js';
import { chownR, makeTempDir, mkdirOwned, run } from './os-user.js';
import type { PgVersion } from './versions.js';

export type Compression = 'none' | 'gzip' | 'lz4' | 'zstd';

interface ArchiveFile {
  /** "base", "pg_wal" or a tablespace oid as text. */
  kind: string;
  file: string;
  compression: Compression;
}

const ARCHIVE_NAME = /^(base|pg_wal|[0-9]+)\.tar(?:\.(gz|lz4|zst))?$/;

const TOOL_FOR: Record<Exclude<Compression, 'none'>, string> = { gzip: 'gzip', lz4: 'lz4', zstd: 'zstd' };

function compressionOf(suffix: string | undefined): Compression {
  if (suffix === 'gz') return 'gzip';
  if (suffix === 'lz4') return 'lz4';
  if (suffix === 'zst') return 'zstd';
  return 'none';
}

/** Whether a program is on PATH (tar runs compressors by name). */
export function hasProgram(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

/** The archives of a pg_basebackup tar-format backup directory. */
async function listArchives(backupDir: string): Promise<ArchiveFile[]> {
  const archives: ArchiveFile[] = [];
  for (const name of (await readdir(backupDir)).sort()) {
    const match = ARCHIVE_NAME.exec(name);
    if (!match || !match[1]) continue;
    archives.push({ kind: match[1], file: path.join(backupDir, name), compression: compressionOf(match[2]) });
  }
  return archives;
}

/** Extract one (possibly compressed) tar archive into a directory with the system tar. */
export async function extractTar(file: string, intoDir: string): Promise<void> {
  const compression = compressionOf(/\.tar\.(gz|lz4|zst)$/.exec(file)?.[1]);
  const args = ['-x', '-f', file, '-C', intoDir, '--no-same-owner'];
  if (compression !== 'none') {
    const tool = TOOL_FOR[compression];
    if (!hasProgram(tool)) {
      throw new Error(`cannot extract "${file}": the "${tool}" program is not installed (apt-get install ${tool})`);
    }
    // tar runs "<tool> -d" for extraction.
    args.push(`--use-compress-program=${tool}`);
  }
  await run('tar', args);
}

/** tablespace_map path escaping: "\n", "\r" and "\" are each preceded by a backslash. */
export function escapeMapPath(location: string): string {
  return location.replace(/[\\\n\r]/g, (c) => `\\${c}`);
}

/**
 * Parse tablespace_map: "<oid> <path>" lines, paths unescaped (core's parser; a malformed map is
 * an Error naming the rest of the text from the bad line on).
 */
export function parseTablespaceMap(text: string): Map<number, string> {
  try {
    return parseMap(text);
  } catch (err) {
    if (!(err instanceof TablespaceMapError)) throw err;
    throw new Error(`malformed tablespace_map line "${text.slice(err.offset)}"`);
  }
}

export interface HandRestoreOptions {
  /** Directory holding base.tar[.gz|.lz4|.zst], pg_wal.tar…, <oid>.tar…, backup_manifest. */
  backupDir: string;
  /** New data directory: created 0700 if absent, must be empty if present. */
  targetDir: string;
  /** New directory for every tablespace in the backup, by oid (created if absent, must be empty). */
  tablespaceTargets?: Map<number, string>;
  /**
   * Rewrite tablespace_map with the new paths (default true). false reproduces the mistake of
   * SEED.md (symlinks only): PostgreSQL then moves the tablespaces back to their old paths.
   */
  rewriteTablespaceMap?: boolean;
}

export interface HandRestoreResult {
  dataDir: string;
  /** Where each tablespace was extracted and pg_tblspc/<oid> now points. */
  tablespaces: Array<{ oid: number; location: string }>;
  /** tablespace_map as found in base.tar (oid -> original path), empty if there was none. */
  originalTablespaceMap: Map<number, string>;
  archives: string[];
}

async function ensureEmptyDir(dir: string): Promise<void> {
  if (existsSync(dir)) {
    const entries = await readdir(dir);
    if (entries.length > 0) throw new Error(`directory "${dir}" exists but is not empty`);
  } else {
    await mkdirOwned(dir);
  }
  await chmod(dir, 0o700);
}

/** Restore a tar-format backup by hand (see the module comment). */
export async function restoreTarByHand(opts: HandRestoreOptions): Promise<HandRestoreResult> {
  const archives = await listArchives(opts.backupDir);
  const base = archives.find((a) => a.kind === 'base');
  if (!base) throw new Error(`no base.tar in "${opts.backupDir}"`);
  const targets = opts.tablespaceTargets ?? new Map<number, string>();
  const tablespaceArchives = archives.filter((a) => /^[0-9]+$/.test(a.kind));
  for (const archive of tablespaceArchives) {
    if (!targets.has(Number(archive.kind))) {
      throw new Error(`no target directory given for tablespace "${archive.kind}" (${path.basename(archive.file)})`);
    }
  }
  for (const oid of targets.keys()) {
    if (!tablespaceArchives.some((a) => Number(a.kind) === oid)) {
      throw new Error(`tablespace "${oid}" has a target directory but no archive in "${opts.backupDir}"`);
    }
  }

  const dataDir = opts.targetDir;
  await ensureEmptyDir(dataDir);
  await extractTar(base.file, dataDir);

  const walDir = path.join(dataDir, 'pg_wal');
  await mkdir(path.join(walDir, 'archive_status'), { recursive: true, mode: 0o700 });
  const wal = archives.find((a) => a.kind === 'pg_wal');
  if (wal) await extractTar(wal.file, walDir);

  const tblspcDir = path.join(dataDir, 'pg_tblspc');
  await mkdir(tblspcDir, { recursive: true, mode: 0o700 });
  const tablespaces: HandRestoreResult['tablespaces'] = [];
  for (const archive of tablespaceArchives) {
    const oid = Number(archive.kind);
    const location = path.resolve(targets.get(oid) as string);
    await ensureEmptyDir(location);
    await extractTar(archive.file, location);
    const link = path.join(tblspcDir, String(oid));
    // base.tar of -Ft carries no pg_tblspc symlinks, but a hand-made tar of the data dir may.
    const existing = await lstat(link).catch(() => undefined);
    if (existing) await unlink(link);
    await symlink(location, link);
    await chownR(location);
    tablespaces.push({ oid, location });
  }

  const mapFile = path.join(dataDir, 'tablespace_map');
  let originalTablespaceMap = new Map<number, string>();
  if (existsSync(mapFile)) {
    originalTablespaceMap = parseTablespaceMap(await readFile(mapFile, 'utf8'));
    if (opts.rewriteTablespaceMap !== false) {
      const lines = [...originalTablespaceMap.keys()].map((oid) => {
        const target = tablespaces.find((t) => t.oid === oid);
        if (!target) throw new Error(`tablespace_map names tablespace "${oid}" but the backup has no archive for it`);
        return `${oid} ${escapeMapPath(target.location)}\n`;
      });
      await writeFile(mapFile, lines.join(''), { mode: 0o600 });
    }
  }

  await chmod(dataDir, 0o700);
  await chownR(dataDir);
  return { dataDir, tablespaces, originalTablespaceMap, archives: archives.map((a) => path.basename(a.file)) };
}

/** Make a plain-format backup written as root startable: owner and 0700 on it and its tablespaces. */
export async function preparePlainRestore(opts: { dataDir: string }): Promise<void> {
  await chmod(opts.dataDir, 0o700);
  await chownR(opts.dataDir);
  const tblspcDir = path.join(opts.dataDir, 'pg_tblspc');
  if (!existsSync(tblspcDir)) return;
  for (const name of await readdir(tblspcDir)) {
    // chown -R -P does not follow the pg_tblspc symlinks: do their targets explicitly.
    const link = path.join(tblspcDir, name);
    if ((await lstat(link)).isSymbolicLink()) await chownR(await realpath(link));
  }
}

export type RestoredMode = 'promote' | 'archive-recovery' | 'standby';

export interface StartRestoredOptions {
  dataDir: string;
  version: PgVersion;
  mode: RestoredMode;
  /** Extra "name=value" server settings, passed as -c on the command line (files untouched). */
  settings?: string[];
  /** Remove dataDir on destroy() (default true). Tablespace directories are never removed by it. */
  removeDataDir?: boolean;
  /** 'archive-recovery' only: the restore_command (default `false`: replay pg_wal only). */
  restoreCommand?: string;
}

/**
 * Start a restored data directory (see the module comment for the modes). The handle is a
 * TestCluster: tracked for cleanup, with query/snapshot/stop/destroy; destroy() removes the
 * data directory (unless removeDataDir is false) but not the tablespace directories.
 */
export async function startRestored(opts: StartRestoredOptions): Promise<TestCluster> {
  const standbySignal = path.join(opts.dataDir, 'standby.signal');
  const recoverySignal = path.join(opts.dataDir, 'recovery.signal');
  const extraArgs = (opts.settings ?? []).map((s) => `-c ${shellQuote(s)}`);
  if (opts.mode === 'standby') {
    await rm(recoverySignal, { force: true });
    if (!existsSync(standbySignal)) await writeFile(standbySignal, '', { mode: 0o600 });
  } else {
    await rm(standbySignal, { force: true });
    await rm(recoverySignal, { force: true });
    if (opts.mode === 'archive-recovery') {
      await writeFile(recoverySignal, '', { mode: 0o600 });
      extraArgs.push(`-c ${shellQuote(`restore_command=${opts.restoreCommand ?? 'false'}`)}`);
    }
  }
  await chownR(opts.dataDir);
  const baseDir = await makeTempDir(`pgfleet-restored-pg${opts.version}`);
  const cluster = new TestCluster({
    version: opts.version,
    dataDir: opts.dataDir,
    baseDir,
    removeDataDir: opts.removeDataDir ?? true,
    extraArgs,
  });
  await cluster.start();
  return cluster;
}

function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}
