/**
 * The bytes a stored WAL file holds, whatever its compression (`<name>[.gz|.lz4|.zst]`, with or
 * without `.partial`): read whole and decompressed. A segment is at most 1 GB and usually
 * 16 MB, read by one caller at a time (archive-push's comparison, wal-get's serving), so it is
 * held in memory. A file that cannot be decompressed is a WalFormatError naming it.
 */

import { open } from 'node:fs/promises';
import { createDecompressor } from '../archive/compression.js';
import type { ChunkKind, Streamer, TarMember } from '../archive/streamer.js';
import { PgFleetError, WalFormatError, fileError } from '../errors.js';
import type { WalFileCompression } from './segment.js';

const READ_CHUNK = 256 * 1024;

/** Collects what it receives, refusing more than `limit` bytes. */
class Collector implements Streamer {
  readonly chunks: Buffer[] = [];
  bytes = 0;
  constructor(private readonly limit: number, private readonly path: string) {}
  async content(_member: TarMember | null, data: Buffer, _kind: ChunkKind): Promise<void> {
    this.bytes += data.length;
    if (this.bytes > this.limit) throw new WalFormatError(`WAL file "${this.path}" holds more than ${this.limit} bytes`);
    this.chunks.push(Buffer.from(data));
  }
  async finalize(): Promise<void> {}
  async dispose(): Promise<void> {}
}

/** The compression a stored WAL file's name says (its suffix before any `.partial`). */
export function walFileCompressionOf(name: string): WalFileCompression {
  const base = name.endsWith('.partial') ? name.slice(0, -'.partial'.length) : name;
  if (base.endsWith('.gz')) return 'gzip';
  if (base.endsWith('.lz4')) return 'lz4';
  if (base.endsWith('.zst')) return 'zstd';
  return 'none';
}

/**
 * The decompressed content of the WAL file at `path` (compression from its name), at most
 * `limit` bytes (a segment size, or more for a history file never). A compressed `.partial`
 * may end in the middle of its last block: what decodes is returned.
 */
export async function readWalFileContent(path: string, limit: number): Promise<Buffer> {
  const compression = walFileCompressionOf(path);
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    throw fileError('could not open WAL file', path, err);
  }
  const out = new Collector(limit, path);
  const stage = createDecompressor(compression, out, { archiveName: path });
  try {
    const buffer = Buffer.allocUnsafe(READ_CHUNK);
    for (;;) {
      let bytesRead: number;
      try {
        ({ bytesRead } = await handle.read(buffer, 0, buffer.length, null));
      } catch (err) {
        throw fileError('could not read WAL file', path, err);
      }
      if (bytesRead === 0) break;
      try {
        await stage.content(null, buffer.subarray(0, bytesRead), 'unknown');
      } catch (err) {
        if (err instanceof PgFleetError && !(err instanceof WalFormatError)) throw new WalFormatError(err.message, { cause: err });
        throw err;
      }
    }
    try {
      await stage.finalize();
    } catch (err) {
      if (!path.endsWith('.partial')) {
        throw new WalFormatError(`WAL file "${path}" is damaged: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
      }
    }
    return Buffer.concat(out.chunks);
  } finally {
    await stage.dispose().catch(() => undefined);
    await handle.close().catch(() => undefined);
  }
}
