/**
 * Where pg_receivewal resumes streaming into a directory it wrote before (FindStreamingStart):
 * among the files named `<segment>[.gz|.lz4][.partial]`, the newest segment (highest segment
 * number, then highest timeline, then a complete file before a `.partial` one) decides. A
 * complete segment counts only if its size is right: an uncompressed file must be exactly one
 * segment long, a `.gz` file must say so in its gzip trailer (ISIZE, the uncompressed size mod
 * 2^32), an `.lz4` (or `.zst`) file must decompress to exactly one segment; a file that fails the check is
 * skipped with a warning. `.partial` files are not checked: streaming restarts at their
 * beginning and rewrites them.
 *
 * The result is the beginning of the segment after the newest complete one, or the beginning
 * of the newest `.partial` segment, on that file's timeline; null when the directory holds no
 * segment (as in pg_receivewal, segment number 0 never counts). Reading errors are FileIoErrors
 * naming the file.
 */

import { open, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Lz4Decompressor } from '../archive/lz4-decompressor.js';
import { ZstdDecompressor } from '../archive/zstd-decompressor.js';
import type { ChunkKind, Streamer, TarMember } from '../archive/streamer.js';
import { fileError, FileIoError, PgFleetError } from '../errors.js';
import type { Lsn } from './lsn.js';
import { parseWalFileName, parseWalSegmentName, segmentStartLsn } from './segment.js';

export interface StreamingStart {
  /** A segment boundary. */
  lsn: Lsn;
  timeline: number;
}

export interface FindStreamingStartOptions {
  /** Told about each file skipped because of its size (pg_receivewal prints a warning). */
  onWarning?: (message: string) => void;
}

const READ_CHUNK = 64 * 1024;

/** Counts decompressed bytes, and stops the decompressor once there are too many. */
class ByteCounter implements Streamer {
  bytes = 0;
  constructor(private readonly limit: number) {}
  async content(_member: TarMember | null, data: Buffer, _kind: ChunkKind): Promise<void> {
    this.bytes += data.length;
  }
  get full(): boolean {
    return this.bytes > this.limit;
  }
  async finalize(): Promise<void> {}
  async dispose(): Promise<void> {}
}

/** The uncompressed size a gzip file states in its last four bytes. */
async function gzipStatedSize(path: string): Promise<number> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    throw fileError('could not open compressed file', path, err);
  }
  try {
    const size = (await handle.stat()).size;
    if (size < 4) throw new FileIoError(`could not read compressed file "${path}": read ${size} of 4`);
    const tail = Buffer.alloc(4);
    const { bytesRead } = await handle.read(tail, 0, 4, size - 4);
    if (bytesRead !== 4) throw new FileIoError(`could not read compressed file "${path}": read ${bytesRead} of 4`);
    return tail.readUInt32LE(0);
  } catch (err) {
    if (err instanceof PgFleetError) throw err;
    throw fileError('could not read compressed file', path, err);
  } finally {
    await handle.close().catch(() => undefined);
  }
}

/** The size an LZ4 (or zstd) file decompresses to, counted up to one byte past `limit`. */
async function decompressedSize(path: string, limit: number, method: 'lz4' | 'zstd'): Promise<number> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    throw fileError('could not open file', path, err);
  }
  const counter = new ByteCounter(limit);
  const decompressor = method === 'lz4' ? new Lz4Decompressor(counter, { archiveName: path }) : new ZstdDecompressor(counter, { archiveName: path });
  try {
    const buffer = Buffer.allocUnsafe(READ_CHUNK);
    for (;;) {
      let bytesRead: number;
      try {
        ({ bytesRead } = await handle.read(buffer, 0, buffer.length, null));
      } catch (err) {
        throw fileError('could not read file', path, err);
      }
      if (bytesRead === 0) break;
      try {
        await decompressor.content(null, buffer.subarray(0, bytesRead), 'unknown');
      } catch (err) {
        // The decompressor names the file: 'could not decompress "<path>": <reason>'.
        throw new FileIoError((err as Error).message, { cause: err });
      }
      if (counter.full) return counter.bytes;
    }
    // A frame cut short is not a complete segment: count what it held.
    await decompressor.finalize().catch(() => undefined);
    return counter.bytes;
  } finally {
    await decompressor.dispose();
    await handle.close().catch(() => undefined);
  }
}

/** The start point a directory of pg_receivewal's files gives (see the module comment). */
export async function findStreamingStart(directory: string, segmentSize: number,
  options: FindStreamingStartOptions = {}): Promise<StreamingStart | null> {
  let names: string[];
  try {
    names = await readdir(directory);
  } catch (err) {
    throw fileError('could not read directory', directory, err);
  }
  let high: { segno: bigint; timeline: number; partial: boolean } | null = null;
  for (const name of names) {
    const file = parseWalFileName(name);
    if (file === null) continue;
    const id = parseWalSegmentName(file.segment, segmentSize);
    if (id === null) continue;
    const path = join(directory, name);
    if (!file.partial) {
      if (file.compression === 'none') {
        let size: number;
        try {
          size = (await stat(path)).size;
        } catch (err) {
          throw fileError('could not stat file', path, err);
        }
        if (size !== segmentSize) {
          options.onWarning?.(`segment file "${name}" has incorrect size ${size}, skipping`);
          continue;
        }
      } else {
        const size = file.compression === 'gzip' ? await gzipStatedSize(path) : await decompressedSize(path, segmentSize, file.compression === 'zstd' ? 'zstd' : 'lz4');
        if (size !== segmentSize) {
          options.onWarning?.(`compressed segment file "${name}" has incorrect uncompressed size ${size}, skipping`);
          continue;
        }
      }
    }
    if (high === null || id.segno > high.segno ||
      (id.segno === high.segno && id.timeline > high.timeline) ||
      (id.segno === high.segno && id.timeline === high.timeline && high.partial && !file.partial)) {
      high = { segno: id.segno, timeline: id.timeline, partial: file.partial };
    }
  }
  if (high === null || high.segno === 0n) return null;
  const segno = high.partial ? high.segno : high.segno + 1n;
  return { lsn: segmentStartLsn(segno, segmentSize), timeline: high.timeline };
}
