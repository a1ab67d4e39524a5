/**
 * Where streamed WAL goes (`-X stream`), as pg_basebackup's walmethods.c writes it. The
 * receiver drives a sink with: open(segment) -> write(offset, data)* -> close({complete}) per
 * segment, writeHistoryFile() for `<TLI>.history`, then finish() once, and dispose() always.
 *
 * Both sinks produce what pg_basebackup produces:
 * - every segment file is full size (wal_segment_size), zero-filled past the data received; no
 *   `.partial` suffix, even for the last, incomplete one;
 * - `archive_status/<segment>.done` (empty) is written only for segments received completely
 *   (so the last one normally has none); history files always get their `.done`.
 *
 * DirectoryWalSink writes files into a directory (plain format: <D>/pg_wal or --waldir): each
 * segment is pre-allocated with zeros when opened and then written at offsets.
 *
 * TarWalSink emits a tar archive (pg_wal.tar's bytes) into a Streamer as raw 'unknown' chunks,
 * so the caller can chain compression and a file sink after it. A tar header states the size
 * up front, so each segment is a full-size member: the header is written when the segment is
 * opened, the data as it arrives, and zeros up to the segment size at close. Member names are
 * flat (relative to pg_wal), there are no directory members, and the archive ends with two zero
 * blocks, as pg_basebackup's tar method writes it: mode 0600, uid/gid 0, owner "postgres".
 */

import { mkdir, open, rename, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { InternalError, fileError } from '../errors.js';
import type { Streamer, TarMember } from '../archive/streamer.js';
import { encodeTarHeader, tarPaddingFor, TAR_END_OF_ARCHIVE } from '../archive/tar-header.js';
import { isValidWalSegmentSize } from './segment.js';

export interface WalSink {
  /** Every segment file this sink writes has this size. */
  readonly segmentSize: number;
  /** Starts a new segment file; only one is open at a time. */
  open(segmentName: string): Promise<void>;
  /** Writes data at `offset` in the open segment; offsets only grow. */
  write(offset: number, data: Buffer): Promise<void>;
  /** Ends the open segment; `complete` = all of it was received (then it gets its `.done`). */
  close(options: { complete: boolean }): Promise<void>;
  /** Writes a timeline history file (`%08X.history`) and its `.done`. */
  writeHistoryFile(name: string, content: Buffer): Promise<void>;
  /** After the last segment: make everything durable / end the archive. Called once. */
  finish(): Promise<void>;
  /** Releases resources after success or failure; never throws; idempotent. */
  dispose(): Promise<void>;
}

/** Zeros shared by all padding writes; never written to. */
const ZEROS = Buffer.alloc(1024 * 1024);

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
  /** The pg_wal directory (or the --waldir target). Created, with archive_status, if missing. */
  directory: string;
  segmentSize: number;
  /** fsync files when closed and the directories at finish (pg_basebackup without --no-sync). */
  sync?: boolean;
  /** Write archive_status/<name>.done for complete segments and history files. Default true. */
  markDone?: boolean;
  /** 0600 by default; 0640 when the server's data directory allows group access. */
  fileMode?: number;
  /** 0700 by default; 0750 with group access. */
  directoryMode?: number;
}

export class DirectoryWalSink implements WalSink {
  readonly segmentSize: number;
  private readonly directory: string;
  private readonly statusDirectory: string;
  private readonly sync: boolean;
  private readonly markDone: boolean;
  private readonly fileMode: number;
  private readonly directoryMode: number;
  private prepared = false;
  private file: { name: string; path: string; handle: FileHandle; position: number } | null = null;

  constructor(options: DirectoryWalSinkOptions) {
    checkSegmentSize(options.segmentSize);
    this.segmentSize = options.segmentSize;
    this.directory = options.directory;
    this.statusDirectory = join(options.directory, 'archive_status');
    this.sync = options.sync ?? true;
    this.markDone = options.markDone ?? true;
    this.fileMode = options.fileMode ?? 0o600;
    this.directoryMode = options.directoryMode ?? 0o700;
  }

  private async prepare(): Promise<void> {
    if (this.prepared) return;
    try {
      await mkdir(this.statusDirectory, { recursive: true, mode: this.directoryMode });
    } catch (err) {
      throw fileError('could not create directory', this.statusDirectory, err);
    }
    this.prepared = true;
  }

  async open(segmentName: string): Promise<void> {
    checkName(segmentName);
    if (this.file !== null) throw new InternalError(`WAL file "${this.file.name}" is still open`);
    await this.prepare();
    const path = join(this.directory, segmentName);
    let handle: FileHandle;
    try {
      handle = await open(path, 'w', this.fileMode);
    } catch (err) {
      throw fileError('could not open write-ahead log file', path, err);
    }
    this.file = { name: segmentName, path, handle, position: 0 };
    // Pre-allocate the whole segment, as pg_basebackup does: a full disk shows up now rather
    // than in the middle of a segment, and the file has its final size from the start.
    try {
      for (let done = 0; done < this.segmentSize; done += ZEROS.length) {
        const n = Math.min(ZEROS.length, this.segmentSize - done);
        await handle.write(ZEROS, 0, n, done);
      }
    } catch (err) {
      throw fileError('could not pad write-ahead log file', path, err);
    }
  }

  async write(offset: number, data: Buffer): Promise<void> {
    const file = this.file;
    if (file === null) throw new InternalError('no WAL file is open');
    if (offset < file.position || offset + data.length > this.segmentSize) {
      throw new InternalError(`write of ${data.length} bytes at offset ${offset} in WAL file "${file.name}" (at ${file.position})`);
    }
    try {
      let done = 0;
      while (done < data.length) {
        const { bytesWritten } = await file.handle.write(data, done, data.length - done, offset + done);
        done += bytesWritten;
      }
    } catch (err) {
      throw fileError(`could not write ${data.length} bytes to WAL file`, file.path, err);
    }
    file.position = offset + data.length;
  }

  async close(options: { complete: boolean }): Promise<void> {
    const file = this.file;
    if (file === null) throw new InternalError('no WAL file is open');
    this.file = null;
    try {
      if (this.sync) await file.handle.sync();
    } catch (err) {
      await file.handle.close().catch(() => undefined);
      throw fileError('could not fsync file', file.path, err);
    }
    try {
      await file.handle.close();
    } catch (err) {
      throw fileError('could not close file', file.path, err);
    }
    if (options.complete && this.markDone) await this.writeDone(file.name);
  }

  async writeHistoryFile(name: string, content: Buffer): Promise<void> {
    checkName(name);
    await this.prepare();
    const path = join(this.directory, name);
    const tmp = `${path}.tmp`;
    try {
      const handle = await open(tmp, 'w', this.fileMode);
      try {
        await handle.writeFile(content);
        if (this.sync) await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(tmp, path);
    } catch (err) {
      throw fileError('could not write timeline history file', path, err);
    }
    if (this.markDone) await this.writeDone(name);
  }

  private async writeDone(name: string): Promise<void> {
    const path = join(this.statusDirectory, `${name}.done`);
    try {
      const handle = await open(path, 'w', this.fileMode);
      try {
        if (this.sync) await handle.sync();
      } finally {
        await handle.close();
      }
    } catch (err) {
      throw fileError('could not create archive status file', path, err);
    }
  }

  async finish(): Promise<void> {
    if (this.file !== null) throw new InternalError(`WAL file "${this.file.name}" is still open`);
    if (!this.sync || !this.prepared) return;
    for (const dir of [this.statusDirectory, this.directory]) {
      try {
        const handle = await open(dir, 'r');
        try {
          await handle.sync();
        } finally {
          await handle.close();
        }
      } catch (err) {
        throw fileError('could not fsync directory', dir, err);
      }
    }
  }

  async dispose(): Promise<void> {
    const file = this.file;
    this.file = null;
    if (file !== null) await file.handle.close().catch(() => undefined);
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
