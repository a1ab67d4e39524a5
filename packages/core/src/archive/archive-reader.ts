/**
 * Reading a tar archive file into a streamer chain: readArchiveFile() opens a .tar, .tar.gz,
 * .tgz, .tar.lz4 or .tar.zst file (compression from the name unless given), decompresses,
 * parses the tar and feeds the members to `next`, then finalizes the chain (so `next` is
 * finalized too). Reads go through one reused 256 KiB buffer, each chunk awaited by the chain,
 * so memory stays bounded whatever the archive size. Afterwards, on success or failure, the
 * whole chain, `next` included, has been disposed. pg_verifybackup-style checks and the agent's
 * restore use it.
 */

import { open, type FileHandle } from 'node:fs/promises';
import { basename } from 'node:path';
import { CancelledError, InvalidOptionError, fileError } from '../errors.js';
import { createDecompressor, decompressedOutputOwned } from './compression.js';
import { SyncTarParser } from './sync-tar-parser.js';
import { compressionFromFileName, type CompressionMethod } from './compression-spec.js';
import type { Streamer } from './streamer.js';
import { TarParser } from './tar-parser.js';

export interface ReadArchiveOptions {
  /** Compression of the file; by default taken from its name. */
  compression?: CompressionMethod;
  /** Bytes per read; 256 KiB by default. */
  chunkSize?: number;
  /** Called after each read with the number of file bytes read so far. */
  onProgress?: (bytesRead: number) => void;
  /** Stops reading with CancelledError. */
  signal?: AbortSignal;
  /**
   * `next` copies whatever it keeps of a chunk past its content() call: the archive is then
   * parsed in place (SyncTarParser), no chunk copied, instead of through tar-stream.
   */
  inPlace?: boolean;
}

export async function readArchiveFile(path: string, next: Streamer, options: ReadArchiveOptions = {}): Promise<void> {
  const name = basename(path);
  const method = options.compression ?? compressionFromFileName(name);
  if (method === null) {
    await next.dispose();
    throw new InvalidOptionError(`could not tell the compression of archive "${path}" from its name`, {
      hint: 'Archive names end in .tar, .tar.gz, .tgz, .tar.lz4 or .tar.zst.',
    });
  }
  // Whatever part of the chain exists is disposed at the end, `next` included, even when a
  // stage could not be made (a decompressor whose binding fails to load).
  let chain: Streamer = next;
  let handle: FileHandle | null = null;
  try {
    // The read buffer below is reused: only a decompressor's fresh output may be kept as it is.
    const parser = options.inPlace === true
      ? new SyncTarParser(next, { archiveName: name })
      : new TarParser(next, { archiveName: name, inputOwned: decompressedOutputOwned(method, false) });
    chain = parser;
    chain = createDecompressor(method, parser, { archiveName: name });
    try {
      handle = await open(path, 'r');
    } catch (err) {
      throw fileError('could not open file', path, err);
    }
    const buffer = Buffer.allocUnsafe(options.chunkSize ?? 256 * 1024);
    let total = 0;
    for (;;) {
      if (options.signal?.aborted) throw new CancelledError(`reading archive "${path}" was cancelled`);
      let bytesRead: number;
      try {
        ({ bytesRead } = await handle.read(buffer, 0, buffer.length, null));
      } catch (err) {
        throw fileError('could not read file', path, err);
      }
      if (bytesRead === 0) break;
      total += bytesRead;
      await chain.content(null, buffer.subarray(0, bytesRead), 'unknown');
      options.onProgress?.(total);
    }
    await chain.finalize();
  } finally {
    await handle?.close().catch(() => {});
    await chain.dispose();
  }
}
