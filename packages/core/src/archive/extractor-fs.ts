/**
 * The file system operations of a DirectoryExtractor, behind one interface with two
 * implementations, so that the extractor's logic (and every check and message in it) exists
 * once:
 *  - queued (the default): each member's operations are a job on an IoQueue, run on the
 *    threadpool one at a time in member order while the archive keeps flowing; file contents
 *    are copied into three ~1 MiB buffers that small files share (4 MiB with `directIo`, files
 *    of at least DIRECT_IO_MIN_BYTES then written with O_DIRECT, two full buffers at once:
 *    below). An operation's error is thrown by a later content() or by finalize().
 *  - blocking: each operation is a blocking system call made at once on the calling thread, as
 *    pg_basebackup makes them; contents are written straight from the chunks in 16 KiB pieces
 *    (block-writer.ts). An error is thrown by the call that caused it.
 * The operations themselves (`ops`) take the same arguments and throw the same errors in both.
 */
import {
  chmodSync, chownSync, closeSync, fchmodSync, fchownSync, fdatasync, futimesSync, lchownSync, linkSync, lstatSync, lutimesSync,
  mkdirSync, openSync, statSync, symlinkSync, type Stats,
} from 'node:fs';
import { chmod, chown, lchown, link, lstat, lutimes, mkdir, open, stat, symlink, type FileHandle } from 'node:fs/promises';
import { InternalError, fileError } from '../errors.js';
import { DIRECT_BUFFER_BYTES, alignUp, allocAligned, openExclusive, writeAt, writeAtPosition, type DirectTarget } from './direct-io.js';
import { BlockWriter } from './block-writer.js';
import { IoQueue } from './io-queue.js';
import { Writeback, WritebackFile } from './writeback.js';

/** An open file being extracted. */
export interface ExtractHandle {
  chmod(mode: number): Promise<void>;
  utimes(time: Date): Promise<void>;
  chown(uid: number, gid: number): Promise<void>;
  close(): Promise<void>;
}

/** One system call each (node:fs semantics); the caller words the errors. */
export interface FsOps {
  mkdirp(path: string, mode: number): Promise<string | undefined>;
  mkdir(path: string, mode: number): Promise<void>;
  /** null when it cannot be read. */
  stat(path: string): Promise<Stats | null>;
  lstat(path: string): Promise<Stats | null>;
  chmod(path: string, mode: number): Promise<void>;
  chown(path: string, uid: number, gid: number): Promise<void>;
  lchown(path: string, uid: number, gid: number): Promise<void>;
  symlink(target: string, path: string): Promise<void>;
  lutimes(path: string, time: Date): Promise<void>;
  link(target: string, path: string): Promise<void>;
  /** O_CREAT|O_EXCL|O_WRONLY, for a file that will have `size` bytes. */
  openExclusive(path: string, mode: number, size: number): Promise<ExtractHandle>;
}

/** How the extractor's jobs run and its files' contents are written. */
export interface ExtractorFs {
  readonly ops: FsOps;
  /** Runs `job` at once (blocking) or after the jobs before it (queued); `always` runs after it either way. */
  run(job: () => Promise<void>, always?: () => void): Promise<void>;
  /** Throws the error of a job that failed (queued). */
  check(): void;
  /** Resolves when every job has run. */
  drain(): Promise<void>;
  /** Background fdatasyncs started so far (writeback.ts). */
  readonly writebacks: number;
  /** Files written with O_DIRECT so far (opened so, and not refused at a write). */
  readonly directFiles: number;
  /** The most O_DIRECT writes that ran at once so far (queued only). */
  readonly mostDirectWritesAtOnce: number;
  /** No job runs after this (those queued are dropped). */
  close(): Promise<void>;
  /** Contents of the file whose open job was run before (`member.size` bytes in all). */
  append(file: { path: string; handle: ExtractHandle | null; member: { size: number } }, data: Buffer): Promise<void>;
  /** The rest of the file's contents is written (or queued) before its close job. */
  endContents(file: { path: string; handle: ExtractHandle | null }): Promise<void>;
}

/**
 * `writeback`: start writing big files out while they are extracted (writeback.ts).
 * `directIo`: write big files with O_DIRECT (queued only; see QueuedFs).
 */
export function createExtractorFs(blocking: boolean, writeback = false, directIo = false): ExtractorFs {
  const starter = writeback ? new Writeback() : null;
  return blocking ? new BlockingFs(starter) : new QueuedFs(starter, directIo);
}

const promiseOps: FsOps = {
  mkdirp: (path, mode) => mkdir(path, { recursive: true, mode }),
  mkdir: async (path, mode) => {
    await mkdir(path, { mode });
  },
  stat: (path) => stat(path).catch(() => null),
  lstat: (path) => lstat(path).catch(() => null),
  chmod: (path, mode) => chmod(path, mode),
  chown: (path, uid, gid) => chown(path, uid, gid),
  lchown: (path, uid, gid) => lchown(path, uid, gid),
  symlink: (target, path) => symlink(target, path),
  lutimes: (path, time) => lutimes(path, time, time),
  link: (target, path) => link(target, path),
  openExclusive: async (path, mode) => new QueuedHandle(path, await open(path, 'wx', mode), false),
};

const syncOps: FsOps = {
  mkdirp: async (path, mode) => mkdirSync(path, { recursive: true, mode }),
  mkdir: async (path, mode) => {
    mkdirSync(path, { mode });
  },
  stat: async (path) => {
    try {
      return statSync(path);
    } catch {
      return null;
    }
  },
  lstat: async (path) => {
    try {
      return lstatSync(path);
    } catch {
      return null;
    }
  },
  chmod: async (path, mode) => chmodSync(path, mode),
  chown: async (path, uid, gid) => chownSync(path, uid, gid),
  lchown: async (path, uid, gid) => lchownSync(path, uid, gid),
  symlink: async (target, path) => symlinkSync(target, path),
  lutimes: async (path, time) => lutimesSync(path, time, time),
  link: async (target, path) => linkSync(target, path),
  openExclusive: async (path, mode) => new BlockingHandle(openSync(path, 'wx', mode), path),
};

class QueuedHandle implements ExtractHandle, DirectTarget {
  readonly writeback: WritebackFile;
  position = 0;
  /** A direct write to it has succeeded: the file system takes them, so the next may overlap. */
  directProven = false;
  constructor(readonly path: string, public handle: FileHandle, public direct: boolean) {
    this.writeback = new WritebackFile({ datasync: () => this.handle.datasync() });
  }
  chmod(mode: number): Promise<void> {
    return this.handle.chmod(mode);
  }
  utimes(time: Date): Promise<void> {
    return this.handle.utimes(time, time);
  }
  chown(uid: number, gid: number): Promise<void> {
    return this.handle.chown(uid, gid);
  }
  async close(): Promise<void> {
    await this.writeback.quiesce();
    return this.handle.close();
  }
}

class BlockingHandle implements ExtractHandle {
  readonly writer: BlockWriter;
  /** Its fdatasyncs run on the threadpool while the calling thread goes on writing. */
  readonly writeback: WritebackFile;
  /** Bytes appended so far. */
  appended = 0;
  constructor(readonly fd: number, path: string) {
    this.writer = new BlockWriter(fd, path);
    this.writeback = new WritebackFile({
      datasync: () => new Promise<void>((resolve, reject) => fdatasync(fd, (err) => (err ? reject(err) : resolve()))),
    });
  }
  async chmod(mode: number): Promise<void> {
    fchmodSync(this.fd, mode);
  }
  async utimes(time: Date): Promise<void> {
    futimesSync(this.fd, time, time);
  }
  async chown(uid: number, gid: number): Promise<void> {
    fchownSync(this.fd, uid, gid);
  }
  async close(): Promise<void> {
    // Not before an fdatasync queued on the threadpool ran: the number could be another file's.
    await this.writeback.quiesce();
    closeSync(this.fd);
  }
}

class BlockingFs implements ExtractorFs {
  readonly ops = syncOps;
  private closed = false;

  constructor(private readonly writeback: Writeback | null) {}

  get writebacks(): number {
    return this.writeback?.started ?? 0;
  }

  readonly directFiles = 0;
  readonly mostDirectWritesAtOnce = 0;

  async run(job: () => Promise<void>, always?: () => void): Promise<void> {
    if (this.closed) return;
    try {
      await job();
    } finally {
      always?.();
    }
  }

  check(): void {
    this.writeback?.check();
  }

  async drain(): Promise<void> {
    await this.writeback?.settle();
    this.writeback?.check();
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.writeback?.settle();
  }

  async append(file: { path: string; handle: ExtractHandle | null; member: { size: number } }, data: Buffer): Promise<void> {
    const handle = file.handle as BlockingHandle;
    handle.writer.append(data);
    handle.appended += data.length;
    // The file's last bytes start none: its close, next, would wait for it.
    if (handle.appended < file.member.size) this.writeback?.wrote(handle.writeback, file.path, data.length);
  }

  async endContents(file: { path: string; handle: ExtractHandle | null }): Promise<void> {
    (file.handle as BlockingHandle).writer.flush();
  }
}

/** Write buffers: file contents are copied into these and written in the background. */
const SLAB_BYTES = 1024 * 1024 - 4096; // not 1 MiB: see FileSink's DEFAULT_BUFFER_BYTES
const MAX_SLABS = 3;
/**
 * Direct writes of a file's full buffers that may run at once. One at a time, the device sat
 * idle from each write's end until the main thread, busy decompressing and checksumming, came
 * round to start the next: in a restore through an agent on the bench VM the writes of 2.2 GB
 * added up to 3.2-3.5 s where `dd oflag=direct bs=4M` takes 1.6-2.0 s, even with both CPUs
 * busy. With two, the next write is already on the threadpool when one ends.
 */
const DIRECT_WRITES_AT_ONCE = 2;

/**
 * With `directIo`, files of at least this size are written with O_DIRECT. Smaller ones stay
 * buffered: each direct write waits for the device, which a run of small files would feel.
 */
export const DIRECT_IO_MIN_BYTES = 1024 * 1024;
/**
 * Direct-I/O buffers whose extractor is done with them, for the next one: a restore's next
 * archive starts while the last one's fsyncs run, and new buffers then would add 12 MiB to the
 * peak until a full collection frees the old ones.
 */
const idleDirectBuffers: Buffer[] = [];

/** A write buffer shared by consecutive files; reused once every write from it is done. */
interface Slab {
  buf: Buffer;
  fill: number;
  writes: number;
  retired: boolean;
}

type QueuedFile = { path: string; handle: ExtractHandle | null };

/**
 * With `directIo` (direct-io.ts: a restore writes gigabytes nobody reads before they are
 * fsynced) a direct file's data starts at an aligned place in a write buffer (the buffers are
 * aligned, and so is their size), so that every write but its last is a whole number of 4 KiB
 * blocks. Where the file system refuses O_DIRECT, that file and every later one are written
 * buffered.
 */
class QueuedFs implements ExtractorFs {
  readonly ops: FsOps;
  private readonly io = new IoQueue();
  private slab: Slab | null = null;
  /** Where the current file's bytes not yet queued for writing start in `slab`. */
  private segmentStart = 0;
  private readonly spareSlabs: Slab[] = [];
  private slabCount = 0;
  directFiles = 0;
  /**
   * The file whose contents are being buffered, and whether they are laid out for direct I/O.
   * Decided at its first bytes, before its open job has run: its handle may still turn out
   * buffered (a refused O_DIRECT), which writes the same bytes, unpadded.
   */
  private current: QueuedFile | null = null;
  private currentDirect = false;
  /** close() was called: an append still running gives up at its next step. */
  private closed = false;
  /**
   * Direct writes started by their job and still running: the queue has gone on. They never
   * reject; the first one to fail leaves its error in `writeFailure`.
   */
  private readonly writing = new Set<Promise<void>>();
  private writeFailure: { error: unknown } | null = null;
  mostDirectWritesAtOnce = 0;

  constructor(private readonly writeback: Writeback | null, private directIo: boolean) {
    this.ops = { ...promiseOps, openExclusive: (path, mode, size) => this.openExclusive(path, mode, size) };
  }

  /** Every other job (an open, a close, a file's last bytes, a directory's mode) runs after the writes started before it. */
  run(job: () => Promise<void>, always?: () => void): Promise<void> {
    return this.io.add(async () => {
      await this.writesDone();
      await job();
    }, always);
  }

  /** Waits for the direct writes running now; throws the first one's failure. */
  private async writesDone(): Promise<void> {
    await this.settleWrites();
    this.checkWrites();
  }

  /** Waits for the direct writes running now, and any they make room for; never throws. */
  private async settleWrites(): Promise<void> {
    while (this.writing.size > 0) await Promise.all(this.writing);
  }

  private checkWrites(): void {
    if (this.writeFailure !== null) throw this.writeFailure.error;
  }

  get writebacks(): number {
    return this.writeback?.started ?? 0;
  }

  check(): void {
    this.io.check();
    this.checkWrites();
    this.writeback?.check();
  }

  async drain(): Promise<void> {
    await this.io.drain();
    await this.writesDone();
    this.releaseSlabs(true);
    await this.writeback?.settle();
    this.writeback?.check();
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.io.close();
    await this.settleWrites();
    this.releaseSlabs(false);
    await this.writeback?.settle();
  }

  /**
   * Once every write is done: a restore keeps each archive's extractor until its fsyncs end,
   * while the next archive streams, and its buffers need not wait. After a complete archive
   * (`reuse`) direct ones are kept for the next extractor; not after close(), where an append
   * may still be on its way out.
   */
  private releaseSlabs(reuse: boolean): void {
    const slabs = this.slab === null ? this.spareSlabs : [...this.spareSlabs, this.slab];
    for (const slab of slabs) {
      if (reuse && slab.buf.length === DIRECT_BUFFER_BYTES && idleDirectBuffers.length < MAX_SLABS) idleDirectBuffers.push(slab.buf);
    }
    this.slab = null;
    this.spareSlabs.length = 0;
    this.slabCount = 0;
  }

  /** Whether a file of `size` bytes is written with O_DIRECT (while the file system allows it). */
  private wantsDirect(size: number): boolean {
    return this.directIo && size >= DIRECT_IO_MIN_BYTES;
  }

  private async openExclusive(path: string, mode: number, size: number): Promise<ExtractHandle> {
    const wanted = this.wantsDirect(size);
    const opened = await openExclusive(path, mode, wanted);
    if (opened.direct) this.directFiles++;
    else if (wanted) this.directIo = false;
    return new QueuedHandle(path, opened.handle, opened.direct);
  }

  /** Copies file contents into the write buffers; full buffers are queued for writing. */
  async append(file: QueuedFile & { member: { size: number } }, data: Buffer): Promise<void> {
    if (file !== this.current) {
      this.current = file;
      this.currentDirect = this.wantsDirect(file.member.size);
      if (this.currentDirect && this.slab !== null) this.skipTo(alignUp(this.slab.fill));
    }
    let off = 0;
    while (off < data.length && !this.closed) {
      if (this.slab === null) {
        const slab = await this.takeSlab();
        if (this.closed) return;
        this.slab = slab;
        this.segmentStart = 0;
      }
      const slab = this.slab;
      const n = Math.min(data.length - off, slab.buf.length - slab.fill);
      data.copy(slab.buf, slab.fill, off, off + n);
      slab.fill += n;
      off += n;
      if (slab.fill === slab.buf.length) {
        await this.queueSegment(file);
        if (this.slab === slab) this.retireSlab();
      }
    }
  }

  endContents(file: QueuedFile): Promise<void> {
    return this.queueSegment(file, true);
  }

  /** Moves the current buffer's fill (nothing pending in it) to `to`; a buffer filled so is done. */
  private skipTo(to: number): void {
    const slab = this.slab as Slab;
    if (to >= slab.buf.length) {
      this.retireSlab();
      return;
    }
    slab.fill = to;
    this.segmentStart = to;
  }

  private retireSlab(): void {
    const slab = this.slab as Slab;
    this.slab = null;
    slab.retired = true;
    if (slab.writes === 0) this.freeSlab(slab);
  }

  /**
   * Queues the write of the file's bytes buffered so far. `last`: the file's final bytes. Its
   * close follows at once and would wait for an fdatasync started now (the fsync at the end
   * writes them out anyway), so they start none. A direct file's last bytes are padded.
   */
  private async queueSegment(file: QueuedFile, last = false): Promise<void> {
    const slab = this.slab;
    if (slab === null || slab.fill === this.segmentStart) return;
    const start = this.segmentStart;
    const end = slab.fill;
    const padded = this.currentDirect ? alignUp(end) : end;
    slab.buf.fill(0, end, padded);
    slab.writes++;
    if (padded > end) this.skipTo(padded);
    else this.segmentStart = end;
    let started = false;
    await this.io.add(async () => {
      const handle = file.handle as QueuedHandle;
      // A file's last bytes are written alone: a padded write truncates the file after it.
      if (!last && padded === end && handle.direct && handle.directProven) {
        while (this.writing.size >= DIRECT_WRITES_AT_ONCE) await Promise.race(this.writing);
        this.checkWrites();
        this.startDirectWrite(handle, slab, start, end);
        started = true;
        return;
      }
      await this.writesDone();
      await writeAt(handle, slab.buf, start, end, padded, () => {
        this.directIo = false;
        this.directFiles--;
      });
      if (handle.direct) handle.directProven = true;
      if (!last && !handle.direct) this.writeback?.wrote(handle.writeback, file.path, end - start);
    }, () => {
      if (!started) this.releaseWrite(slab);
    });
  }

  /**
   * Starts a direct write of slab[start, end) at the file's next position, taken now, in queue
   * order; the slab is released when the write ends. A file that took a direct write takes the
   * next ones, which are as aligned: a failure here fails the extraction rather than falling
   * back to buffered writes, which would have to wait for the other write first.
   */
  private startDirectWrite(handle: QueuedHandle, slab: Slab, start: number, end: number): void {
    const position = handle.position;
    handle.position += end - start;
    const write: Promise<void> = writeAtPosition(handle, slab.buf, start, end, position)
      .catch((error: unknown) => {
        this.writeFailure ??= { error };
      })
      .finally(() => {
        this.writing.delete(write);
        this.releaseWrite(slab);
      });
    this.writing.add(write);
    this.mostDirectWritesAtOnce = Math.max(this.mostDirectWritesAtOnce, this.writing.size);
  }

  private releaseWrite(slab: Slab): void {
    slab.writes--;
    if (slab.retired && slab.writes === 0) this.freeSlab(slab);
  }

  private async takeSlab(): Promise<Slab> {
    for (;;) {
      const spare = this.spareSlabs.pop();
      if (spare !== undefined) return spare;
      if (this.slabCount < MAX_SLABS) {
        this.slabCount++;
        const buf = this.directIo ? idleDirectBuffers.pop() ?? allocAligned(DIRECT_BUFFER_BYTES) : Buffer.allocUnsafe(SLAB_BYTES);
        return { buf, fill: 0, writes: 0, retired: false };
      }
      this.check();
      // Every buffer is being filled, queued or written: wait for a queued job or a running write.
      const waits = [...this.writing];
      if (this.io.pending > 0) waits.push(this.io.progress());
      if (waits.length === 0) throw new InternalError('no write buffer is free and no write is pending');
      await Promise.race(waits);
    }
  }

  private freeSlab(slab: Slab): void {
    slab.fill = 0;
    slab.writes = 0;
    slab.retired = false;
    this.spareSlabs.push(slab);
  }
}
