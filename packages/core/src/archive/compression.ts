/**
 * Choosing a compressor or decompressor streamer for a method. Compressors: GzipCompressor
 * (parallel, one gzip member), Lz4Compressor (parallel, one LZ4 frame; fast mode whatever the
 * level), ZstdCompressor (zstd's own workers). Decompressors: gzip, lz4 frame, zstd. For 'none'
 * no stage is needed and `next` itself is returned.
 */

import { GzipCompressor } from './gzip-compressor.js';
import { GzipDecompressor, type DecompressorOptions } from './gzip-decompressor.js';
import { Lz4Compressor } from './lz4-compressor.js';
import { Lz4Decompressor } from './lz4-decompressor.js';
import type { CompressionMethod, CompressionSpec } from './compression-spec.js';
import type { Streamer } from './streamer.js';
import { ZstdCompressor } from './zstd-compressor.js';
import { ZstdDecompressor } from './zstd-decompressor.js';

export { compressionFromFileName, compressionSuffix } from './compression-spec.js';

export interface CompressorOptions {
  /** gzip/lz4: blocks compressed at once (memory ~ 2 MiB each); default 2 x CPUs, 2..8. */
  maxBlocksInFlight?: number;
}

/** A compressor for a client-side spec (level, workers, long as parsed by parseCompressionSpec). */
export function createCompressor(
  spec: Pick<CompressionSpec, 'method' | 'level'> & Partial<Pick<CompressionSpec, 'workers' | 'longDistance'>>,
  next: Streamer,
  options: CompressorOptions = {},
): Streamer {
  switch (spec.method) {
    case 'none':
      return next;
    case 'gzip':
      return new GzipCompressor(next, { level: spec.level, ...options });
    case 'lz4':
      return new Lz4Compressor(next, options);
    case 'zstd':
      return new ZstdCompressor(next, { level: spec.level, workers: spec.workers ?? null, longDistance: spec.longDistance ?? null });
  }
}

/** A decompressor for a method (see compressionFromFileName for archive names). */
export function createDecompressor(method: CompressionMethod, next: Streamer, options: DecompressorOptions = {}): Streamer {
  switch (method) {
    case 'none':
      return next;
    case 'gzip':
      return new GzipDecompressor(next, options);
    case 'lz4':
      return new Lz4Decompressor(next, options);
    case 'zstd':
      return new ZstdDecompressor(next, options);
  }
}

/**
 * Whether what the decompressor of `method` passes on may be kept by the next streamer
 * (TarParser's inputOwned): lz4 hands on a fresh buffer per block and gzip slices of zlib's
 * output that zlib never writes again, but zstd refills one output buffer. For 'none' the
 * caller's own buffers pass through, so it is whether the caller hands them over.
 */
export function decompressedOutputOwned(method: CompressionMethod, inputOwned: boolean): boolean {
  switch (method) {
    case 'none':
      return inputOwned;
    case 'gzip':
    case 'lz4':
      return true;
    case 'zstd':
      return false;
  }
}
