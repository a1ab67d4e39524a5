/**
 * LZ4 compressor: raw bytes in, ONE standard LZ4 frame out (what `lz4 -d` and PostgreSQL's
 * LZ4F decompressor read). This writes the frame itself: a header declaring independent blocks
 * of at most 1 MiB, then each input block compressed with liblz4's block compressor (stored raw
 * when compression does not shrink it), then the end mark and, optionally, the content
 * checksum.
 *
 * The block compressor is the C library's `LZ4_compress_default` (lz4-block.ts), not lz4-napi's
 * lz4_flex: on the bench dataset's mixed rows lz4_flex compressed about 200 MB/s of one core,
 * liblz4 400-500 MB/s, and client-side lz4 is CPU-bound on that cost. It writes into a buffer we
 * own, so no block leaves native garbage behind.
 *
 * Blocks are compressed one at a time on the calling thread, like pg_basebackup's own LZ4
 * stage, from one reused input buffer into one reused output buffer. Running them in parallel
 * on the threadpool (lz4-napi's asynchronous API) did not shorten a backup on two cores, and
 * its allocator kept what those threads allocated (411 MB RSS for a 2.2 GB backup).
 * `maxBlocksInFlight` is accepted and ignored.
 *
 * Only LZ4's fast mode: PostgreSQL's levels 1..12 are accepted by the spec parser but compress
 * like level 0 here.
 */

import { InternalError } from '../errors.js';
import type { BlockParallelOptions } from './block-parallel-compressor.js';
import { ChainedStreamer } from './chained-streamer.js';
import { encodeLz4Block, lz4CompressBound } from './lz4-block.js';
import { lz4FrameHeader } from './lz4-frame.js';
import type { ChunkKind, Streamer, TarMember } from './streamer.js';
import { Xxh32 } from './xxhash32.js';

export interface Lz4CompressorOptions extends BlockParallelOptions {
  /** Append the xxh32 of all input, as the lz4 tool does by default; PostgreSQL does not. */
  contentChecksum?: boolean;
}

const BLOCK_SIZE = 1 << 20; // BD block-size id 6
const UNCOMPRESSED_BIT = 0x80000000;

export class Lz4Compressor extends ChainedStreamer {
  private readonly checksum: Xxh32 | null;
  private readonly block: Buffer;
  private fill = 0;
  private started = false;
  /** Block size field; reused (the next streamer copies what it keeps). */
  private readonly sizeField = Buffer.alloc(4);
  /** Compressed block; reused likewise. */
  private readonly packed: Buffer;

  constructor(next: Streamer, options: Lz4CompressorOptions = {}) {
    super(next);
    // Blocks must not exceed the maximum the header declares.
    this.block = Buffer.allocUnsafe(Math.max(1, Math.min(options.blockSize ?? BLOCK_SIZE, BLOCK_SIZE)));
    this.packed = Buffer.allocUnsafe(lz4CompressBound(this.block.length));
    this.checksum = options.contentChecksum ? new Xxh32() : null;
  }

  async content(_member: TarMember | null, data: Buffer, _kind: ChunkKind): Promise<void> {
    let off = 0;
    while (off < data.length) {
      const n = Math.min(this.block.length - this.fill, data.length - off);
      data.copy(this.block, this.fill, off, off + n);
      this.fill += n;
      off += n;
      if (this.fill === this.block.length) await this.writeBlock();
    }
  }

  /** Writes what is buffered as a (shorter) block: all input so far is in the frame's blocks. */
  async flush(): Promise<void> {
    if (this.fill > 0) await this.writeBlock();
  }

  protected override async finalizeSelf(): Promise<void> {
    await this.start();
    if (this.fill > 0) await this.writeBlock();
    const trailer = Buffer.alloc(this.checksum === null ? 4 : 8);
    if (this.checksum !== null) trailer.writeUInt32LE(this.checksum.digest(), 4);
    await this.next.content(null, trailer, 'unknown');
  }

  private async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const header = lz4FrameHeader({ blockSizeId: 6, independent: true, contentChecksum: this.checksum !== null });
    await this.next.content(null, header, 'unknown');
  }

  private async writeBlock(): Promise<void> {
    await this.start();
    const block = this.block.subarray(0, this.fill);
    this.checksum?.update(block);
    // The output has room for the worst case, so 0 (failure) cannot happen short of a bug.
    const size = encodeLz4Block(block, this.packed);
    if (size <= 0) throw new InternalError(`lz4 block compression failed (${size}) for a block of ${block.length} bytes`);
    const stored = size < block.length;
    this.sizeField.writeUInt32LE(stored ? size : (block.length | UNCOMPRESSED_BIT) >>> 0, 0);
    await this.next.content(null, this.sizeField, 'unknown');
    await this.next.content(null, stored ? this.packed.subarray(0, size) : block, 'unknown');
    this.fill = 0;
  }
}
