/**
 * The file system operations of a DirectoryExtractor, behind one interface with two
 * implementations, so that the extractor's logic (and every check and message in it) exists
 * once:
 *  - queued (the default): each member's operations are a job on an IoQueue, run on the
 *    threadpool one at a time in member order while the archive keeps flowing; file contents
 *    are copied into three ~1 MiB buffers that small files share. An operation's error is
 *    thrown by a later content() or by finalize().
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
import { fileError } from '../errors.js';
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
  /** O_CREAT|O_EXCL|O_WRONLY. */
  openExclusive(path: string, mode: number): Promise<ExtractHandle>;
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
  /** No job runs after this (those queued are dropped). */
  close(): Promise<void>;
  /** Contents of the file whose open job was run before (`member.size` bytes in all). */
  append(file: { path: string; handle: ExtractHandle | null; member: { size: number } }, data: Buffer): Promise<void>;
  /** The rest of the file's contents is written (or queued) before its close job. */
  endContents(file: { path: string; handle: ExtractHandle | null }): Promise<void>;
}

/** `writeback`: start writing big files out while they are extracted (writeback.ts). */
export function createExtractorFs(blocking: boolean, writeback = false): ExtractorFs {
  const starter = writeback ? new Writeback() : null;
  return blocking ? new BlockingFs(starter) : new QueuedFs(starter);
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
  openExclusive: async (path, mode) => new QueuedHandle(await open(path, 'wx', mode)),
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

class QueuedHandle implements ExtractHandle {
  readonly writeback: WritebackFile;
  constructor(readonly handle: FileHandle) {
    this.writeback = new WritebackFile(handle);
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

/** A write buffer shared by consecutive files; reused once every write from it is done. */
interface Slab {
  buf: Buffer;
  fill: number;
  writes: number;
  retired: boolean;
}

class QueuedFs implements ExtractorFs {
  readonly ops = promiseOps;
  private readonly io = new IoQueue();
  private slab: Slab | null = null;
  /** Where the current file's bytes not yet queued for writing start in `slab`. */
  private segmentStart = 0;
  private readonly spareSlabs: Slab[] = [];
  private slabCount = 0;

  constructor(private readonly writeback: Writeback | null) {}

  run(job: () => Promise<void>, always?: () => void): Promise<void> {
    return this.io.add(job, always);
  }

  get writebacks(): number {
    return this.writeback?.started ?? 0;
  }

  check(): void {
    this.io.check();
    this.writeback?.check();
  }

  async drain(): Promise<void> {
    await this.io.drain();
    await this.writeback?.settle();
    this.writeback?.check();
  }

  async close(): Promise<void> {
    await this.io.close();
    await this.writeback?.settle();
  }

  /** Copies file contents into the write buffers; full buffers are queued for writing. */
  async append(file: { path: string; handle: ExtractHandle | null }, data: Buffer): Promise<void> {
    let off = 0;
    while (off < data.length) {
      if (this.slab === null) {
        this.slab = await this.takeSlab();
        this.segmentStart = 0;
      }
      const slab = this.slab;
      const n = Math.min(data.length - off, slab.buf.length - slab.fill);
      data.copy(slab.buf, slab.fill, off, off + n);
      slab.fill += n;
      off += n;
      if (slab.fill === slab.buf.length) {
        await this.queueSegment(file);
        this.slab = null;
        slab.retired = true;
        if (slab.writes === 0) this.freeSlab(slab);
      }
    }
  }

  endContents(file: { path: string; handle: ExtractHandle | null }): Promise<void> {
    return this.queueSegment(file, true);
  }

  /**
   * Queues the write of the file's bytes buffered so far. `last`: the file's final bytes. Its
   * close follows at once and would wait for an fdatasync started now (the fsync at the end
   * writes them out anyway), so they start none.
   */
  private async queueSegment(file: { path: string; handle: ExtractHandle | null }, last = false): Promise<void> {
    const slab = this.slab;
    if (slab === null || slab.fill === this.segmentStart) return;
    const start = this.segmentStart;
    const end = slab.fill;
    this.segmentStart = end;
    slab.writes++;
    await this.io.add(async () => {
      await write(file, slab.buf, start, end);
      if (!last) this.writeback?.wrote((file.handle as QueuedHandle).writeback, file.path, end - start);
    }, () => {
      slab.writes--;
      if (slab.retired && slab.writes === 0) this.freeSlab(slab);
    });
  }

  private async takeSlab(): Promise<Slab> {
    for (;;) {
      const spare = this.spareSlabs.pop();
      if (spare !== undefined) return spare;
      if (this.slabCount < MAX_SLABS) {
        this.slabCount++;
        return { buf: Buffer.allocUnsafe(SLAB_BYTES), fill: 0, writes: 0, retired: false };
      }
      this.io.check();
      await this.io.progress();
    }
  }

  private freeSlab(slab: Slab): void {
    slab.fill = 0;
    slab.writes = 0;
    slab.retired = false;
    this.spareSlabs.push(slab);
  }
}

async function write(file: { path: string; handle: ExtractHandle | null }, buf: Buffer, start: number, end: number): Promise<void> {
  const handle = (file.handle as QueuedHandle).handle;
  try {
    let off = start;
    while (off < end) off += (await handle.write(buf, off, end - off)).bytesWritten;
  } catch (err) {
    throw fileError('could not write to file', file.path, err);
  }
}
