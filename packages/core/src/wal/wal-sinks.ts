/**
 * Where streamed WAL goes, as pg_basebackup's and pg_receivewal's walmethods.c write it. The
 * receiver drives a sink with: open(segment) -> write(offset, data)* -> [sync()] ->
 * close({complete}) per segment, writeHistoryFile() for `<TLI>.history`, then finish() once,
 * and dispose() always. Before streaming it may ask the sink where to start (findStart) and
 * whether a history file is already stored (hasHistoryFile).
 *
 * DirectoryWalSink writes files into a directory, in one of two layouts:
 * - pg_basebackup's (`partialFiles` false, the default: <D>/pg_wal or --waldir): every segment
 *   file has its final name from the start and is full size (wal_segment_size), zero-filled past
 *   the data received, even the last, incomplete one; `archive_status/<segment>.done` (empty) is
 *   written only for segments received completely, and for history files.
 * - pg_receivewal's (`partialFiles` true): the segment being written is `<segment>.partial`
 *   (`<segment>.gz.partial`, `<segment>.lz4.partial` under compression) and is renamed to its
 *   final name once complete (fsync of the file, rename, fsync of the directory); an
 *   incomplete segment keeps its `.partial` name. Streaming into an existing uncompressed
 *   `.partial` of full size rewrites it in place (the stream restarts at the segment's
 *   beginning, so the bytes are the same); any other size but 0 is refused. A compressed
 *   `.partial` is started again from empty.
 * Uncompressed segments are pre-allocated (zero-filled to full size) when created, and with
 * `sync` the new file and its directory are fsynced at once, as walmethods.c does. Compressed
 * files (gzip, lz4: pg_receivewal -Z) are not padded; history files are compressed too and
 * carry the suffix (`00000002.history.gz`), as pg_receivewal 15 writes them. File modes follow
 * the server's data directory (0600, or 0640 with group access).
 *
 * TarWalSink emits a tar archive (pg_wal.tar's bytes) into a Streamer as raw 'unknown' chunks,
 * so the caller can chain compression and a file sink after it. A tar header states the size
 * up front, so each segment is a full-size member: the header is written when the segment is
 * opened, the data as it arrives, and zeros up to the segment size at close. Member names are
 * flat (relative to pg_wal), there are no directory members, and the archive ends with two zero
 * blocks, as pg_basebackup's tar method writes it: mode 0600, uid/gid 0, owner "postgres".
 */

import { writeSync } from 'node:fs';
import { link, mkdir, open, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { FileIoError, InternalError, WalConflictError, WalFormatError, fileError, isErrno, osErrorText } from '../errors.js';
import { fsyncDirectory } from '../fs-sync.js';
import type { Streamer, TarMember } from '../archive/streamer.js';
import { encodeTarHeader, tarPaddingFor, TAR_END_OF_ARCHIVE } from '../archive/tar-header.js';
import { CompressedWalFile, compressWalFileContent, type WalFileCompressionSpec } from './compressed-wal-file.js';
import { isValidWalSegmentSize, walCompressionSuffix } from './segment.js';
import { findStreamingStart, type StreamingStart } from './streaming-start.js';
import { readWalFileContent } from './wal-file-content.js';

export interface WalSink {
  /** Every segment file this sink writes has this size. */
  readonly segmentSize: number;
  /** Starts a new segment file; only one is open at a time. */
  open(segmentName: string): Promise<void>;
  /** Writes data at `offset` in the open segment; offsets only grow. */
  write(offset: number, data: Buffer): Promise<void>;
  /**
   * Makes what was written to the open segment durable (fsync). Optional: a sink without it
   * makes data durable only when a segment is closed.
   */
  sync?(): Promise<void>;
  /**
   * Ends the open segment; `complete` = all of it was received (pg_basebackup's layout: then it
   * gets its `.done`; pg_receivewal's: then it is renamed from `.partial`). What was written is
   * durable when this resolves (unless the sink was told not to sync).
   */
  close(options: { complete: boolean }): Promise<void>;
  /** Writes a timeline history file (`%08X.history`) and, when the layout has them, its `.done`. */
  writeHistoryFile(name: string, content: Buffer): Promise<void>;
  /** Whether a history file is already stored (then the receiver does not fetch it again). */
  hasHistoryFile?(name: string): Promise<boolean>;
  /**
   * Where streaming into this sink should resume (a segment boundary and its timeline), from
   * what it already holds; null when it holds nothing. Asked only when the caller gave no start.
   */
  findStart?(): Promise<StreamingStart | null>;
  /** After the last segment: make everything durable / end the archive. Called once. */
  finish(): Promise<void>;
  /** Releases resources after success or failure; never throws; idempotent. */
  dispose(): Promise<void>;
}

/** Zeros shared by all padding writes; never written to. */
const ZEROS = Buffer.alloc(1024 * 1024);
/** Zeros for pre-allocating a segment file. With 1 MB writes the bench's receiver spent about
 * half its CPU in the kernel's copy of them (pg_receivewal writes 8 kB at a time); a small buffer
 * likely stays in the CPU's cache. 64 kB keeps it at 256 writes for a 16 MB segment. */
const PAD_ZEROS = Buffer.alloc(64 * 1024);

function checkSegmentSize(segmentSize: number): void {
  if (!isValidWalSegmentSize(segmentSize)) {
    throw new InternalError(`invalid WAL segment size ${segmentSize} for a WAL sink`);
  }
}

function checkName(name: string): void {
  if (name === '' || name.includes('/') || name.includes('\0') || name.startsWith('.')) {
    throw new InternalError(`invalid WAL file name "${name}"`);
  }
}

export interface DirectoryWalSinkOptions {
  /** The target directory (<D>/pg_wal, --waldir, or pg_receivewal -D). Created if missing. */
  directory: string;
  segmentSize: number;
  /** fsync files and the directory (pg_basebackup without --no-sync, pg_receivewal without --no-sync). */
  sync?: boolean;
  /** Write archive_status/<name>.done for complete segments and history files (creating
   * archive_status). Default true, as pg_basebackup; pg_receivewal writes none. */
  markDone?: boolean;
  /** pg_receivewal's layout: `.partial` while a segment is written, renamed when complete. */
  partialFiles?: boolean;
  /** Compress every file (pg_receivewal -Z gzip / lz4); default none. */
  compression?: WalFileCompressionSpec | null;
  /** 0600 by default; 0640 when the server's data directory allows group access. */
  fileMode?: number;
  /** 0700 by default; 0750 with group access. */
  directoryMode?: number;
  /** Told about files findStart() skips (pg_receivewal prints them as warnings). */
  onWarning?: (message: string) => void;
  /**
   * A continuous archive's rule (with partialFiles): a completed segment never replaces a file
   * already stored for it under any compression suffix (archive-push may have stored it). The
   * same content keeps the stored file and removes the written copy; other content is a
   * WalConflictError and the written copy stays `.partial`.
   */
  noClobber?: boolean;
}

interface OpenWalFile {
  segment: string;
  /** The name it has while written (with .partial in pg_receivewal's layout). */
  path: string;
  handle: FileHandle;
  /** Bytes of the segment written so far. */
  position: number;
  compressed: CompressedWalFile | null;
}

export class DirectoryWalSink implements WalSink {
  readonly segmentSize: number;
  private readonly directory: string;
  private readonly statusDirectory: string;
  private readonly fsync: boolean;
  private readonly markDone: boolean;
  private readonly partialFiles: boolean;
  private readonly compression: WalFileCompressionSpec | null;
  private readonly suffix: string;
  private readonly fileMode: number;
  private readonly directoryMode: number;
  private readonly onWarning: ((message: string) => void) | undefined;
  private readonly noClobber: boolean;
  private prepared = false;
  private file: OpenWalFile | null = null;

  constructor(options: DirectoryWalSinkOptions) {
    checkSegmentSize(options.segmentSize);
    this.segmentSize = options.segmentSize;
    this.directory = options.directory;
    this.statusDirectory = join(options.directory, 'archive_status');
    this.fsync = options.sync ?? true;
    this.markDone = options.markDone ?? true;
    this.partialFiles = options.partialFiles ?? false;
    this.compression = options.compression ?? null;
    this.suffix = walCompressionSuffix(this.compression?.method ?? 'none');
    this.fileMode = options.fileMode ?? 0o600;
    this.directoryMode = options.directoryMode ?? 0o700;
    this.onWarning = options.onWarning;
    this.noClobber = options.noClobber ?? false;
  }

  /** The name a file is stored under: its name plus the compression suffix (`.gz`, `.lz4`). */
  storedName(name: string): string {
    return name + this.suffix;
  }

  /** The name a segment has while it is written (`<segment>[.gz|.lz4].partial` in pg_receivewal's layout). */
  writingName(segmentName: string): string {
    return this.storedName(segmentName) + (this.partialFiles ? '.partial' : '');
  }

  private async prepare(): Promise<void> {
    if (this.prepared) return;
    const dir = this.markDone ? this.statusDirectory : this.directory;
    try {
      await mkdir(dir, { recursive: true, mode: this.directoryMode });
    } catch (err) {
      throw fileError('could not create directory', dir, err);
    }
    this.prepared = true;
  }

  async open(segmentName: string): Promise<void> {
    checkName(segmentName);
    if (this.file !== null) throw new InternalError(`WAL file "${this.file.segment}" is still open`);
    await this.prepare();
    const path = join(this.directory, this.writingName(segmentName));
    if (this.compression !== null) {
      const handle = await openFile(path, 'w', this.fileMode);
      this.file = { segment: segmentName, path, handle, position: 0, compressed: new CompressedWalFile(this.compression, handle, path) };
      if (this.fsync) await this.syncNewFile(this.file);
      return;
    }
    let existing: number | null = null;
    try {
      existing = (await stat(path)).size;
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw fileError('could not get size of write-ahead log file', path, err);
    }
    if (existing === this.segmentSize) {
      // A segment pre-allocated earlier (a .partial left by a stopped or killed receiver):
      // written again from its beginning with the same bytes.
      const handle = await openFile(path, 'r+', this.fileMode, 'could not open existing write-ahead log file');
      this.file = { segment: segmentName, path, handle, position: 0, compressed: null };
      if (this.fsync) {
        try {
          await handle.sync();
        } catch (err) {
          throw fileError('could not fsync existing write-ahead log file', path, err);
        }
      }
      return;
    }
    if (existing !== null && existing !== 0) {
      throw new WalFormatError(`write-ahead log file "${path}" has ${existing} byte${existing === 1 ? '' : 's'}, should be 0 or ${this.segmentSize}`, {
        hint: 'pg_receivewal leaves such a file when it is killed while it fills a new segment with zeros (no WAL is in it yet); '
          + 'otherwise the file was damaged or not written by a WAL receiver. Move it away and start again.',
      });
    }
    const handle = await openFile(path, 'w', this.fileMode);
    this.file = { segment: segmentName, path, handle, position: 0, compressed: null };
    // Pre-allocate the whole segment, as walmethods.c does: a full disk shows up now rather
    // than in the middle of a segment, and the file has its final size from the start. The
    // size is set first, in one call: a receiver killed while it writes the zeros leaves a
    // file of the segment's size (zeros where it was not written yet), which the next run
    // takes up, where a short file would stop every later run until someone removed it.
    try {
      await handle.truncate(this.segmentSize);
      for (let done = 0; done < this.segmentSize; done += PAD_ZEROS.length) {
        const n = Math.min(PAD_ZEROS.length, this.segmentSize - done);
        writeAllSync(handle.fd, PAD_ZEROS.subarray(0, n), done);
      }
    } catch (err) {
      throw fileError('could not pad write-ahead log file', path, err);
    }
    if (this.fsync) await this.syncNewFile(this.file);
  }

  /** A new file and its directory entry, durable before any WAL is written into it. */
  private async syncNewFile(file: OpenWalFile): Promise<void> {
    try {
      await file.handle.sync();
    } catch (err) {
      throw fileError('could not fsync file', file.path, err);
    }
    await fsyncDirectory(this.directory);
  }

  async write(offset: number, data: Buffer): Promise<void> {
    const file = this.file;
    if (file === null) throw new InternalError('no WAL file is open');
    if (offset < file.position || offset + data.length > this.segmentSize ||
      (file.compressed !== null && offset !== file.position)) {
      throw new InternalError(`write of ${data.length} bytes at offset ${offset} in WAL file "${file.segment}" (at ${file.position})`);
    }
    if (file.compressed !== null) {
      await file.compressed.write(data);
    } else {
      try {
        writeAllSync(file.handle.fd, data, offset);
      } catch (err) {
        throw fileError(`could not write ${data.length} bytes to WAL file`, file.path, err);
      }
    }
    file.position = offset + data.length;
  }

  async sync(): Promise<void> {
    const file = this.file;
    if (file === null || !this.fsync) return;
    await file.compressed?.flush();
    try {
      await file.handle.sync();
    } catch (err) {
      throw fileError('could not fsync file', file.path, err);
    }
  }

  async close(options: { complete: boolean }): Promise<void> {
    const file = this.file;
    if (file === null) throw new InternalError('no WAL file is open');
    this.file = null;
    try {
      await file.compressed?.end();
    } catch (err) {
      await file.compressed?.dispose();
      await file.handle.close().catch(() => undefined);
      throw err;
    }
    if (this.fsync) {
      try {
        await file.handle.sync();
      } catch (err) {
        await file.handle.close().catch(() => undefined);
        throw fileError('could not fsync file', file.path, err);
      }
    }
    try {
      await file.handle.close();
    } catch (err) {
      throw fileError('could not close file', file.path, err);
    }
    if (this.partialFiles) {
      if (options.complete) {
        const final = join(this.directory, this.storedName(file.segment));
        if (this.noClobber) {
          await storeWithoutClobbering(file.path, final, this.directory, file.segment, this.segmentSize);
        } else {
          try {
            await rename(file.path, final);
          } catch (err) {
            throw new FileIoError(`could not rename file "${file.path}" to "${final}": ${osErrorText(err)}`, { cause: err });
          }
        }
      }
      // The rename, or the file kept as .partial, must survive a crash.
      if (this.fsync) await fsyncDirectory(this.directory);
    }
    if (options.complete && this.markDone) await this.writeDone(this.storedName(file.segment));
  }

  async hasHistoryFile(name: string): Promise<boolean> {
    try {
      await stat(join(this.directory, this.storedName(name)));
      return true;
    } catch {
      return false;
    }
  }

  findStart(): Promise<StreamingStart | null> {
    return findStreamingStart(this.directory, this.segmentSize, this.onWarning === undefined ? {} : { onWarning: this.onWarning });
  }

  async writeHistoryFile(name: string, content: Buffer): Promise<void> {
    checkName(name);
    await this.prepare();
    const path = join(this.directory, this.storedName(name));
    const tmp = `${path}.tmp`;
    const bytes = this.compression === null ? content : await compressWalFileContent(this.compression, content);
    try {
      const handle = await open(tmp, 'w', this.fileMode);
      try {
        await handle.writeFile(bytes);
        if (this.fsync) await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(tmp, path);
    } catch (err) {
      throw fileError('could not write timeline history file', path, err);
    }
    if (this.fsync && this.partialFiles) await fsyncDirectory(this.directory);
    if (this.markDone) await this.writeDone(this.storedName(name));
  }

  private async writeDone(name: string): Promise<void> {
    const path = join(this.statusDirectory, `${name}.done`);
    try {
      const handle = await open(path, 'w', this.fileMode);
      try {
        if (this.fsync) await handle.sync();
      } finally {
        await handle.close();
      }
    } catch (err) {
      throw fileError('could not create archive status file', path, err);
    }
  }

  async finish(): Promise<void> {
    if (this.file !== null) throw new InternalError(`WAL file "${this.file.segment}" is still open`);
    if (!this.fsync || !this.prepared) return;
    for (const dir of this.markDone ? [this.statusDirectory, this.directory] : [this.directory]) {
      await fsyncDirectory(dir);
    }
  }

  async dispose(): Promise<void> {
    const file = this.file;
    this.file = null;
    if (file === null) return;
    await file.compressed?.dispose();
    await file.handle.close().catch(() => undefined);
  }
}

/** The names a stored segment may have, one per compression. */
const STORED_SUFFIXES = ['', '.gz', '.lz4', '.zst'];

/**
 * Gives the written file `from` its final name `to` unless the segment is stored already (under
 * any suffix): then the contents are compared (decompressed), an equal one is kept and `from`
 * removed, a different one is a WalConflictError. link() refuses to replace a file that
 * appeared meanwhile, where rename() would overwrite it.
 */
export async function storeWithoutClobbering(from: string, to: string, directory: string, segment: string, limit: number): Promise<'stored' | 'same'> {
  for (let attempt = 0; ; attempt++) {
    for (const suffix of STORED_SUFFIXES) {
      const existing = join(directory, segment + suffix);
      if (!(await exists(existing))) continue;
      const [ours, theirs] = await Promise.all([readWalFileContent(from, limit), readWalFileContent(existing, limit)]);
      if (!ours.equals(theirs)) {
        throw new WalConflictError(`WAL file "${existing}" is already archived with different content`, {
          hint: `The archive keeps the stored file; the new copy was left as "${from}". Find out which server wrote the other one: two servers may be archiving into one cluster's archive.`,
        });
      }
      await unlink(from).catch((err: unknown) => { throw fileError('could not remove file', from, err); });
      return 'same';
    }
    try {
      await link(from, to);
    } catch (err) {
      if (isErrno(err, 'EEXIST') && attempt === 0) continue;
      throw new FileIoError(`could not rename file "${from}" to "${to}": ${osErrorText(err)}`, { cause: err });
    }
    await unlink(from).catch((err: unknown) => { throw fileError('could not remove file', from, err); });
    return 'stored';
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return false;
    throw fileError('could not stat file', path, err);
  }
}

/**
 * A blocking positional write of all of `data`, as walmethods.c writes: WAL arrives in small
 * pieces that the page cache takes at once, and a round trip through the threadpool for each
 * cost the receiver more CPU than the write itself (pgbench load: about twice pg_receivewal's).
 */
function writeAllSync(fd: number, data: Buffer, position: number): void {
  let done = 0;
  while (done < data.length) done += writeSync(fd, data, done, data.length - done, position + done);
}

async function openFile(path: string, flags: string, mode: number, action = 'could not open write-ahead log file'): Promise<FileHandle> {
  try {
    return await open(path, flags, mode);
  } catch (err) {
    throw fileError(action, path, err);
  }
}

export interface TarWalSinkOptions {
  segmentSize: number;
  /** Receives the tar bytes as 'unknown' chunks; finalized by finish(), disposed by dispose(). */
  next: Streamer;
  /** Add archive_status/<name>.done members. Default true. */
  markDone?: boolean;
  /** Member mode; 0600 as pg_basebackup's tar method writes. */
  fileMode?: number;
}

export class TarWalSink implements WalSink {
  readonly segmentSize: number;
  private readonly next: Streamer;
  private readonly markDone: boolean;
  private readonly fileMode: number;
  private member: { name: string; position: number } | null = null;
  private finished = false;
  private disposed = false;

  constructor(options: TarWalSinkOptions) {
    checkSegmentSize(options.segmentSize);
    this.segmentSize = options.segmentSize;
    this.next = options.next;
    this.markDone = options.markDone ?? true;
    this.fileMode = options.fileMode ?? 0o600;
  }

  private header(name: string, size: number): Buffer {
    const member: TarMember = {
      name, size, mode: this.fileMode, uid: 0, gid: 0, mtime: new Date(), type: 'file', linkname: null,
    };
    return encodeTarHeader(member);
  }

  private emit(data: Buffer): Promise<void> {
    return this.next.content(null, data, 'unknown');
  }

  async open(segmentName: string): Promise<void> {
    checkName(segmentName);
    if (this.member !== null) throw new InternalError(`WAL file "${this.member.name}" is still open`);
    if (this.finished) throw new InternalError('the WAL archive is already finished');
    await this.emit(this.header(segmentName, this.segmentSize));
    this.member = { name: segmentName, position: 0 };
  }

  async write(offset: number, data: Buffer): Promise<void> {
    const member = this.member;
    if (member === null) throw new InternalError('no WAL file is open');
    // A tar stream cannot seek: the receiver writes each segment front to back, and a gap
    // would mean lost WAL.
    if (offset !== member.position || offset + data.length > this.segmentSize) {
      throw new InternalError(`write of ${data.length} bytes at offset ${offset} in WAL file "${member.name}" (at ${member.position})`);
    }
    await this.emit(data);
    member.position += data.length;
  }

  async close(options: { complete: boolean }): Promise<void> {
    const member = this.member;
    if (member === null) throw new InternalError('no WAL file is open');
    this.member = null;
    for (let done = member.position; done < this.segmentSize; done += ZEROS.length) {
      await this.emit(ZEROS.subarray(0, Math.min(ZEROS.length, this.segmentSize - done)));
    }
    // Segment sizes are multiples of 512: no tar padding after the data.
    if (options.complete && this.markDone) await this.addEmptyFile(`archive_status/${member.name}.done`);
  }

  private async addEmptyFile(name: string): Promise<void> {
    await this.emit(this.header(name, 0));
  }

  async writeHistoryFile(name: string, content: Buffer): Promise<void> {
    checkName(name);
    if (this.member !== null) throw new InternalError(`WAL file "${this.member.name}" is still open`);
    await this.emit(this.header(name, content.length));
    await this.emit(content);
    const padding = tarPaddingFor(content.length);
    if (padding > 0) await this.emit(ZEROS.subarray(0, padding));
    if (this.markDone) await this.addEmptyFile(`archive_status/${name}.done`);
  }

  async finish(): Promise<void> {
    if (this.member !== null) throw new InternalError(`WAL file "${this.member.name}" is still open`);
    if (this.finished) return;
    this.finished = true;
    await this.emit(TAR_END_OF_ARCHIVE);
    await this.next.finalize();
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.member = null;
    await this.next.dispose().catch(() => undefined);
  }
}
