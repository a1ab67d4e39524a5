// Finding a WAL record to damage, independently of pgfleet's WAL code: the backup's WAL range
// from its backup_manifest, and a minimal walk from its start by xl_tot_len and page headers
// only (default 16 MiB segments and 8 kB pages, what the test clusters use). Page headers
// stay valid when a byte of a record's data is changed, so only record decoding can catch it.

import assert from 'node:assert/strict';
import { open, readFile } from 'node:fs/promises';
import path from 'node:path';
import { flipByte, tarMemberLocations } from './archives.js';

export const SEGMENT_SIZE = 16 * 1024 * 1024;
const PAGE = 8192;
export const RECORD_HEADER = 24;

export function parseLsn(text: string): bigint {
  const [hi, lo] = text.split('/');
  return (BigInt(`0x${hi}`) << 32n) | BigInt(`0x${lo}`);
}

export function formatLsn(lsn: bigint): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xFFFFFFFFn).toString(16).toUpperCase()}`;
}

export function segmentName(timeline: number, lsn: bigint): string {
  const segno = lsn / BigInt(SEGMENT_SIZE);
  const perId = 0x1_0000_0000n / BigInt(SEGMENT_SIZE);
  const hex = (n: bigint | number): string => n.toString(16).toUpperCase().padStart(8, '0');
  return hex(timeline) + hex(segno / perId) + hex(segno % perId);
}

export interface WalRange { timeline: number; start: bigint; end: bigint }

export async function walRange(dir: string): Promise<WalRange> {
  const manifest = JSON.parse(await readFile(path.join(dir, 'backup_manifest'), 'utf8')) as {
    'WAL-Ranges': Array<{ Timeline: number; 'Start-LSN': string; 'End-LSN': string }>;
  };
  assert.equal(manifest['WAL-Ranges'].length, 1);
  const r = manifest['WAL-Ranges'][0]!;
  return { timeline: r.Timeline, start: parseLsn(r['Start-LSN']), end: parseLsn(r['End-LSN']) };
}

/** Reads `length` bytes of WAL at `lsn` (one segment) through `read(segment, offset, length)`. */
export type WalBytes = (segment: string, offset: number, length: number) => Promise<Buffer>;

/**
 * The records from START to END, by xl_tot_len alone: start, length, and whether the record
 * lies on a single page. START is a record start (the checkpoint's redo pointer).
 */
export async function walkRecords(range: WalRange, read: WalBytes): Promise<Array<{ lsn: bigint; length: number; onePage: boolean }>> {
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
export function pickMiddleRecord(records: Array<{ lsn: bigint; length: number; onePage: boolean }>): { lsn: bigint; length: number } {
  const inner = records.slice(1, -1).filter((r) => r.onePage && r.length >= RECORD_HEADER + 8);
  assert.ok(inner.length > 0, `a record with data between the first and the last of ${records.length}`);
  return inner[Math.floor(inner.length / 2)]!;
}

export async function readAt(file: string, offset: number, length: number): Promise<Buffer> {
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

/**
 * Changes one byte in the middle of the data of a record near the middle of the backup's WAL
 * range, in `pg_wal/` (plain) or inside `pg_wal.tar` (tar, uncompressed); returns the record.
 */
export async function damageMiddleRecord(backupDir: string, where: 'pg_wal' | 'pg_wal.tar'): Promise<{ lsn: bigint; segment: string }> {
  const archive = path.join(backupDir, 'pg_wal.tar');
  const members = where === 'pg_wal.tar' ? await tarMemberLocations(archive) : [];
  const locate = (segment: string): { file: string; base: number } => {
    if (where === 'pg_wal') return { file: path.join(backupDir, 'pg_wal', segment), base: 0 };
    const member = members.find((m) => m.name === segment);
    assert.ok(member, `${segment} in pg_wal.tar`);
    return { file: archive, base: member.dataOffset };
  };
  const range = await walRange(backupDir);
  const records = await walkRecords(range, (segment, offset, length) => {
    const { file, base } = locate(segment);
    return readAt(file, base + offset, length);
  });
  const victim = pickMiddleRecord(records);
  const segment = segmentName(range.timeline, victim.lsn);
  const { file, base } = locate(segment);
  await flipByte(file, base + Number(victim.lsn % BigInt(SEGMENT_SIZE)) + RECORD_HEADER + Math.floor((victim.length - RECORD_HEADER) / 2));
  return { lsn: victim.lsn, segment };
}
