/**
 * Where a restore's backup comes from. A BackupSource hands the engine the backup's manifest
 * and then each of its archives, in order, as tar members (the streamer contract of
 * @pgfleet/core): a directory of tar files (tar-directory-source.ts), a plain-format backup
 * directory (plain-source.ts) or a gRPC stream (../grpc/stream-source.ts).
 *
 * Order: the base archive first, then tablespace archives, then the WAL archive. The engine
 * learns the tablespaces' original locations from the base archive, so it can only choose and
 * check their targets after that.
 */

import type { CompressionMethod, Streamer } from '@pgfleet/core';

export type ArchiveKind = 'base' | 'tablespace' | 'wal';

export interface ArchiveInfo {
  /** File name ("base.tar.gz", "16384.tar", "pg_wal.tar") or, for plain sources, a label. */
  name: string;
  kind: ArchiveKind;
  /** Tablespace OID for kind "tablespace"; null otherwise. */
  oid: number | null;
  compression: CompressionMethod;
  /** Source bytes (the file's size), when known. */
  size: number | null;
}

export type ArchiveBegin = (info: ArchiveInfo) => Promise<Streamer>;

export interface BackupSource {
  readonly layout: 'tar' | 'plain';
  /** For messages: the backup directory, or "gRPC stream from <peer>". */
  readonly location: string;
  /** Every archive, in the order stream() delivers them. */
  readonly archives: readonly ArchiveInfo[];
  /** Original tablespace locations known before reading (plain: the pg_tblspc links). */
  readonly tablespaceLocations: ReadonlyMap<number, string> | null;
  /** Data directory mode of a plain backup (0700/0750); null when the archives tell. */
  readonly dataDirectoryMode: number | null;
  /** backup_manifest's bytes, or null when the backup has none. Called once, before stream(). */
  readManifest(): Promise<Buffer | null>;
  /**
   * Delivers every archive: `begin(info)` returns the streamer its members go to; the source
   * feeds it, finalizes it, and disposes it on success and on failure. `progress` receives the
   * source bytes consumed so far within the current archive.
   */
  stream(begin: ArchiveBegin, progress: (info: ArchiveInfo, bytesDone: number) => void, signal?: AbortSignal): Promise<void>;
}

/** Archive files of pg_basebackup's tar layout: base, <oid> or pg_wal, then .tar[.gz|.lz4|.zst] or .tgz. */
const ARCHIVE_FILE = /^(base|pg_wal|[1-9][0-9]*)(\.tar|\.tgz|\.tar\.gz|\.tar\.lz4|\.tar\.zst)$/;

/** Classifies a file name of a tar-format backup; null for anything else. */
export function classifyArchiveName(name: string): Omit<ArchiveInfo, 'size'> | null {
  const m = ARCHIVE_FILE.exec(name);
  if (!m) return null;
  const stem = m[1] as string;
  const suffix = m[2] as string;
  const compression: CompressionMethod =
    suffix === '.tar' ? 'none' : suffix === '.tar.lz4' ? 'lz4' : suffix === '.tar.zst' ? 'zstd' : 'gzip';
  if (stem === 'base') return { name, kind: 'base', oid: null, compression };
  if (stem === 'pg_wal') return { name, kind: 'wal', oid: null, compression };
  const oid = Number(stem);
  if (!Number.isSafeInteger(oid) || oid > 0xffff_ffff) return null;
  return { name, kind: 'tablespace', oid, compression };
}

/** base first, tablespaces by OID, WAL last. */
export function archiveOrder(a: Pick<ArchiveInfo, 'kind' | 'oid'>, b: Pick<ArchiveInfo, 'kind' | 'oid'>): number {
  const rank = (x: Pick<ArchiveInfo, 'kind'>): number => (x.kind === 'base' ? 0 : x.kind === 'tablespace' ? 1 : 2);
  return rank(a) - rank(b) || (a.oid ?? 0) - (b.oid ?? 0);
}
