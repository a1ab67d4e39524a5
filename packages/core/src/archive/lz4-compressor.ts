/**
 * LZ4 compressor: raw bytes in, ONE standard LZ4 frame out (what `lz4 -d` and PostgreSQL's
 * LZ4F decompressor read). lz4-napi compresses only whole buffers (its frame API has no
 * streaming and no levels), so this writes the frame itself: a header declaring independent
 * blocks of at most 1 MiB, then each 1 MiB input block compressed by lz4-napi on the libuv
 * threadpool, several at once (see BlockParallelCompressor), stored raw when compression does
 * not shrink it, then the end mark and, optionally, the content checksum.
 *
 * lz4-napi (lz4_flex) has only the fast mode: PostgreSQL's levels 1..12 are accepted by the
 * spec parser but compress like level 0 here.
 */

import { compress } from 'lz4-napi';
import { BlockParallelCompressor, type BlockParallelOptions } from './block-parallel-compressor.js';
import { lz4FrameHeader } from './lz4-frame.js';
import type { Streamer } from './streamer.js';
import { Xxh32 } from './xxhash32.js';

export interface Lz4CompressorOptions extends BlockParallelOptions {
  /** Append the xxh32 of all input, as the lz4 tool does by default; PostgreSQL does not. */
  contentChecksum?: boolean;
}

const BLOCK_SIZE = 1 << 20; // BD block-size id 6
const UNCOMPRESSED_BIT = 0x80000000;

export class Lz4Compressor extends BlockParallelCompressor {
  private readonly checksum: Xxh32 | null;

  constructor(next: Streamer, options: Lz4CompressorOptions = {}) {
    // Blocks must not exceed the maximum the header declares.
    super(next, { ...options, blockSize: Math.min(options.blockSize ?? BLOCK_SIZE, BLOCK_SIZE) });
    this.checksum = options.contentChecksum ? new Xxh32() : null;
  }

  protected header(): Buffer {
    return lz4FrameHeader({ blockSizeId: 6, independent: true, contentChecksum: this.checksum !== null });
  }

  protected async compressBlock(block: Buffer, _last: boolean): Promise<Buffer> {
    if (block.length === 0) return Buffer.alloc(0);
    this.checksum?.update(block);
    // lz4-napi prefixes the raw LZ4 block with its uncompressed size (4 bytes, little-endian).
    const packed = await compress(block);
    const raw = packed.subarray(4);
    const stored = raw.length < block.length;
    const out = Buffer.allocUnsafe(4 + (stored ? raw.length : block.length));
    if (stored) {
      out.writeUInt32LE(raw.length, 0);
      raw.copy(out, 4);
    } else {
      out.writeUInt32LE((block.length | UNCOMPRESSED_BIT) >>> 0, 0);
      block.copy(out, 4);
    }
    return out;
  }

  protected trailer(): Buffer {
    const t = Buffer.alloc(this.checksum === null ? 4 : 8);
    if (this.checksum !== null) t.writeUInt32LE(this.checksum.digest(), 4);
    return t;
  }
}
