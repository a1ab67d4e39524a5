/**
 * Reading an archived WAL file back: decompressing it (gzip, lz4, zstd or none) and, for a
 * segment, checking that what comes out is one: the first page must carry a long header whose
 * segment size is valid and whose page address is the segment's own start, and the file must
 * be exactly that size. A `.partial` segment may be shorter (a compressed one holds only what
 * was received); it is padded with zeros to the full size, as pg_receivewal pads the plain ones,
 * so that the server reads it as a segment whose WAL ends early. A file that fails to decompress
 * or to check is damaged: WalFormatError (or ArchiveFormatError from the decompressor), never a
 * silent short file.
 *
 * restoreWalArchiveFile writes the result atomically: into `<destination>.pgfleet-tmp`, fsynced,
 * then renamed over the destination (which the server expects to be replaced: restore_command's
 * %p may exist from an earlier attempt).
 */

import { open, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ChainedStreamer } from '../../archive/chained-streamer.js';
import { createDecompressor } from '../../archive/compression.js';
import type { CompressionMethod } from '../../archive/compression-spec.js';
import { FileSink } from '../../archive/file-sink.js';
import type { ChunkKind, Streamer, TarMember } from '../../archive/streamer.js';
import { WalFormatError, fileError, isErrno } from '../../errors.js';
import { fsyncDirectory } from '../../fs-sync.js';
import { isValidWalSegmentSize, parseWalSegmentName } from '../segment.js';
import { listWalArchive, type WalArchiveListing } from './wal-archive-listing.js';

export interface ArchivedWalFileRef {
  path: string;
  compression: CompressionMethod;
}

export interface WalArchiveReadOptions {
  /** Check (and for a partial pad) the content as the segment with this 24-character name. */
  segment?: string;
  /** The file is a `.partial` segment: it may be short, and is padded. */
  partial?: boolean;
  /** Refuse content larger than this (history files: default 16 MB). */
  maxBytes?: number;
}

const READ_CHUNK = 1024 * 1024;
const LONG_HEADER_SIZE = 40;
const XLP_LONG_HEADER = 0x0002;

/** Checks a decompressed segment as it passes, then pads a partial one before the sink ends. */
class SegmentCheck extends ChainedStreamer {
  private bytes = 0;
  private readonly head = Buffer.alloc(LONG_HEADER_SIZE);

  constructor(next: Streamer, private readonly path: string, private readonly options: WalArchiveReadOptions) {
    super(next);
  }

  async content(member: TarMember | null, data: Buffer, kind: ChunkKind): Promise<void> {
    if (this.bytes < LONG_HEADER_SIZE) data.copy(this.head, this.bytes, 0, Math.min(data.length, LONG_HEADER_SIZE - this.bytes));
    this.bytes += data.length;
    const max = this.options.maxBytes;
    if (max !== undefined && this.bytes > max) {
      throw new WalFormatError(`archived WAL file "${this.path}" is larger than ${max} bytes`);
    }
    await this.next.content(member, data, kind);
  }

  protected override async finalizeSelf(): Promise<void> {
    const segment = this.options.segment;
    if (segment === undefined) return;
    const damaged = (why: string): WalFormatError =>
      new WalFormatError(`archived WAL segment "${this.path}" is damaged: ${why}`);
    if (this.bytes < LONG_HEADER_SIZE) throw damaged(`it holds ${this.bytes} bytes`);
    const segmentSize = this.head.readUInt32LE(32);
    if ((this.head.readUInt16LE(2) & XLP_LONG_HEADER) === 0 || !isValidWalSegmentSize(segmentSize)) {
      throw damaged('its first page has no valid long header');
    }
    const id = parseWalSegmentName(segment, segmentSize);
    if (id === null || this.head.readBigUInt64LE(8) !== id.segno * BigInt(segmentSize)) {
      throw damaged(`its first page does not belong to segment ${segment}`);
    }
    if (this.bytes > segmentSize || (this.bytes < segmentSize && this.options.partial !== true)) {
      throw damaged(`it holds ${this.bytes} bytes instead of ${segmentSize}`);
    }
    const zeros = Buffer.alloc(Math.min(READ_CHUNK, segmentSize));
    while (this.bytes < segmentSize) {
      const n = Math.min(zeros.length, segmentSize - this.bytes);
      await this.next.content(null, zeros.subarray(0, n), 'unknown');
      this.bytes += n;
    }
  }
}

/** Collects bytes in memory. */
class Collector implements Streamer {
  readonly chunks: Buffer[] = [];
  async content(_member: TarMember | null, data: Buffer): Promise<void> {
    this.chunks.push(Buffer.from(data));
  }
  async finalize(): Promise<void> {}
  async dispose(): Promise<void> {}
}

async function pump(file: ArchivedWalFileRef, head: Streamer): Promise<void> {
  let handle;
  try {
    handle = await open(file.path, 'r');
  } catch (err) {
    throw fileError('could not open archived WAL file', file.path, err);
  }
  try {
    const buffer = Buffer.allocUnsafe(READ_CHUNK);
    for (;;) {
      let bytesRead: number;
      try {
        ({ bytesRead } = await handle.read(buffer, 0, buffer.length, null));
      } catch (err) {
        throw fileError('could not read archived WAL file', file.path, err);
      }
      if (bytesRead === 0) break;
      await head.content(null, buffer.subarray(0, bytesRead), 'unknown');
    }
    await head.finalize();
  } finally {
    await handle.close().catch(() => undefined);
  }
}

/** An archived file's decompressed (and, for a segment, checked) content, in memory. */
export async function readWalArchiveFile(file: ArchivedWalFileRef, options: WalArchiveReadOptions = {}): Promise<Buffer> {
  const out = new Collector();
  const check = new SegmentCheck(out, file.path, { maxBytes: 16 * 1024 * 1024, ...options });
  const head = createDecompressor(file.compression, check, { archiveName: file.path });
  try {
    await pump(file, head);
  } finally {
    await head.dispose();
  }
  return Buffer.concat(out.chunks);
}

/** Decompresses (and checks) an archived file into `destination`, atomically; returns its size. */
export async function restoreWalArchiveFile(file: ArchivedWalFileRef, destination: string,
  options: WalArchiveReadOptions = {}): Promise<number> {
  const temporary = `${destination}.pgfleet-tmp`;
  // Left by a restore_command that was killed: nobody else writes this name.
  await unlink(temporary).catch((err: unknown) => {
    if (!isErrno(err, 'ENOENT')) throw fileError('could not remove file', temporary, err);
  });
  const sink = await FileSink.create(temporary, { sync: true, mode: 0o600 });
  const check = new SegmentCheck(sink, file.path, options);
  const head = createDecompressor(file.compression, check, { archiveName: file.path });
  try {
    await pump(file, head);
  } finally {
    await head.dispose();
  }
  try {
    await rename(temporary, destination);
  } catch (err) {
    await unlink(temporary).catch(() => undefined);
    throw fileError('could not rename file', temporary, err);
  }
  await fsyncDirectory(dirname(destination));
  return sink.bytes;
}

/**
 * Lists an archive with the segment size its own segments state (the long header of the first
 * one's first page): segment numbers depend on it, and a reader of an archive has no
 * pg_control at hand. An empty archive is listed with 16 MB segments.
 */
export async function openWalArchive(dir: string): Promise<WalArchiveListing> {
  const listing = await listWalArchive(dir);
  const first = listing.segments.find((f) => !f.partial) ?? listing.segments[0];
  if (first === undefined) return listing;
  const head = await readWalArchiveFile(first, { segment: first.segment, partial: true, maxBytes: 1024 * 1024 * 1024 });
  const size = head.readUInt32LE(32);
  return size === listing.segmentSize ? listing : listWalArchive(dir, { segmentSize: size });
}
