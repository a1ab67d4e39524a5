/**
 * LZ4 compressor: raw bytes in, ONE standard LZ4 frame out (what `lz4 -d` and PostgreSQL's
 * LZ4F decompressor read). lz4-napi compresses only whole buffers (its frame API has no
 * streaming and no levels), so this writes the frame itself: a header declaring independent
 * blocks of at most 1 MiB, then each input block compressed by lz4-napi (stored raw when
 * compression does not shrink it), then the end mark and, optionally, the content checksum.
 *
 * Blocks are compressed one at a time on the calling thread (compressSync), like
 * pg_basebackup's own LZ4 stage, from one reused input buffer. lz4-napi's asynchronous API ran
 * blocks in parallel on the threadpool, but its allocator (mimalloc) kept what those threads
 * allocated: a 2.2 GB backup peaked at 411 MB RSS (a test of 900 blocks: 355 MB with 4 blocks
 * in flight, 172 MB with one thread, 108 MB with compressSync). Each call still returns a
 * fresh native buffer; a minor GC every 8 MiB frees them (young-garbage.ts): 98 MB peak for
 * the whole backup instead of 166 MB. `maxBlocksInFlight` is accepted and ignored.
 *
 * lz4-napi (lz4_flex) has only the fast mode: PostgreSQL's levels 1..12 are accepted by the
 * spec parser but compress like level 0 here.
 */

import type * as Lz4Napi from 'lz4-napi';
import { lazyRequire } from '../lazy-require.js';
import type { BlockParallelOptions } from './block-parallel-compressor.js';
import { ChainedStreamer } from './chained-streamer.js';
import { lz4FrameHeader } from './lz4-frame.js';
import type { ChunkKind, Streamer, TarMember } from './streamer.js';
import { Xxh32 } from './xxhash32.js';
import { YoungGarbageCollector } from './young-garbage.js';

export interface Lz4CompressorOptions extends BlockParallelOptions {
  /** Append the xxh32 of all input, as the lz4 tool does by default; PostgreSQL does not. */
  contentChecksum?: boolean;
}

const lz4 = lazyRequire<typeof Lz4Napi>('lz4-napi');

const BLOCK_SIZE = 1 << 20; // BD block-size id 6
const UNCOMPRESSED_BIT = 0x80000000;

export class Lz4Compressor extends ChainedStreamer {
  private readonly checksum: Xxh32 | null;
  private readonly block: Buffer;
  private fill = 0;
  private started = false;
  /** Block size field; reused (the next streamer copies what it keeps). */
  private readonly sizeField = Buffer.alloc(4);
  private readonly garbage = new YoungGarbageCollector();

  constructor(next: Streamer, options: Lz4CompressorOptions = {}) {
    super(next);
    // Blocks must not exceed the maximum the header declares.
    this.block = Buffer.allocUnsafe(Math.max(1, Math.min(options.blockSize ?? BLOCK_SIZE, BLOCK_SIZE)));
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
    // lz4-napi prefixes the raw LZ4 block with its uncompressed size (4 bytes, little-endian).
    const raw = lz4().compressSync(block).subarray(4);
    const stored = raw.length < block.length;
    this.sizeField.writeUInt32LE(stored ? raw.length : (block.length | UNCOMPRESSED_BIT) >>> 0, 0);
    await this.next.content(null, this.sizeField, 'unknown');
    await this.next.content(null, stored ? raw : block, 'unknown');
    this.fill = 0;
    // Each call made a native output buffer that is garbage now.
    this.garbage.add(block.length);
  }
}
