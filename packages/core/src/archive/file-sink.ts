/**
 * File sink: writes the bytes it receives (any chunk kind; in practice raw archive bytes) to a
 * new file. FileSink.create() creates the file exclusively (O_CREAT|O_EXCL: an existing file
 * or symlink at the path is an error, never overwritten). Chunks are copied into two buffers of
 * about 1 MiB that are written in order on the threadpool while the caller goes on: content()
 * resolves once its data is copied, and waits only when the other buffer is still being
 * written, so a slow disk slows the chain down, but the chain does not stop for every write (a
 * compressor's output blocks used to be written while it waited: lz4 backups took 7.9 s instead
 * of 5.2). The copy is cheap next to the kernel's own. With `blocking`, each full buffer is
 * written at once with writeSync instead (no threadpool). A write error fails the next
 * content() or finalize(). finalize() writes the rest, optionally fsyncs and closes; with
 * `sync` the file is also fdatasynced in the background every 32 MiB as it is written
 * (writeback.ts), so that the disk works while the data flows, not only in that fsync.
 * dispose() before a successful finalize() waits for the write in progress, closes the file
 * and, unless told otherwise, removes it, so a failed backup does not leave a half-written
 * archive behind. The directory entry itself is not fsynced: callers that need that fsync the
 * directory once at the end.
 */

import { open, unlink, type FileHandle } from 'node:fs/promises';
import { FileIoError, fileError, isErrno } from '../errors.js';
import { BLOCKING_WRITE_BYTES, BlockWriter } from './block-writer.js';
import { Writeback, WritebackFile } from './writeback.js';
import type { ChunkKind, Streamer, TarMember } from './streamer.js';

export interface FileSinkOptions {
  /** fsync the file in finalize(). */
  sync?: boolean;
  /** Mode of the new file (before the umask); 0o600 by default. */
  mode?: number;
  /** Remove the file when disposed without a successful finalize() (default true). */
  removeOnFailure?: boolean;
  /** Size of each write (default 1 MiB - 4 KiB, or 16 KiB when blocking; see below). */
  bufferBytes?: number;
  /** Buffers being filled or written at once (default 2: one filled while one is written; 1: no overlap). */
  buffers?: number;
  /**
   * Write each full buffer at once with a blocking write on the calling thread, as
   * pg_basebackup does, instead of on the threadpool (default false). Much cheaper where CPUs
   * are few (see BackupDestination's `blocking`), but the event loop waits for the disk.
   */
  blocking?: boolean;
  /**
   * Start writing the file out while it is written (a background fdatasync every 32 MiB on the
   * threadpool, writeback.ts, in blocking mode too), so that the fsync of finalize(), or the
   * caller's own at the end, finds little left to do. By default on with `sync`, except in
   * blocking mode.
   */
  writeback?: boolean;
}

/**
 * Not 1 MiB: writes of exactly 1 MiB at 1 MiB-aligned offsets let the kernel (Linux 6.18, ext4
 * with large folios) put them in 1 MiB page-cache folios, and on the bench VM right after a
 * page cache drop that cost 2.9 s of system time per 2.2 GB instead of 0.65 s with writes of
 * 1 MiB - 4 KiB (and a whole backup 6.7 s of CPU instead of 2.4 s).
 */
const DEFAULT_BUFFER_BYTES = 1024 * 1024 - 4096;
const DEFAULT_BUFFERS = 2;

export class FileSink implements Streamer {
  private readonly bufferBytes: number;
  private readonly maxBuffers: number;
  private allocated = 0;
  private readonly free: Buffer[] = [];
  private current: Buffer | null = null;
  private fill = 0;
  /** Submitted writes, oldest first; each removes itself when done (they finish in order). */
  private readonly pending: Array<Promise<void>> = [];
  private chain: Promise<void> = Promise.resolve();
  private failure: unknown = null;
  private written = 0;
  private buffered = 0;
  private state: 'open' | 'finalized' | 'disposed' = 'open';
  /** Blocking mode: writes at once, in bufferBytes pieces (block-writer.ts). */
  private readonly blockWriter: BlockWriter | null;
  private readonly writeback: Writeback | null;
  private readonly writebackFile: WritebackFile;

  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
    private readonly options: FileSinkOptions,
  ) {
    this.bufferBytes = Math.max(512, options.bufferBytes ?? (options.blocking ? BLOCKING_WRITE_BYTES : DEFAULT_BUFFER_BYTES));
    this.maxBuffers = Math.max(1, options.buffers ?? DEFAULT_BUFFERS);
    this.blockWriter = options.blocking ? new BlockWriter(handle.fd, path, this.bufferBytes) : null;
    this.writeback = (options.writeback ?? (options.sync === true && !options.blocking)) ? new Writeback() : null;
    this.writebackFile = new WritebackFile(handle);
  }

  /** Background fdatasyncs started so far (the writeback option). */
  get writebacks(): number {
    return this.writeback?.started ?? 0;
  }

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
    const blocking = this.blockWriter === null ? 0 : this.blockWriter.written + this.blockWriter.pending;
    return this.written + this.buffered + this.fill + blocking;
  }

  async content(_member: TarMember | null, data: Buffer, _kind: ChunkKind): Promise<void> {
    this.throwIfFailed();
    if (this.blockWriter !== null) {
      this.writeBlocking(() => this.blockWriter?.append(data));
      this.writeback?.wrote(this.writebackFile, this.path, data.length);
      return;
    }
    let off = 0;
    while (off < data.length) {
      if (this.current === null) this.current = await this.takeBuffer();
      const n = Math.min(data.length - off, this.current.length - this.fill);
      data.copy(this.current, this.fill, off, off + n);
      this.fill += n;
      off += n;
      if (this.fill === this.current.length) this.submit();
    }
  }

  async finalize(): Promise<void> {
    this.throwIfFailed();
    if (this.blockWriter !== null) this.writeBlocking(() => this.blockWriter?.flush());
    if (this.fill > 0) this.submit();
    await this.chain;
    await this.writebackFile.quiesce();
    this.throwIfFailed();
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
    // Never close the descriptor under a write (or fdatasync) in progress.
    await this.chain;
    await this.writebackFile.quiesce();
    await this.handle.close().catch(() => {});
    if (this.options.removeOnFailure ?? true) await unlink(this.path).catch(() => {});
  }

  private throwIfFailed(): void {
    if (this.failure !== null) throw this.failure;
    this.writeback?.check();
  }

  /** A free buffer; when all are being written, waits for the oldest write. */
  private async takeBuffer(): Promise<Buffer> {
    for (;;) {
      const buffer = this.free.pop();
      if (buffer !== undefined) return buffer;
      if (this.allocated < this.maxBuffers) {
        this.allocated++;
        return Buffer.allocUnsafe(this.bufferBytes);
      }
      await this.pending[0];
      this.throwIfFailed();
    }
  }

  /** Queues the current buffer for writing, after the writes before it. */
  private submit(): void {
    const buffer = this.current as Buffer;
    const length = this.fill;
    this.current = null;
    this.fill = 0;
    this.buffered += length;
    const job = this.chain.then(async () => {
      try {
        if (this.failure === null && this.state !== 'disposed') await this.write(buffer, length);
      } catch (err) {
        this.failure ??= err;
      }
      this.buffered -= length;
      this.free.push(buffer);
      this.pending.shift();
    });
    this.chain = job;
    this.pending.push(job);
  }

  /** A write of the block writer; its failure fails the sink. */
  private writeBlocking(write: () => void): void {
    try {
      write();
    } catch (err) {
      this.failure ??= err;
      throw this.failure;
    }
  }

  private async write(data: Buffer, length: number): Promise<void> {
    let off = 0;
    try {
      while (off < length) {
        const { bytesWritten } = await this.handle.write(data, off, length - off);
        off += bytesWritten;
      }
    } catch (err) {
      throw fileError('could not write to file', this.path, err);
    }
    this.written += length;
    this.writeback?.wrote(this.writebackFile, this.path, length);
  }
}
