/**
 * What a backup run says to the server: the BASE_BACKUP options exactly as pg_basebackup
 * builds them, and the connection parameters -R writes into primary_conninfo.
 */
import { NotSupportedError } from '../errors.js';
import type { BaseBackupOptions } from '../replication/base-backup-events.js';
import { mergeConnectParams } from '../replication/connection-options.js';
import type { BaseBackupRunOptions } from '../basebackup.js';

/**
 * What libpq's PQconninfo() would start from for -R: the keywords the user gave (connection
 * string, then -h/-p/-U), not the effective ones (libpq leaves host out when none was given);
 * buildPrimaryConninfo adds the environment and libpq's defaults. A password typed at the
 * prompt is the one effective value libpq also reports.
 */
export function primaryConninfoParams(given: BaseBackupRunOptions['connection'], effective: Record<string, string>): Record<string, string> {
  const params = mergeConnectParams(given);
  if (params.password === undefined && process.env.PGPASSWORD === undefined && effective.password !== undefined) {
    params.password = effective.password;
  }
  return params;
}

export function serverVersionText(num: number): string {
  return `${Math.floor(num / 10000)}.${num % 10000}`;
}

/** Builds the BASE_BACKUP option set exactly as pg_basebackup would for these options. */
export function baseBackupCommandOptions(opts: BaseBackupRunOptions, serverVersionNum: number): BaseBackupOptions {
  const compression = opts.compression ?? null;
  const server = compression !== null && compression.location === 'server' && compression.method !== 'none';
  if (server && serverVersionNum < 150000) {
    throw new NotSupportedError(`server version ${serverVersionText(serverVersionNum)} does not support server-side compression`, {
      hint: 'Use client-side compression (-Z client-gzip) with servers older than 15.',
    });
  }
  const destination = opts.destination;
  const manifest = opts.manifest === undefined ? { checksums: 'CRC32C' as const } : opts.manifest;
  return {
    label: opts.label,
    progress: opts.estimateSize ?? true,
    checkpoint: opts.checkpoint,
    wal: opts.walMethod === 'fetch',
    wait: opts.walMethod === 'none',
    maxRateKbPerSec: opts.maxRateKbPerSec ?? null,
    // pg_basebackup asks for tablespace_map in tar format only (a backup target counts as plain).
    tablespaceMap: destination.kind === 'directory' ? destination.format === 'tar' : destination.kind !== 'server',
    verifyChecksums: opts.verifyChecksums ?? true,
    manifest: manifest === null ? 'no' : manifest.forceEncode ? 'force-encode' : 'yes',
    manifestChecksums: manifest === null ? 'CRC32C' : manifest.checksums,
    compression: server
      ? { method: compression.method as 'gzip' | 'lz4' | 'zstd', detail: compression.detail }
      : null,
    target: destination.kind === 'server' ? destination.target : null,
  };
}
