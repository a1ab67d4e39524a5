// pgfleet-verifybackup reads the WAL records of a backup's WAL ranges, as pg_verifybackup does
// through pg_waldump, black box through its command line, on backups of real servers
// (PostgreSQL 13, 15 and 18, or those of them PGFLEET_TEST_VERSIONS selects):
//   - plain and tar backups made by the base backup tool under test verify (exit 0);
//   - the same backup with ONE byte changed inside the data of a WAL record in the middle of
//     the range (not in a page header, not in a record header, not past the last record) is
//     rejected (exit 1) with an error naming the record's LSN, for pgfleet exactly
//     `WAL record at <LSN> in "<segment>" has an incorrect CRC`;
//   - -n (--no-parse-wal) accepts that damaged copy: it skips the WAL, records included.
// The record to damage is found by a minimal walk in this file (xl_tot_len and page headers
// only), not by the code under test. Page headers still pass the page-level check after the
// change, so only record decoding can catch it.
//
// Validate with PGFLEET_VERIFYBACKUP_BIN=/usr/lib/postgresql/15/bin/pg_verifybackup (plain
// backups of PostgreSQL 15 only: pg_waldump 15 reads only its own version's WAL, and tar from
// 18 on): pg_waldump's message names the same LSN.

import assert from 'node:assert/strict';
import { open, readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { makeTempDir, startCluster, versionsUnderTest, type TestCluster } from '../harness/index.js';
import {
  assertSucceeded, baseBackupBinary, describeRun, flipByte, runBaseBackup, runVerifyBackup, tarMemberLocations,
  verifyBackupBinary,
} from './support/index.js';

const verifier = verifyBackupBinary();
const maker = baseBackupBinary();
const SEGMENT_SIZE = 16 * 1024 * 1024;
const PAGE = 8192;
const RECORD_HEADER = 24;

const versions = ([13, 15, 18] as const).filter((v) => versionsUnderTest().includes(v) && v <= maker.maxServerVersion &&
  (verifier.isPgfleet || verifier.referenceMajor === v));
const clusters: TestCluster[] = [];

after(async () => {
  for (const c of clusters) await c.destroy();
});

function parseLsn(text: string): bigint {
  const [hi, lo] = text.split('/');
  return (BigInt(`0x${hi}`) << 32n) | BigInt(`0x${lo}`);
}

function formatLsn(lsn: bigint): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xFFFFFFFFn).toString(16).toUpperCase()}`;
}

function segmentName(timeline: number, lsn: bigint): string {
  const segno = lsn / BigInt(SEGMENT_SIZE);
  const perId = 0x1_0000_0000n / BigInt(SEGMENT_SIZE);
  const hex = (n: bigint | number): string => n.toString(16).toUpperCase().padStart(8, '0');
  return hex(timeline) + hex(segno / perId) + hex(segno % perId);
}

interface WalRange { timeline: number; start: bigint; end: bigint }

async function walRange(dir: string): Promise<WalRange> {
  const manifest = JSON.parse(await readFile(path.join(dir, 'backup_manifest'), 'utf8')) as {
    'WAL-Ranges': Array<{ Timeline: number; 'Start-LSN': string; 'End-LSN': string }>;
  };
  assert.equal(manifest['WAL-Ranges'].length, 1);
  const r = manifest['WAL-Ranges'][0]!;
  return { timeline: r.Timeline, start: parseLsn(r['Start-LSN']), end: parseLsn(r['End-LSN']) };
}

/** Reads `length` bytes of WAL at `lsn` (one segment) through `read(segment, offset, length)`. */
type WalBytes = (segment: string, offset: number, length: number) => Promise<Buffer>;

/**
 * The records from START to END, by xl_tot_len alone: start, length, and whether the record
 * lies on a single page. START is a record start (the checkpoint's redo pointer).
 */
async function walkRecords(range: WalRange, read: WalBytes): Promise<Array<{ lsn: bigint; length: number; onePage: boolean }>> {
  const records: Array<{ lsn: bigint; length: number; onePage: boolean }> = [];
  let pos = range.start;
  while (pos < range.end) {
    if (pos % BigInt(PAGE) === 0n) pos += pos % BigInt(SEGMENT_SIZE) === 0n ? 40n : 24n;
    const offset = Number(pos % BigInt(SEGMENT_SIZE));
    const length = (await read(segmentName(range.timeline, pos), offset, 4)).readUInt32LE(0);
    assert.ok(length >= RECORD_HEADER, `record length ${length} at ${formatLsn(pos)}`);
    records.push({ lsn: pos, length, onePage: (offset % PAGE) + length <= PAGE });
    let left = length;
    let p = pos;
    for (;;) {
      const n = Math.min(left, PAGE - Number(p % BigInt(PAGE)));
      p += BigInt(n);
      left -= n;
      if (left === 0) break;
      p += p % BigInt(SEGMENT_SIZE) === 0n ? 40n : 24n;
    }
    pos = (p + 7n) & ~7n;
  }
  return records;
}

/** The record to damage: one with data, on one page, as near the middle of the range as possible. */
function pickMiddleRecord(records: Array<{ lsn: bigint; length: number; onePage: boolean }>): { lsn: bigint; length: number } {
  const inner = records.slice(1, -1).filter((r) => r.onePage && r.length >= RECORD_HEADER + 8);
  assert.ok(inner.length > 0, `a record with data between the first and the last of ${records.length}`);
  return inner[Math.floor(inner.length / 2)]!;
}

async function readAt(file: string, offset: number, length: number): Promise<Buffer> {
  const handle = await open(file, 'r');
  try {
    const buffer = Buffer.alloc(length);
    const { bytesRead } = await handle.read(buffer, 0, length, offset);
    assert.equal(bytesRead, length);
    return buffer;
  } finally {
    await handle.close();
  }
}

async function expectVerified(args: string[]): Promise<void> {
  const result = await runVerifyBackup(args);
  assert.equal(result.code, 0, describeRun(`${verifier.name} ${args.join(' ')}`, result));
}

async function expectCrcError(dir: string, lsn: bigint, segment: string): Promise<void> {
  const result = await runVerifyBackup([dir]);
  const context = describeRun(`${verifier.name} ${dir}`, result);
  assert.equal(result.code, 1, context);
  const errors = result.stderr.split('\n').filter((l) => /^[a-z_-]+: error: /.test(l));
  if (verifier.isPgfleet) {
    assert.deepEqual(errors, [`${verifier.name}: error: WAL record at ${formatLsn(lsn)} in "${segment}" has an incorrect CRC`], context);
  } else {
    assert.ok(errors.some((l) => l.includes(`at ${formatLsn(lsn)}`)), context);
  }
}

for (const version of versions) {
  describe(`PostgreSQL ${version}: WAL records of a backup are read`, () => {
    let work: string;

    before(async () => {
      const cluster = await startCluster({ version, data: { rows: 100 } });
      clusters.push(cluster);
      work = await makeTempDir(`pgfleet-e2e-walrec-pg${version}`);
      for (const format of ['p', 't']) {
        assertSucceeded(`${maker.name} -F ${format}`, await runBaseBackup([
          '-D', path.join(work, format), '-F', format, '-X', 'stream', '-c', 'fast', '-N', '-d', cluster.connectionString]));
      }
      await cluster.stop();
    });

    test('plain: verifies; one byte changed in a record\'s data fails with the CRC error; -n accepts it', async () => {
      const dir = path.join(work, 'p');
      await expectVerified([dir]);

      const range = await walRange(dir);
      const walFile = (segment: string): string => path.join(dir, 'pg_wal', segment);
      const records = await walkRecords(range, (segment, offset, length) => readAt(walFile(segment), offset, length));
      const victim = pickMiddleRecord(records);
      const segment = segmentName(range.timeline, victim.lsn);
      const offset = Number(victim.lsn % BigInt(SEGMENT_SIZE)) + RECORD_HEADER + Math.floor((victim.length - RECORD_HEADER) / 2);
      await flipByte(walFile(segment), offset);
      await expectCrcError(dir, victim.lsn, segment);
      await expectVerified(['-n', dir]);
    });

    test('tar: verifies; one byte changed in a record\'s data inside pg_wal.tar fails with the CRC error', {
      skip: !verifier.isPgfleet && (verifier.referenceMajor ?? 0) < 18 && 'the reference verifier reads plain backups only',
    }, async () => {
      const dir = path.join(work, 't');
      await expectVerified([dir]);

      const archive = path.join(dir, 'pg_wal.tar');
      const members = await tarMemberLocations(archive);
      const dataOffset = (segment: string): number => {
        const member = members.find((m) => m.name === segment);
        assert.ok(member, `${segment} in pg_wal.tar`);
        return member.dataOffset;
      };
      const range = await walRange(dir);
      const records = await walkRecords(range, (segment, offset, length) => readAt(archive, dataOffset(segment) + offset, length));
      const victim = pickMiddleRecord(records);
      const segment = segmentName(range.timeline, victim.lsn);
      const offset = Number(victim.lsn % BigInt(SEGMENT_SIZE)) + RECORD_HEADER + Math.floor((victim.length - RECORD_HEADER) / 2);
      await flipByte(archive, dataOffset(segment) + offset);
      await expectCrcError(dir, victim.lsn, segment);
    });
  });
}
