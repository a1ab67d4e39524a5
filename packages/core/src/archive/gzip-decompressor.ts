/**
 * gzip decompressor: gzip bytes in, raw bytes out, through node:zlib's Gunzip (on the libuv
 * threadpool). Concatenated gzip members are read as one stream, as gzip -d does. content()
 * resolves once zlib has consumed the chunk; output is handed to the next streamer one chunk at
 * a time, each awaited, and while that waits zlib stops (Node's transform backpressure), so
 * memory stays bounded. Truncated or corrupt input fails with ArchiveFormatError.
 */

import zlib from 'node:zlib';
import { ArchiveFormatError, InternalError } from '../errors.js';
import { ChainedStreamer } from './chained-streamer.js';
import type { ChunkKind, Streamer, TarMember } from './streamer.js';

export interface DecompressorOptions {
  /** Archive name for error messages. */
  archiveName?: string;
  /**
   * The caller hands its input buffers over and never writes them again (gRPC messages, fresh
   * reads): the lz4 decompressor then queues them without a copy. Others ignore it.
   */
  inputOwned?: boolean;
}

export class GzipDecompressor extends ChainedStreamer {
  private readonly gunzip: zlib.Gunzip;
  private readonly pump: Promise<void>;
  private failure: unknown = null;
  private readonly label: string;

  constructor(next: Streamer, options: DecompressorOptions = {}) {
    super(next);
    this.label = options.archiveName === undefined ? 'gzip data' : `"${options.archiveName}"`;
    this.gunzip = zlib.createGunzip({ chunkSize: 128 * 1024 });
    this.pump = this.forward();
    this.pump.catch((err: unknown) => { this.failure ??= err; });
  }

  async content(member: TarMember | null, data: Buffer, kind: ChunkKind): Promise<void> {
    if (kind !== 'unknown' || member !== null) {
      throw new InternalError(`gzip decompressor received a "${kind}" chunk; it expects raw bytes`);
    }
    this.throwIfFailed();
    if (data.length === 0) return;
    // The callback fires once zlib has consumed the chunk, so the caller may then reuse it.
    await new Promise<void>((resolve) => {
      this.gunzip.write(data, () => resolve());
      // If zlib fails or the pump stops, no callback may come: stop waiting then too.
      void this.pump.then(() => resolve(), () => resolve());
    });
    this.throwIfFailed();
  }

  protected override async finalizeSelf(): Promise<void> {
    this.throwIfFailed();
    this.gunzip.end();
    await this.pump.catch(() => {});
    this.throwIfFailed();
  }

  protected override async disposeSelf(): Promise<void> {
    this.gunzip.destroy();
  }

  /** Moves zlib's output to the next streamer, one awaited chunk at a time. */
  private async forward(): Promise<void> {
    try {
      for await (const chunk of this.gunzip) {
        await this.next.content(null, chunk as Buffer, 'unknown');
      }
    } catch (err) {
      if (err instanceof Error && 'errno' in err && (err as { code?: string }).code?.startsWith('Z_')) {
        throw new ArchiveFormatError(`could not decompress ${this.label}: ${err.message}`, { cause: err });
      }
      throw err;
    } finally {
      if (!this.gunzip.destroyed) this.gunzip.destroy();
    }
  }

  private throwIfFailed(): void {
    if (this.failure !== null) throw this.failure;
  }
}
