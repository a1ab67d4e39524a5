/**
 * Shared machinery of the pigz-style compressors (gzip, lz4): raw bytes in, raw bytes out.
 * Input is cut into fixed-size blocks; each block is compressed by an asynchronous job (zlib or
 * lz4 on the libuv threadpool), several at once; outputs are written in input order between a
 * format header (sent before the first block) and a trailer (after the last). At most
 * `maxBlocksInFlight` blocks are being compressed or waiting to be written, so memory stays
 * near 2 x blockSize x maxBlocksInFlight whatever the input size; when that many are pending,
 * content() waits for the oldest one to be compressed and accepted by the next streamer.
 *
 * Subclasses supply header(), compressBlock() (called in input order, on the main thread, so
 * it can update running checksums before starting its job) and trailer(). flush() ends the
 * current block early (a WAL file made durable in the middle: pg_receivewal --synchronous).
 */

import { availableParallelism } from 'node:os';
import { ChainedStreamer } from './chained-streamer.js';
import type { ChunkKind, Streamer, TarMember } from './streamer.js';
import { YoungGarbageCollector } from './young-garbage.js';

export interface BlockParallelOptions {
  /** Bytes of input per block; 1 MiB by default. */
  blockSize?: number;
  /** Blocks compressed or queued at once; twice the CPU count (2..8) by default. */
  maxBlocksInFlight?: number;
}

export const DEFAULT_BLOCK_SIZE = 1 << 20;

export function defaultBlocksInFlight(): number {
  return Math.max(2, Math.min(8, 2 * availableParallelism()));
}

export abstract class BlockParallelCompressor extends ChainedStreamer {
  protected readonly blockSize: number;
  private readonly maxInFlight: number;
  private block: Buffer;
  private fill = 0;
  private started = false;
  private readonly inFlight: Array<Promise<Buffer>> = [];
  private readonly garbage = new YoungGarbageCollector();

  constructor(next: Streamer, options: BlockParallelOptions = {}) {
    super(next);
    this.blockSize = options.blockSize ?? DEFAULT_BLOCK_SIZE;
    this.maxInFlight = Math.max(1, options.maxBlocksInFlight ?? defaultBlocksInFlight());
    this.block = Buffer.allocUnsafe(this.blockSize);
  }

  /** Bytes written before the first block. */
  protected abstract header(): Buffer;
  /** Starts compressing one block; `last` is true for the final (possibly empty) block. */
  protected abstract compressBlock(block: Buffer, last: boolean): Promise<Buffer>;
  /** Bytes written after the last block. */
  protected abstract trailer(): Buffer;

  async content(_member: TarMember | null, data: Buffer, _kind: ChunkKind): Promise<void> {
    let off = 0;
    while (off < data.length) {
      const n = Math.min(this.blockSize - this.fill, data.length - off);
      data.copy(this.block, this.fill, off, off + n);
      this.fill += n;
      off += n;
      if (this.fill === this.blockSize) await this.dispatch(false);
    }
  }

  /**
   * Compresses what is buffered as a block of its own and hands every pending block to the next
   * streamer, so that all input so far can be decoded from what the next streamer has (every
   * block but the last ends on a flush point). The stream goes on afterwards.
   */
  async flush(): Promise<void> {
    if (this.fill > 0) await this.dispatch(false);
    while (this.inFlight.length > 0) await this.writeOldest();
  }

  protected override async finalizeSelf(): Promise<void> {
    await this.dispatch(true);
    while (this.inFlight.length > 0) await this.writeOldest();
    await this.next.content(null, this.trailer(), 'unknown');
  }

  protected override async disposeSelf(): Promise<void> {
    // Let running jobs finish quietly; their results are dropped.
    await Promise.allSettled(this.inFlight.splice(0));
  }

  private async dispatch(last: boolean): Promise<void> {
    if (!this.started) {
      this.started = true;
      await this.next.content(null, this.header(), 'unknown');
    }
    const block = this.block.subarray(0, this.fill);
    // The job owns the filled block; later input goes to a fresh one.
    this.block = last ? Buffer.alloc(0) : Buffer.allocUnsafe(this.blockSize);
    this.fill = 0;
    const job = this.compressBlock(block, last);
    job.catch(() => {}); // observed when written; avoid an unhandled rejection meanwhile
    this.inFlight.push(job);
    while (this.inFlight.length >= this.maxInFlight) await this.writeOldest();
  }

  private async writeOldest(): Promise<void> {
    const out = await this.inFlight[0]!;
    this.inFlight.shift();
    if (out.length > 0) await this.next.content(null, out, 'unknown');
    // The block and its output are garbage now.
    this.garbage.add(this.blockSize + out.length);
  }
}
