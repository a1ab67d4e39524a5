/**
 * Walks the WAL records of one timeline from a start LSN to an end LSN, as pg_waldump
 * --start/--end does before pg_verifybackup accepts a backup: every record header is checked
 * (xl_tot_len at least 24 bytes and not above the largest record a server writes, a known
 * resource manager ID, xl_prev equal to the previous record's start) and so is every record's
 * CRC-32C, computed as the server does (over the bytes after the 24-byte header, then over the
 * header up to xl_crc). Records split across pages and segments are followed through
 * XLP_FIRST_IS_CONTRECORD pages whose xlp_rem_len must match what is left of the record.
 *
 * Input is streamed: the caller hands over consecutive segment files of the timeline, in order,
 * each from its first byte (beginSegment, write..., endSegment), and the reader keeps only a
 * record header and a page header; a record's data is never held, its CRC is computed as the
 * bytes pass. Page headers themselves are validated by WalCheck; here only xlp_info and
 * xlp_rem_len are read. The reader stops at the first problem (as pg_waldump does) and keeps it
 * in `problem`.
 *
 * Where reading begins (PostgreSQL's XLogFindNextRecord, which pg_waldump uses for --start):
 * at the page holding the start LSN, continuation data of a record begun on an earlier page is
 * skipped, then records are read (and checked) until one starts at or after the start LSN. A
 * backup's start LSN is a checkpoint's redo pointer, which is a record start, so normally the
 * first record read is the one at the start LSN.
 *
 * Where reading ends: records that start before the end LSN are read, and each must end at or
 * before it. pg_waldump stops silently when a record needs bytes past --end; we report such a
 * record instead. For a backup the end LSN is what the server returned as the backup's stop
 * point: the end of the XLOG_BACKUP_END record (XLogInsert's EndPos) on a primary, or
 * minRecoveryPoint (the end of the last replayed record) on a standby; a record straddling it
 * therefore means damage (or a wrong manifest), never a valid backup.
 *
 * Special cases, as in xlogreader.c (checked in PostgreSQL 13 to 18):
 *  - XLOG_SWITCH (rmgr XLOG, info 0x40): the rest of its segment is unused; the next record
 *    starts at the next segment. The server fills that rest with zeros, page headers included
 *    (CopyXLogRecordToWAL, in 13's xlog.c already; seen on 13 to 18), and xlogreader never reads
 *    it. unusedTailOf() tells the page header check where that rest begins.
 *  - XLP_FIRST_IS_OVERWRITE_CONTRECORD (0x0008; from 15, and in the 13 and 14 minor releases
 *    of late 2021 on): recovery found a record whose continuation was never written, and the
 *    server wrote new WAL over the place where the continuation should have been, marking that
 *    page with this flag (its first record is an XLOG_OVERWRITE_CONTRECORD). A reader that
 *    meets the flag where it expects a continuation drops the incomplete record and reads on
 *    from that page; the new record's xl_prev is the record before the dropped one.
 *  - A page that says it starts with continuation data where a new record must start is an
 *    error ("contrecord is requested").
 */

import { crc32c } from '@node-rs/crc32';
import { WalFormatError } from '../errors.js';
import { formatLsn, type Lsn } from './lsn.js';
import { walSegmentName } from './segment.js';

/** SizeOfXLogRecord: xl_tot_len u32, xl_xid u32, xl_prev u64, xl_info u8, xl_rmid u8, 2 pad, xl_crc u32. */
export const WAL_RECORD_HEADER_SIZE = 24;
/** XLogRecordMaxSize (16+): no server writes a larger record; older readers stop near 1 GB too. */
export const WAL_RECORD_MAX_SIZE = 1020 * 1024 * 1024;

const CRC_OFFSET = 20;
const SHORT_PAGE_HEADER = 24;
const LONG_PAGE_HEADER = 40;
const XLP_FIRST_IS_CONTRECORD = 0x0001;
const XLP_LONG_HEADER = 0x0002;
const XLP_FIRST_IS_OVERWRITE_CONTRECORD = 0x0008;
const RM_XLOG_ID = 0;
const XLOG_SWITCH = 0x40;
const XLR_RMGR_INFO_MASK = 0xF0;
/** RM_LOGICALMSG_ID, the last built-in resource manager in 13 to 18. */
const RM_MAX_BUILTIN_ID = 21;
/** RM_MIN_CUSTOM_ID .. RM_MAX_CUSTOM_ID: custom resource managers, from 15 on. */
const RM_MIN_CUSTOM_ID = 128;
const RM_MAX_CUSTOM_ID = 255;

export type WalRecordProblemKind =
  | 'length' | 'resource-manager' | 'prev-link' | 'crc' | 'contrecord' | 'past-end' | 'incomplete' | 'order';

export interface WalRecordProblem {
  kind: WalRecordProblemKind;
  /** The record's start (or, for 'incomplete' between records and 'order', where reading stood). */
  lsn: Lsn;
  /** The segment file holding `lsn`. */
  segment: string;
  /** One line, lower-case after the leading "WAL", naming the segment and the LSN. */
  message: string;
}

/** What the reader saw of one record, for callers that count or list them. */
export interface WalRecordInfo {
  lsn: Lsn;
  totalLength: number;
  xid: number;
  prev: Lsn;
  info: number;
  rmid: number;
}

export interface WalRecordReaderOptions {
  timeline: number;
  startLsn: Lsn;
  endLsn: Lsn;
  /** Bytes; a power of two from 1 MB to 1 GB (taken from pg_control or the long page header). */
  segmentSize: number;
  /** XLOG_BLCKSZ (default 8192). */
  blockSize?: number;
  /** Selects the resource manager ID rule: 13 and 14 know IDs 0-21, 15+ also 128-255 (custom). */
  serverMajor?: number | null;
  /** Called for every record that passed its checks, in order. */
  onRecord?: (record: WalRecordInfo) => void;
}

const enum State {
  /** Discarding bytes up to `skipTo`. */
  Skip,
  /** Collecting a page header into `pageHeader`. */
  PageHeader,
  /** Collecting a record header into `recordHeader`. */
  RecordHeader,
  /** Passing a record's data through the CRC. */
  RecordBody,
  /** End LSN reached, or a problem found. */
  Done,
}

/** What a page header means for the bytes after it. */
const enum PageMode {
  /** Locating the first record at or after the start LSN (continuation data is skipped). */
  FindStart,
  /** A new record starts right after the header. */
  RecordStart,
  /** The header interrupts a record: continuation data follows. */
  Continuation,
}

export class WalRecordReader {
  private readonly timeline: number;
  private readonly startLsn: Lsn;
  private readonly endLsn: Lsn;
  private readonly segmentSize: number;
  private readonly segmentSizeBig: bigint;
  private readonly blockSize: number;
  private readonly allowCustomRmgr: boolean;
  private readonly onRecord: ((record: WalRecordInfo) => void) | null;

  private state: State = State.Skip;
  /** Segment being read (null between segments), its first LSN, and the offset of the next byte. */
  private segno: bigint | null = null;
  private segStart: Lsn = 0n;
  private offset = 0;
  private nextSegno: bigint;
  /** The end LSN as an offset in the current segment (Infinity when beyond it). */
  private endOffset = Infinity;

  private skipTo: Lsn;
  private skipMode: PageMode = PageMode.FindStart;

  private pageMode: PageMode = PageMode.FindStart;
  private readonly pageHeader = Buffer.alloc(LONG_PAGE_HEADER);
  private pageHeaderFill = 0;
  private pageHeaderNeed = SHORT_PAGE_HEADER;
  /** State to go back to after a Continuation page header. */
  private resumeState: State = State.RecordBody;

  private readonly recordHeader = Buffer.alloc(WAL_RECORD_HEADER_SIZE);
  private recordFill = 0;
  private recordStart: Lsn = 0n;
  private totalLength = 0;
  /** Bytes of the current record seen so far, header included. */
  private gotLength = 0;
  private crc = 0;
  /** The first record read is checked as pg_waldump checks it: only xl_prev < its own LSN. */
  private firstRecord = true;
  /** Start of the last record that passed its checks (PostgreSQL's DecodeRecPtr). */
  private previousLsn: Lsn = 0n;

  private problemFound: WalRecordProblem | null = null;
  private recordCount = 0;
  private reachedEnd = false;
  /** Where the last XLOG_SWITCH read ended (MAXALIGNed): the rest of its segment is unused. */
  private switchEnd: Lsn | null = null;

  constructor(options: WalRecordReaderOptions) {
    this.timeline = options.timeline;
    this.startLsn = options.startLsn;
    this.endLsn = options.endLsn;
    this.segmentSize = options.segmentSize;
    this.segmentSizeBig = BigInt(options.segmentSize);
    this.blockSize = options.blockSize ?? 8192;
    this.allowCustomRmgr = options.serverMajor == null || options.serverMajor >= 15;
    this.onRecord = options.onRecord ?? null;
    const startPage = this.startLsn - (this.startLsn % BigInt(this.blockSize));
    this.skipTo = startPage;
    this.skipMode = PageMode.FindStart;
    this.nextSegno = this.startLsn / this.segmentSizeBig;
    if (this.startLsn >= this.endLsn) this.finishAtEnd();
  }

  /** The first problem found; null while none. */
  get problem(): WalRecordProblem | null {
    return this.problemFound;
  }

  /** Throws the first problem as a WalFormatError (for callers that stop at the first problem). */
  throwIfProblem(): void {
    if (this.problemFound !== null) throw new WalFormatError(this.problemFound.message);
  }

  /** True once every record starting before the end LSN was read and found valid. */
  get complete(): boolean {
    return this.reachedEnd;
  }

  /** False once more bytes cannot change the outcome (end LSN reached, or a problem found). */
  get wantsMore(): boolean {
    return this.state !== State.Done;
  }

  /** Records read and found valid (those before the start LSN included). */
  get recordsRead(): number {
    return this.recordCount;
  }

  /**
   * The offset in segment `segno` from which its bytes are unused because a valid XLOG_SWITCH
   * record ended there; null when no switch record was read in that segment. Known as soon as
   * the switch record's last byte was written.
   */
  unusedTailOf(segno: bigint): number | null {
    if (this.switchEnd === null || this.switchEnd / this.segmentSizeBig !== segno) return null;
    return Number(this.switchEnd % this.segmentSizeBig);
  }

  /**
   * Starts segment `segno`: its bytes follow from offset 0. Segments must come in order, from the
   * one holding the start LSN; any other is an 'order' problem.
   */
  beginSegment(segno: bigint): void {
    if (this.segno !== null) this.endSegment();
    if (!this.wantsMore) return;
    if (segno !== this.nextSegno) {
      const expected = this.segmentName(this.nextSegno);
      const got = this.segmentName(segno);
      this.fail('order', this.nextSegno * this.segmentSizeBig, expected,
        `WAL segment "${got}" came before "${expected}": WAL records can only be checked in order`);
      return;
    }
    this.segno = segno;
    this.segStart = segno * this.segmentSizeBig;
    this.offset = 0;
    const end = this.endLsn - this.segStart;
    this.endOffset = end >= this.segmentSizeBig ? Infinity : Number(end);
  }

  /** Feeds the next bytes of the current segment. Bytes past the segment size are ignored. */
  write(chunk: Uint8Array): void {
    if (this.segno === null) return;
    let i = 0;
    const length = Math.min(chunk.length, this.segmentSize - this.offset);
    while (i < length && this.state !== State.Done) {
      switch (this.state) {
        case State.Skip:
          i += this.skip(chunk, i, length);
          break;
        case State.PageHeader:
          i += this.readPageHeader(chunk, i, length);
          break;
        case State.RecordHeader:
          if (this.atPageStart()) {
            this.beginPageHeader(PageMode.Continuation, State.RecordHeader);
            break;
          }
          i += this.readRecordHeader(chunk, i, length);
          break;
        case State.RecordBody:
          if (this.atPageStart()) {
            this.beginPageHeader(PageMode.Continuation, State.RecordBody);
            break;
          }
          i += this.readRecordBody(chunk, i, length);
          break;
      }
    }
  }

  /** The current segment's bytes are over. Fewer than a segment leaves the reader 'incomplete' at end(). */
  endSegment(): void {
    if (this.segno === null) return;
    const full = this.offset >= this.segmentSize;
    if (!full && this.state !== State.Done) {
      this.failIncomplete(this.segStart + BigInt(this.offset));
    }
    this.nextSegno = this.segno + 1n;
    this.segno = null;
  }

  /** No more input: a reader that has not reached the end LSN reports what it was waiting for. */
  end(): void {
    if (this.segno !== null) this.endSegment();
    if (this.state === State.Done) return;
    this.failIncomplete(this.nextSegno * this.segmentSizeBig);
  }

  // --- states

  private atPageStart(): boolean {
    return (this.offset & (this.blockSize - 1)) === 0;
  }

  private lsnHere(): Lsn {
    return this.segStart + BigInt(this.offset);
  }

  private skip(chunk: Uint8Array, i: number, length: number): number {
    const target = this.skipTo - this.segStart;
    const available = BigInt(length - i);
    const wanted = target - BigInt(this.offset);
    const n = Number(wanted < available ? wanted : available);
    this.offset += n;
    if (BigInt(this.offset) === target) this.arriveAt(this.skipTo, this.skipMode);
    return n;
  }

  /** Reading stands at `lsn`, where a page header (at a page start) or a record begins. */
  private arriveAt(lsn: Lsn, mode: PageMode): void {
    if (lsn >= this.endLsn) {
      this.finishAtEnd();
      return;
    }
    if (this.atPageStart()) {
      this.beginPageHeader(mode, State.RecordHeader);
    } else {
      this.beginRecord(lsn);
    }
  }

  private beginPageHeader(mode: PageMode, resume: State): void {
    this.state = State.PageHeader;
    this.pageMode = mode;
    this.resumeState = resume;
    this.pageHeaderFill = 0;
    this.pageHeaderNeed = SHORT_PAGE_HEADER;
  }

  private readPageHeader(chunk: Uint8Array, i: number, length: number): number {
    const n = Math.min(length - i, this.pageHeaderNeed - this.pageHeaderFill);
    this.pageHeader.set(chunk.subarray(i, i + n), this.pageHeaderFill);
    this.pageHeaderFill += n;
    this.offset += n;
    if (this.pageHeaderFill === SHORT_PAGE_HEADER && this.pageHeaderNeed === SHORT_PAGE_HEADER &&
      (this.pageHeader.readUInt16LE(2) & XLP_LONG_HEADER) !== 0) {
      this.pageHeaderNeed = LONG_PAGE_HEADER;
    }
    if (this.pageHeaderFill === this.pageHeaderNeed) this.pageHeaderComplete();
    return n;
  }

  private pageHeaderComplete(): void {
    const info = this.pageHeader.readUInt16LE(2);
    const remaining = this.pageHeader.readUInt32LE(16);
    const headerSize = this.pageHeaderNeed;
    const pageLsn = this.lsnHere() - BigInt(headerSize);
    switch (this.pageMode) {
      case PageMode.FindStart: {
        if ((info & XLP_FIRST_IS_CONTRECORD) === 0) {
          this.arriveAt(this.lsnHere(), PageMode.FindStart);
          return;
        }
        const aligned = maxAlign(remaining);
        if (aligned >= this.blockSize - headerSize) {
          // The continued record goes on past this page: look at the next one.
          this.skipTo = pageLsn + BigInt(this.blockSize);
        } else {
          this.skipTo = this.lsnHere() + BigInt(aligned);
        }
        this.skipMode = PageMode.FindStart;
        this.state = State.Skip;
        return;
      }
      case PageMode.RecordStart:
        this.startAfterPageHeader(info, pageLsn);
        return;
      case PageMode.Continuation: {
        if ((info & XLP_FIRST_IS_OVERWRITE_CONTRECORD) !== 0) {
          // The rest of this record was never written; new WAL starts on this page.
          this.startAfterPageHeader(info, pageLsn);
          return;
        }
        if ((info & XLP_FIRST_IS_CONTRECORD) === 0) {
          this.failRecord('contrecord', `continues on the page at ${formatLsn(pageLsn)}, which has no contrecord flag`);
          return;
        }
        const left = this.totalLength - this.gotLength;
        if (remaining === 0 || remaining !== left) {
          this.failRecord('contrecord',
            `has ${left} bytes left at ${formatLsn(pageLsn)}, but the page header says ${remaining}`);
          return;
        }
        this.state = this.resumeState;
        return;
      }
    }
  }

  /** A record must start right after the page header just read. */
  private startAfterPageHeader(info: number, pageLsn: Lsn): void {
    if ((info & XLP_FIRST_IS_CONTRECORD) !== 0) {
      const lsn = this.lsnHere();
      this.fail('contrecord', lsn, this.segmentOf(lsn),
        `WAL page at ${formatLsn(pageLsn)} in "${this.segmentOf(pageLsn)}" starts with continuation data, but a new record must start at ${formatLsn(lsn)}`);
      return;
    }
    this.arriveAt(this.lsnHere(), PageMode.RecordStart);
  }

  private beginRecord(lsn: Lsn): void {
    this.state = State.RecordHeader;
    this.recordStart = lsn;
    this.recordFill = 0;
    this.totalLength = 0;
    this.gotLength = 0;
    this.crc = 0;
  }

  private readRecordHeader(chunk: Uint8Array, i: number, length: number): number {
    const pageLeft = this.blockSize - (this.offset & (this.blockSize - 1));
    const n = Math.min(length - i, WAL_RECORD_HEADER_SIZE - this.recordFill, pageLeft);
    this.recordHeader.set(chunk.subarray(i, i + n), this.recordFill);
    const before = this.recordFill;
    this.recordFill += n;
    this.gotLength += n;
    this.offset += n;
    if (before < 4 && this.recordFill >= 4) {
      // xl_tot_len is always on the record's first page (records are MAXALIGNed): check it
      // before trusting it to find continuation pages.
      this.totalLength = this.recordHeader.readUInt32LE(0);
      if (this.totalLength < WAL_RECORD_HEADER_SIZE) {
        this.failRecord('length', `has invalid length ${this.totalLength}: expected at least ${WAL_RECORD_HEADER_SIZE}`);
        return n;
      }
    }
    if (this.recordFill === WAL_RECORD_HEADER_SIZE) this.recordHeaderComplete();
    else this.checkEndNotReached();
    return n;
  }

  /** ValidXLogRecordHeader, plus the size limit. */
  private recordHeaderComplete(): void {
    const h = this.recordHeader;
    const total = this.totalLength;
    if (total > WAL_RECORD_MAX_SIZE) {
      this.failRecord('length', `has length ${total}, more than the largest possible record (${WAL_RECORD_MAX_SIZE})`);
      return;
    }
    const rmid = h[17]!;
    const builtin = rmid <= RM_MAX_BUILTIN_ID;
    const custom = this.allowCustomRmgr && rmid >= RM_MIN_CUSTOM_ID && rmid <= RM_MAX_CUSTOM_ID;
    if (!builtin && !custom) {
      this.failRecord('resource-manager', `has invalid resource manager ID ${rmid}`);
      return;
    }
    const prev = h.readBigUInt64LE(8);
    if (this.firstRecord ? prev >= this.recordStart : prev !== this.previousLsn) {
      const expected = this.firstRecord ? `before ${formatLsn(this.recordStart)}` : formatLsn(this.previousLsn);
      this.failRecord('prev-link', `has incorrect prev-link ${formatLsn(prev)} (expected ${expected})`);
      return;
    }
    if (total === WAL_RECORD_HEADER_SIZE) {
      this.recordComplete();
      return;
    }
    this.state = State.RecordBody;
    this.checkEndNotReached();
  }

  private readRecordBody(chunk: Uint8Array, i: number, length: number): number {
    const pageLeft = this.blockSize - (this.offset & (this.blockSize - 1));
    const n = Math.min(length - i, this.totalLength - this.gotLength, pageLeft);
    this.crc = crc32c(chunk.subarray(i, i + n), this.crc);
    this.gotLength += n;
    this.offset += n;
    if (this.gotLength === this.totalLength) this.recordComplete();
    else this.checkEndNotReached();
    return n;
  }

  /** A record still being read when reading reaches the end LSN extends past it. */
  private checkEndNotReached(): void {
    if (this.offset >= this.endOffset) {
      const length = this.recordFill >= 4 ? `is ${this.totalLength} bytes long and ` : '';
      this.failRecord('past-end', `${length}does not end before the end of the WAL range at ${formatLsn(this.endLsn)}`);
    }
  }

  private recordComplete(): void {
    const h = this.recordHeader;
    const crc = crc32c(h.subarray(0, CRC_OFFSET), this.crc) >>> 0;
    if (crc !== h.readUInt32LE(CRC_OFFSET)) {
      this.failRecord('crc', 'has an incorrect CRC');
      return;
    }
    const info = h[16]!;
    const rmid = h[17]!;
    this.recordCount++;
    this.onRecord?.({
      lsn: this.recordStart, totalLength: this.totalLength, xid: h.readUInt32LE(4), prev: h.readBigUInt64LE(8), info, rmid,
    });
    this.previousLsn = this.recordStart;
    this.firstRecord = false;
    const endLsn = this.lsnHere();
    const misalign = Number(endLsn & 7n);
    let next = misalign === 0 ? endLsn : endLsn + BigInt(8 - misalign);
    if (rmid === RM_XLOG_ID && (info & XLR_RMGR_INFO_MASK) === XLOG_SWITCH) {
      // The rest of the segment is unused: the next record starts on the next segment.
      const rem = next % this.segmentSizeBig;
      if (rem !== 0n) {
        this.switchEnd = next;
        next += this.segmentSizeBig - rem;
      }
    }
    if (next >= this.endLsn) {
      this.finishAtEnd();
      return;
    }
    this.skipTo = next;
    this.skipMode = PageMode.RecordStart;
    this.state = State.Skip;
  }

  // --- outcomes

  private finishAtEnd(): void {
    this.state = State.Done;
    this.reachedEnd = true;
  }

  private failIncomplete(at: Lsn): void {
    const inRecord = (this.state === State.RecordHeader && this.recordFill > 0) || this.state === State.RecordBody ||
      (this.state === State.PageHeader && this.pageMode === PageMode.Continuation);
    if (inRecord) {
      this.failRecord('incomplete', `is incomplete: the available WAL ends at ${formatLsn(at)}`);
    } else {
      const segment = this.segmentOf(at === 0n ? 0n : at - 1n);
      this.fail('incomplete', at, segment,
        `the available WAL ends at ${formatLsn(at)} in "${segment}", before the end of the WAL range at ${formatLsn(this.endLsn)}`);
    }
  }

  private failRecord(kind: WalRecordProblemKind, what: string): void {
    const segment = this.segmentOf(this.recordStart);
    this.fail(kind, this.recordStart, segment, `WAL record at ${formatLsn(this.recordStart)} in "${segment}" ${what}`);
  }

  private fail(kind: WalRecordProblemKind, lsn: Lsn, segment: string, message: string): void {
    this.problemFound = { kind, lsn, segment, message };
    this.state = State.Done;
  }

  private segmentOf(lsn: Lsn): string {
    return this.segmentName(lsn / this.segmentSizeBig);
  }

  private segmentName(segno: bigint): string {
    return walSegmentName(this.timeline, segno, this.segmentSize);
  }
}

/** MAXALIGN (8 bytes); n may be any uint32. */
function maxAlign(n: number): number {
  return Math.ceil(n / 8) * 8;
}
