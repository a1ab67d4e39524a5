import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requiredSegments, WAL_PAGE_MAGIC, WalCheck, type WalRangeSpec } from '../../src/wal/wal-check.js';
import { checkWalDirectory } from '../../src/wal/wal-check-directory.js';
import { WalCheckStreamer } from '../../src/wal/wal-check-streamer.js';
import { walSegmentName } from '../../src/wal/segment.js';
import { parseLsn } from '../../src/wal/lsn.js';
import type { TarMember } from '../../src/archive/streamer.js';

const MB = 1024 * 1024;
const SEG = MB; // small segments keep the tests fast
const PAGE = 8192;
const SYSID = 7351234567890123456n;
const MAGIC15 = 0xD110;

interface SegmentSpec {
  tli?: number;
  segno: bigint;
  magic?: number;
  /** Pages from this one on are zeros (pre-allocated, never written). */
  zeroFromPage?: number;
  pageTli?: (page: number) => number;
  sysid?: bigint;
  segSizeInHeader?: number;
  pageAddrShift?: bigint;
}

/** A WAL segment with valid page headers (contents after the headers are a fill pattern). */
function makeSegment(spec: SegmentSpec): Buffer {
  const buf = Buffer.alloc(SEG, 0x5a);
  const tli = spec.tli ?? 1;
  for (let page = 0; page < SEG / PAGE; page++) {
    const off = page * PAGE;
    if (spec.zeroFromPage !== undefined && page >= spec.zeroFromPage) {
      buf.fill(0, off);
      break;
    }
    buf.writeUInt16LE(spec.magic ?? MAGIC15, off);
    buf.writeUInt16LE(page === 0 ? 0x0002 : 0x0005, off + 2);
    buf.writeUInt32LE(spec.pageTli ? spec.pageTli(page) : tli, off + 4);
    buf.writeBigUInt64LE(spec.segno * BigInt(SEG) + BigInt(off) + (spec.pageAddrShift ?? 0n), off + 8);
    buf.writeUInt32LE(0, off + 16);
    if (page === 0) {
      buf.writeBigUInt64LE(spec.sysid ?? SYSID, off + 24);
      buf.writeUInt32LE(spec.segSizeInHeader ?? SEG, off + 32);
      buf.writeUInt32LE(PAGE, off + 36);
    }
  }
  return buf;
}

const name = (segno: bigint, tli = 1): string => walSegmentName(tli, segno, SEG);

function newCheck(ranges: WalRangeSpec[], extra: Partial<ConstructorParameters<typeof WalCheck>[0]> = {}): { check: WalCheck; problems: string[] } {
  const problems: string[] = [];
  const check = new WalCheck({
    ranges, segmentSize: SEG, blockSize: PAGE, serverMajor: 15, systemIdentifier: SYSID,
    location: 'pg_wal', onProblem: (m) => problems.push(m), ...extra,
  });
  return { check, problems };
}

/** Feeds whole files through beginFile/write/end with the given chunking. */
function feed(check: WalCheck, files: Array<[string, Buffer]>, chunk = 65536, declareSize = true): void {
  for (const [n, data] of files) {
    const sink = check.beginFile(n, declareSize ? data.length : null);
    if (sink === null) continue;
    // A file can stop early; a stream (size not declared) always delivers everything.
    for (let i = 0; i < data.length && (sink.wantsMore || !declareSize); i += chunk) sink.write(data.subarray(i, i + chunk));
    sink.end();
  }
  check.finish();
}

test('requiredSegments: start segment to the segment of End-LSN - 1', () => {
  const r = (s: string, e: string): string[] =>
    requiredSegments([{ timeline: 1, startLsn: parseLsn(s), endLsn: parseLsn(e) }], 16 * MB).map((x) => `${x.name}:${x.checkEnd}`);
  assert.deepEqual(r('0/2000028', '0/2000138'), ['000000010000000000000002:312']);
  assert.deepEqual(r('0/2000028', '0/4000010'), [
    `000000010000000000000002:${16 * MB}`, `000000010000000000000003:${16 * MB}`, '000000010000000000000004:16']);
  // an end exactly on a segment boundary needs no byte of the next segment
  assert.deepEqual(r('0/2000028', '0/3000000'), [`000000010000000000000002:${16 * MB}`]);
  assert.deepEqual(r('0/2000028', '0/2000028'), ['000000010000000000000002:40']);
  assert.deepEqual(r('0/FF000028', '1/0000100'), [`0000000100000000000000FF:${16 * MB}`, '000000010000000100000000:256']);
  const two = requiredSegments([
    { timeline: 2, startLsn: parseLsn('0/3000100'), endLsn: parseLsn('0/3000200') },
    { timeline: 1, startLsn: parseLsn('0/2000028'), endLsn: parseLsn('0/3000100') },
  ], 16 * MB).map((x) => x.name);
  assert.deepEqual(two, ['000000020000000000000003', '000000010000000000000002', '000000010000000000000003']);
});

const RANGE: WalRangeSpec = { timeline: 1, startLsn: BigInt(SEG) * 2n + 40n, endLsn: BigInt(SEG) * 4n + 3n * BigInt(PAGE) + 100n };
const GOOD: Array<[string, Buffer]> = [
  [name(2n), makeSegment({ segno: 2n })],
  [name(3n), makeSegment({ segno: 3n })],
  // the last segment was only written up to page 3: the rest is pre-allocated zeros
  [name(4n), makeSegment({ segno: 4n, zeroFromPage: 4 })],
];

test('accepts continuous segments, whatever the chunking', () => {
  for (const chunk of [1 << 20, 65536, 8192, 8191, 4099, 40, 24, 7]) {
    const { check, problems } = newCheck([RANGE]);
    feed(check, [[name(1n), makeSegment({ segno: 1n })], ...GOOD, [name(5n), Buffer.alloc(SEG)]], chunk);
    assert.deepEqual(problems, [], `chunk ${chunk}`);
    assert.deepEqual(check.checkedSegments, [name(2n), name(3n), name(4n)]);
  }
});

test('accepts splits at every byte around the first two page headers', () => {
  const seg = GOOD[0]![1];
  const points = [...Array.from({ length: 48 }, (_, i) => i), ...Array.from({ length: 48 }, (_, i) => PAGE - 8 + i)];
  for (const at of points) {
    const { check, problems } = newCheck([{ timeline: 1, startLsn: BigInt(SEG) * 2n, endLsn: BigInt(SEG) * 2n + 3n * BigInt(PAGE) }]);
    const sink = check.beginFile(name(2n), null)!;
    sink.write(seg.subarray(0, at));
    sink.write(seg.subarray(at, 3 * PAGE));
    assert.equal(sink.wantsMore, false); // nothing after End-LSN is read
    sink.write(seg.subarray(3 * PAGE));
    sink.end();
    check.finish();
    assert.deepEqual(problems, [], `split at ${at}`);
  }
});

test('reports a missing segment and a truncated one', () => {
  {
    const { check, problems } = newCheck([RANGE]);
    feed(check, [GOOD[0]!, GOOD[2]!]);
    assert.deepEqual(problems, [`WAL segment "${name(3n)}" is missing from "pg_wal"`]);
  }
  {
    const { check, problems } = newCheck([RANGE]);
    feed(check, [GOOD[0]!, [name(3n), GOOD[1]![1].subarray(0, SEG / 2)], GOOD[2]!]);
    assert.deepEqual(problems, [`WAL segment "${name(3n)}" in "pg_wal" has size ${SEG / 2}, but the WAL segment size is ${SEG}`]);
  }
  {
    // size unknown up front (a stream that ends early)
    const { check, problems } = newCheck([RANGE]);
    feed(check, [GOOD[0]!, [name(3n), GOOD[1]![1].subarray(0, 100)], GOOD[2]!], 65536, false);
    assert.deepEqual(problems, [`WAL segment "${name(3n)}" in "pg_wal" has size 100, but the WAL segment size is ${SEG}`]);
  }
});

test('reports a page that was never written before the end LSN', () => {
  const { check, problems } = newCheck([RANGE]);
  feed(check, [GOOD[0]!, GOOD[1]!, [name(4n), makeSegment({ segno: 4n, zeroFromPage: 3 })]]);
  assert.deepEqual(problems, [`invalid magic number 0000 in WAL segment "${name(4n)}", LSN 0/406000, offset 24576`]);
});

test('reports page header problems in the server\'s words', () => {
  const cases: Array<[Buffer, string]> = [
    [makeSegment({ segno: 3n, magic: 0xD106 }), `invalid magic number D106 in WAL segment "${name(3n)}", LSN 0/300000, offset 0`],
    // a recycled segment still carries its old page addresses
    [makeSegment({ segno: 3n, pageAddrShift: -2n * BigInt(SEG) }), `unexpected pageaddr 0/100000 in WAL segment "${name(3n)}", LSN 0/300000, offset 0`],
    [makeSegment({ segno: 3n, sysid: 1n }),
      `WAL file is from different database system: WAL file database system identifier is 1, pg_control database system identifier is ${SYSID} (in WAL segment "${name(3n)}", LSN 0/300000, offset 0)`],
    [makeSegment({ segno: 3n, segSizeInHeader: 2 * SEG }),
      `WAL file is from different database system: incorrect segment size in page header (in WAL segment "${name(3n)}", LSN 0/300000, offset 0)`],
    [makeSegment({ segno: 3n, pageTli: (p) => (p === 5 ? 2 : 1) }),
      `timeline ID 2 is newer than the backup's timeline 1 in WAL segment "${name(3n)}", LSN 0/30A000, offset 40960`],
  ];
  for (const [seg, message] of cases) {
    const { check, problems } = newCheck([RANGE]);
    feed(check, [GOOD[0]!, [name(3n), seg], GOOD[2]!]);
    assert.deepEqual(problems, [message]);
  }
  const noLong = makeSegment({ segno: 3n });
  noLong.writeUInt16LE(0x0000, 2);
  const badBits = makeSegment({ segno: 3n });
  badBits.writeUInt16LE(0x0015, PAGE + 2);
  for (const [seg, message] of [
    [noLong, `invalid info bits 0000 in WAL segment "${name(3n)}", LSN 0/300000, offset 0`],
    [badBits, `invalid info bits 0015 in WAL segment "${name(3n)}", LSN 0/302000, offset 8192`],
  ] as Array<[Buffer, string]>) {
    const { check, problems } = newCheck([RANGE]);
    feed(check, [GOOD[0]!, [name(3n), seg], GOOD[2]!]);
    assert.deepEqual(problems, [message]);
  }
});

test('timelines: a segment copied at a switch may hold older pages, never out of order', () => {
  // Range on timeline 2 starting inside segment 3: pages before the switch still say TLI 1.
  const range: WalRangeSpec = { timeline: 2, startLsn: BigInt(SEG) * 3n + 5n * BigInt(PAGE), endLsn: BigInt(SEG) * 3n + 9n * BigInt(PAGE) };
  {
    const { check, problems } = newCheck([range]);
    feed(check, [[name(3n, 2), makeSegment({ segno: 3n, tli: 2, pageTli: (p) => (p < 5 ? 1 : 2) })]]);
    assert.deepEqual(problems, []);
  }
  {
    const { check, problems } = newCheck([range]);
    feed(check, [[name(3n, 2), makeSegment({ segno: 3n, tli: 2, pageTli: (p) => (p === 6 ? 1 : 2) })]]);
    assert.deepEqual(problems, [`out-of-sequence timeline ID 1 (after 2) in WAL segment "${name(3n, 2)}", LSN 0/30C000, offset 49152`]);
  }
  {
    // the segment of the old timeline does not stand in for the new one
    const { check, problems } = newCheck([range]);
    feed(check, [[name(3n, 1), makeSegment({ segno: 3n })]]);
    assert.deepEqual(problems, [`WAL segment "${name(3n, 2)}" is missing from "pg_wal"`]);
  }
});

test('learns segment size, block size, magic and system identifier from the first segment', () => {
  const { check, problems } = newCheck([RANGE], { segmentSize: null, blockSize: null, serverMajor: null, systemIdentifier: null });
  feed(check, GOOD);
  assert.deepEqual(problems, []);
  assert.equal(check.segmentSize, SEG);
  assert.equal(check.blockSize, PAGE);
  assert.equal(check.magic, MAGIC15);
  assert.equal(check.systemIdentifier, SYSID);
  const other = newCheck([RANGE], { segmentSize: null, serverMajor: null, systemIdentifier: null });
  feed(other.check, [GOOD[0]!, [name(3n), makeSegment({ segno: 3n, sysid: 5n })], GOOD[2]!]);
  assert.match(other.problems[0] ?? '', /^WAL file is from different database system: WAL file database system identifier is 5, pg_control database system identifier is 7351234567890123456/);
});

test('the page magic of each version 13-18 matches WAL that version wrote', () => {
  const fixture = JSON.parse(readFileSync(new URL('./fixtures/wal-page-headers-13-18.json', import.meta.url), 'utf8')) as {
    versions: Record<string, { segment: string; firstPageHeader: string; secondPageHeader: string }>;
  };
  for (const [version, f] of Object.entries(fixture.versions)) {
    const seg = Buffer.alloc(16 * MB);
    Buffer.from(f.firstPageHeader, 'hex').copy(seg, 0);
    Buffer.from(f.secondPageHeader, 'hex').copy(seg, PAGE);
    const sysid = seg.readBigUInt64LE(24);
    const range = { timeline: 1, startLsn: parseLsn('0/1000028'), endLsn: parseLsn('0/1002100') };
    for (const major of WAL_PAGE_MAGIC.keys()) {
      const problems: string[] = [];
      const check = new WalCheck({ ranges: [range], segmentSize: 16 * MB, serverMajor: major, systemIdentifier: sysid, location: 'x', onProblem: (m) => problems.push(m) });
      feed(check, [[f.segment, seg]]);
      if (String(major) === version) assert.deepEqual(problems, [], `version ${version}`);
      else assert.match(problems[0] ?? '', /^invalid magic number/, `version ${version} read as ${major}`);
    }
  }
});

test('checkWalDirectory reads a directory and WalCheckStreamer reads tar members', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'walcheck-'));
  try {
    for (const [n, data] of GOOD) writeFileSync(join(dir, n), data);
    writeFileSync(join(dir, `${name(3n)}.partial`), 'x');
    {
      const { check, problems } = newCheck([RANGE], { location: dir });
      await checkWalDirectory(check, dir);
      check.finish();
      assert.deepEqual(problems, []);
    }
    truncateSync(join(dir, name(3n)), SEG - 1);
    {
      const { check, problems } = newCheck([RANGE], { location: dir });
      await checkWalDirectory(check, dir);
      check.finish();
      assert.deepEqual(problems, [`WAL segment "${name(3n)}" in "${dir}" has size ${SEG - 1}, but the WAL segment size is ${SEG}`]);
    }
    {
      const { check, problems } = newCheck([RANGE], { location: join(dir, 'nope') });
      await checkWalDirectory(check, join(dir, 'nope'));
      check.finish();
      assert.equal(problems[0], `could not open directory "${join(dir, 'nope')}": no such file or directory`);
      assert.equal(problems.length, 4);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const { check, problems } = newCheck([RANGE], { location: 'base.tar' });
  const s = new WalCheckStreamer({ check, prefix: 'pg_wal/' });
  const member = (n: string, size: number, type: TarMember['type'] = 'file'): TarMember =>
    ({ name: n, size, mode: 0o600, uid: 0, gid: 0, mtime: new Date(0), type, linkname: null });
  const files: Array<[TarMember, Buffer]> = [
    [member('pg_wal', 0, 'directory'), Buffer.alloc(0)],
    [member('global/000000010000000000000002', 5), Buffer.alloc(5)],
    ...GOOD.map(([n, data]): [TarMember, Buffer] => [member(`pg_wal/${n}`, data.length), data]),
    [member('pg_wal/archive_status/000000010000000000000002.done', 0), Buffer.alloc(0)],
  ];
  for (const [m, data] of files) {
    await s.content(m, Buffer.alloc(512), 'header');
    for (let i = 0; i < data.length; i += 100000) await s.content(m, data.subarray(i, i + 100000), 'contents');
    await s.content(m, Buffer.alloc(0), 'trailer');
  }
  await s.content(null, Buffer.alloc(1024), 'archive-trailer');
  await s.finalize();
  check.finish();
  assert.deepEqual(problems, []);
  assert.deepEqual(check.checkedSegments, GOOD.map(([n]) => n));
});
