/**
 * WAL segment arithmetic and file names, as in access/xlog_internal.h. A segment number is
 * `LSN / segmentSize`; a segment file is named `%08X%08X%08X` of the timeline, the segment
 * number divided by the segments per 4 GB "xlogid", and the remainder. Segment sizes are powers
 * of two from 1 MB to 1 GB (the server's own limits), passed in bytes.
 */

import { InvalidOptionError } from '../errors.js';
import type { Lsn } from './lsn.js';

export const MIN_WAL_SEGMENT_SIZE = 1024 * 1024;
export const MAX_WAL_SEGMENT_SIZE = 1024 * 1024 * 1024;
export const DEFAULT_WAL_SEGMENT_SIZE = 16 * 1024 * 1024;

/** A segment file name: 24 upper-case hex characters (IsXLogFileName). */
const SEGMENT_NAME = /^[0-9A-F]{24}$/;
const PARTIAL_SEGMENT_NAME = /^[0-9A-F]{24}\.partial$/;
const HISTORY_FILE_NAME = /^[0-9A-F]{8}\.history$/;

/** True for a power of two between 1 MB and 1 GB (IsValidWalSegSize). */
export function isValidWalSegmentSize(bytes: number): boolean {
  return Number.isInteger(bytes) && bytes >= MIN_WAL_SEGMENT_SIZE && bytes <= MAX_WAL_SEGMENT_SIZE &&
    (bytes & (bytes - 1)) === 0;
}

const UNIT_BYTES: Record<string, number> = {
  B: 1, kB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4,
};

/**
 * Parses a segment size as `SHOW wal_segment_size` prints it ("16MB", "1GB") or as a plain byte
 * count, and checks it is a valid segment size. Units are PostgreSQL's memory units, which are
 * case-sensitive.
 */
export function parseWalSegmentSize(text: string): number {
  const m = /^\s*(\d+)\s*(B|kB|MB|GB|TB)?\s*$/.exec(text);
  const bytes = m === null ? NaN : Number(m[1]) * (UNIT_BYTES[m[2] ?? 'B'] ?? NaN);
  if (!isValidWalSegmentSize(bytes)) {
    throw new InvalidOptionError(`invalid WAL segment size "${text}"`, {
      hint: 'The WAL segment size must be a power of two between 1 MB and 1 GB.',
    });
  }
  return bytes;
}

function checkSegmentSize(segmentSize: number): bigint {
  if (!isValidWalSegmentSize(segmentSize)) {
    throw new InvalidOptionError(`invalid WAL segment size ${segmentSize}`, {
      hint: 'The WAL segment size must be a power of two between 1 MB and 1 GB.',
    });
  }
  return BigInt(segmentSize);
}

/** Segments per 4 GB of WAL (XLogSegmentsPerXLogId). */
export function segmentsPerXLogId(segmentSize: number): bigint {
  return 0x1_0000_0000n / checkSegmentSize(segmentSize);
}

/** The segment holding the byte at `lsn` (XLByteToSeg). */
export function segmentNumber(lsn: Lsn, segmentSize: number): bigint {
  return lsn / checkSegmentSize(segmentSize);
}

/** The LSN of the first byte of segment `segno` (XLogSegNoOffsetToRecPtr with offset 0). */
export function segmentStartLsn(segno: bigint, segmentSize: number): Lsn {
  return segno * checkSegmentSize(segmentSize);
}

/** The offset of `lsn` inside its segment (XLogSegmentOffset). */
export function segmentOffset(lsn: Lsn, segmentSize: number): number {
  return Number(lsn % checkSegmentSize(segmentSize));
}

function hex8(value: bigint | number): string {
  return value.toString(16).toUpperCase().padStart(8, '0');
}

/** The file name of segment `segno` on `timeline` (XLogFileName). */
export function walSegmentName(timeline: number, segno: bigint, segmentSize: number): string {
  const perId = segmentsPerXLogId(segmentSize);
  return hex8(timeline) + hex8(segno / perId) + hex8(segno % perId);
}

/** True for a complete segment file name (24 upper-case hex digits). */
export function isWalSegmentName(name: string): boolean {
  return SEGMENT_NAME.test(name);
}

/** True for `<segment>.partial`, as pg_receivewal leaves an incomplete segment. */
export function isPartialWalSegmentName(name: string): boolean {
  return PARTIAL_SEGMENT_NAME.test(name);
}

/** The compressions WAL files are written with: pg_receivewal's (suffix `.gz` / `.lz4`), and
 * zstd (`.zst`) for the fleet's archive, which pg_receivewal does not write. */
export type WalFileCompression = 'none' | 'gzip' | 'lz4' | 'zstd';

/** A file name pg_receivewal recognises as a WAL segment (is_xlogfilename). */
export interface WalFileName {
  /** The 24-character segment name. */
  segment: string;
  /** Ends in `.partial`: the segment was not received completely. */
  partial: boolean;
  compression: WalFileCompression;
}

const WAL_FILE_NAME = /^([0-9A-F]{24})(\.gz|\.lz4|\.zst)?(\.partial)?$/;

/**
 * Splits `<segment>[.gz|.lz4|.zst][.partial]` (the names pg_receivewal writes and reads back
 * when it looks for its start point, and `.zst` of the fleet's archive); null for any other name.
 */
export function parseWalFileName(name: string): WalFileName | null {
  const m = WAL_FILE_NAME.exec(name);
  if (m === null) return null;
  const compression: WalFileCompression = m[2] === '.gz' ? 'gzip' : m[2] === '.lz4' ? 'lz4' : m[2] === '.zst' ? 'zstd' : 'none';
  return { segment: m[1] as string, partial: m[3] !== undefined, compression };
}

/** The suffix a compression adds to a WAL file name: "", ".gz", ".lz4" or ".zst". */
export function walCompressionSuffix(compression: WalFileCompression): string {
  return compression === 'gzip' ? '.gz' : compression === 'lz4' ? '.lz4' : compression === 'zstd' ? '.zst' : '';
}

/** True for a timeline history file name, `%08X.history`. */
export function isTimelineHistoryFileName(name: string): boolean {
  return HISTORY_FILE_NAME.test(name);
}

/** `%08X.history` (TLHistoryFileName). */
export function timelineHistoryFileName(timeline: number): string {
  return `${hex8(timeline)}.history`;
}

export interface WalSegmentId {
  timeline: number;
  segno: bigint;
}

/**
 * Splits a segment file name into timeline and segment number (XLogFromFileName). Returns null
 * when the name is not a segment name or its low part is out of range for this segment size.
 */
export function parseWalSegmentName(name: string, segmentSize: number): WalSegmentId | null {
  if (!SEGMENT_NAME.test(name)) return null;
  const perId = segmentsPerXLogId(segmentSize);
  const timeline = Number.parseInt(name.slice(0, 8), 16);
  const log = BigInt(`0x${name.slice(8, 16)}`);
  const seg = BigInt(`0x${name.slice(16, 24)}`);
  if (seg >= perId) return null;
  return { timeline, segno: log * perId + seg };
}
