/**
 * zstd compressor: raw bytes in, one zstd frame out, through zstd-napi's streaming context
 * (ZSTD_compressStream2). Level, worker threads (`workers=N`: libzstd's own threads, so
 * compression then overlaps the event loop) and long-distance matching map to the
 * ZSTD_c_compressionLevel, ZSTD_c_nbWorkers and ZSTD_c_enableLongDistanceMatching parameters,
 * as pg_basebackup sets them. The calls are synchronous but bounded to one input chunk and
 * ~128 kB output buffers, each output buffer awaited by the next streamer.
 */

import type * as Binding from 'zstd-napi/binding.js';
import { InvalidOptionError } from '../errors.js';
import { ChainedStreamer } from './chained-streamer.js';
import type { ChunkKind, Streamer, TarMember } from './streamer.js';
import { lazyRequire } from '../lazy-require.js';

const zstd = lazyRequire<typeof Binding>('zstd-napi/binding.js');

export interface ZstdCompressorOptions {
  /** zstd level; 3 (ZSTD_CLEVEL_DEFAULT) by default. */
  level?: number;
  /** Worker threads (0 = none, as without the option). */
  workers?: number | null;
  longDistance?: boolean | null;
}

export class ZstdCompressor extends ChainedStreamer {
  private readonly cctx = new (zstd().CCtx)();
  private out = Buffer.allocUnsafe(zstd().cStreamOutSize());

  constructor(next: Streamer, options: ZstdCompressorOptions = {}) {
    super(next);
    // libzstd clamps levels and worker counts, so with parsed specs this only fails if the
    // library lacks a feature (e.g. built without threads).
    const set = (param: Binding.CParameter, value: number, what: string): void => {
      try {
        this.cctx.setParameter(param, value);
      } catch (err) {
        throw new InvalidOptionError(`could not set compression ${what} to ${value}: ${err instanceof Error ? err.message : String(err)}`);
      }
    };
    set(zstd().CParameter.compressionLevel, options.level ?? 3, 'level');
    if (options.workers !== undefined && options.workers !== null) set(zstd().CParameter.nbWorkers, options.workers, 'worker count');
    if (options.longDistance !== undefined && options.longDistance !== null) {
      set(zstd().CParameter.enableLongDistanceMatching, options.longDistance ? 1 : 0, 'long-distance mode');
    }
  }

  async content(_member: TarMember | null, data: Buffer, _kind: ChunkKind): Promise<void> {
    let input = data;
    while (input.length > 0) {
      const [, produced, consumed] = this.cctx.compressStream2(this.out, input, zstd().EndDirective.continue);
      input = input.subarray(consumed);
      await this.emit(produced);
    }
  }

  /** Ends a block: everything given so far can be decompressed from the output (ZSTD_e_flush). */
  async flush(): Promise<void> {
    for (;;) {
      const [remaining, produced] = this.cctx.compressStream2(this.out, Buffer.alloc(0), zstd().EndDirective.flush);
      await this.emit(produced);
      if (remaining === 0) return;
    }
  }

  protected override async finalizeSelf(): Promise<void> {
    for (;;) {
      const [remaining, produced] = this.cctx.compressStream2(this.out, Buffer.alloc(0), zstd().EndDirective.end);
      await this.emit(produced);
      if (remaining === 0) return;
    }
  }

  private async emit(produced: number): Promise<void> {
    if (produced === 0) return;
    const chunk = this.out.subarray(0, produced);
    // The next streamer may keep what it is given only until it resolves; we reuse after that.
    await this.next.content(null, chunk, 'unknown');
  }
}
