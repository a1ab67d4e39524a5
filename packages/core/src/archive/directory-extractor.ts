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
 *   root, as pg_basebackup's final fsync_pgdata does. With `writeback` (on with `sync`), big
 *   files are fdatasynced in the background every 32 MiB as they are written, so that the disk
 *   works while the archive flows rather than only in those final fsyncs.
 * - Speed, by default: names are checked at once, in member order, but every file system
 *   operation (mkdir, open, write, utimes, close...) runs in the background, one at a time and
 *   in member order, while the archive keeps flowing (extractor-fs.ts, queued). So an
 *   operation's error (an existing file, a full disk) is thrown by a later content() or by
 *   finalize(), and files are complete only once finalize() has resolved. Awaiting each
 *   operation in turn made -Fp backups 2.6x slower than pg_basebackup's, the main thread idle
 *   most of the time.
 * - With `blocking`, every file operation is a blocking system call on the calling thread
 *   instead, as pg_basebackup makes them, contents written straight from the chunks in 16 KiB
 *   pieces, and an error is thrown by the content() call that caused it (extractor-fs.ts,
 *   blocking). No threadpool round trips (three or four per file), no promise per write, no
 *   copy: on a 2-core machine under load those round trips, each waiting for a worker thread
 *   to be scheduled, are what made -Fp slower than pg_basebackup. The event loop waits for the
 *   disk, as it does in FileSink's blocking mode.
 * Both modes go through the same code here; only extractor-fs.ts differs.
 * - Device, FIFO and other special members are refused (UnsafePathError) before anything is
 *   written for them: PostgreSQL's base backup never sends them, so an archive holding one
 *   was not made by it, and skipping it silently would restore something else than asked.
 *
 * The pg_wal symlink for --waldir, tablespace symlinks' -T mapping policy and emptiness checks
 * of the root are the caller's job.
 */

import { open, utimes, type FileHandle } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { FileIoError, InternalError, UnsafePathError, fileError, isErrno } from '../errors.js';
import { createExtractorFs, type ExtractHandle, type ExtractorFs } from './extractor-fs.js';
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
  /**
   * Start writing each big file out to disk while it is extracted (a background fdatasync on
   * the threadpool every 32 MiB, in blocking mode too), for callers that fsync everything
   * afterwards: `sync`, or syncCreated(). By default, on with `sync`. See writeback.ts.
   */
  writeback?: boolean;
  /**
   * Write files of DIRECT_IO_MIN_BYTES or more with O_DIRECT, past the page cache (not in
   * blocking mode): for callers that fsync everything afterwards and will not read the files
   * back soon, such as a restore. Where the file system refuses it, they are written buffered.
   * See extractor-fs.ts.
   */
  directIo?: boolean;
}

const SYNC_CONCURRENCY = 8;

/** A file being extracted; `handle` is set by its open job. */
interface OpenFile {
  path: string;
  member: TarMember;
  handle: ExtractHandle | null;
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
  /** Where every file operation runs: queued in member order, or at once (blocking). */
  private readonly fs: ExtractorFs;
  private readonly openHandles = new Set<ExtractHandle>();
  private readonly umask = currentUmask();

  constructor(private readonly options: DirectoryExtractorOptions) {
    this.root = resolve(options.root);
    this.fs = createExtractorFs(options.blocking ?? false, options.writeback ?? options.sync ?? false, options.directIo ?? false);
  }

  async content(member: TarMember | null, data: Buffer, kind: ChunkKind): Promise<void> {
    this.fs.check();
    switch (kind) {
      case 'header':
        if (member === null) throw new InternalError('directory extractor received a header chunk without a member');
        await this.begin(member);
        return;
      case 'contents':
        if (this.file === null || data.length === 0) return;
        await this.fs.append(this.file, data);
        return;
      case 'trailer':
        await this.endFile();
        return;
      case 'archive-trailer':
        return;
      case 'unknown':
        throw new InternalError('directory extractor received raw bytes; put a tar parser before it');
    }
  }

  /** Background fdatasyncs started so far (the writeback option). */
  get writebacks(): number {
    return this.fs.writebacks;
  }

  /** Files written with O_DIRECT so far (the directIo option). */
  get directFiles(): number {
    return this.fs.directFiles;
  }

  /** The most O_DIRECT writes that ran at once so far (the directIo option). */
  get mostDirectWritesAtOnce(): number {
    return this.fs.mostDirectWritesAtOnce;
  }

  async finalize(): Promise<void> {
    if (this.file !== null) throw new InternalError(`archive ended while "${this.file.path}" was being extracted`);
    await this.fs.drain();
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
    this.file = null;
    // Jobs still queued (or queued later by a member the parser was passing on) never run:
    // after dispose() the caller may remove the root, and nothing may recreate it.
    await this.fs.close();
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
   * member's name is checked); the file operations are run or queued (extractor-fs.ts).
   */
  private async begin(member: TarMember): Promise<void> {
    if (this.file !== null) throw new InternalError(`header of "${member.name}" before the end of "${this.file.path}"`);
    const parts = this.components(member.name, member, 'name');
    checkMemberType(member, parts);
    const path = parts.length === 0 ? this.root : join(this.root, ...parts);
    if (!this.rootReady) {
      this.rootReady = true;
      this.knownDirs.add(this.root);
      await this.fs.run(() => this.ensureDirectory(this.root));
    }
    if (parts.length > 1) {
      const parent = dirname(path);
      if (!this.knownDirs.has(parent)) {
        this.knownDirs.add(parent);
        await this.fs.run(() => this.ensureDirectory(parent));
      }
    }
    this.options.onFile?.(path, member);
    switch (member.type) {
      case 'directory':
        this.knownDirs.add(path);
        this.createdDirs.set(path, member.mtime);
        await this.fs.run(() => this.makeDirectory(path, member));
        return;
      case 'file': {
        const file: OpenFile = { path, member, handle: null };
        this.file = file;
        await this.fs.run(() => this.openFile(file));
        return;
      }
      case 'symlink': {
        this.createdLinks.add(parts.join('/'));
        await this.fs.run(() => this.makeSymlink(path, member));
        return;
      }
      case 'link': {
        const targetParts = this.components(member.linkname ?? '', member, 'link target');
        if (targetParts.length === 0) throw new UnsafePathError(`archive member "${member.name}" is a hard link without a target`);
        await this.fs.run(() => this.makeHardLink(path, join(this.root, ...targetParts), member));
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
      first = await this.fs.ops.mkdirp(path, 0o700);
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
    const { ops } = this.fs;
    try {
      await ops.mkdir(path, 0o700);
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw fileError('could not create directory', path, err);
      // Reuse an existing directory (pg_wal made by the WAL receiver, a --waldir symlink...).
      const st = await ops.stat(path);
      if (st === null || !st.isDirectory()) throw fileError('could not create directory', path, err);
    }
    try {
      await ops.chmod(path, member.mode & 0o7777);
    } catch (err) {
      throw fileError('could not set permissions on directory', path, err);
    }
    await this.chownPath(path, false);
  }

  private async openFile(file: OpenFile): Promise<void> {
    const { path, member } = file;
    let handle: ExtractHandle;
    try {
      handle = await this.fs.ops.openExclusive(path, member.mode & 0o777, member.size);
    } catch (err) {
      if (isErrno(err, 'EEXIST')) {
        const st = await this.fs.ops.lstat(path);
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

  private async endFile(): Promise<void> {
    const file = this.file;
    if (file === null) return;
    await this.fs.endContents(file);
    this.file = null;
    this.createdFiles.push(file.path);
    await this.fs.run(() => this.closeFile(file));
  }

  private async closeFile(file: OpenFile): Promise<void> {
    const handle = file.handle as ExtractHandle;
    try {
      await handle.utimes(file.member.mtime);
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

  private async makeSymlink(path: string, member: TarMember): Promise<void> {
    const raw = member.linkname ?? '';
    const target = this.options.mapLinkTarget ? this.options.mapLinkTarget(raw, member) : raw;
    try {
      await this.fs.ops.symlink(target, path);
    } catch (err) {
      throw fileError(`could not create symbolic link from "${path}" to`, target, err);
    }
    await this.chownPath(path, true);
    try {
      await this.fs.ops.lutimes(path, member.mtime);
    } catch {
      // Symlink times are cosmetic; some filesystems refuse them.
    }
  }

  private async makeHardLink(path: string, target: string, member: TarMember): Promise<void> {
    const st = await this.fs.ops.lstat(target);
    if (st === null || !st.isFile()) {
      throw new UnsafePathError(`archive member "${member.name}" is a hard link to "${member.linkname}", which is not a regular file extracted before it`);
    }
    try {
      await this.fs.ops.link(target, path);
    } catch (err) {
      throw fileError(`could not create hard link from "${path}" to`, target, err);
    }
  }

  private async chownPath(path: string, isLink: boolean): Promise<void> {
    const owner = this.options.owner;
    if (!owner) return;
    try {
      if (isLink) await this.fs.ops.lchown(path, owner.uid, owner.gid);
      else await this.fs.ops.chown(path, owner.uid, owner.gid);
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
