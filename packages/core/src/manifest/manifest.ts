/**
 * The in-memory form of a backup_manifest, shared by the parser, the writer and the verifier.
 * Paths are relative to the data directory, tablespace files included
 * (`pg_tblspc/<oid>/PG_<ver>_<cat>/...`), with `/` separators.
 */

import type { ChecksumAlgorithm } from './checksum.js';
import type { Lsn } from '../wal/lsn.js';

export type ManifestVersion = 1 | 2;

export interface ManifestFile {
  path: string;
  size: number;
  /** "YYYY-MM-DD HH:MM:SS GMT" as written; informational only, nobody verifies it. */
  lastModified: string | null;
  checksumAlgorithm: ChecksumAlgorithm;
  /** The raw digest bytes; empty when the algorithm is NONE or no checksum was written. */
  checksum: Buffer;
}

export interface ManifestWalRange {
  timeline: number;
  startLsn: Lsn;
  endLsn: Lsn;
}

export interface BackupManifest {
  version: ManifestVersion;
  /** Version 2 manifests (servers 17+) carry the system identifier; null when absent. */
  systemIdentifier: bigint | null;
  /** In manifest order. */
  files: ManifestFile[];
  /** Lookup by path; paths are unique (the parser rejects duplicates). */
  byPath: ReadonlyMap<string, ManifestFile>;
  /** In manifest order: newest timeline first. */
  walRanges: ManifestWalRange[];
  /** SHA-256 of the manifest body, lower-case hex, as found in the last line. */
  manifestChecksum: string;
}
