/**
 * Background writeback for files that are fsynced once they are complete: once a file has
 * WRITEBACK_BYTES written since its last one, an fdatasync of it starts on the threadpool (one
 * at a time per Writeback) while the writes go on. The kernel would otherwise start writing
 * the data out only when the dirty pages reach its background limit (10% of memory by default:
 * gigabytes), so the disk sat idle while a restore's first archive was extracted, or a backup's
 * first archive stored, and the final fsync found almost everything still to write.
 *
 * It only moves the disk's work earlier: the caller still fsyncs every file before it reports
 * anything. A failed fdatasync is kept and thrown by check(): after a failed fsync, Linux may
 * not report the lost data to a later one.
 */

import { fileError } from '../errors.js';

// 8 MiB was slower on the bench VM (5.3-5.7 s against 4.2-4.9 s for a restore through an agent):
// each fdatasync also commits the journal. 16 to 128 MiB measured the same.
export const WRITEBACK_BYTES = 32 * 1024 * 1024;

/** One file being written, as Writeback sees it. */
export class WritebackFile {
  /** Bytes written since its last fdatasync was started. */
  unflushed = 0;
  /** The fdatasync running on it, if any. */
  flushing: Promise<void> | null = null;
  closing = false;

  /** A FileHandle, or anything else whose datasync() fdatasyncs the file. */
  constructor(readonly handle: { datasync(): Promise<void> }) {}

  /** Before the descriptor is closed: no fdatasync starts any more, the running one ends. */
  async quiesce(): Promise<void> {
    this.closing = true;
    await this.flushing;
  }
}

export class Writeback {
  /** fdatasyncs started so far. */
  started = 0;
  private running: Promise<void> | null = null;
  private failure: { error: unknown } | null = null;

  /** After `bytes` more were written to `file` (named `path` in an error). */
  wrote(file: WritebackFile, path: string, bytes: number): void {
    file.unflushed += bytes;
    if (file.unflushed < WRITEBACK_BYTES || this.running !== null || file.closing) return;
    file.unflushed = 0;
    this.started++;
    const running = file.handle.datasync().catch((err: unknown) => {
      this.failure ??= { error: fileError('could not fsync file', path, err) };
    }).finally(() => {
      if (this.running === running) this.running = null;
      if (file.flushing === running) file.flushing = null;
    });
    this.running = running;
    file.flushing = running;
  }

  /** Throws the first fdatasync failure. */
  check(): void {
    if (this.failure !== null) throw this.failure.error;
  }

  /** Waits for the fdatasync running now, if any; never throws. */
  async settle(): Promise<void> {
    await this.running;
  }
}
