/**
 * One base backup run: options -> connection -> BASE_BACKUP -> one streamer chain per archive
 * -> result. This is the engine behind pgfleet-basebackup and the agent's and controller's
 * backups; it prints nothing itself (a BackupReporter receives milestones and progress). Its
 * options say what to back up and where to (a BackupDestination), not how pg_basebackup's
 * command line says it: the bin maps its flags onto them (bin/basebackup-args.ts).
 *
 * Output contract (same as pg_basebackup 17):
 * - tar format: <D>/base.tar, <D>/<oid>.tar per tablespace, <D>/pg_wal.tar (-X stream), each
 *   with the compression suffix; <D>/backup_manifest. The stdout destination writes base.tar
 *   to stdout with backup_manifest injected into it; the sinks destination hands the same
 *   files as the tar directory has to the caller.
 * - plain format: the data directory in <D>, each tablespace in its (mapped) location with
 *   pg_tblspc/<oid> symlinked there, pg_wal streamed into <D>/pg_wal (or --waldir, symlinked).
 * - on failure, everything this run created is removed (unless noClean), except after a data
 *   checksum failure (ERROR XX001 once all data was sent), where nothing is removed, as
 *   pg_basebackup does: the archives or extracted files, pg_wal / pg_wal.tar as far as WAL was
 *   streamed, backup_manifest.tmp (not renamed) and the tablespace directories all stay.
 *
 * The run itself is basebackup/backup-run.ts (one step per method), its archive chains
 * basebackup/archive-chain.ts.
 */
import type { Streamer } from './archive/streamer.js';
import type { CompressionSpec } from './archive/compression-spec.js';
import type { BaseBackupOptions } from './replication/base-backup-events.js';
import type { ReplicationConnectOptions } from './replication/connection.js';
import { BackupRun } from './basebackup/backup-run.js';
import type { TablespaceMapping } from './tablespace-mapping.js';

export { prepareEmptyDirectory } from './basebackup/backup-files.js';

export type { TablespaceMapping } from './tablespace-mapping.js';

/** pg_basebackup -t NAME[:DETAIL]: the server keeps the backup (server:/dir) or drops it (blackhole). */
export interface BackupTarget {
  name: string;
  detail: string | null;
}

/** The caller's sinks: one Streamer per file of the tar layout. */
export interface BackupOutput {
  /**
   * Called once per file of pg_basebackup's tar layout ("base.tar.gz", "16384.tar",
   * "pg_wal.tar", "backup_manifest"), in the order they are written; the returned Streamer
   * receives the file's bytes as 'unknown' chunks.
   */
  createFile(name: string): Promise<Streamer>;
}

/** Where the backup goes. */
export type BackupDestination =
  /** A directory (pg_basebackup -D DIR): absent or empty; tar archives or a plain data directory. */
  | {
    kind: 'directory';
    path: string;
    format: 'plain' | 'tar';
    /** plain: -T OLDDIR=NEWDIR, where each tablespace is extracted. */
    tablespaceMappings?: readonly TablespaceMapping[];
    /** plain: --waldir, pg_wal becomes a link to it. */
    waldir?: string | null;
    /** fsync everything at the end (default true; -N: false). */
    sync?: boolean;
    /** Keep what was written after a failure (-n). */
    noClean?: boolean;
    /**
     * Write the files with blocking writes on the calling thread, as pg_basebackup does,
     * instead of on the threadpool. Default true: on the 2-CPU bench machine a 2.2 GB tar
     * backup took 2.65 s of CPU and 4.6 s instead of 3.70 s and 7.0 s.
     */
    blocking?: boolean;
  }
  /** base.tar on standard output with backup_manifest injected (pg_basebackup -D - -F t). */
  | { kind: 'stdout' }
  /** The files of the tar layout to the caller (the agent's Backup call, the controller). */
  | ({ kind: 'sinks' } & BackupOutput)
  /** -t: the server stores or discards the backup; nothing is written here (15+ servers). */
  | { kind: 'server'; target: BackupTarget };

export type ManifestChecksums = BaseBackupOptions['manifestChecksums'];

/** What to back up, how, and where to; defaults are what a daemon wants. */
export interface BaseBackupRunOptions {
  /** libpq-style: connectionString (-d) plus host/port/user overrides; the rest from PG* env.
   * noProgressTimeoutMs bounds every wait for the server on both connections (see
   * ReplicationConnectOptions); pg_basebackup has none, the daemons set one. */
  connection: { connectionString?: string; host?: string; port?: number; user?: string; noProgressTimeoutMs?: number };
  /** May a password be asked for: 'never' (default: a daemon has no terminal), 'force' (ask before connecting), 'auto'. */
  passwordPrompt?: 'never' | 'force' | 'auto';
  destination: BackupDestination;
  walMethod: 'none' | 'fetch' | 'stream';
  /** -X stream: the replication slot to stream from (default none). */
  slot?: string | null;
  /** Create `slot` first (-C). */
  createSlot?: boolean;
  /** -X stream without a slot: stream from a temporary slot (default true; --no-slot: false). */
  temporarySlot?: boolean;
  /** Default: none. */
  compression?: CompressionSpec;
  /** -R: standby configuration in the backup. */
  writeRecoveryConf?: boolean;
  checkpoint: 'fast' | 'spread';
  label: string;
  /** Ask the server for size estimates (progress totals; default true). */
  estimateSize?: boolean;
  maxRateKbPerSec?: number | null;
  /** Default 10. */
  statusIntervalSec?: number;
  /** The backup_manifest asked for (default CRC32C checksums); null: none (--no-manifest). */
  manifest?: { checksums: ManifestChecksums; forceEncode?: boolean } | null;
  /** Default true. */
  verifyChecksums?: boolean;
}

export interface ProgressState {
  doneBytes: number;
  /** Sum of the server's size estimates, in kB (0 without estimates). */
  totalKb: number;
  tablespaceNum: number;
  tablespaceCount: number;
  /** The file being written (tar) or null. */
  filename: string | null;
}

/** What the server said when the backup began (after the checkpoint, before any archive). */
export interface BackupStartInfo {
  systemIdentifier: string;
  serverVersionNum: number;
  timeline: number;
  startLsn: string;
  /** The user tablespaces (the main directory is not listed). */
  tablespaces: Array<{ oid: number; location: string }>;
  /** Sum of the server's size estimates in bytes; 0 unless asked for (estimateSize). */
  estimatedBytes: number;
}

/** Receives what pg_basebackup prints; a missing method is not reported. */
export interface BackupReporter {
  /** What pg_basebackup always prints (the clean-up after a failure). */
  info(message: string): void;
  /** Milestones, what pg_basebackup prints with -v. */
  verbose?(message: string): void;
  /** Progress (what -P prints), at most once a second and once more at the end. */
  progress?(state: ProgressState, final: boolean): void;
  /** Before the checkpoint (pg_basebackup prints "waiting for checkpoint" with -P and without -v). */
  waitingForCheckpoint?(): void;
  /** Called once, before the first archive is created (for callers that announce the backup). */
  started?(info: BackupStartInfo): void | Promise<void>;
}

export interface BackupTablespace {
  oid: number;
  location: string;
  archive: string | null;
}

export interface BaseBackupResult {
  systemIdentifier: string;
  serverVersionNum: number;
  timeline: number;
  startLsn: string;
  endLsn: string;
  tablespaces: BackupTablespace[];
  /** Files written (tar layout), relative to the directory; for sinks, in the order created. */
  files: string[];
  bytes: number;
  startedAt: Date;
  finishedAt: Date;
}

const silentReporter: BackupReporter = { info() {} };

/** Runs one base backup. Throws a PgFleetError on failure after cleaning up. */
export async function runBaseBackup(
  opts: BaseBackupRunOptions,
  reporter: BackupReporter = silentReporter,
  connectOptions: Pick<ReplicationConnectOptions, 'signal' | 'promptPassword' | 'onNotice'> = {},
): Promise<BaseBackupResult> {
  return new BackupRun(opts, reporter, connectOptions).run();
}
