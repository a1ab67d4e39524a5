/**
 * What a restore is asked to do, as the engine receives it from the command line or from a
 * gRPC RestoreSpec, and the parsing of the pieces that have a textual form: the recovery mode
 * and pg_basebackup-style `-T OLDDIR=NEWDIR` tablespace mappings (`\=` for a literal "=",
 * both directories absolute).
 */

import type { RecoveryTarget } from '@pgfleet/core';
import { InvalidOptionError } from '@pgfleet/core/errors';
import { TablespaceMappingError, parseTablespaceMapping as parseMapping } from '@pgfleet/core/tablespace-mapping';
import type { PointInTimeOptions } from './targets.js';

export type RecoveryMode = 'standby' | 'promote' | 'none';

export const RECOVERY_MODES: readonly RecoveryMode[] = ['standby', 'promote', 'none'];

export interface TablespaceMapping {
  /** The tablespace's location as the backup records it. */
  oldDir: string;
  newDir: string;
}

export type RestoreEvent =
  | { type: 'plan'; mode: RecoveryMode; statement: string; dataDir: string; pointInTime?: string }
  | { type: 'progress'; phase: 'extract' | 'verify' | 'finish' | 'start'; file: string; bytesDone: number; bytesTotal: number }
  | { type: 'warning'; message: string };

export interface RestoreOptions {
  /** The new data directory: absent or empty. */
  dataDir: string;
  tablespaceMappings?: readonly TablespaceMapping[];
  /** pg_wal becomes a symbolic link to this directory (absent or empty). */
  walDir?: string | null;
  /** Always explicit. */
  mode: RecoveryMode;
  /**
   * promote only: recover to a target from a WAL archive (targets.ts) instead of stopping at the
   * end of the backup.
   */
  pointInTime?: PointInTimeOptions | null;
  /** standby: replaces the primary_conninfo a -R backup carries. */
  primaryConninfo?: string | null;
  /** Start the restored instance with pg_ctl and report on it. */
  start?: boolean;
  /** Port to start on; by default the restored configuration's. */
  port?: number | null;
  /** Unix socket directory for the started instance; os.tmpdir() by default. */
  socketDir?: string | null;
  /** OS user owning the restored files and running the server (root only); "postgres" by default. */
  owner?: string | null;
  /** Role for the report's connection; PGUSER, else the owner's name. */
  connectUser?: string | null;
  /** Directories holding PostgreSQL binaries, searched before the usual places. */
  pgBin?: readonly string[];
  /** When set, every directory written must lie within one of these (the agent's allowedRoots). */
  allowedRoots?: readonly string[] | null;
  /** Check files against backup_manifest while extracting (default true). */
  verify?: boolean;
  /** fsync everything before reporting success (default true; tests may turn it off). */
  sync?: boolean;
  /** Seconds to wait, in all, for the server to accept connections and (promote) to leave recovery (default 300). */
  startTimeoutSeconds?: number;
  /**
   * standby with start: seconds to wait, after the server accepts connections and within the
   * start timeout, for its WAL receiver to stream from the primary (default 30; 0: no wait).
   */
  followTimeoutSeconds?: number;
  /**
   * Aborting cancels the restore (CancelledError): before the commit its staging directories
   * are removed; after it (while starting and reporting) the started server is stopped and the
   * committed targets are removed too, so a cancelled restore leaves nothing either way.
   */
  signal?: AbortSignal;
  onEvent?: (event: RestoreEvent) => void;
}

export function parseRecoveryMode(text: string): RecoveryMode {
  if ((RECOVERY_MODES as readonly string[]).includes(text)) return text as RecoveryMode;
  throw new InvalidOptionError(`invalid recovery mode "${text}", must be "standby", "promote" or "none"`);
}

/**
 * Parses "OLDDIR=NEWDIR" with core's -T parser (pg_basebackup's rules: "\=" for a literal "=",
 * both sides absolute, canonicalized); the messages name the whole argument.
 */
export function parseTablespaceMapping(arg: string): TablespaceMapping {
  try {
    return parseMapping(arg);
  } catch (err) {
    if (!(err instanceof TablespaceMappingError)) throw err;
    switch (err.problem) {
      case 'format':
        throw new InvalidOptionError(`invalid tablespace mapping format "${arg}", must be "OLDDIR=NEWDIR"`);
      case 'multiple-separators':
        throw new InvalidOptionError(`multiple "=" signs in tablespace mapping "${arg}"`);
      case 'old-not-absolute':
        throw new InvalidOptionError(`old directory is not an absolute path in tablespace mapping "${arg}"`);
      case 'new-not-absolute':
        throw new InvalidOptionError(`new directory is not an absolute path in tablespace mapping "${arg}"`);
    }
  }
}

/** The sentence printed before anything is written: what the restored copy will be. */
export function describeMode(mode: RecoveryMode, dataDir: string, target: RecoveryTarget | null = null): string {
  if (target !== null && mode === 'promote') {
    const then = target.kind === 'latest' || target.action === 'promote'
      ? 'then leaves recovery and accepts writes on a new timeline'
      : target.action === 'pause' ? 'then pauses there, in recovery and read-only' : 'then shuts down';
    return `restoring into "${dataDir}" to a point in time (--mode promote): it replays the WAL archive up to the target, ${then}`;
  }
  switch (mode) {
    case 'standby':
      return `restoring into "${dataDir}" as a standby (--mode standby): it will stay in recovery, read-only by design, and follow its primary_conninfo`;
    case 'promote':
      return `restoring into "${dataDir}" as a new primary (--mode promote): once consistent it leaves recovery and accepts writes on a new timeline`;
    case 'none':
      return `restoring into "${dataDir}" with files only (--mode none): recovery configuration exactly as in the backup`;
  }
}
