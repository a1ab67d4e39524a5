/**
 * Parallel gzip, after pigz: raw bytes in, ONE standard gzip member out (gzip -t, tar -xzf,
 * PostgreSQL's gzip reader and zlib all read it). Input blocks (1 MiB) are raw-deflated
 * concurrently on the libuv threadpool; each block but the last ends with a sync flush (an empty
 * stored block, so the next block starts on a byte boundary) and the last one with Z_FINISH.
 * Each block is primed with the last 32 KiB of the previous block as its dictionary, so matches
 * may reach back across block boundaries as in a single stream and the ratio stays within a few
 * tenths of a percent of single-stream zlib. The 10-byte header has no name and mtime 0; the
 * trailer is the CRC-32 of all input (zlib.crc32, computed in order on the main thread) and
 * its length mod 2^32.
 */

import zlib from 'node:zlib';
import { promisify } from 'node:util';
import { InvalidOptionError } from '../errors.js';
import { BlockParallelCompressor, type BlockParallelOptions } from './block-parallel-compressor.js';
import type { Streamer } from './streamer.js';

const deflateRaw = promisify(zlib.deflateRaw) as (buf: Buffer, options: zlib.ZlibOptions) => Promise<Buffer>;

const WINDOW = 32 * 1024;

export interface GzipCompressorOptions extends BlockParallelOptions {
  /** 1..9, or -1 for zlib's default (6). */
  level?: number;
}

export class GzipCompressor extends BlockParallelCompressor {
  private readonly level: number;
  private crc = 0;
  private length = 0;
  private window: Buffer | null = null;

  constructor(next: Streamer, options: GzipCompressorOptions = {}) {
    super(next, options);
    const level = options.level ?? -1;
    if (level !== -1 && !(Number.isInteger(level) && level >= 1 && level <= 9)) {
      throw new InvalidOptionError(`invalid gzip compression level ${level}`);
    }
    this.level = level === -1 ? 6 : level;
  }

  protected header(): Buffer {
    // ID1 ID2 CM=deflate FLG=0 MTIME=0 XFL OS=unix; XFL as zlib sets it for levels 9 and 1.
    const xfl = this.level === 9 ? 2 : this.level === 1 ? 4 : 0;
    return Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 3]);
  }

  protected compressBlock(block: Buffer, last: boolean): Promise<Buffer> {
    this.crc = zlib.crc32(block, this.crc);
    this.length = (this.length + block.length) % 0x1_0000_0000;
    const dictionary = this.window;
    this.window = block.length >= WINDOW
      ? block.subarray(block.length - WINDOW)
      : Buffer.concat([this.window ?? Buffer.alloc(0), block]).subarray(-WINDOW);
    return deflateRaw(block, {
      level: this.level,
      finishFlush: last ? zlib.constants.Z_FINISH : zlib.constants.Z_SYNC_FLUSH,
      // One pass on the threadpool: room for the whole deflate output at once.
      chunkSize: Math.max(64 * 1024, block.length + (block.length >> 3) + 1024),
      ...(dictionary !== null && dictionary.length > 0 ? { dictionary } : {}),
    });
  }

  protected trailer(): Buffer {
    const t = Buffer.alloc(8);
    t.writeUInt32LE(this.crc >>> 0, 0);
    t.writeUInt32LE(this.length, 4);
    return t;
  }
}
