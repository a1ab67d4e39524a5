/**
 * What a BASE_BACKUP run delivers, independent of the server's protocol generation. The
 * replication layer turns both wire forms (<=14: one CopyOut per tablespace, then one for the
 * manifest; >=15: one CopyOut with 'n'/'d'/'p'/'m' messages) into these calls, in this order:
 *
 *   onStart once -> for each archive: onArchiveStart, onArchiveData*, onArchiveEnd
 *   -> (if a manifest was requested) onManifestStart, onManifestData*, onManifestEnd -> onEnd once
 *
 * onProgress may come at any time after onStart. Every handler may return a promise; the
 * replication layer stops reading the socket until it settles (backpressure). Archives are raw
 * tar bytes, compressed when server-side compression was requested. For <=14 servers the
 * replication layer itself appends the 1024-byte end-of-archive that those servers omit, so a
 * handler always sees a terminated tar.
 */

export interface TablespaceInfo {
  /** null for the main data directory (base.tar). */
  oid: number | null;
  /** Absolute location as the server reports it (spclocation); null for the main directory;
   * relative (pg_tblspc/<oid>) for an in-place tablespace. */
  location: string | null;
  /** Estimated size in bytes (only with PROGRESS), or null. */
  sizeEstimate: number | null;
}

export interface BackupStart {
  /** Start LSN as the server printed it (e.g. "0/2000028"). */
  startLsn: string;
  timeline: number;
  tablespaces: TablespaceInfo[];
}

export interface BackupEnd {
  endLsn: string;
  timeline: number;
}

export interface BaseBackupHandler {
  onStart(start: BackupStart): void | Promise<void>;
  /** name is the archive file name the server proposes: "base.tar", "16436.tar" (plus ".gz",
   * ".lz4", ".zst" under server compression). tablespace is the matching entry of onStart's list. */
  onArchiveStart(name: string, tablespace: TablespaceInfo): void | Promise<void>;
  onArchiveData(data: Buffer): void | Promise<void>;
  onArchiveEnd(): void | Promise<void>;
  onManifestStart(): void | Promise<void>;
  onManifestData(data: Buffer): void | Promise<void>;
  onManifestEnd(): void | Promise<void>;
  /** Bytes of archive data the server reports done (>=15 'p' messages) or the client counted. */
  onProgress(bytesDone: number): void;
  /** The end position, as soon as the server sends it: the final error of a data checksum
   * failure (SQLSTATE XX001) still follows it. */
  onEnd(end: BackupEnd): void | Promise<void>;
}

export interface BaseBackupOptions {
  label: string;
  progress: boolean;
  checkpoint: 'fast' | 'spread';
  /** Include needed WAL in the base archive (-X fetch). */
  wal: boolean;
  /** Wait for WAL archiving to complete at the end. pg_basebackup sends NOWAIT / WAIT false
   * whenever it collects WAL itself (fetch or stream). */
  wait: boolean;
  maxRateKbPerSec: number | null;
  tablespaceMap: boolean;
  verifyChecksums: boolean;
  manifest: 'yes' | 'no' | 'force-encode';
  manifestChecksums: 'NONE' | 'CRC32C' | 'SHA224' | 'SHA256' | 'SHA384' | 'SHA512';
  /** Server-side compression (15+ only). */
  compression: { method: 'gzip' | 'lz4' | 'zstd'; detail: string | null } | null;
  /** Where the server puts the backup instead of sending it (15+ only: TARGET, TARGET_DETAIL);
   * absent or null: to the client. */
  target?: { name: string; detail: string | null } | null;
}
