// WalRecordReader on synthetic WAL built here: records with correct CRCs (CRC-32C over the data,
// then over the header up to xl_crc), split across pages and segments, long and short page
// headers, fed whole, in chunks of several sizes, and split in two at every byte of the regions
// where something happens (page and record boundaries; see splitPoints); then every kind of
// damage the reader must report, with its exact text.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32c } from '@node-rs/crc32';
import {
  WAL_RECORD_HEADER_SIZE, WalRecordReader, type WalRecordInfo, type WalRecordReaderOptions,
} from '../../src/wal/record-reader.js';
import { formatLsn } from '../../src/wal/lsn.js';
import { walSegmentName } from '../../src/wal/segment.js';
import { WalCheck, type WalCheckOptions } from '../../src/wal/wal-check.js';
import { WalFormatError } from '../../src/errors.js';

const SEG = 1024 * 1024;
const PAGE = 8192;
const MAGIC = 0xD110;
const SYSID = 7351234567890123456n;
const XLP_FIRST_IS_CONTRECORD = 0x0001;
const XLP_LONG_HEADER = 0x0002;
const XLP_FIRST_IS_OVERWRITE_CONTRECORD = 0x0008;

interface RecordSpec {
  /** xl_tot_len (header included). */
  length: number;
  rmid?: number;
  info?: number;
  /** xl_prev to write instead of the previous record's start. */
  prev?: bigint;
  /** Write only up to the end of the current page, as a record whose rest was lost. */
  abortAtPageEnd?: boolean;
}

/**
 * Writes WAL as a server would: page headers at every page (long on a segment's first page),
 * XLP_FIRST_IS_CONTRECORD and xlp_rem_len on pages that continue a record, records MAXALIGNed.
 */
class WalBuilder {
  readonly segments = new Map<number, Buffer>();
  pos: number;
  private prev: number;
  private readonly headersWritten = new Set<number>();
  private nextPageFlags = 0;
  /** Where each XLOG_SWITCH record ended: the rest of its segment stays zero, page headers included. */
  private readonly unusedFrom: number[] = [];

  constructor(start: number, prev = start - 512) {
    this.pos = start;
    this.prev = prev;
  }

  private segment(segno: number): Buffer {
    let seg = this.segments.get(segno);
    if (seg === undefined) {
      seg = Buffer.alloc(SEG);
      this.segments.set(segno, seg);
    }
    return seg;
  }

  private writePageHeader(page: number, flags: number, remLen: number): void {
    const segno = Math.floor(page / SEG);
    const off = page % SEG;
    const seg = this.segment(segno);
    seg.writeUInt16LE(MAGIC, off);
    seg.writeUInt16LE(flags | (off === 0 ? XLP_LONG_HEADER : 0), off + 2);
    seg.writeUInt32LE(1, off + 4);
    seg.writeBigUInt64LE(BigInt(page), off + 8);
    seg.writeUInt32LE(remLen, off + 16);
    if (off === 0) {
      seg.writeBigUInt64LE(SYSID, off + 24);
      seg.writeUInt32LE(SEG, off + 32);
      seg.writeUInt32LE(PAGE, off + 36);
    }
    this.headersWritten.add(page);
  }

  private headerSize(page: number): number {
    return page % SEG === 0 ? 40 : 24;
  }

  /** Copies bytes at pos, writing page headers as pages begin; `left` is what remains of the record. */
  private emit(bytes: Buffer, recordLeft: number, stopAtPageEnd = false): void {
    let i = 0;
    while (i < bytes.length) {
      if (this.pos % PAGE === 0) {
        const continuing = i > 0;
        this.writePageHeader(this.pos, (continuing ? XLP_FIRST_IS_CONTRECORD : 0) | this.nextPageFlags,
          continuing ? recordLeft - i : 0);
        this.nextPageFlags = 0;
        this.pos += this.headerSize(this.pos);
      }
      const pageLeft = PAGE - (this.pos % PAGE);
      const n = Math.min(pageLeft, bytes.length - i);
      bytes.copy(this.segment(Math.floor(this.pos / SEG)), this.pos % SEG, i, i + n);
      this.pos += n;
      i += n;
      if (stopAtPageEnd && this.pos % PAGE === 0) return;
    }
  }

  /** Appends a record; returns its LSN. */
  add(spec: RecordSpec): number {
    if (this.pos % PAGE === 0) {
      this.writePageHeader(this.pos, this.nextPageFlags, 0);
      this.nextPageFlags = 0;
      this.pos += this.headerSize(this.pos);
    }
    const start = this.pos;
    const record = makeRecord(spec.length, {
      rmid: spec.rmid ?? 10, info: spec.info ?? 0, prev: spec.prev ?? BigInt(this.prev), seed: start,
    });
    this.emit(record, record.length, spec.abortAtPageEnd === true);
    if (spec.abortAtPageEnd) {
      this.nextPageFlags = XLP_FIRST_IS_OVERWRITE_CONTRECORD;
      return start;
    }
    this.prev = start;
    this.pos = Math.ceil(this.pos / 8) * 8;
    return start;
  }

  /** A record ending exactly at `end` (same page, 8-byte steps). */
  addEndingAt(end: number): number {
    const pagePos = this.pos % PAGE === 0 ? this.pos + this.headerSize(this.pos) : this.pos;
    return this.add({ length: end - pagePos });
  }

  /** An XLOG_SWITCH record: the next record starts at the next segment. */
  addSwitch(): number {
    const lsn = this.add({ length: WAL_RECORD_HEADER_SIZE, rmid: 0, info: 0x40 });
    this.unusedFrom.push(this.pos);
    this.pos = Math.ceil(this.pos / SEG) * SEG;
    return lsn;
  }

  /**
   * Segments in order, every page with a header (zero data where nothing was written), except
   * the pages after an XLOG_SWITCH record in its segment: all zeros, as servers 13 to 18 write them.
   */
  build(): Array<[bigint, Buffer]> {
    const unused = (page: number): boolean =>
      this.unusedFrom.some((from) => page >= from && Math.floor(page / SEG) === Math.floor(from / SEG));
    for (const segno of this.segments.keys()) {
      for (let page = segno * SEG; page < (segno + 1) * SEG; page += PAGE) {
        if (!this.headersWritten.has(page) && !unused(page)) this.writePageHeader(page, 0, 0);
      }
    }
    return [...this.segments.entries()].sort((a, b) => a[0] - b[0]).map(([n, b]) => [BigInt(n), b]);
  }
}

/** A record of `length` bytes with a deterministic body and the server's CRC. */
function makeRecord(length: number, o: { rmid: number; info: number; prev: bigint; seed: number }): Buffer {
  const r = Buffer.alloc(length);
  r.writeUInt32LE(length, 0);
  r.writeUInt32LE(1234, 4);
  r.writeBigUInt64LE(o.prev, 8);
  r[16] = o.info;
  r[17] = o.rmid;
  for (let i = WAL_RECORD_HEADER_SIZE; i < length; i++) r[i] = (i * 31 + o.seed) & 0xff;
  const crc = crc32c(r.subarray(0, 20), crc32c(r.subarray(WAL_RECORD_HEADER_SIZE)));
  r.writeUInt32LE(crc >>> 0, 20);
  return r;
}

interface Outcome {
  records: string[];
  complete: boolean;
  problem: string | null;
}

type Feed = (reader: WalRecordReader, segno: bigint, data: Buffer) => void;

const whole: Feed = (reader, _segno, data) => reader.write(data);

function decode(segments: Array<[bigint, Buffer]>, options: Partial<WalRecordReaderOptions> & { startLsn: bigint; endLsn: bigint },
  feed: Feed = whole): Outcome {
  const records: WalRecordInfo[] = [];
  const reader = new WalRecordReader({
    timeline: 1, segmentSize: SEG, blockSize: PAGE, serverMajor: 15, onRecord: (r) => records.push(r), ...options,
  });
  for (const [segno, data] of segments) {
    if (!reader.wantsMore) break;
    reader.beginSegment(segno);
    feed(reader, segno, data);
    reader.endSegment();
  }
  reader.end();
  return {
    records: records.map((r) => `${formatLsn(r.lsn)}:${r.totalLength}`),
    complete: reader.complete,
    problem: reader.problem?.message ?? null,
  };
}

/** The main fixture: segments 1 and 2, records of every shape between START and END. */
function fixture(): { segments: Array<[bigint, Buffer]>; start: bigint; end: bigint; lsn: Record<string, number>; builder: WalBuilder } {
  const s1 = SEG;
  const b = new WalBuilder(s1);
  const lsn: Record<string, number> = {};
  lsn.a = b.add({ length: 100 }); // first record of the segment, after the long header
  lsn.b = b.add({ length: 57 }); // not a multiple of 8: padding follows
  lsn.c = b.add({ length: 200 }); // START: records before it are read to find it
  lsn.d = b.add({ length: 9000 }); // crosses a page boundary (short header on the next page)
  lsn.e = b.add({ length: 20000 }); // crosses two page boundaries
  lsn.f = b.addEndingAt(s1 + 4 * PAGE - 8); // leaves 8 bytes on the page
  lsn.g = b.add({ length: 80 }); // its header is split across the page boundary
  lsn.h = b.addEndingAt(s1 + 5 * PAGE); // ends exactly at a page end
  lsn.i = b.add({ length: 24 }); // header only, right after the next page header
  // fill most of segment 1 with one record, then one crossing into segment 2 (long header)
  lsn.j = b.add({ length: SEG - 6 * PAGE - 4000 });
  lsn.k = b.add({ length: 30000 });
  lsn.l = b.add({ length: 300 });
  lsn.m = b.add({ length: 48 });
  const end = b.pos;
  b.add({ length: 500 }); // after END: never read
  return { segments: b.build(), start: BigInt(lsn.c), end: BigInt(end), lsn, builder: b };
}

const F = fixture();
const ALL_RECORDS = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm'];
const expectedRecords = (names: string[], f = F): string[] => names.map((n) => {
  const lsn = f.lsn[n]!;
  const seg = f.segments.find(([s]) => Number(s) === Math.floor(lsn / SEG))![1];
  return `${formatLsn(BigInt(lsn))}:${seg.readUInt32LE(lsn % SEG)}`;
});

test('fixture shape: the records sit where the test means them to', () => {
  const l = F.lsn;
  assert.equal(l.a, SEG + 40);
  assert.equal(Math.floor(l.d! / PAGE), SEG / PAGE); // d starts on page 0 and ends on page 1
  assert.ok(l.e! % PAGE + 20000 > 2 * PAGE);
  assert.equal(l.g, SEG + 4 * PAGE - 8);
  assert.equal(l.i, SEG + 5 * PAGE + 24);
  assert.ok(l.k! < 2 * SEG && l.l! > 2 * SEG, 'k crosses into segment 2');
  assert.equal(F.segments.length, 2);
  // page 4 continues g's header: contrecord flag, 72 bytes left
  const seg1 = F.segments[0]![1];
  assert.equal(seg1.readUInt16LE(4 * PAGE + 2), XLP_FIRST_IS_CONTRECORD);
  assert.equal(seg1.readUInt32LE(4 * PAGE + 16), 72);
  assert.equal(seg1.readUInt16LE(5 * PAGE + 2), 0);
});

test('reads every record from START to END, found from the start of START\'s page', () => {
  const r = decode(F.segments, { startLsn: F.start, endLsn: F.end });
  assert.deepEqual(r, { records: expectedRecords(ALL_RECORDS), complete: true, problem: null });
});

test('any chunking gives the same result', () => {
  const expected = decode(F.segments, { startLsn: F.start, endLsn: F.end });
  for (const size of [1 << 20, 65536, 8192, 8191, 4099, 40, 24, 13]) {
    const chunked: Feed = (reader, _s, data) => {
      for (let i = 0; i < data.length; i += size) reader.write(data.subarray(i, i + size));
    };
    assert.deepEqual(decode(F.segments, { startLsn: F.start, endLsn: F.end }, chunked), expected, `chunk ${size}`);
  }
});

/**
 * Split points: every byte within 48 bytes of each page boundary up to page 6 and of each
 * record boundary, every byte of segment 2's first page, around the segment boundary, and
 * every 997th byte elsewhere. (Every byte of two 1 MB segments would take minutes.)
 */
function splitPoints(): number[] {
  const points = new Set<number>();
  const around = (x: number, w = 48): void => {
    for (let p = x - w; p <= x + w; p++) if (p >= 0 && p <= 2 * SEG) points.add(p);
  };
  for (let page = 0; page <= 6 * PAGE; page += PAGE) around(SEG + page);
  for (const lsn of Object.values(F.lsn)) around(lsn);
  around(2 * SEG, 8300);
  for (let p = SEG; p < 2 * SEG; p += 997) points.add(p);
  around(Number(F.end));
  return [...points].sort((a, b) => a - b);
}

test('split in two at every byte of the interesting regions', () => {
  const expected = decode(F.segments, { startLsn: F.start, endLsn: F.end });
  const points = splitPoints();
  assert.ok(points.length > 10000);
  for (const at of points) {
    const split: Feed = (reader, segno, data) => {
      const cut = at - Number(segno) * SEG;
      if (cut <= 0 || cut >= data.length) {
        reader.write(data);
        return;
      }
      reader.write(data.subarray(0, cut));
      reader.write(data.subarray(cut));
    };
    const got = decode(F.segments, { startLsn: F.start, endLsn: F.end }, split);
    if (got.problem !== null || !got.complete || got.records.length !== expected.records.length) {
      assert.deepEqual(got, expected, `split at ${at}`);
    }
  }
});

test('START inside a record: reading begins at the next record (continuation pages skipped)', () => {
  // inside e, two pages past its start: the pages it continues on are skipped
  const inE = BigInt(F.lsn.e! + 2 * PAGE + 100);
  assert.deepEqual(decode(F.segments, { startLsn: inE, endLsn: F.end }).records.slice(0, 2), expectedRecords(['f', 'g']));
  // inside k, on segment 2's first page (long header with xlp_rem_len)
  const inK = BigInt(2 * SEG + 10);
  assert.deepEqual(decode(F.segments.slice(1), { startLsn: inK, endLsn: F.end }), {
    records: expectedRecords(['l', 'm']), complete: true, problem: null,
  });
});

test('END: records starting before it are read, the first at or after it is not', () => {
  // END at l's start: k is the last record
  const r = decode(F.segments, { startLsn: F.start, endLsn: BigInt(F.lsn.l!) });
  assert.deepEqual(r, { records: expectedRecords(ALL_RECORDS.slice(0, 11)), complete: true, problem: null });
  // END at a page boundary after h (which ends there): i is not read, page 5 is not needed
  const atPage = decode(F.segments, { startLsn: F.start, endLsn: BigInt(SEG + 5 * PAGE) });
  assert.deepEqual(atPage, { records: expectedRecords(ALL_RECORDS.slice(0, 8)), complete: true, problem: null });
  // START = END: nothing to read, no segment needed
  assert.deepEqual(decode([], { startLsn: F.start, endLsn: F.start }), { records: [], complete: true, problem: null });
});

test('a record that does not end before END is reported', () => {
  const inD = BigInt(F.lsn.d! + 5000);
  assert.deepEqual(decode(F.segments, { startLsn: F.start, endLsn: inD }), {
    records: expectedRecords(['a', 'b', 'c']),
    complete: false,
    problem: `WAL record at ${formatLsn(BigInt(F.lsn.d!))} in "000000010000000000000001" is 9000 bytes long and does not end before the end of the WAL range at ${formatLsn(inD)}`,
  });
});

test('WAL ending inside a record, or before END between records', () => {
  // only segment 1 while k goes on into segment 2
  assert.deepEqual(decode(F.segments.slice(0, 1), { startLsn: F.start, endLsn: F.end }).problem,
    `WAL record at ${formatLsn(BigInt(F.lsn.k!))} in "000000010000000000000001" is incomplete: the available WAL ends at 0/200000`);
  // segment 2 cut short inside l
  const short: Array<[bigint, Buffer]> = [F.segments[0]!, [2n, F.segments[1]![1].subarray(0, F.lsn.l! - 2 * SEG + 100)]];
  assert.deepEqual(decode(short, { startLsn: F.start, endLsn: F.end }).problem,
    `WAL record at ${formatLsn(BigInt(F.lsn.l!))} in "000000010000000000000002" is incomplete: the available WAL ends at ${formatLsn(BigInt(F.lsn.l! + 100))}`);
  // cut short between records (right after m's header would start: at l's end)
  const atL = F.lsn.m! - 2 * SEG;
  const between: Array<[bigint, Buffer]> = [F.segments[0]!, [2n, F.segments[1]![1].subarray(0, atL)]];
  assert.deepEqual(decode(between, { startLsn: F.start, endLsn: F.end }).problem,
    `the available WAL ends at ${formatLsn(BigInt(F.lsn.m!))} in "000000010000000000000002", before the end of the WAL range at ${formatLsn(F.end)}`);
});

/** A copy of the fixture's segments with `edit` applied to the buffer of the segment holding `lsn`. */
function damaged(lsn: number, edit: (seg: Buffer, off: number) => void): Array<[bigint, Buffer]> {
  return F.segments.map(([segno, data]) => {
    const copy = Buffer.from(data);
    if (Number(segno) === Math.floor(lsn / SEG)) edit(copy, lsn % SEG);
    return [segno, copy];
  });
}

const at = (name: string): string => formatLsn(BigInt(F.lsn[name]!));

test('one byte changed in a record\'s data, or in its header: incorrect CRC', () => {
  for (const [name, delta] of [['d', 4000], ['d', 8400], ['l', 200], ['c', 4], ['k', 7000]] as const) {
    const bad = damaged(F.lsn[name]! + delta, (seg, off) => { seg[off]! ^= 0x10; });
    const r = decode(bad, { startLsn: F.start, endLsn: F.end });
    const segment = `00000001000000000000000${Math.floor(F.lsn[name]! / SEG)}`;
    assert.equal(r.problem, `WAL record at ${at(name)} in "${segment}" has an incorrect CRC`, `${name}+${delta}`);
    assert.equal(r.complete, false);
  }
  // in a record before START (read to find START): reported too, as pg_waldump fails there
  const beforeStart = damaged(F.lsn.b! + 30, (seg, off) => { seg[off]! ^= 1; });
  assert.equal(decode(beforeStart, { startLsn: F.start, endLsn: F.end }).problem,
    `WAL record at ${at('b')} in "000000010000000000000001" has an incorrect CRC`);
  // after END: not read
  const afterEnd = damaged(Number(F.end) + 40, (seg, off) => { seg[off]! ^= 1; });
  assert.equal(decode(afterEnd, { startLsn: F.start, endLsn: F.end }).problem, null);
});

/** Rewrites a record's header field and recomputes its CRC, so that only the field is wrong. */
function withHeader(name: string, edit: (header: Buffer) => void): Array<[bigint, Buffer]> {
  const lsn = F.lsn[name]!;
  return damaged(lsn, (seg, off) => {
    const length = seg.readUInt32LE(off);
    assert.ok(off % PAGE + length <= PAGE, 'record on one page');
    const record = seg.subarray(off, off + length);
    edit(record);
    record.writeUInt32LE(crc32c(record.subarray(0, 20), crc32c(record.subarray(24))) >>> 0, 20);
  });
}

test('xl_prev not the previous record\'s start: incorrect prev-link', () => {
  const bad = withHeader('l', (h) => h.writeBigUInt64LE(BigInt(F.lsn.j!), 8));
  assert.equal(decode(bad, { startLsn: F.start, endLsn: F.end }).problem,
    `WAL record at ${at('l')} in "000000010000000000000002" has incorrect prev-link ${at('j')} (expected ${at('k')})`);
  // the first record read is only checked to point backwards
  const first = withHeader('a', (h) => h.writeBigUInt64LE(BigInt(F.lsn.a!), 8));
  assert.equal(decode(first, { startLsn: F.start, endLsn: F.end }).problem,
    `WAL record at ${at('a')} in "000000010000000000000001" has incorrect prev-link ${at('a')} (expected before ${at('a')})`);
  const anyEarlier = withHeader('a', (h) => h.writeBigUInt64LE(16n, 8));
  assert.equal(decode(anyEarlier, { startLsn: F.start, endLsn: F.end }).problem, null);
});

test('xl_tot_len 0, 23, or huge: invalid length', () => {
  for (const [len, text] of [
    [0, 'has invalid length 0: expected at least 24'],
    [23, 'has invalid length 23: expected at least 24'],
    [0xFFFFFFF0, `has length ${0xFFFFFFF0}, more than the largest possible record (1069547520)`],
  ] as const) {
    const bad = damaged(F.lsn.l!, (seg, off) => seg.writeUInt32LE(len, off));
    assert.equal(decode(bad, { startLsn: F.start, endLsn: F.end }).problem,
      `WAL record at ${at('l')} in "000000010000000000000002" ${text}`);
  }
  // zeros where a record should be (WAL that was never written)
  const zeros = damaged(F.lsn.l!, (seg, off) => seg.fill(0, off, off + 300));
  assert.equal(decode(zeros, { startLsn: F.start, endLsn: F.end }).problem,
    `WAL record at ${at('l')} in "000000010000000000000002" has invalid length 0: expected at least 24`);
  // a split header: the length is checked before the next page is read
  const split = damaged(F.lsn.g!, (seg, off) => seg.writeUInt32LE(8, off));
  assert.equal(decode(split, { startLsn: F.start, endLsn: F.end }).problem,
    `WAL record at ${at('g')} in "000000010000000000000001" has invalid length 8: expected at least 24`);
});

test('resource manager IDs: 0-21 always, 128-255 from 15 on (custom)', () => {
  const rm = (id: number): Array<[bigint, Buffer]> => withHeader('l', (h) => { h[17] = id; });
  const problem = (id: number, major: number): string | null =>
    decode(rm(id), { startLsn: F.start, endLsn: F.end, serverMajor: major }).problem;
  const text = (id: number): string => `WAL record at ${at('l')} in "000000010000000000000002" has invalid resource manager ID ${id}`;
  assert.equal(problem(21, 13), null);
  assert.equal(problem(22, 18), text(22));
  assert.equal(problem(127, 15), text(127));
  assert.equal(problem(128, 15), null);
  assert.equal(problem(255, 18), null);
  assert.equal(problem(128, 14), text(128));
});

test('a continuation page without XLP_FIRST_IS_CONTRECORD, or with a wrong xlp_rem_len', () => {
  const page = F.lsn.d! - (F.lsn.d! % PAGE) + PAGE;
  const noFlag = damaged(page, (seg, off) => seg.writeUInt16LE(0, off + 2));
  assert.equal(decode(noFlag, { startLsn: F.start, endLsn: F.end }).problem,
    `WAL record at ${at('d')} in "000000010000000000000001" continues on the page at ${formatLsn(BigInt(page))}, which has no contrecord flag`);
  const left = F.segments[0]![1].readUInt32LE(page % SEG + 16);
  const wrongLen = damaged(page, (seg, off) => seg.writeUInt32LE(left + 8, off + 16));
  assert.equal(decode(wrongLen, { startLsn: F.start, endLsn: F.end }).problem,
    `WAL record at ${at('d')} in "000000010000000000000001" has ${left} bytes left at ${formatLsn(BigInt(page))}, but the page header says ${left + 8}`);
  // segment 2's long header continues k
  const seg2Flag = damaged(2 * SEG, (seg, off) => seg.writeUInt16LE(XLP_LONG_HEADER, off + 2));
  assert.equal(decode(seg2Flag, { startLsn: F.start, endLsn: F.end }).problem,
    `WAL record at ${at('k')} in "000000010000000000000001" continues on the page at 0/200000, which has no contrecord flag`);
});

test('a page claiming continuation data where a new record starts (after h ends at the page end)', () => {
  const page = SEG + 5 * PAGE;
  const bad = damaged(page, (seg, off) => {
    seg.writeUInt16LE(XLP_FIRST_IS_CONTRECORD, off + 2);
    seg.writeUInt32LE(16, off + 16);
  });
  assert.equal(decode(bad, { startLsn: F.start, endLsn: F.end }).problem,
    `WAL page at ${formatLsn(BigInt(page))} in "000000010000000000000001" starts with continuation data, but a new record must start at ${at('i')}`);
});

test('throwIfProblem: the first problem as a WalFormatError (code 83)', () => {
  const reader = new WalRecordReader({ timeline: 1, startLsn: F.start, endLsn: F.end, segmentSize: SEG });
  reader.beginSegment(1n);
  reader.write(F.segments[0]![1]);
  reader.throwIfProblem(); // nothing wrong so far
  reader.end();
  assert.throws(() => reader.throwIfProblem(), (err: unknown) => err instanceof WalFormatError && err.code === 83 &&
    err.message === `WAL record at ${at('k')} in "000000010000000000000001" is incomplete: the available WAL ends at 0/200000`);
});

test('segments out of order, or the first one not the one holding START', () => {
  const reversed = [F.segments[1]!, F.segments[0]!];
  assert.equal(decode(reversed, { startLsn: F.start, endLsn: F.end }).problem,
    'WAL segment "000000010000000000000002" came before "000000010000000000000001": WAL records can only be checked in order');
});

test('XLOG_SWITCH: the next record is read at the next segment', () => {
  const b = new WalBuilder(SEG);
  const lsn = [b.add({ length: 100 }), b.addSwitch(), b.add({ length: 60 }), b.add({ length: 70 })];
  const end = b.pos;
  const segments = b.build();
  assert.equal(lsn[2], 2 * SEG + 40);
  const r = decode(segments, { startLsn: BigInt(SEG + 40), endLsn: BigInt(end) });
  assert.deepEqual(r.records, lsn.map((l, i) => `${formatLsn(BigInt(l))}:${[100, 24, 60, 70][i]}`));
  assert.equal(r.problem, null);
  // END at the segment boundary: the switch record is the last one
  assert.deepEqual(decode(segments.slice(0, 1), { startLsn: BigInt(SEG + 40), endLsn: 2n * BigInt(SEG) }).records.length, 2);
});

test('XLP_FIRST_IS_OVERWRITE_CONTRECORD: an incomplete record is dropped and reading goes on', () => {
  const b = new WalBuilder(SEG);
  const first = b.add({ length: 100 });
  const aborted = b.add({ length: 12000, abortAtPageEnd: true }); // its continuation was never written
  const next = b.add({ length: 64, prev: BigInt(first) }); // new WAL, over the continuation's place
  const last = b.add({ length: 32 });
  const end = b.pos;
  const segments = b.build();
  assert.equal(next, SEG + PAGE + 24);
  assert.equal(segments[0]![1].readUInt16LE(PAGE + 2), XLP_FIRST_IS_OVERWRITE_CONTRECORD);
  const r = decode(segments, { startLsn: BigInt(first), endLsn: BigInt(end) });
  assert.deepEqual(r, {
    records: [`${formatLsn(BigInt(first))}:100`, `${formatLsn(BigInt(next))}:64`, `${formatLsn(BigInt(last))}:32`],
    complete: true, problem: null,
  });
  assert.ok(aborted > first);
  // without the flag the same bytes are an error
  const noFlag = segments.map(([s, d]): [bigint, Buffer] => [s, Buffer.from(d)]);
  noFlag[0]![1].writeUInt16LE(0, PAGE + 2);
  assert.equal(decode(noFlag, { startLsn: BigInt(first), endLsn: BigInt(end) }).problem,
    `WAL record at ${formatLsn(BigInt(aborted))} in "000000010000000000000001" continues on the page at 0/102000, which has no contrecord flag`);
});

test('larger segments and blocks: 16 MB segment geometry, 16 kB pages', () => {
  // the reader takes sizes from its options; a 16 MB segment holding two small records
  const seg = Buffer.alloc(16 * SEG);
  const page = 16384;
  seg.writeUInt16LE(MAGIC, 0);
  seg.writeUInt16LE(XLP_LONG_HEADER, 2);
  seg.writeBigUInt64LE(BigInt(16 * SEG), 8);
  const r1 = makeRecord(40, { rmid: 1, info: 0, prev: 5n, seed: 1 });
  const r2 = makeRecord(16384, { rmid: 1, info: 0, prev: BigInt(16 * SEG + 40), seed: 2 });
  r1.copy(seg, 40);
  // r2 at 80: 16304 bytes on page 0, the rest after page 1's short header
  r2.copy(seg, 80, 0, page - 80);
  seg.writeUInt16LE(MAGIC, page);
  seg.writeUInt16LE(XLP_FIRST_IS_CONTRECORD, page + 2);
  seg.writeUInt32LE(16384 - (page - 80), page + 16);
  r2.copy(seg, page + 24, page - 80);
  const end = BigInt(16 * SEG + page + 24 + 80);
  const reader = new WalRecordReader({ timeline: 1, startLsn: BigInt(16 * SEG + 40), endLsn: end, segmentSize: 16 * SEG, blockSize: page });
  reader.beginSegment(1n);
  reader.write(seg.subarray(0, 3 * page));
  assert.equal(reader.problem, null);
  assert.equal(reader.complete, true);
  assert.equal(reader.recordsRead, 2);
});

// --- WalCheck with decodeRecords: the page checks and the record reader on the same bytes

const RANGE = { timeline: 1, startLsn: F.start, endLsn: F.end };
const names = (segments: Array<[bigint, Buffer]>): Array<[string, Buffer]> =>
  segments.map(([segno, data]) => [walSegmentName(1, segno, SEG), data]);

function runCheck(files: Array<[string, Buffer]>, extra: Partial<WalCheckOptions> = {}, chunk = 65536): { problems: string[]; check: WalCheck } {
  const problems: string[] = [];
  const check = new WalCheck({
    ranges: [RANGE], segmentSize: SEG, blockSize: PAGE, serverMajor: 15, systemIdentifier: SYSID,
    location: 'pg_wal', decodeRecords: true, onProblem: (m) => problems.push(m), ...extra,
  });
  for (const [name, data] of files) {
    const sink = check.beginFile(name, data.length);
    if (sink === null) continue;
    for (let i = 0; i < data.length && sink.wantsMore; i += chunk) sink.write(data.subarray(i, i + chunk));
    sink.end();
  }
  check.finish();
  return { problems, check };
}

test('WalCheck decodeRecords: good WAL passes, and every record in the range is read', () => {
  for (const chunk of [1 << 20, 8192, 4099, 40]) {
    const { problems, check } = runCheck(names(F.segments), {}, chunk);
    assert.deepEqual(problems, [], `chunk ${chunk}`);
    assert.equal(check.walRecordsRead, ALL_RECORDS.length);
  }
  // geometry learned from the WAL itself (no pg_control)
  const learned = runCheck(names(F.segments), { segmentSize: null, blockSize: null, serverMajor: null, systemIdentifier: null });
  assert.deepEqual(learned.problems, []);
  assert.equal(learned.check.walRecordsRead, ALL_RECORDS.length);
});

test('WalCheck decodeRecords: one byte changed in a record is reported once, after the page checks', () => {
  const bad = damaged(F.lsn.l! + 100, (seg, off) => { seg[off]! ^= 0x40; });
  assert.deepEqual(runCheck(names(bad)).problems,
    [`WAL record at ${at('l')} in "000000010000000000000002" has an incorrect CRC`]);
  // not without decodeRecords (the page headers are all fine)
  assert.deepEqual(runCheck(names(bad), { decodeRecords: false }).problems, []);
});

test('WalCheck decodeRecords: a missing segment or a bad page header is reported alone', () => {
  const bad = damaged(F.lsn.d! + 100, (seg, off) => { seg[off]! ^= 0x40; });
  // segment 2 missing: records are judged only in ranges whose segments all passed the
  // segment and page checks, so the damaged record in segment 1 goes unreported
  assert.deepEqual(runCheck(names(bad).slice(0, 1)).problems,
    ['WAL segment "000000010000000000000002" is missing from "pg_wal"']);
  // a recycled page in segment 2 (wrong xlp_pageaddr): only the page problem
  const recycled = damaged(2 * SEG + PAGE, (seg, off) => seg.writeBigUInt64LE(BigInt(SEG + PAGE), off + 8));
  assert.deepEqual(runCheck(names(recycled)).problems,
    ['unexpected pageaddr 0/102000 in WAL segment "000000010000000000000002", LSN 0/202000, offset 8192']);
});

test('WalCheck decodeRecords: segments given out of order are reported', () => {
  const files = names(F.segments).reverse();
  assert.deepEqual(runCheck(files).problems,
    ['WAL segment "000000010000000000000002" came before "000000010000000000000001": WAL records can only be checked in order']);
});

test('WalCheck decodeRecords: two ranges (a timeline switch at a record start), each read from its own files', () => {
  // timeline 2 began at l: its segment 2 holds timeline 1's WAL up to there, then its own
  const switchLsn = BigInt(F.lsn.l!);
  const ranges = [{ timeline: 1, startLsn: F.start, endLsn: switchLsn }, { timeline: 2, startLsn: switchLsn, endLsn: F.end }];
  const files: Array<[string, Buffer]> = [...names(F.segments), [walSegmentName(2, 2n, SEG), F.segments[1]![1]]];
  const good = runCheck(files, { ranges });
  assert.deepEqual(good.problems, []);
  // timeline 1: a..k; timeline 2: from the start of segment 2's first page: k's end is skipped, then l, m
  assert.equal(good.check.walRecordsRead, 11 + 2);
  const bad: Array<[string, Buffer]> = [...names(F.segments), [walSegmentName(2, 2n, SEG), damaged(F.lsn.m! + 30, (seg, off) => { seg[off]! ^= 1; })[1]![1]]];
  assert.deepEqual(runCheck(bad, { ranges }).problems, [`WAL record at ${at('m')} in "000000020000000000000002" has an incorrect CRC`]);
});

test('WalCheck: the zeroed pages after an XLOG_SWITCH (as servers 13-18 write them) pass, with or without decodeRecords, whatever the chunking', () => {
  const b = new WalBuilder(SEG);
  const start = b.add({ length: 100 });
  b.add({ length: 9000 });
  b.add({ length: 300 });
  const switched = b.addSwitch();
  b.add({ length: 60 });
  b.add({ length: 9000 });
  const segments = b.build();
  const switchPage = Math.floor(switched / PAGE) * PAGE;
  assert.ok(segments[0]![1].subarray(switchPage - SEG + PAGE).every((x) => x === 0), 'the rest of segment 1 is zeros');
  const range = { timeline: 1, startLsn: BigInt(start), endLsn: BigInt(b.pos) };
  for (const decodeRecords of [true, false]) {
    for (const chunk of [1 << 20, 8192, 4099, 40, 7]) {
      const { problems, check } = runCheck(names(segments), { ranges: [range], decodeRecords }, chunk);
      assert.deepEqual(problems, [], `decodeRecords ${decodeRecords}, chunk ${chunk}`);
      assert.equal(check.walRecordsRead, decodeRecords ? 6 : 0);
    }
  }
  // The switch record ending exactly at a page end: the very next page is already unused.
  const e = new WalBuilder(SEG);
  const first = e.add({ length: 100 });
  e.addEndingAt(SEG + PAGE - WAL_RECORD_HEADER_SIZE);
  e.addSwitch();
  e.add({ length: 60 });
  assert.deepEqual(runCheck(names(e.build()), { ranges: [{ timeline: 1, startLsn: BigInt(first), endLsn: BigInt(e.pos) }] }).problems, []);
});

test('WalCheck: a zeroed page that does not follow an XLOG_SWITCH of its segment is still an error', () => {
  const b = new WalBuilder(SEG);
  const start = b.add({ length: 100 });
  b.add({ length: 30000 });
  b.addSwitch();
  b.add({ length: 60 });
  b.add({ length: 30000 });
  const segments = b.build();
  const range = { timeline: 1, startLsn: BigInt(start), endLsn: BigInt(b.pos) };
  const zeroed = (lsn: number): Array<[bigint, Buffer]> => segments.map(([segno, data]) => {
    const copy = Buffer.from(data);
    if (Number(segno) === Math.floor(lsn / SEG)) copy.fill(0, lsn % SEG, lsn % SEG + PAGE);
    return [segno, copy];
  });
  for (const decodeRecords of [true, false]) {
    // before the switch record, in its segment
    assert.deepEqual(runCheck(names(zeroed(SEG + 2 * PAGE)), { ranges: [range], decodeRecords }).problems,
      ['invalid magic number 0000 in WAL segment "000000010000000000000001", LSN 0/104000, offset 16384']);
    // in the next segment, where records go on
    assert.deepEqual(runCheck(names(zeroed(2 * SEG + 2 * PAGE)), { ranges: [range], decodeRecords }).problems,
      ['invalid magic number 0000 in WAL segment "000000010000000000000002", LSN 0/204000, offset 16384']);
  }
  // A switch record whose CRC is wrong proves nothing: its zeroed tail is an error as well.
  const badSwitch = segments.map(([segno, data]): [bigint, Buffer] => [segno, Buffer.from(data)]);
  const switchLsn = (() => {
    const c = new WalBuilder(SEG);
    c.add({ length: 100 });
    c.add({ length: 30000 });
    return c.addSwitch();
  })();
  badSwitch[0]![1][switchLsn - SEG + 20]! ^= 0x01;
  const firstUnused = Math.ceil((switchLsn + WAL_RECORD_HEADER_SIZE) / PAGE) * PAGE;
  assert.deepEqual(runCheck(names(badSwitch), { ranges: [range] }).problems, [
    `invalid magic number 0000 in WAL segment "000000010000000000000001", LSN ${formatLsn(BigInt(firstUnused))}, offset ${firstUnused - SEG}`]);
});

