/**
 * A pass-through streamer that counts the bytes going by (for progress reports and rates):
 * every chunk is forwarded unchanged to `next`, after `onBytes` (if any) was told the running
 * total. Count raw archive bytes by putting it before a parser or after an archiver or
 * compressor; put it after a parser to count member bytes (headers are then empty chunks).
 */

import { ChainedStreamer } from './chained-streamer.js';
import type { ChunkKind, Streamer, TarMember } from './streamer.js';

export interface CountingOptions {
  /** Called for every non-empty chunk with the total so far and the chunk. */
  onBytes?: (total: number, chunk: number, kind: ChunkKind) => void;
}

export class CountingStreamer extends ChainedStreamer {
  private total = 0;

  constructor(next: Streamer, private readonly options: CountingOptions = {}) {
    super(next);
  }

  /** Bytes seen so far. */
  get bytes(): number {
    return this.total;
  }

  async content(member: TarMember | null, data: Buffer, kind: ChunkKind): Promise<void> {
    if (data.length > 0) {
      this.total += data.length;
      this.options.onBytes?.(this.total, data.length, kind);
    }
    await this.next.content(member, data, kind);
  }
}
