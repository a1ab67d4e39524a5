/**
 * Checks that the WAL a backup needs is present and continuous, without parsing records: for
 * each manifest WAL range, every segment from the one holding Start-LSN to the one holding the
 * last byte before End-LSN must exist under the range's timeline, be exactly one segment long,
 * and every page that starts before End-LSN must carry a valid header, with the rules of the
 * server's XLogReaderValidatePageHeader:
 *  - xlp_magic is the page magic of the server's major version (xlog_internal.h; 13: D106,
 *    14: D10D, 15: D110, 16: D113, 17: D116, 18: D118, read from WAL written by each version);
 *  - no unknown xlp_info bits, and the first page of a segment has a long header whose
 *    xlp_sysid, xlp_seg_size and xlp_xlog_blcksz match the cluster's;
 *  - xlp_pageaddr is the page's own LSN (a recycled or misplaced segment fails this);
 *  - xlp_tli never goes backwards within a segment and is not newer than the range's timeline.
 * One exception, after an XLOG_SWITCH record: the server zero-fills the rest of that segment,
 * page headers included (since PostgreSQL 13 at least: CopyXLogRecordToWAL), and no reader looks
 * at it. A page that starts at or after the end of a switch record of its segment, as the record
 * reader found it, may therefore be all zero (its header, the part read here); a zeroed page
 * anywhere else is still an error. So every range's records are read, to find its switch
 * records, whether or not record problems are reported.
 * With `decodeRecords`, each range's records are also read and CRC-checked as pg_waldump does
 * (record-reader.ts), from the same bytes as they pass: segments of a range must then arrive in
 * order (they do from a directory, which is read in name order, and from the archives
 * pg_basebackup and the server write). A range's record problem (at most one: reading stops at
 * the first) is reported by finish(), and only when none of the range's segments was missing or
 * had a page or size problem, since those already explain why its records cannot be read.
 *
 * Files are fed as byte streams (from a directory or from tar members), so memory stays at
 * one page header. When the segment size is not known beforehand (no readable pg_control), it
 * is taken from the long header of the first segment file seen.
 */

import { formatLsn, type Lsn } from './lsn.js';
import { WalRecordReader } from './record-reader.js';
import {
  DEFAULT_WAL_SEGMENT_SIZE, isValidWalSegmentSize, isWalSegmentName, segmentNumber, segmentStartLsn,
  walSegmentName,
} from './segment.js';

/** Page magic (XLOG_PAGE_MAGIC) per server major version. */
export const WAL_PAGE_MAGIC: ReadonlyMap<number, number> = new Map([
  [13, 0xD106], [14, 0xD10D], [15, 0xD110], [16, 0xD113], [17, 0xD116], [18, 0xD118],
]);

const XLP_LONG_HEADER = 0x0002;
/** XLP_FIRST_IS_CONTRECORD | XLP_LONG_HEADER | XLP_BKP_REMOVABLE | XLP_FIRST_IS_OVERWRITE_CONTRECORD */
const XLP_ALL_FLAGS = 0x000F;
const SHORT_HEADER_SIZE = 24;
const LONG_HEADER_SIZE = 40;
const DEFAULT_WAL_BLOCK_SIZE = 8192;

export interface WalRangeSpec {
  timeline: number;
  startLsn: Lsn;
  endLsn: Lsn;
}

export interface WalCheckOptions {
  ranges: readonly WalRangeSpec[];
  /** From pg_control; null: learned from the first segment's long page header. */
  segmentSize?: number | null;
  /** XLOG_BLCKSZ from pg_control; null: learned from the first long page header. */
  blockSize?: number | null;
  /** Server major version (from PG_VERSION), selecting the page magic; null: learned. */
  serverMajor?: number | null;
  /** From pg_control; null: learned from the first long page header. */
  systemIdentifier?: bigint | null;
  /** Where the WAL is read from, for messages: a directory or an archive name. */
  location: string;
  /** Receives each problem (one line); may throw to stop the check. */
  onProblem: (message: string, segment: string) => void;
  /**
   * Report record problems: every record of every range is read and its header and CRC
   * checked (default false). Records are read either way, to find XLOG_SWITCH records.
   */
  decodeRecords?: boolean;
}

export interface RequiredSegment {
  name: string;
  timeline: number;
  segno: bigint;
  /** Pages starting before this offset in the segment must be valid. */
  checkEnd: number;
  /** Index of the range (in the ranges given) that needs this segment. */
  range: number;
}

/** The segments each range needs (segment of Start-LSN .. segment of End-LSN - 1). */
export function requiredSegments(ranges: readonly WalRangeSpec[], segmentSize: number): RequiredSegment[] {
  const result: RequiredSegment[] = [];
  const size = BigInt(segmentSize);
  for (const [index, r] of ranges.entries()) {
    const first = segmentNumber(r.startLsn, segmentSize);
    const last = r.endLsn > r.startLsn ? segmentNumber(r.endLsn - 1n, segmentSize) : first;
    for (let segno = first; segno <= last; segno++) {
      const start = segmentStartLsn(segno, segmentSize);
      const checkEnd = r.endLsn > start && r.endLsn - start < size ? Number(r.endLsn - start) : segmentSize;
      result.push({ name: walSegmentName(r.timeline, segno, segmentSize), timeline: r.timeline, segno, checkEnd, range: index });
    }
  }
  return result;
}

/** Receives one WAL file's bytes in order. */
export interface WalFileSink {
  write(chunk: Uint8Array): void;
  /** Call after the last byte; reports a file shorter than a segment. */
  end(): void;
  /** False once the remaining bytes cannot matter (file not needed, or checked far enough). */
  readonly wantsMore: boolean;
}

export class WalCheck {
  private readonly ranges: readonly WalRangeSpec[];
  /** Where the WAL is read from, for messages; may be changed until finish(). */
  location: string;
  private readonly onProblem: (message: string, segment: string) => void;
  segmentSize: number | null;
  blockSize: number | null;
  systemIdentifier: bigint | null;
  magic: number | null;
  serverMajor: number | null;
  private readonly decodeRecords: boolean;
  /** Record readers by range index, made when the range's first segment is read. */
  private readonly recordReaders = new Map<number, WalRecordReader>();
  /** Ranges with a missing segment or a page or size problem: their records are not judged. */
  private readonly troubledRanges = new Set<number>();
  private plan: Map<string, RequiredSegment> | null = null;
  private readonly found = new Set<string>();
  /** Names of the required segments read, in the order they were read. */
  readonly checkedSegments: string[] = [];

  constructor(options: WalCheckOptions) {
    this.ranges = options.ranges;
    this.location = options.location;
    this.onProblem = options.onProblem;
    this.segmentSize = options.segmentSize ?? null;
    this.blockSize = options.blockSize ?? null;
    this.systemIdentifier = options.systemIdentifier ?? null;
    this.magic = options.serverMajor != null ? WAL_PAGE_MAGIC.get(options.serverMajor) ?? null : null;
    this.serverMajor = options.serverMajor ?? null;
    this.decodeRecords = options.decodeRecords ?? false;
    if (this.segmentSize !== null && isValidWalSegmentSize(this.segmentSize)) this.makePlan(this.segmentSize);
  }

  /**
   * Supplies what pg_control and PG_VERSION say, once they have been read. Values already
   * learned from WAL files are kept; null or undefined values change nothing.
   */
  configure(info: { segmentSize?: number | null; blockSize?: number | null; serverMajor?: number | null;
    systemIdentifier?: bigint | null }): void {
    if (this.plan === null && info.segmentSize != null && isValidWalSegmentSize(info.segmentSize)) {
      this.makePlan(info.segmentSize);
    }
    if (this.blockSize === null && info.blockSize != null) this.blockSize = info.blockSize;
    if (this.magic === null && info.serverMajor != null) this.magic = WAL_PAGE_MAGIC.get(info.serverMajor) ?? null;
    if (this.serverMajor === null && info.serverMajor != null) this.serverMajor = info.serverMajor;
    if (this.systemIdentifier === null && info.systemIdentifier != null) this.systemIdentifier = info.systemIdentifier;
  }

  /** The required segments; null while the segment size is unknown. */
  get required(): RequiredSegment[] | null {
    return this.plan === null ? null : [...this.plan.values()];
  }

  /**
   * Starts a file found in the WAL location. Returns null when it is not a segment this check
   * needs (or a second copy of one). `size` is the file's size when known up front.
   */
  beginFile(name: string, size: number | null): WalFileSink | null {
    if (!isWalSegmentName(name) || this.found.has(name)) return null;
    if (this.plan !== null) {
      const required = this.plan.get(name);
      if (required === undefined) return null;
      this.found.add(name);
      this.checkedSegments.push(name);
      if (size !== null && size !== this.segmentSize) {
        this.reportSize(name, size);
        return null;
      }
      return new SegmentReader(this, name, required, size);
    }
    return new SegmentReader(this, name, null, size);
  }

  /** Reports every required segment that was never found. Call once after all sources. */
  finish(): void {
    if (this.plan === null) this.makePlan(DEFAULT_WAL_SEGMENT_SIZE);
    for (const r of this.plan!.values()) {
      if (!this.found.has(r.name)) {
        this.troubledRanges.add(r.range);
        this.onProblem(`WAL segment "${r.name}" is missing from "${this.location}"`, r.name);
      }
    }
    if (!this.decodeRecords) return;
    for (const [index, reader] of [...this.recordReaders.entries()].sort((a, b) => a[0] - b[0])) {
      if (this.troubledRanges.has(index)) continue;
      reader.end();
      const problem = reader.problem;
      if (problem !== null) this.onProblem(problem.message, problem.segment);
    }
  }

  /** Records read and found valid so far, all ranges together (0 without decodeRecords). */
  get walRecordsRead(): number {
    if (!this.decodeRecords) return 0;
    let n = 0;
    for (const reader of this.recordReaders.values()) n += reader.recordsRead;
    return n;
  }

  // --- used by SegmentReader

  /** First long header of a file while the plan is unknown: learn the geometry from it. */
  learnFrom(name: string, header: Buffer): RequiredSegment | null {
    const segSize = header.readUInt32LE(32);
    if ((header.readUInt16LE(2) & XLP_LONG_HEADER) === 0 || !isValidWalSegmentSize(segSize)) {
      // Not usable to learn from; judge it against the default size.
      this.makePlan(DEFAULT_WAL_SEGMENT_SIZE);
    } else {
      this.makePlan(segSize);
    }
    const required = this.plan!.get(name);
    if (required === undefined || this.found.has(name)) return null;
    this.found.add(name);
    this.checkedSegments.push(name);
    return required;
  }

  reportSize(name: string, size: number): void {
    this.markTroubled(name);
    this.onProblem(
      `WAL segment "${name}" in "${this.location}" has size ${size}, but the WAL segment size is ${this.segmentSize}`, name);
  }

  problem(message: string, name: string): void {
    this.markTroubled(name);
    this.onProblem(message, name);
  }

  /** The record reader of a required segment's range, positioned at that segment. */
  recordReaderFor(required: RequiredSegment): WalRecordReader | null {
    if (this.segmentSize === null) return null;
    let reader = this.recordReaders.get(required.range);
    if (reader === undefined) {
      const range = this.ranges[required.range]!;
      reader = new WalRecordReader({
        timeline: range.timeline, startLsn: range.startLsn, endLsn: range.endLsn, segmentSize: this.segmentSize,
        blockSize: this.blockSize ?? DEFAULT_WAL_BLOCK_SIZE, serverMajor: this.serverMajor ?? majorOfMagic(this.magic),
      });
      this.recordReaders.set(required.range, reader);
    }
    reader.beginSegment(required.segno);
    return reader;
  }

  private markTroubled(name: string): void {
    const required = this.plan?.get(name);
    if (required !== undefined) this.troubledRanges.add(required.range);
  }

  private makePlan(segmentSize: number): void {
    this.segmentSize = segmentSize;
    this.plan = new Map(requiredSegments(this.ranges, segmentSize).map((r) => [r.name, r]));
  }
}

class SegmentReader implements WalFileSink {
  private offset = 0;
  private readonly header = Buffer.alloc(LONG_HEADER_SIZE);
  private headerFill = 0;
  private pageStart = 0;
  private lastTli = 0;
  private done = false;
  /** The range's record reader, from the end of the first page header on. */
  private records: WalRecordReader | null = null;

  constructor(private readonly check: WalCheck, private readonly name: string,
    private required: RequiredSegment | null, private readonly declaredSize: number | null) {}

  get wantsMore(): boolean {
    return !this.done;
  }

  write(chunk: Uint8Array): void {
    let i = 0;
    while (i < chunk.length && !this.done) {
      const pageSize = this.check.blockSize ?? DEFAULT_WAL_BLOCK_SIZE;
      const headerSize = this.pageStart === 0 ? LONG_HEADER_SIZE : SHORT_HEADER_SIZE;
      if (this.offset < this.pageStart + headerSize) {
        // Still collecting this page's header.
        const n = Math.min(chunk.length - i, this.pageStart + headerSize - this.offset);
        this.header.set(chunk.subarray(i, i + n), this.headerFill);
        this.records?.write(chunk.subarray(i, i + n));
        this.headerFill += n;
        this.offset += n;
        i += n;
        if (this.headerFill === headerSize) this.pageHeaderComplete(headerSize);
      } else {
        // Skip to the next page.
        const nextPage = this.pageStart + pageSize;
        const n = Math.min(chunk.length - i, nextPage - this.offset);
        this.records?.write(chunk.subarray(i, i + n));
        this.offset += n;
        i += n;
        if (this.offset === nextPage) {
          this.pageStart = nextPage;
          this.headerFill = 0;
          if (this.required !== null && this.pageStart >= this.required.checkEnd) this.done = true;
        }
      }
    }
    if (this.done) this.offset += chunk.length - i;
  }

  end(): void {
    this.records?.endSegment();
    if (this.required === null && this.pageStart === 0 && this.headerFill < LONG_HEADER_SIZE) {
      // Too short to learn anything from: judge it by name against the default geometry.
      if (this.check.learnFrom(this.name, Buffer.alloc(LONG_HEADER_SIZE)) !== null) {
        this.check.reportSize(this.name, this.declaredSize ?? this.offset);
      }
      return;
    }
    // A size declared up front was compared when the geometry became known.
    if (this.required !== null && this.declaredSize === null && this.offset !== this.check.segmentSize) {
      this.check.reportSize(this.name, this.offset);
    }
  }

  private pageHeaderComplete(headerSize: number): void {
    const h = this.header.subarray(0, headerSize);
    if (this.required === null) {
      const required = this.check.learnFrom(this.name, h);
      if (required === null) {
        this.done = true;
        return;
      }
      this.required = required;
      if (this.declaredSize !== null && this.declaredSize !== this.check.segmentSize) {
        this.check.reportSize(this.name, this.declaredSize);
        this.done = true;
        return;
      }
    }
    const problem = this.validate(h);
    if (problem !== null) {
      if (this.unusedAfterSwitch(h)) return;
      this.check.problem(problem, this.name);
      this.done = true;
      return;
    }
    if (this.pageStart === 0 && this.records === null) {
      // The record reader starts here, with the header bytes it has not seen.
      this.records = this.check.recordReaderFor(this.required!);
      this.records?.write(h);
    }
  }

  /**
   * A zeroed page after an XLOG_SWITCH record of this segment (the record reader has read every
   * byte before this page, so it knows of such a record by now).
   */
  private unusedAfterSwitch(h: Buffer): boolean {
    const tail = this.records?.unusedTailOf(this.required!.segno) ?? null;
    return tail !== null && this.pageStart >= tail && h.every((b) => b === 0);
  }

  private where(): string {
    const lsn = segmentStartLsn(this.required!.segno, this.check.segmentSize!) + BigInt(this.pageStart);
    return `in WAL segment "${this.name}", LSN ${formatLsn(lsn)}, offset ${this.pageStart}`;
  }

  /** XLogReaderValidatePageHeader, plus the range's timeline limit. */
  private validate(h: Buffer): string | null {
    const check = this.check;
    const magic = h.readUInt16LE(0);
    if (check.magic === null && magic !== 0) check.magic = magic;
    if (magic !== check.magic) return `invalid magic number ${hex4(magic)} ${this.where()}`;
    const info = h.readUInt16LE(2);
    if ((info & ~XLP_ALL_FLAGS) !== 0) return `invalid info bits ${hex4(info)} ${this.where()}`;
    if ((info & XLP_LONG_HEADER) !== 0 && h.length >= LONG_HEADER_SIZE) {
      const sysid = h.readBigUInt64LE(24);
      if (check.systemIdentifier === null) check.systemIdentifier = sysid;
      if (sysid !== check.systemIdentifier) {
        return 'WAL file is from different database system: WAL file database system identifier is ' +
          `${sysid}, pg_control database system identifier is ${check.systemIdentifier} (${this.where()})`;
      }
      if (h.readUInt32LE(32) !== check.segmentSize) {
        return `WAL file is from different database system: incorrect segment size in page header (${this.where()})`;
      }
      const blcksz = h.readUInt32LE(36);
      if (check.blockSize === null && isValidBlockSize(blcksz)) check.blockSize = blcksz;
      if (blcksz !== check.blockSize) {
        return `WAL file is from different database system: incorrect XLOG_BLCKSZ in page header (${this.where()})`;
      }
    } else if (this.pageStart === 0) {
      return `invalid info bits ${hex4(info)} ${this.where()}`;
    }
    const pageAddr = h.readBigUInt64LE(8);
    const expected = segmentStartLsn(this.required!.segno, check.segmentSize!) + BigInt(this.pageStart);
    if (pageAddr !== expected) return `unexpected pageaddr ${formatLsn(pageAddr)} ${this.where()}`;
    const tli = h.readUInt32LE(4);
    if (tli < this.lastTli) return `out-of-sequence timeline ID ${tli} (after ${this.lastTli}) ${this.where()}`;
    if (tli > this.required!.timeline) {
      return `timeline ID ${tli} is newer than the backup's timeline ${this.required!.timeline} ${this.where()}`;
    }
    this.lastTli = tli;
    return null;
  }
}

/** The server major version whose page magic this is (null if unknown). */
function majorOfMagic(magic: number | null): number | null {
  for (const [major, m] of WAL_PAGE_MAGIC) if (m === magic) return major;
  return null;
}

function hex4(n: number): string {
  return n.toString(16).toUpperCase().padStart(4, '0');
}

function isValidBlockSize(n: number): boolean {
  return n >= 1024 && n <= 65536 && (n & (n - 1)) === 0;
}
