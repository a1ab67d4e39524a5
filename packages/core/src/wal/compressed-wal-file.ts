/**
 * One compressed WAL file as pg_receivewal -Z writes it: a single gzip member (`.gz`) or a
 * single LZ4 frame (`.lz4`) (or, for the fleet's archive, a single zstd frame, `.zst`) holding the file's bytes, written to an open file handle from its
 * beginning. write() compresses and appends, flush() makes everything written so far decodable
 * from the file (gzip: a sync flush point; lz4: a shorter block) without ending the stream, and
 * end() writes the trailer (gzip: CRC and the uncompressed size that pg_receivewal reads back to
 * tell a complete segment; lz4: the end mark). The caller fsyncs and closes the handle.
 *
 * The compressors are the archive chain's (archive/gzip-compressor.ts, archive/lz4-compressor.ts):
 * gzip honours the level, lz4 compresses in its fast mode whatever the level.
 */

import type { FileHandle } from 'node:fs/promises';
import { GzipCompressor } from '../archive/gzip-compressor.js';
import { Lz4Compressor } from '../archive/lz4-compressor.js';
import { ZstdCompressor } from '../archive/zstd-compressor.js';
import type { ChunkKind, Streamer, TarMember } from '../archive/streamer.js';
import { InternalError, fileError } from '../errors.js';
import type { WalFileCompression } from './segment.js';

export interface WalFileCompressionSpec {
  method: Exclude<WalFileCompression, 'none'>;
  /** gzip: 1..9 or -1 (zlib's default); zstd: its level; lz4: ignored. */
  level: number;
}

/** Appends what it receives to a file handle at a running offset. */
class HandleAppender implements Streamer {
  position = 0;

  constructor(private readonly handle: FileHandle, private readonly path: string) {}

  async content(_member: TarMember | null, data: Buffer, _kind: ChunkKind): Promise<void> {
    let done = 0;
    try {
      while (done < data.length) {
        const { bytesWritten } = await this.handle.write(data, done, data.length - done, this.position);
        done += bytesWritten;
        this.position += bytesWritten;
      }
    } catch (err) {
      throw fileError(`could not write ${data.length} bytes to WAL file`, this.path, err);
    }
  }

  async finalize(): Promise<void> {}
  async dispose(): Promise<void> {}
}

/** Collects what it receives in memory. */
class Collector implements Streamer {
  readonly chunks: Buffer[] = [];
  async content(_member: TarMember | null, data: Buffer, _kind: ChunkKind): Promise<void> {
    this.chunks.push(Buffer.from(data));
  }
  async finalize(): Promise<void> {}
  async dispose(): Promise<void> {}
}

type FlushableCompressor = GzipCompressor | Lz4Compressor | ZstdCompressor;

function compressorFor(spec: WalFileCompressionSpec, next: Streamer): FlushableCompressor {
  // One block at a time: a WAL file is small, and the receiver is one of many processes.
  switch (spec.method) {
    case 'gzip':
      return new GzipCompressor(next, { level: spec.level, maxBlocksInFlight: 2 });
    case 'zstd':
      return new ZstdCompressor(next, spec.level > 0 ? { level: spec.level } : {});
    case 'lz4':
      return new Lz4Compressor(next);
  }
}

export class CompressedWalFile {
  private readonly compressor: FlushableCompressor;
  private ended = false;

  constructor(spec: WalFileCompressionSpec, handle: FileHandle, path: string) {
    this.compressor = compressorFor(spec, new HandleAppender(handle, path));
  }

  async write(data: Buffer): Promise<void> {
    if (this.ended) throw new InternalError('write to a compressed WAL file after its end');
    await this.compressor.content(null, data, 'unknown');
  }

  async flush(): Promise<void> {
    if (!this.ended) await this.compressor.flush();
  }

  async end(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    await this.compressor.finalize();
  }

  /** Stops compression jobs after a failure; never throws. */
  async dispose(): Promise<void> {
    this.ended = true;
    await this.compressor.dispose();
  }
}

/** `content` compressed as a whole file (timeline history files under -Z). */
export async function compressWalFileContent(spec: WalFileCompressionSpec, content: Buffer): Promise<Buffer> {
  const out = new Collector();
  const compressor = compressorFor(spec, out);
  try {
    await compressor.content(null, content, 'unknown');
    await compressor.finalize();
  } finally {
    await compressor.dispose();
  }
  return Buffer.concat(out.chunks);
}
