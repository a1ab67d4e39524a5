/**
 * File sink: writes the bytes it receives (any chunk kind; in practice raw archive bytes) to a
 * new file. FileSink.create() creates the file exclusively (O_CREAT|O_EXCL: an existing file
 * or symlink at the path is an error, never overwritten). Small chunks (tar headers, padding)
 * are gathered into writes of up to 1 MiB; each content() resolves once its data is written or
 * copied, so a slow disk slows the chain down. finalize() flushes, optionally fsyncs and
 * closes. dispose() before a successful finalize() closes the file and, unless told otherwise,
 * removes it, so a failed backup does not leave a half-written archive behind. The directory
 * entry itself is not fsynced: callers that need that fsync the directory once at the end.
 */

import { open, unlink, type FileHandle } from 'node:fs/promises';
import { FileIoError, fileError, isErrno } from '../errors.js';
import type { ChunkKind, Streamer, TarMember } from './streamer.js';

export interface FileSinkOptions {
  /** fsync the file in finalize(). */
  sync?: boolean;
  /** Mode of the new file (before the umask); 0o600 by default. */
  mode?: number;
  /** Remove the file when disposed without a successful finalize() (default true). */
  removeOnFailure?: boolean;
}

const BUFFER_SIZE = 1 << 20;

export class FileSink implements Streamer {
  private readonly buffer = Buffer.allocUnsafe(BUFFER_SIZE);
  private fill = 0;
  private written = 0;
  private state: 'open' | 'finalized' | 'disposed' = 'open';

  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
    private readonly options: FileSinkOptions,
  ) {}

  /** Creates `path` exclusively and returns a sink writing to it. */
  static async create(path: string, options: FileSinkOptions = {}): Promise<FileSink> {
    try {
      const handle = await open(path, 'wx', options.mode ?? 0o600);
      return new FileSink(path, handle, options);
    } catch (err) {
      if (isErrno(err, 'EEXIST')) {
        throw new FileIoError(`could not create file "${path}": file exists`, {
          cause: err,
          hint: 'pgfleet never overwrites an existing file; remove it or choose another directory.',
        });
      }
      throw fileError('could not create file', path, err);
    }
  }

  /** Bytes handed to this sink so far. */
  get bytes(): number {
    return this.written + this.fill;
  }

  async content(_member: TarMember | null, data: Buffer, _kind: ChunkKind): Promise<void> {
    if (data.length === 0) return;
    if (this.fill + data.length > BUFFER_SIZE) await this.flush();
    if (data.length >= BUFFER_SIZE / 4) {
      // Bytes still buffered come first: a large chunk must never overtake them.
      await this.flush();
      await this.write(data);
    } else {
      data.copy(this.buffer, this.fill);
      this.fill += data.length;
    }
  }

  async finalize(): Promise<void> {
    await this.flush();
    if (this.options.sync) {
      try {
        await this.handle.sync();
      } catch (err) {
        throw fileError('could not fsync file', this.path, err);
      }
    }
    this.state = 'finalized';
    try {
      await this.handle.close();
    } catch (err) {
      throw fileError('could not close file', this.path, err);
    }
  }

  async dispose(): Promise<void> {
    if (this.state !== 'open') return;
    this.state = 'disposed';
    await this.handle.close().catch(() => {});
    if (this.options.removeOnFailure ?? true) await unlink(this.path).catch(() => {});
  }

  private async flush(): Promise<void> {
    if (this.fill === 0) return;
    const pending = this.buffer.subarray(0, this.fill);
    this.fill = 0;
    await this.write(pending);
  }

  private async write(data: Buffer): Promise<void> {
    let off = 0;
    try {
      while (off < data.length) {
        const { bytesWritten } = await this.handle.write(data, off, data.length - off);
        off += bytesWritten;
      }
    } catch (err) {
      throw fileError('could not write to file', this.path, err);
    }
    this.written += data.length;
  }
}
