/**
 * Test helpers for archive streamers: a recording streamer that checks the chunk contract,
 * feeding a buffer in slices, fixture trees and calling command-line tools.
 */

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, linkSync, utimesSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChunkKind, Streamer, TarMember } from '../../src/archive/streamer.js';

export interface RecordedMember {
  member: TarMember;
  data: Buffer;
  trailer: Buffer;
}

/**
 * Records what it receives, asserting the contract: header, contents*, trailer per member, one
 * archive-trailer last, never two content() calls at once, nothing after finalize.
 */
export class Recorder implements Streamer {
  readonly members: RecordedMember[] = [];
  raw: Buffer[] = [];
  archiveTrailers = 0;
  finalized = false;
  disposed = 0;
  private busy = false;
  private open: RecordedMember | null = null;
  private parts: Buffer[] = [];

  constructor(private readonly options: { delay?: (kind: ChunkKind) => Promise<void> } = {}) {}

  async content(member: TarMember | null, data: Buffer, kind: ChunkKind): Promise<void> {
    assert.equal(this.busy, false, 'content() called while a previous call was pending');
    assert.equal(this.finalized, false, 'content() after finalize()');
    this.busy = true;
    try {
      if (this.options.delay) await this.options.delay(kind);
      switch (kind) {
        case 'unknown':
          assert.equal(member, null);
          this.raw.push(Buffer.from(data));
          break;
        case 'header':
          assert.equal(this.open, null, 'header before the previous trailer');
          assert.ok(member);
          this.open = { member: { ...member }, data: Buffer.alloc(0), trailer: Buffer.alloc(0) };
          this.parts = [];
          break;
        case 'contents':
          assert.ok(this.open, 'contents outside a member');
          this.parts.push(Buffer.from(data));
          break;
        case 'trailer':
          assert.ok(this.open, 'trailer outside a member');
          this.open.data = Buffer.concat(this.parts);
          this.open.trailer = Buffer.from(data);
          this.members.push(this.open);
          this.open = null;
          break;
        case 'archive-trailer':
          assert.equal(this.open, null, 'archive trailer inside a member');
          this.archiveTrailers++;
          break;
      }
    } finally {
      this.busy = false;
    }
  }

  async finalize(): Promise<void> {
    this.finalized = true;
  }

  async dispose(): Promise<void> {
    this.disposed++;
  }

  rawBytes(): Buffer {
    return Buffer.concat(this.raw);
  }

  byName(name: string): RecordedMember {
    const found = this.members.find((m) => m.member.name === name);
    assert.ok(found, `member "${name}" not found`);
    return found;
  }
}

/** Feeds `data` in slices of `size` bytes (or whole), awaiting each, then finalizes. */
export async function feed(streamer: Streamer, data: Buffer, size = data.length): Promise<void> {
  for (let off = 0; off < data.length; off += Math.max(1, size)) {
    await streamer.content(null, data.subarray(off, off + Math.max(1, size)), 'unknown');
  }
  await streamer.finalize();
}

/** Feeds `data` in `size`-byte pieces through one buffer, overwritten as soon as content() returns, then finalizes. */
export async function feedReusing(streamer: Streamer, data: Buffer, size: number): Promise<void> {
  const scratch = Buffer.alloc(size);
  for (let off = 0; off < data.length; off += size) {
    const n = data.copy(scratch, 0, off, off + size);
    await streamer.content(null, scratch.subarray(0, n), 'unknown');
    scratch.fill(0xa5);
  }
  await streamer.finalize();
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `pgfleet-${prefix}-`));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Deterministic pseudo-random bytes (compressible about like table data when `text`). */
export function patternBytes(size: number, seed = 1): Buffer {
  const out = Buffer.alloc(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/**
 * A small tree like a data directory: files of awkward sizes, nested dirs, a symlink, a hard
 * link, an empty file and a 0600 file. Returns the names (relative) of regular files.
 */
export function makeTree(root: string, options: { longName?: boolean } = {}): void {
  mkdirSync(join(root, 'base/1'), { recursive: true });
  mkdirSync(join(root, 'global'));
  mkdirSync(join(root, 'pg_wal/archive_status'), { recursive: true });
  writeFileSync(join(root, 'PG_VERSION'), '15\n');
  writeFileSync(join(root, 'empty'), '');
  writeFileSync(join(root, 'base/1/511'), patternBytes(511, 2));
  writeFileSync(join(root, 'base/1/512'), patternBytes(512, 3));
  writeFileSync(join(root, 'base/1/513'), patternBytes(513, 4));
  writeFileSync(join(root, 'global/pg_control'), patternBytes(8192, 5));
  writeFileSync(join(root, 'base/1/16384'), patternBytes(70000, 6));
  chmodSync(join(root, 'global/pg_control'), 0o600);
  mkdirSync(join(root, 'pg_tblspc'));
  symlinkSync('/tmp/somewhere/else', join(root, 'pg_tblspc/16384'));
  linkSync(join(root, 'PG_VERSION'), join(root, 'hardlink_to_version'));
  if (options.longName) {
    const long = 'd'.repeat(60);
    mkdirSync(join(root, long));
    writeFileSync(join(root, long, 'f'.repeat(60)), 'long name\n');
  }
  // Fixed mtimes so listings compare equal across extractions.
  const when = new Date('2024-05-06T07:08:09Z');
  for (const f of ['PG_VERSION', 'empty', 'base/1/511', 'base/1/512', 'base/1/513', 'global/pg_control', 'base/1/16384']) {
    utimesSync(join(root, f), when, when);
  }
}

export function run(cmd: string, args: string[], options: { cwd?: string; input?: Buffer; env?: NodeJS.ProcessEnv } = {}): Buffer {
  return execFileSync(cmd, args, { cwd: options.cwd, input: options.input, env: options.env, maxBuffer: 1 << 30, stdio: ['pipe', 'pipe', 'pipe'] });
}

export function haveCommand(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

/** Text shaped like pgbench_accounts rows: compresses about as well as table data does. */
export function tableLikeBytes(size: number): Buffer {
  const parts: string[] = [];
  let length = 0;
  for (let i = 1; length < size; i++) {
    const row = `${i}\t${(i * 7919) % 100000}\t${(i * 31) % 977}\t${' '.repeat(84)}\n`;
    parts.push(row);
    length += row.length;
  }
  return Buffer.from(parts.join('')).subarray(0, size);
}

/** Table-like text, incompressible bytes and zeros: every kind of block a compressor meets. */
export function mixedData(): Buffer {
  return Buffer.concat([tableLikeBytes(1_500_000), patternBytes(700_000, 11), Buffer.alloc(300_000), tableLikeBytes(123_457)]);
}
