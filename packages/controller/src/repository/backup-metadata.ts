/**
 * backup.json: what the repository knows about one backup. It is written last (see
 * atomic-write.ts), after every archive and backup_manifest are on disk, fsynced and verified,
 * so its presence is the proof that the backup is complete. Later it changes only to record
 * the verdict of `pgfleet verify` (status "ok" or "damaged" with the reason, verifiedAt), by
 * an atomic rewrite; the backup's data files are never touched. `parseBackupMetadata` accepts
 * only a document with every field of the current format; anything else makes the backup
 * damaged (listed as such, with the reason, never restored) rather than half-trusted.
 */

export const METADATA_FORMAT = 1;

export interface BackupMetadataTablespace {
  oid: number;
  /** Location on the source server (pg_tablespace_location()). */
  location: string;
  /** Its archive in this directory: "<oid>.tar[.gz|.lz4|.zst]". */
  archive: string;
}

export interface BackupMetadataFile {
  name: string;
  size: number;
}

/** What `pgfleet verify` found wrong with a backup. */
export interface BackupDamage {
  /** One line: the first problem, and how many more there were. */
  reason: string;
  /** The problems as verify reported them (at most MAX_RECORDED_PROBLEMS). */
  problems: string[];
  /** When verify found them (RFC 3339). */
  foundAt: string;
}

/** Problems kept in backup.json; the count in `reason` covers the rest. */
export const MAX_RECORDED_PROBLEMS = 20;

export interface BackupMetadata {
  format: typeof METADATA_FORMAT;
  id: string;
  cluster: string;
  type: 'full';
  /** "damaged": verify found problems (see `damage`); such a backup is never restored. */
  status: 'ok' | 'damaged';
  /** Present when status is "damaged". */
  damage?: BackupDamage;
  label: string;
  startLsn: string;
  endLsn: string;
  timeline: number;
  systemIdentifier: string;
  serverVersionNum: number;
  tablespaces: BackupMetadataTablespace[];
  files: BackupMetadataFile[];
  /** Sum of the sizes of `files` (backup.json itself excluded). */
  sizeBytes: number;
  /** Archive bytes received from the server (before client-side compression). */
  dataBytes: number;
  /** pg_basebackup -Z spec used. */
  compression: string;
  walMethod: 'stream' | 'fetch';
  /** "direct" or "agent:<name>". */
  via: string;
  startedAt: string;
  finishedAt: string;
  verifiedAt: string;
  pgfleetVersion: string;
}

/** Serializes for disk: stable key order, trailing newline, readable by people. */
export function formatBackupMetadata(meta: BackupMetadata): string {
  return JSON.stringify(meta, null, 2) + '\n';
}

/**
 * Parses backup.json text. Returns the metadata, or a reason it cannot be trusted (a lower-case
 * phrase for messages).
 */
export function parseBackupMetadata(text: string): { ok: true; metadata: BackupMetadata } | { ok: false; reason: string } {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    return { ok: false, reason: `invalid JSON: ${err instanceof Error ? err.message : String(err)}` };
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return { ok: false, reason: 'not a JSON object' };
  const d = doc as Record<string, unknown>;
  if (d['format'] !== METADATA_FORMAT) return { ok: false, reason: `unsupported format ${JSON.stringify(d['format'])}` };
  const strings = ['id', 'cluster', 'label', 'startLsn', 'endLsn', 'systemIdentifier', 'compression', 'via',
    'startedAt', 'finishedAt', 'verifiedAt', 'pgfleetVersion'];
  for (const k of strings) if (typeof d[k] !== 'string') return { ok: false, reason: `field "${k}" missing or not a string` };
  const numbers = ['timeline', 'serverVersionNum', 'sizeBytes', 'dataBytes'];
  for (const k of numbers) {
    if (typeof d[k] !== 'number' || !Number.isInteger(d[k]) || (d[k] as number) < 0) return { ok: false, reason: `field "${k}" missing or not a non-negative integer` };
  }
  if (d['status'] !== 'ok' && d['status'] !== 'damaged') return { ok: false, reason: `status is ${JSON.stringify(d['status'])}, not "ok" or "damaged"` };
  if (d['status'] === 'damaged' && !isDamage(d['damage'])) return { ok: false, reason: 'status is "damaged" but field "damage" is missing or malformed' };
  if (d['type'] !== 'full') return { ok: false, reason: `type is ${JSON.stringify(d['type'])}, not "full"` };
  if (d['walMethod'] !== 'stream' && d['walMethod'] !== 'fetch') return { ok: false, reason: 'field "walMethod" must be "stream" or "fetch"' };
  if (!Array.isArray(d['tablespaces']) || !d['tablespaces'].every(isTablespace)) return { ok: false, reason: 'field "tablespaces" malformed' };
  if (!Array.isArray(d['files']) || !d['files'].every(isFile)) return { ok: false, reason: 'field "files" malformed' };
  return { ok: true, metadata: d as unknown as BackupMetadata };
}

function isTablespace(v: unknown): v is BackupMetadataTablespace {
  if (typeof v !== 'object' || v === null) return false;
  const t = v as Record<string, unknown>;
  return typeof t['oid'] === 'number' && typeof t['location'] === 'string' && typeof t['archive'] === 'string';
}

function isDamage(v: unknown): v is BackupDamage {
  if (typeof v !== 'object' || v === null) return false;
  const d = v as Record<string, unknown>;
  return typeof d['reason'] === 'string' && typeof d['foundAt'] === 'string' &&
    Array.isArray(d['problems']) && d['problems'].every((p) => typeof p === 'string');
}

function isFile(v: unknown): v is BackupMetadataFile {
  if (typeof v !== 'object' || v === null) return false;
  const f = v as Record<string, unknown>;
  return typeof f['name'] === 'string' && typeof f['size'] === 'number';
}
