/**
 * Direct I/O (O_DIRECT) for files written once, fsynced, and not read back soon: a restore's
 * relation and WAL segments, a backup's archives in the repository. The page cache costs the
 * writing thread a copy and, in a virtual machine whose cache was just dropped, the
 * hypervisor's first touch of every page: on the bench VM 2 GiB took 3.6 s of system CPU
 * buffered (0.5 s once the pages were warm), 0.1-0.3 s with O_DIRECT, the disk keeping up.
 *
 * Linux takes O_DIRECT writes only from memory aligned to the device's logical block size (512
 * or 4096 bytes; 4096 satisfies both), at aligned offsets, in aligned lengths. So writers keep
 * their data in aligned buffers (allocAligned), write whole blocks, pad a file's last write with
 * zeros to a block and truncate the file back to its size. Where the file system refuses
 * O_DIRECT (EINVAL, at the open or at a write), the file is written buffered from where it was.
 */

import { constants } from 'node:fs';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { fileError, isErrno } from '../errors.js';
import { nativeAddon } from './native-addon.js';

export const DIRECT_IO_ALIGNMENT = 4096;

/** `n` rounded up to a multiple of DIRECT_IO_ALIGNMENT. */
export function alignUp(n: number): number {
  return Math.ceil(n / DIRECT_IO_ALIGNMENT) * DIRECT_IO_ALIGNMENT;
}

/** A Buffer of `size` bytes whose first byte lies at a multiple of DIRECT_IO_ALIGNMENT. */
export function allocAligned(size: number): Buffer {
  // Not from Node's shared pool: this memory is ours alone, and a backing store never moves.
  const raw = Buffer.allocUnsafeSlow(size + DIRECT_IO_ALIGNMENT);
  const offset = nativeAddon().alignmentOffset(raw, DIRECT_IO_ALIGNMENT);
  return raw.subarray(offset, offset + size);
}

/** A file being written at increasing positions, directly while it can be. */
export interface DirectTarget {
  readonly path: string;
  handle: FileHandle;
  /** Opened with O_DIRECT, and not refused since. */
  direct: boolean;
  /** Bytes written so far: where the next write goes. */
  position: number;
}

/**
 * Creates `path` exclusively (O_CREAT|O_EXCL|O_WRONLY), with O_DIRECT when `direct`; `direct`
 * in the result is false when the file system refused it (the file is then opened buffered).
 */
export async function openExclusive(path: string, mode: number, direct: boolean): Promise<{ handle: FileHandle; direct: boolean }> {
  // Linux's flag; elsewhere there is none, and the file is written buffered.
  if (direct && constants.O_DIRECT !== undefined) {
    try {
      return { handle: await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_DIRECT, mode), direct: true };
    } catch (err) {
      if (!isErrno(err, 'EINVAL')) throw err;
      // O_EXCL: a file there now is the one this failed open created.
      await unlink(path).catch(() => {});
    }
  }
  return { handle: await open(path, 'wx', mode), direct: false };
}

/**
 * Writes buf[start, end) at the target's position: a direct target writes buf[start, padded)
 * (`padded` aligned; the bytes past `end` zeros) and, when it padded, truncates the file back
 * to its size. A direct write refused with EINVAL reopens the file buffered and writes again
 * from the same position; `onRefused` is told. Errors name the file.
 */
export async function writeAt(target: DirectTarget, buf: Buffer, start: number, end: number, padded: number, onRefused?: () => void): Promise<void> {
  try {
    if (target.direct) {
      if (await writeDirect(target.handle, buf, start, padded, target.position)) {
        target.position += end - start;
        if (padded > end) await target.handle.truncate(target.position);
        return;
      }
      onRefused?.();
      await reopenBuffered(target);
    }
    await writeAll(target.handle, buf, start, end, target.position);
    target.position += end - start;
  } catch (err) {
    throw fileError('could not write to file', target.path, err);
  }
}

/**
 * Writes buf[start, end) at `position` of the target, leaving its position alone: for writes
 * whose places were handed out in order while they run side by side. Errors name the file.
 */
export async function writeAtPosition(target: DirectTarget, buf: Buffer, start: number, end: number, position: number): Promise<void> {
  try {
    await writeAll(target.handle, buf, start, end, position);
  } catch (err) {
    throw fileError('could not write to file', target.path, err);
  }
}

/** writeAll with O_DIRECT: false when the file system refused it (EINVAL). */
async function writeDirect(handle: FileHandle, buf: Buffer, start: number, end: number, position: number): Promise<boolean> {
  try {
    await writeAll(handle, buf, start, end, position);
    return true;
  } catch (err) {
    if (isErrno(err, 'EINVAL')) return false;
    throw err;
  }
}

/**
 * The same file opened again without O_DIRECT, through its descriptor (/proc/self/fd), never
 * its path: the directories above it may belong to someone else by now. What a refused write
 * may have left past the position is cut off.
 */
async function reopenBuffered(target: DirectTarget): Promise<void> {
  const buffered = await open(`/proc/self/fd/${target.handle.fd}`, constants.O_WRONLY);
  await target.handle.close().catch(() => {});
  target.handle = buffered;
  target.direct = false;
  await buffered.truncate(target.position);
}

/** Writes all of buf[start, end) at `position`. */
async function writeAll(handle: FileHandle, buf: Buffer, start: number, end: number, position: number): Promise<void> {
  let off = start;
  while (off < end) off += (await handle.write(buf, off, end - off, position + off - start)).bytesWritten;
}

/**
 * Write buffers of a DirectFile and of the extractor's direct files. A direct write costs the
 * device a round trip whatever its size: with 1 MiB ones a restore through an agent on the
 * bench VM spent 4.3-4.5 s in 2,100 writes and its main thread waited 2.1-2.2 s for a free
 * buffer; with 4 MiB ones, 3.1-3.3 s in 1,400 writes and 0.6-1.0 s of waiting. A whole number
 * of blocks, and not 4 MiB, for the reason FileSink's buffers are not 1 MiB, should the file
 * end up buffered.
 */
export const DIRECT_BUFFER_BYTES = 4 * 1024 * 1024 - 4096;

/**
 * A new file written with O_DIRECT from two aligned buffers: write() copies into one while the
 * other is written, and waits only when both are full. end() writes the rest (padded, then the
 * file truncated back); the caller then fsyncs and closes `handle`. A write error fails the
 * next write() or end().
 */
export class DirectFile implements DirectTarget {
  position = 0;
  private buf: Buffer;
  private other: Buffer;
  private fill = 0;
  private writing: Promise<void> = Promise.resolve();
  private failure: { error: unknown } | null = null;

  private constructor(readonly path: string, public handle: FileHandle, public direct: boolean, buffers: [Buffer, Buffer]) {
    [this.buf, this.other] = buffers;
  }

  /** Creates `path` exclusively (buffered where the file system refuses O_DIRECT). */
  static async create(path: string, mode: number): Promise<DirectFile> {
    // Before the file exists: nothing to undo if they cannot be had.
    const buffers: [Buffer, Buffer] = [allocAligned(DIRECT_BUFFER_BYTES), allocAligned(DIRECT_BUFFER_BYTES)];
    const opened = await openExclusive(path, mode, true);
    return new DirectFile(path, opened.handle, opened.direct, buffers);
  }

  async write(chunk: Buffer): Promise<void> {
    this.check();
    let off = 0;
    while (off < chunk.length) {
      const n = Math.min(chunk.length - off, this.buf.length - this.fill);
      chunk.copy(this.buf, this.fill, off, off + n);
      this.fill += n;
      off += n;
      if (this.fill === this.buf.length) await this.flush();
    }
  }

  /** Writes what is buffered and waits for every write. */
  async end(): Promise<void> {
    await this.settle();
    this.check();
    const end = this.fill;
    this.fill = 0;
    if (end > 0) {
      const padded = this.direct ? alignUp(end) : end;
      this.buf.fill(0, end, padded);
      await writeAt(this, this.buf, 0, end, padded);
    }
  }

  /** Waits for the write in progress, if any; never throws (before closing after a failure). */
  settle(): Promise<void> {
    return this.writing;
  }

  private check(): void {
    if (this.failure !== null) throw this.failure.error;
  }

  /** Starts writing the full buffer once the other one is written, and fills the other. */
  private async flush(): Promise<void> {
    await this.writing;
    this.check();
    const full = this.buf;
    this.writing = writeAt(this, full, 0, full.length, full.length).catch((error: unknown) => {
      this.failure ??= { error };
    });
    this.buf = this.other;
    this.other = full;
    this.fill = 0;
  }
}
