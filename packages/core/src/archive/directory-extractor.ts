/**
 * Directory extractor: members in, files under one root directory out (pg_basebackup -Fp, the
 * restore agent). One extractor per archive: base.tar into the data directory, each
 * <oid>.tar into its tablespace's (mapped) location. The root is created if missing.
 *
 * - Directories are created (an existing directory is reused, as pg_basebackup allows for
 *   pg_wal, archive_status, pg_tblspc...) and get the header's mode; regular files are created
 *   exclusively with the header's mode and mtime; symlinks are created with the header's (or
 *   mapLinkTarget's) target; hard links link to an earlier member. Missing parent directories
 *   are created 0700. Directory mtimes are set at finalize (creating children changes them).
 * - Safety: a member is rejected with UnsafePathError, before anything is written for it, when
 *   its name (or a hard link's target) is absolute, has a ".." component or a NUL byte, or
 *   leads through or onto a symlink this extractor created earlier; hard links must point at a
 *   regular file. A symbolic link is accepted only as `pg_tblspc/<oid>` (digits, no leading
 *   zero): PostgreSQL's base backup sends no other (it skips the rest with a warning), and a
 *   link anywhere else (recovery.signal -> /etc/x) would let whoever reads or writes that file
 *   after the extraction, as root, reach outside the root. Files are opened with O_EXCL, so an
 *   existing file, symlink or directory at the path is never written through. Symlinks that
 *   already existed in the root (the orchestrator's pg_wal -> --waldir link) are trusted and
 *   followed.
 * - With `owner`, everything created gets that uid/gid (lchown for symlinks), including the
 *   root and parent directories made because the archive did not list them.
 * - With `sync`, finalize() fsyncs every file and directory created, deepest first, then the
 *   root, as pg_basebackup's final fsync_pgdata does.
 * - Speed, by default: names are checked at once, in member order, but every file system
 *   operation (mkdir, open, write, utimes, close...) runs in the background, one at a time and
 *   in member order (IoQueue), while the archive keeps flowing: file contents are copied into
 *   three ~1 MiB buffers that small files share. So an operation's error (an existing file, a
 *   full disk) is thrown by a later content() or by finalize(), and files are complete only once
 *   finalize() has resolved. Awaiting each operation in turn made -Fp backups 2.6x slower than
 *   pg_basebackup's, the main thread idle most of the time.
 * - With `blocking`, every file operation is a blocking system call on the calling thread
 *   instead, as pg_basebackup makes them: contents are written straight from the chunks
 *   received, in 16 KiB writes at 16 KiB offsets of the file (only a piece that a chunk leaves
 *   incomplete is copied, into one 16 KiB buffer), and an error is thrown by the content() call
 *   that caused it. No threadpool round trips (three or four per file), no promise per write,
 *   no copy: on a 2-core machine under load those round trips, each waiting for a worker thread
 *   to be scheduled, are what made -Fp slower than pg_basebackup. The event loop waits for the
 *   disk, as it does in FileSink's blocking mode.
 * - Device, FIFO and other special members are refused (UnsafePathError) before anything is
 *   written for them: PostgreSQL's base backup never sends them, so an archive holding one
 *   was not made by it, and skipping it silently would restore something else than asked.
 *
 * The pg_wal symlink for --waldir, tablespace symlinks' -T mapping policy and emptiness checks
 * of the root are the caller's job.
 */

import { chmod, chown, lchown, link, lstat, lutimes, mkdir, open, stat, symlink, utimes, type FileHandle } from 'node:fs/promises';
import {
  chmodSync, chownSync, closeSync, fchmodSync, fchownSync, futimesSync, lchownSync, linkSync, lstatSync, lutimesSync,
  mkdirSync, openSync, statSync, symlinkSync, writeSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { FileIoError, InternalError, UnsafePathError, fileError, isErrno } from '../errors.js';
import { IoQueue } from './io-queue.js';
import { isTablespaceLinkName } from './tablespace-link.js';
import type { ChunkKind, Streamer, TarMember } from './streamer.js';

export interface DirectoryExtractorOptions {
  /** Directory the archive's members are relative to. */
  root: string;
  /** fsync everything created at finalize(). */
  sync?: boolean;
  /** Give created files, directories and links this owner (needs privileges). */
  owner?: { uid: number; gid: number } | null;
  /** Rewrites a symlink's target (pg_basebackup maps pg_tblspc links with -T). */
  mapLinkTarget?: (target: string, member: TarMember) => string;
  /** Called with the absolute path of each member as its extraction starts (progress). */
  onFile?: (path: string, member: TarMember) => void;
  /**
   * Make every file operation (mkdir, open, 16 KiB writes, chmod, utimes, chown, close...) a
   * blocking call on the calling thread, as pg_basebackup does, instead of queueing them on the
   * threadpool (see the module comment). For command-line tools; a server whose event loop must
   * stay responsive leaves it off. See FileSinkOptions.blocking.
   */
  blocking?: boolean;
  /** The former name of `blocking` (it then blocked only for writes); same effect. */
  blockingWrites?: boolean;
}

const SYNC_CONCURRENCY = 8;
/** Write buffers: file contents are copied into these and written in the background. */
const SLAB_BYTES = 1024 * 1024 - 4096; // not 1 MiB: see FileSink's DEFAULT_BUFFER_BYTES
const MAX_SLABS = 3;
const BLOCKING_WRITE_BYTES = 16 * 1024;

/** A file being extracted; `handle` is set by its open job (`fd` in blocking mode, at once). */
interface OpenFile {
  path: string;
  member: TarMember;
  handle: FileHandle | null;
  fd: number | null;
}

/** A write buffer shared by consecutive files; reused once every write from it is done. */
interface Slab {
  buf: Buffer;
  fill: number;
  writes: number;
  retired: boolean;
}

/** The process umask, or null where it cannot be read (worker threads). */
function currentUmask(): number | null {
  try {
    return process.umask();
  } catch {
    return null;
  }
}

export class DirectoryExtractor implements Streamer {
  private readonly root: string;
  private rootReady = false;
  /** Relative paths ("a/b") of symlinks this extractor created. */
  private readonly createdLinks = new Set<string>();
  private readonly createdFiles: string[] = [];
  private readonly createdDirs = new Map<string, Date>();
  /** Directories made by mkdir -p (the root, unlisted parents), outermost first. */
  private readonly implicitDirs: string[] = [];
  /** Directories known to exist (created here or made as parents): no mkdir -p for them. */
  private readonly knownDirs = new Set<string>();
  private file: OpenFile | null = null;
  /** Every file operation runs here, in member order, while the archive keeps flowing. */
  private readonly io = new IoQueue();
  private readonly openHandles = new Set<FileHandle>();
  private readonly umask = currentUmask();
  private slab: Slab | null = null;
  /** Where the current file's bytes not yet queued for writing start in `slab`. */
  private segmentStart = 0;
  private readonly spareSlabs: Slab[] = [];
  private slabCount = 0;
  private readonly blocking: boolean;
  /** Blocking mode: the current file's last, incomplete 16 KiB piece (see appendBlocking). */
  private piece: Buffer | null = null;
  private pieceFill = 0;

  constructor(private readonly options: DirectoryExtractorOptions) {
    this.root = resolve(options.root);
    this.blocking = options.blocking ?? options.blockingWrites ?? false;
  }

  async content(member: TarMember | null, data: Buffer, kind: ChunkKind): Promise<void> {
    this.io.check();
    switch (kind) {
      case 'header':
        if (member === null) throw new InternalError('directory extractor received a header chunk without a member');
        await this.begin(member);
        return;
      case 'contents':
        if (this.file === null || data.length === 0) return;
        if (this.blocking) this.appendBlocking(this.file, data);
        else await this.append(data);
        return;
      case 'trailer':
        if (this.blocking) this.endFileBlocking();
        else await this.endFile();
        return;
      case 'archive-trailer':
        return;
      case 'unknown':
        throw new InternalError('directory extractor received raw bytes; put a tar parser before it');
    }
  }

  async finalize(): Promise<void> {
    if (this.file !== null) throw new InternalError(`archive ended while "${this.file.path}" was being extracted`);
    await this.io.drain();
    // Deepest first, so setting a child's mtime cannot disturb its parent's afterwards.
    const dirs = [...this.createdDirs.entries()].sort((a, b) => b[0].length - a[0].length);
    for (const [path, mtime] of dirs) {
      try {
        await utimes(path, mtime, mtime);
      } catch (err) {
        throw fileError('could not set modification time of directory', path, err);
      }
    }
    if (this.options.sync) await this.syncCreated();
  }

  /**
   * fsyncs every file and directory this extractor created, deepest directories first, then
   * the root: what finalize() does with `sync`. For a caller that syncs everything at the end
   * of a longer job, as pg_basebackup does, instead of archive by archive. Call it after
   * finalize().
   */
  async syncCreated(): Promise<void> {
    const dirs = [...new Set([...this.createdDirs.keys(), ...this.implicitDirs])].filter((d) => d !== this.root).sort((a, b) => b.length - a.length);
    await pool(this.createdFiles, SYNC_CONCURRENCY, (path) => fsyncPath(path, 'r'));
    for (const path of dirs) await fsyncPath(path, 'r');
    await fsyncPath(this.root, 'r');
  }

  async dispose(): Promise<void> {
    const fd = this.file?.fd ?? null;
    if (fd !== null) {
      try {
        closeSync(fd);
      } catch {
        // Nothing more can be done with it.
      }
    }
    this.file = null;
    // Jobs still queued (or queued later by a member the parser was passing on) never run:
    // after dispose() the caller may remove the root, and nothing may recreate it.
    await this.io.close();
    // Files whose close was skipped after a failure.
    for (const handle of this.openHandles) await handle.close().catch(() => {});
    this.openHandles.clear();
  }

  /** Validates a member-relative name; returns its components. */
  private components(name: string, member: TarMember, what: string): string[] {
    if (name.includes('\0')) throw new UnsafePathError(`archive member "${member.name}" has a NUL byte in its ${what}`);
    if (name.startsWith('/')) throw new UnsafePathError(`archive member "${member.name}" has an absolute ${what}`);
    const parts = name.split('/').filter((c) => c !== '' && c !== '.');
    if (parts.includes('..')) throw new UnsafePathError(`archive member "${member.name}" has a ".." component in its ${what}`);
    for (let i = 1; i <= parts.length; i++) {
      const prefix = parts.slice(0, i).join('/');
      if (this.createdLinks.has(prefix)) {
        throw new UnsafePathError(`archive member "${member.name}" would be written through symbolic link "${prefix}"`, {
          hint: 'The archive creates a symbolic link and then writes through it; it was not extracted.',
        });
      }
    }
    return parts;
  }

  /**
   * Checks run here, at once, in member order (so a symlink member is known before the next
   * member's name is checked); the file operations are queued.
   */
  private async begin(member: TarMember): Promise<void> {
    if (this.file !== null) throw new InternalError(`header of "${member.name}" before the end of "${this.file.path}"`);
    const parts = this.components(member.name, member, 'name');
    checkMemberType(member, parts);
    const path = parts.length === 0 ? this.root : join(this.root, ...parts);
    if (!this.rootReady) {
      this.rootReady = true;
      this.knownDirs.add(this.root);
      if (this.blocking) this.ensureDirectorySync(this.root);
      else await this.io.add(() => this.ensureDirectory(this.root));
    }
    if (parts.length > 1) {
      const parent = dirname(path);
      if (!this.knownDirs.has(parent)) {
        this.knownDirs.add(parent);
        if (this.blocking) this.ensureDirectorySync(parent);
        else await this.io.add(() => this.ensureDirectory(parent));
      }
    }
    this.options.onFile?.(path, member);
    if (this.blocking) {
      this.beginBlocking(path, parts, member);
      return;
    }
    switch (member.type) {
      case 'directory':
        this.knownDirs.add(path);
        this.createdDirs.set(path, member.mtime);
        await this.io.add(() => this.makeDirectory(path, member));
        return;
      case 'file': {
        const file: OpenFile = { path, member, handle: null, fd: null };
        this.file = file;
        await this.io.add(() => this.openFile(file));
        return;
      }
      case 'symlink': {
        const relative = parts.join('/');
        this.createdLinks.add(relative);
        await this.io.add(() => this.makeSymlink(path, member));
        return;
      }
      case 'link': {
        const targetParts = this.components(member.linkname ?? '', member, 'link target');
        if (targetParts.length === 0) throw new UnsafePathError(`archive member "${member.name}" is a hard link without a target`);
        await this.io.add(() => this.makeHardLink(path, join(this.root, ...targetParts), member));
        return;
      }
      case 'other':
        // Refused by checkMemberType().
        return;
    }
  }

  /**
   * mkdir -p for the root and for parents the archive did not list: every directory this
   * makes gets the owner and is fsynced by syncCreated(), like the members' directories.
   */
  private async ensureDirectory(path: string): Promise<void> {
    let first: string | undefined;
    try {
      first = await mkdir(path, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw fileError('could not create directory', path, err);
    }
    if (first === undefined) return;
    for (const dir of directoriesMade(path, first)) {
      await this.chownPath(dir, false);
      this.implicitDirs.push(dir);
    }
  }

  private async makeDirectory(path: string, member: TarMember): Promise<void> {
    try {
      await mkdir(path, { mode: 0o700 });
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw fileError('could not create directory', path, err);
      // Reuse an existing directory (pg_wal made by the WAL receiver, a --waldir symlink...).
      const st = await stat(path).catch(() => null);
      if (st === null || !st.isDirectory()) throw fileError('could not create directory', path, err);
    }
    try {
      await chmod(path, member.mode & 0o7777);
    } catch (err) {
      throw fileError('could not set permissions on directory', path, err);
    }
    await this.chownPath(path, false);
  }

  private async openFile(file: OpenFile): Promise<void> {
    const { path, member } = file;
    let handle: FileHandle;
    try {
      handle = await open(path, 'wx', member.mode & 0o777);
    } catch (err) {
      if (isErrno(err, 'EEXIST')) {
        const st = await lstat(path).catch(() => null);
        if (st?.isSymbolicLink()) {
          throw new UnsafePathError(`archive member "${member.name}" would be written through symbolic link "${member.name}"`);
        }
        throw new FileIoError(`could not create file "${path}": file exists`, { cause: err });
      }
      throw fileError('could not create file', path, err);
    }
    file.handle = handle;
    this.openHandles.add(handle);
    // open() applied the umask; set the mode only if that (or a special bit) changed it.
    const wanted = member.mode & 0o7777;
    if (this.umask === null || wanted !== (member.mode & 0o777 & ~this.umask)) {
      try {
        await handle.chmod(wanted);
      } catch (err) {
        throw fileError('could not set permissions on file', path, err);
      }
    }
  }

  /** Copies file contents into the write buffers; full buffers are queued for writing. */
  private async append(data: Buffer): Promise<void> {
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
        await this.queueSegment();
        this.slab = null;
        slab.retired = true;
        if (slab.writes === 0) this.freeSlab(slab);
      }
    }
  }

  /** Queues the write of the current file's bytes buffered so far. */
  private async queueSegment(): Promise<void> {
    const slab = this.slab;
    const file = this.file;
    if (slab === null || file === null || slab.fill === this.segmentStart) return;
    const start = this.segmentStart;
    const end = slab.fill;
    this.segmentStart = end;
    slab.writes++;
    await this.io.add(() => this.write(file, slab.buf, start, end), () => {
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

  private async write(file: OpenFile, buf: Buffer, start: number, end: number): Promise<void> {
    const handle = file.handle as FileHandle;
    try {
      let off = start;
      while (off < end) off += (await handle.write(buf, off, end - off)).bytesWritten;
    } catch (err) {
      throw fileError('could not write to file', file.path, err);
    }
  }

  private async endFile(): Promise<void> {
    const file = this.file;
    if (file === null) return;
    await this.queueSegment();
    this.file = null;
    this.createdFiles.push(file.path);
    await this.io.add(() => this.closeFile(file));
  }

  private async closeFile(file: OpenFile): Promise<void> {
    const handle = file.handle as FileHandle;
    try {
      await handle.utimes(file.member.mtime, file.member.mtime);
      if (this.options.owner) await handle.chown(this.options.owner.uid, this.options.owner.gid);
    } catch (err) {
      this.openHandles.delete(handle);
      await handle.close().catch(() => {});
      throw fileError('could not set attributes of file', file.path, err);
    }
    this.openHandles.delete(handle);
    try {
      await handle.close();
    } catch (err) {
      throw fileError('could not close file', file.path, err);
    }
  }

  /** begin()'s file system work in blocking mode, done at once. */
  private beginBlocking(path: string, parts: string[], member: TarMember): void {
    switch (member.type) {
      case 'directory':
        this.knownDirs.add(path);
        this.createdDirs.set(path, member.mtime);
        this.makeDirectorySync(path, member);
        return;
      case 'file':
        this.file = { path, member, handle: null, fd: this.openFileSync(path, member) };
        this.pieceFill = 0;
        return;
      case 'symlink':
        this.createdLinks.add(parts.join('/'));
        this.makeSymlinkSync(path, member);
        return;
      case 'link': {
        const targetParts = this.components(member.linkname ?? '', member, 'link target');
        if (targetParts.length === 0) throw new UnsafePathError(`archive member "${member.name}" is a hard link without a target`);
        this.makeHardLinkSync(path, join(this.root, ...targetParts), member);
        return;
      }
      case 'other':
        return;
    }
  }

  /** ensureDirectory(), blocking. */
  private ensureDirectorySync(path: string): void {
    let first: string | undefined;
    try {
      first = mkdirSync(path, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw fileError('could not create directory', path, err);
    }
    if (first === undefined) return;
    for (const dir of directoriesMade(path, first)) {
      this.chownPathSync(dir, false);
      this.implicitDirs.push(dir);
    }
  }

  /** makeDirectory(), blocking. */
  private makeDirectorySync(path: string, member: TarMember): void {
    try {
      mkdirSync(path, { mode: 0o700 });
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw fileError('could not create directory', path, err);
      let isDirectory = false;
      try {
        isDirectory = statSync(path).isDirectory();
      } catch {
        // Reported as the mkdir failure below.
      }
      if (!isDirectory) throw fileError('could not create directory', path, err);
    }
    try {
      chmodSync(path, member.mode & 0o7777);
    } catch (err) {
      throw fileError('could not set permissions on directory', path, err);
    }
    this.chownPathSync(path, false);
  }

  /** openFile(), blocking: returns the descriptor. */
  private openFileSync(path: string, member: TarMember): number {
    let fd: number;
    try {
      fd = openSync(path, 'wx', member.mode & 0o777);
    } catch (err) {
      if (isErrno(err, 'EEXIST')) {
        let isLink = false;
        try {
          isLink = lstatSync(path).isSymbolicLink();
        } catch {
          // Gone again: reported as existing, which it was.
        }
        if (isLink) {
          throw new UnsafePathError(`archive member "${member.name}" would be written through symbolic link "${member.name}"`);
        }
        throw new FileIoError(`could not create file "${path}": file exists`, { cause: err });
      }
      throw fileError('could not create file', path, err);
    }
    const wanted = member.mode & 0o7777;
    if (this.umask === null || wanted !== (member.mode & 0o777 & ~this.umask)) {
      try {
        fchmodSync(fd, wanted);
      } catch (err) {
        closeSync(fd);
        throw fileError('could not set permissions on file', path, err);
      }
    }
    return fd;
  }

  /**
   * Writes file contents in BLOCKING_WRITE_BYTES pieces at multiples of it in the file, straight
   * from `data` (the chunk is not kept: every write is done when this returns). Only what does
   * not fill a piece is copied, to be completed by the next chunk or written by endFileBlocking().
   */
  private appendBlocking(file: OpenFile, data: Buffer): void {
    const size = BLOCKING_WRITE_BYTES;
    let off = 0;
    if (this.pieceFill > 0) {
      const piece = this.piece as Buffer;
      const n = Math.min(size - this.pieceFill, data.length);
      data.copy(piece, this.pieceFill, 0, n);
      this.pieceFill += n;
      off = n;
      if (this.pieceFill < size) return;
      this.pieceFill = 0;
      writeAll(file, piece, 0, size);
    }
    while (data.length - off >= size) {
      writeAll(file, data, off, size);
      off += size;
    }
    if (off < data.length) {
      this.piece ??= Buffer.allocUnsafe(size);
      data.copy(this.piece, 0, off);
      this.pieceFill = data.length - off;
    }
  }

  /** endFile() and closeFile(), blocking. */
  private endFileBlocking(): void {
    const file = this.file;
    if (file === null) return;
    const fd = file.fd as number;
    try {
      if (this.pieceFill > 0) writeAll(file, this.piece as Buffer, 0, this.pieceFill);
      this.pieceFill = 0;
      try {
        futimesSync(fd, file.member.mtime, file.member.mtime);
        if (this.options.owner) fchownSync(fd, this.options.owner.uid, this.options.owner.gid);
      } catch (err) {
        throw fileError('could not set attributes of file', file.path, err);
      }
    } catch (err) {
      this.file = null;
      try {
        closeSync(fd);
      } catch {
        // The first error is the one to report.
      }
      throw err;
    }
    this.file = null;
    this.createdFiles.push(file.path);
    try {
      closeSync(fd);
    } catch (err) {
      throw fileError('could not close file', file.path, err);
    }
  }

  /** makeSymlink(), blocking. */
  private makeSymlinkSync(path: string, member: TarMember): void {
    const raw = member.linkname ?? '';
    const target = this.options.mapLinkTarget ? this.options.mapLinkTarget(raw, member) : raw;
    try {
      symlinkSync(target, path);
    } catch (err) {
      throw fileError(`could not create symbolic link from "${path}" to`, target, err);
    }
    this.chownPathSync(path, true);
    try {
      lutimesSync(path, member.mtime, member.mtime);
    } catch {
      // Symlink times are cosmetic; some filesystems refuse them.
    }
  }

  /** makeHardLink(), blocking. */
  private makeHardLinkSync(path: string, target: string, member: TarMember): void {
    let isFile = false;
    try {
      isFile = lstatSync(target).isFile();
    } catch {
      // Missing: not a regular file extracted before.
    }
    if (!isFile) {
      throw new UnsafePathError(`archive member "${member.name}" is a hard link to "${member.linkname}", which is not a regular file extracted before it`);
    }
    try {
      linkSync(target, path);
    } catch (err) {
      throw fileError(`could not create hard link from "${path}" to`, target, err);
    }
  }

  private chownPathSync(path: string, isLink: boolean): void {
    const owner = this.options.owner;
    if (!owner) return;
    try {
      if (isLink) lchownSync(path, owner.uid, owner.gid);
      else chownSync(path, owner.uid, owner.gid);
    } catch (err) {
      throw fileError('could not change owner of', path, err);
    }
  }

  private async makeSymlink(path: string, member: TarMember): Promise<void> {
    const raw = member.linkname ?? '';
    const target = this.options.mapLinkTarget ? this.options.mapLinkTarget(raw, member) : raw;
    try {
      await symlink(target, path);
    } catch (err) {
      throw fileError(`could not create symbolic link from "${path}" to`, target, err);
    }
    await this.chownPath(path, true);
    try {
      await lutimes(path, member.mtime, member.mtime);
    } catch {
      // Symlink times are cosmetic; some filesystems refuse them.
    }
  }

  private async makeHardLink(path: string, target: string, member: TarMember): Promise<void> {
    const st = await lstat(target).catch(() => null);
    if (st === null || !st.isFile()) {
      throw new UnsafePathError(`archive member "${member.name}" is a hard link to "${member.linkname}", which is not a regular file extracted before it`);
    }
    try {
      await link(target, path);
    } catch (err) {
      throw fileError(`could not create hard link from "${path}" to`, target, err);
    }
  }

  private async chownPath(path: string, isLink: boolean): Promise<void> {
    const owner = this.options.owner;
    if (!owner) return;
    try {
      if (isLink) await lchown(path, owner.uid, owner.gid);
      else await chown(path, owner.uid, owner.gid);
    } catch (err) {
      throw fileError('could not change owner of', path, err);
    }
  }
}

/**
 * The member kinds an archive of PostgreSQL's base backup can hold: symbolic links only as
 * pg_tblspc/<oid>, and no devices, FIFOs or other special files. `parts` are the name's
 * checked components.
 */
function checkMemberType(member: TarMember, parts: readonly string[]): void {
  if (member.type === 'symlink' && !isTablespaceLinkName(parts.join('/'))) {
    throw new UnsafePathError(`archive member "${member.name}" is a symbolic link outside pg_tblspc`, {
      hint: 'A base backup holds symbolic links only as pg_tblspc/<tablespace OID>: this archive was altered, or not made by one.',
    });
  }
  if (member.type === 'other') {
    throw new UnsafePathError(`archive member "${member.name}" is not a regular file, directory or link`, {
      hint: 'A base backup never holds devices, FIFOs or other special files: this archive was altered, or not made by one.',
    });
  }
}

/** Blocking write of buf[start, start+length) to the file, however many calls it takes. */
function writeAll(file: OpenFile, buf: Buffer, start: number, length: number): void {
  const fd = file.fd as number;
  let off = start;
  const end = start + length;
  try {
    // Small writes keep the page cache in small folios (see FileSink's BLOCKING_WRITE_BYTES).
    while (off < end) off += writeSync(fd, buf, off, end - off);
  } catch (err) {
    throw fileError('could not write to file', file.path, err);
  }
}

/** The directories mkdir -p made for `path` when the first one it made was `first`, outermost first. */
function directoriesMade(path: string, first: string): string[] {
  const made: string[] = [];
  for (let dir = path; ; dir = dirname(dir)) {
    made.push(dir);
    if (dir === first || dirname(dir) === dir) break;
  }
  return made.reverse();
}

async function fsyncPath(path: string, flags: string): Promise<void> {
  let handle: FileHandle | null = null;
  try {
    handle = await open(path, flags);
    await handle.sync();
  } catch (err) {
    throw fileError('could not fsync', path, err);
  } finally {
    await handle?.close().catch(() => {});
  }
}

async function pool<T>(items: readonly T[], width: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const run = async (): Promise<void> => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, run));
}
