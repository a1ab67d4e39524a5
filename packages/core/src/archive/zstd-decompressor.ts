/**
 * zstd decompressor: zstd bytes in (one or more frames, as `zstd -d` accepts), raw bytes out,
 * through zstd-napi's streaming context (ZSTD_decompressStream). Each ~128 kB output buffer is
 * awaited by the next streamer before more input is decoded. The window is capped at 2^31
 * (ZSTD_d_windowLogMax 31) so archives made with `long` (up to 2^27 windows by default, more
 * when asked) are read, as pg_basebackup does. Input that ends inside a frame or is corrupt
 * fails with ArchiveFormatError.
 */

import type * as Binding from 'zstd-napi/binding.js';
import { ArchiveFormatError, InternalError } from '../errors.js';
import { ChainedStreamer } from './chained-streamer.js';
import type { DecompressorOptions } from './gzip-decompressor.js';
import type { ChunkKind, Streamer, TarMember } from './streamer.js';
import { lazyRequire } from '../lazy-require.js';

const zstd = lazyRequire<typeof Binding>('zstd-napi/binding.js');

export class ZstdDecompressor extends ChainedStreamer {
  private readonly dctx = new (zstd().DCtx)();
  private readonly out = Buffer.allocUnsafe(zstd().dStreamOutSize());
  private readonly label: string;
  /** ZSTD_decompressStream's hint: 0 once a frame is complete and flushed. */
  private frameOpen = false;

  constructor(next: Streamer, options: DecompressorOptions = {}) {
    super(next);
    this.label = options.archiveName === undefined ? 'zstd data' : `"${options.archiveName}"`;
    this.dctx.setParameter(zstd().DParameter.windowLogMax, 31);
  }

  async content(member: TarMember | null, data: Buffer, kind: ChunkKind): Promise<void> {
    if (kind !== 'unknown' || member !== null) {
      throw new InternalError(`zstd decompressor received a "${kind}" chunk; it expects raw bytes`);
    }
    let input = data;
    // Keep calling while input remains or the last call filled the output (more may be pending).
    for (let full = false; input.length > 0 || full;) {
      let hint: number;
      let produced: number;
      let consumed: number;
      try {
        [hint, produced, consumed] = this.dctx.decompressStream(this.out, input);
      } catch (err) {
        throw new ArchiveFormatError(`could not decompress ${this.label}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
      }
      input = input.subarray(consumed);
      // A call that neither read nor wrote (the one after an output buffer filled exactly at a
      // frame's end) reports what the next frame would need, not the state of this one.
      if (consumed > 0 || produced > 0) this.frameOpen = hint !== 0;
      full = produced === this.out.length;
      if (produced > 0) await this.next.content(null, this.out.subarray(0, produced), 'unknown');
    }
  }

  protected override async finalizeSelf(): Promise<void> {
    if (this.frameOpen) {
      throw new ArchiveFormatError(`could not decompress ${this.label}: the data ends in the middle of a frame`);
    }
  }
}
