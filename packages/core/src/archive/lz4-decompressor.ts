/**
 * LZ4 frame decompressor: LZ4 frame bytes in, raw bytes out. Reads what `lz4` and PostgreSQL
 * write: one or more concatenated frames (skippable frames are skipped), linked or independent
 * blocks of 64 KiB..4 MiB, stored (uncompressed) blocks, optional content size, block checksums
 * and content checksum, all verified. The frame is parsed here and each block is decoded with
 * liblz4's bounds-checked block decoder (lz4-block.ts); for linked blocks the last 64 KiB of the
 * frame's output is the dictionary. At most one block (<= 4 MiB) is buffered. Each decoded
 * block is a fresh buffer, handed on (the next streamer may keep it): a minor collection every
 * few MiB of them frees those handed on (young-garbage.ts), which V8 would otherwise keep until
 * some 64 MB of them had piled up. Input that ends inside a frame, bad magic numbers,
 * checksums, block sizes or blocks fail with ArchiveFormatError.
 */

import { ArchiveFormatError, InternalError } from '../errors.js';
import { ChainedStreamer } from './chained-streamer.js';
import { decodeLz4Block } from './lz4-block.js';
import type { DecompressorOptions } from './gzip-decompressor.js';
import {
  FLG_BLOCK_CHECKSUM, FLG_BLOCK_INDEPENDENCE, FLG_CONTENT_CHECKSUM, FLG_CONTENT_SIZE, FLG_DICT_ID,
  LZ4_BLOCK_MAX, LZ4_FRAME_MAGIC, LZ4_LEGACY_MAGIC, LZ4_SKIPPABLE_MAGIC, LZ4_SKIPPABLE_MASK,
  lz4HeaderChecksum,
} from './lz4-frame.js';
import type { ChunkKind, Streamer, TarMember } from './streamer.js';
import { Xxh32, xxh32 } from './xxhash32.js';
import { YoungGarbageCollector } from './young-garbage.js';

const HISTORY = 64 * 1024;

/** A FIFO of input bytes from which exact-length pieces are taken. */
class ByteQueue {
  private readonly chunks: Buffer[] = [];
  private head = 0; // offset into chunks[0]
  length = 0;

  push(data: Buffer): void {
    this.chunks.push(data);
    this.length += data.length;
  }

  /** Copies the next n bytes into target at offset (n <= length). */
  take(n: number, target: Buffer = Buffer.allocUnsafe(n), offset = 0): Buffer {
    let done = 0;
    while (done < n) {
      const chunk = this.chunks[0]!;
      const k = Math.min(n - done, chunk.length - this.head);
      chunk.copy(target, offset + done, this.head, this.head + k);
      done += k;
      this.head += k;
      if (this.head === chunk.length) {
        this.chunks.shift();
        this.head = 0;
      }
    }
    this.length -= n;
    return target;
  }

  /**
   * The next n bytes (n <= length): a view of the queued input when they lie in one chunk,
   * else copied into spare (at least n bytes). Valid until the queue is next changed.
   */
  read(n: number, spare: Buffer): Buffer {
    const chunk = this.chunks[0];
    if (chunk === undefined || chunk.length - this.head < n) return this.take(n, spare).subarray(0, n);
    const view = chunk.subarray(this.head, this.head + n);
    this.skip(n);
    return view;
  }

  skip(n: number): void {
    let left = n;
    while (left > 0) {
      const chunk = this.chunks[0]!;
      const k = Math.min(left, chunk.length - this.head);
      left -= k;
      this.head += k;
      if (this.head === chunk.length) {
        this.chunks.shift();
        this.head = 0;
      }
    }
    this.length -= n;
  }
}

interface FrameState {
  flg: number;
  blockMax: number;
  contentSize: bigint | null;
  produced: bigint;
  checksum: Xxh32 | null;
  history: Buffer;
}

type Stage =
  | { kind: 'magic' }
  | { kind: 'descriptor' }
  | { kind: 'skip'; left: number | null }
  | { kind: 'block-size'; frame: FrameState }
  | { kind: 'block'; frame: FrameState; size: number; stored: boolean }
  | { kind: 'content-checksum'; frame: FrameState };

export class Lz4Decompressor extends ChainedStreamer {
  private readonly queue = new ByteQueue();
  private stage: Stage = { kind: 'magic' };
  private readonly label: string;
  private readonly inputOwned: boolean;
  private readonly garbage = new YoungGarbageCollector();
  /** A compressed block that spans input chunks; reused, as decoding is synchronous. */
  private spare: Buffer = Buffer.alloc(0);

  constructor(next: Streamer, options: DecompressorOptions = {}) {
    super(next);
    this.label = options.archiveName === undefined ? 'lz4 data' : `"${options.archiveName}"`;
    this.inputOwned = options.inputOwned === true;
  }

  async content(member: TarMember | null, data: Buffer, kind: ChunkKind): Promise<void> {
    if (kind !== 'unknown' || member !== null) {
      throw new InternalError(`lz4 decompressor received a "${kind}" chunk; it expects raw bytes`);
    }
    if (data.length === 0) return;
    // Queued input outlives this call: a buffer the caller may reuse is copied.
    this.queue.push(this.inputOwned ? data : Buffer.from(data));
    await this.drain();
  }

  protected override async finalizeSelf(): Promise<void> {
    await this.drain();
    if (this.stage.kind !== 'magic' || this.queue.length > 0) {
      throw this.corrupt('the data ends in the middle of a frame');
    }
  }

  private corrupt(reason: string, cause?: unknown): ArchiveFormatError {
    return new ArchiveFormatError(`could not decompress ${this.label}: ${reason}`, { cause });
  }

  /** Parses as far as the queued input allows, passing decoded blocks on. */
  private async drain(): Promise<void> {
    for (;;) {
      const stage = this.stage;
      switch (stage.kind) {
        case 'magic': {
          if (this.queue.length < 4) return;
          const magic = this.queue.take(4).readUInt32LE(0);
          if (magic === LZ4_FRAME_MAGIC) this.stage = { kind: 'descriptor' };
          else if ((magic & LZ4_SKIPPABLE_MASK) >>> 0 === LZ4_SKIPPABLE_MAGIC) this.stage = { kind: 'skip', left: null };
          else if (magic === LZ4_LEGACY_MAGIC) throw this.corrupt('legacy LZ4 frames are not supported');
          else throw this.corrupt(`bad frame magic number 0x${magic.toString(16).padStart(8, '0')}`);
          break;
        }
        case 'skip': {
          if (stage.left === null) {
            if (this.queue.length < 4) return;
            stage.left = this.queue.take(4).readUInt32LE(0);
          }
          const n = Math.min(stage.left, this.queue.length);
          this.queue.skip(n);
          stage.left -= n;
          if (stage.left > 0) return;
          this.stage = { kind: 'magic' };
          break;
        }
        case 'descriptor': {
          if (this.queue.length < 2) return;
          // Peek FLG to know the descriptor's length before consuming it.
          const head = this.queue.take(2);
          const flg = head[0]!;
          const bd = head[1]!;
          const rest = 1 + (flg & FLG_CONTENT_SIZE ? 8 : 0) + (flg & FLG_DICT_ID ? 4 : 0);
          if (this.queue.length < rest) {
            // Put the two bytes back in front by rebuilding the queue head.
            this.unshift(head);
            return;
          }
          const tail = this.queue.take(rest);
          const descriptor = Buffer.concat([head, tail.subarray(0, rest - 1)]);
          if ((flg & 0xc0) !== 0x40) throw this.corrupt(`unsupported frame version ${flg >> 6}`);
          if ((flg & 0x02) !== 0 || (bd & 0x8f) !== 0) throw this.corrupt('reserved frame descriptor bits are set');
          if (flg & FLG_DICT_ID) throw this.corrupt('frames that need a dictionary are not supported');
          const blockMax = LZ4_BLOCK_MAX[(bd >> 4) & 0x7];
          if (blockMax === undefined) throw this.corrupt(`bad block size id ${(bd >> 4) & 0x7}`);
          if (lz4HeaderChecksum(descriptor) !== tail[rest - 1]) throw this.corrupt('frame header checksum mismatch');
          this.stage = {
            kind: 'block-size',
            frame: {
              flg,
              blockMax,
              contentSize: flg & FLG_CONTENT_SIZE ? tail.readBigUInt64LE(0) : null,
              produced: 0n,
              checksum: flg & FLG_CONTENT_CHECKSUM ? new Xxh32() : null,
              history: Buffer.alloc(0),
            },
          };
          break;
        }
        case 'block-size': {
          if (this.queue.length < 4) return;
          const word = this.queue.take(4).readUInt32LE(0);
          const { frame } = stage;
          if (word === 0) {
            this.stage = { kind: 'content-checksum', frame };
            break;
          }
          const size = word & 0x7fffffff;
          if (size > frame.blockMax) throw this.corrupt(`block of ${size} bytes exceeds the frame's maximum of ${frame.blockMax}`);
          this.stage = { kind: 'block', frame, size, stored: (word & 0x80000000) !== 0 };
          break;
        }
        case 'block': {
          const { frame, size, stored } = stage;
          const withChecksum = (frame.flg & FLG_BLOCK_CHECKSUM) !== 0;
          if (this.queue.length < size + (withChecksum ? 4 : 0)) return;
          if (this.spare.length < frame.blockMax) this.spare = Buffer.allocUnsafe(frame.blockMax);
          const block = this.queue.read(size, this.spare);
          if (withChecksum && xxh32(block) !== this.queue.take(4).readUInt32LE(0)) throw this.corrupt('block checksum mismatch');
          const linked = (frame.flg & FLG_BLOCK_INDEPENDENCE) === 0 && frame.history.length > 0;
          // A stored block is passed on and may be kept: it gets a buffer of its own.
          const out = stored ? Buffer.from(block) : this.decode(block, frame.blockMax, linked ? frame.history : null);
          frame.produced += BigInt(out.length);
          frame.checksum?.update(out);
          if ((frame.flg & FLG_BLOCK_INDEPENDENCE) === 0) {
            // Every block is a buffer of its own that nothing writes again: a view of its tail
            // serves as the next block's dictionary without a copy.
            frame.history = out.length >= HISTORY ? out.subarray(out.length - HISTORY) : Buffer.concat([frame.history, out]).subarray(-HISTORY);
          }
          this.stage = { kind: 'block-size', frame };
          if (out.length === 0) break;
          await this.next.content(null, out, 'unknown');
          // The block before this one is garbage now (this one stays as the dictionary).
          this.garbage.add(out.length);
          break;
        }
        case 'content-checksum': {
          const { frame } = stage;
          if (frame.checksum !== null) {
            if (this.queue.length < 4) return;
            if (frame.checksum.digest() !== this.queue.take(4).readUInt32LE(0)) throw this.corrupt('content checksum mismatch');
          }
          if (frame.contentSize !== null && frame.contentSize !== frame.produced) {
            throw this.corrupt(`frame holds ${frame.produced} bytes but its header says ${frame.contentSize}`);
          }
          this.stage = { kind: 'magic' };
          break;
        }
      }
    }
  }

  private decode(block: Buffer, blockMax: number, dictionary: Buffer | null): Buffer {
    const out = Buffer.allocUnsafe(blockMax);
    const n = decodeLz4Block(block, out, dictionary);
    if (n < 0) throw this.corrupt(`invalid compressed block (liblz4 stopped at byte ${-n - 1} of ${block.length})`);
    return out.subarray(0, n);
  }

  private unshift(head: Buffer): void {
    const rest = this.queue.length > 0 ? this.queue.take(this.queue.length) : Buffer.alloc(0);
    this.queue.push(Buffer.concat([head, rest]));
  }
}
