/**
 * backup_manifest writer producing the server's exact bytes (backup/backup_manifest.c): the
 * version line (and System-Identifier for version 2), one file object per line in the key order
 * Path|Encoded-Path, Size, Last-Modified, Checksum-Algorithm, Checksum, the WAL-Ranges, and a
 * last line holding the SHA-256 of everything before it. Strings are escaped as the server's
 * escape_json does (\b \f \n \r \t \" \\ and \u00xx for other control characters; nothing
 * else). Given the same entries, the output is byte-identical to the server's manifest.
 *
 * Output is either collected (finish() returns it) or streamed through `onData`, so a manifest
 * for millions of files never has to sit in memory.
 */

import { createHash, type Hash } from 'node:crypto';
import { InternalError, InvalidOptionError } from '../errors.js';
import { formatLsn } from '../wal/lsn.js';
import type { ChecksumAlgorithm } from './checksum.js';
import type { BackupManifest, ManifestVersion, ManifestWalRange } from './manifest.js';

export interface ManifestWriterOptions {
  /** Default: 2 when a system identifier is given, else 1 (what servers 13-16 write). */
  version?: ManifestVersion;
  /** Required for version 2. */
  systemIdentifier?: bigint | null;
  /** Write every path as Encoded-Path (the server's MANIFEST 'force-encode'). */
  forceEncode?: boolean;
  /** Receives the manifest bytes as they are produced; finish() then returns an empty buffer. */
  onData?: (chunk: Buffer) => void;
}

export interface ManifestFileEntry {
  path: string;
  size: number;
  /** A Date (formatted as the server does, in GMT) or the text to write; null omits the field. */
  lastModified: Date | string | null;
  checksumAlgorithm: ChecksumAlgorithm;
  /** Raw digest bytes; ignored for NONE. */
  checksum: Uint8Array;
}

/** `YYYY-MM-DD HH:MM:SS GMT`, the server's format for Last-Modified. */
export function formatManifestTime(date: Date): string {
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  return `${p(date.getUTCFullYear(), 4)}-${p(date.getUTCMonth() + 1)}-${p(date.getUTCDate())} ` +
    `${p(date.getUTCHours())}:${p(date.getUTCMinutes())}:${p(date.getUTCSeconds())} GMT`;
}

/** JSON string literal as the server's escape_json writes it. */
export function escapeJsonString(text: string): string {
  let out = '"';
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    switch (ch) {
      case '\b': out += '\\b'; break;
      case '\f': out += '\\f'; break;
      case '\n': out += '\\n'; break;
      case '\r': out += '\\r'; break;
      case '\t': out += '\\t'; break;
      case '"': out += '\\"'; break;
      case '\\': out += '\\\\'; break;
      default:
        out += c < 0x20 ? `\\u${c.toString(16).padStart(4, '0')}` : ch;
    }
  }
  return `${out}"`;
}

export class ManifestWriter {
  private readonly hash: Hash = createHash('sha256');
  private readonly chunks: Buffer[] = [];
  private readonly forceEncode: boolean;
  private readonly onData: ((chunk: Buffer) => void) | undefined;
  private firstFile = true;
  private finished = false;

  constructor(options: ManifestWriterOptions = {}) {
    const sysid = options.systemIdentifier ?? null;
    const version = options.version ?? (sysid === null ? 1 : 2);
    this.forceEncode = options.forceEncode ?? false;
    this.onData = options.onData;
    if (version === 2 && sysid === null) {
      throw new InvalidOptionError('a version 2 backup manifest needs a system identifier');
    }
    if (version === 1 && sysid !== null) {
      throw new InvalidOptionError('a version 1 backup manifest has no system identifier');
    }
    this.append(version === 2
      ? `{ "PostgreSQL-Backup-Manifest-Version": 2,\n"System-Identifier": ${sysid},\n"Files": [`
      : '{ "PostgreSQL-Backup-Manifest-Version": 1,\n"Files": [');
  }

  addFile(entry: ManifestFileEntry): void {
    this.checkOpen();
    let line = this.firstFile ? '\n' : ',\n';
    this.firstFile = false;
    const pathIsWellFormed = (entry.path as string & { isWellFormed?: () => boolean }).isWellFormed?.() ??
      !/[\uD800-\uDFFF]/.test(entry.path);
    if (!this.forceEncode && pathIsWellFormed) {
      line += `{ "Path": ${escapeJsonString(entry.path)}, `;
    } else {
      line += `{ "Encoded-Path": "${Buffer.from(entry.path, 'utf8').toString('hex')}", `;
    }
    line += `"Size": ${entry.size}`;
    if (entry.lastModified !== null) {
      const text = typeof entry.lastModified === 'string' ? entry.lastModified : formatManifestTime(entry.lastModified);
      line += `, "Last-Modified": ${escapeJsonString(text)}`;
    }
    if (entry.checksumAlgorithm !== 'NONE') {
      line += `, "Checksum-Algorithm": "${entry.checksumAlgorithm}", ` +
        `"Checksum": "${Buffer.from(entry.checksum).toString('hex')}"`;
    }
    this.append(`${line} }`);
  }

  /** Writes the WAL ranges (newest timeline first) and the manifest checksum. */
  finish(walRanges: readonly ManifestWalRange[]): Buffer {
    this.checkOpen();
    this.append('\n],\n"WAL-Ranges": [\n');
    this.append(walRanges.map((r) =>
      `{ "Timeline": ${r.timeline}, "Start-LSN": "${formatLsn(r.startLsn)}", "End-LSN": "${formatLsn(r.endLsn)}" }`,
    ).join(',\n'));
    this.append('\n],\n');
    const checksum = this.hash.digest('hex');
    this.finished = true;
    this.emit(Buffer.from(`"Manifest-Checksum": "${checksum}"}\n`, 'utf8'));
    return this.onData ? Buffer.alloc(0) : Buffer.concat(this.chunks);
  }

  private checkOpen(): void {
    if (this.finished) throw new InternalError('backup manifest already finished');
  }

  private append(text: string): void {
    const bytes = Buffer.from(text, 'utf8');
    this.hash.update(bytes);
    this.emit(bytes);
  }

  private emit(bytes: Buffer): void {
    if (this.onData) this.onData(bytes);
    else this.chunks.push(bytes);
  }
}

/** Writes a whole manifest in memory, e.g. to re-create one that was parsed. */
export function writeManifest(
  manifest: Pick<BackupManifest, 'version' | 'systemIdentifier' | 'files' | 'walRanges'>,
  options: Pick<ManifestWriterOptions, 'forceEncode'> = {},
): Buffer {
  const writer = new ManifestWriter({
    version: manifest.version,
    systemIdentifier: manifest.version === 2 ? manifest.systemIdentifier ?? 0n : null,
    ...options,
  });
  for (const f of manifest.files) writer.addFile(f);
  return writer.finish(manifest.walRanges);
}
