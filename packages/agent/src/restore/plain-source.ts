/**
 * A plain-format backup directory (pg_basebackup -F p, pgfleet-basebackup -F p) read as tar
 * members, so that it goes through the same verify -> extract chain as tar archives.
 *
 * - The directory itself is the base archive: every entry below it, in a depth-first walk with
 *   directories before their contents, except the root's backup_manifest (it stays with the
 *   backup, as in tar layouts).
 * - pg_tblspc/<oid> symbolic links are the tablespaces: each is delivered as a symlink member
 *   of the base archive and its target directory, walked the same way, as the archive of
 *   tablespace <oid>. The link target is the tablespace's location in the backup (where -T put
 *   it when the backup was taken). In-place tablespaces (directories in pg_tblspc) are part of
 *   the base archive.
 * - A pg_wal symbolic link (a backup taken with --waldir) is walked as the pg_wal directory.
 * - Sockets, FIFOs and devices are skipped; other symbolic links are delivered as such (and
 *   refused by the extractor: a backup holds links only as pg_tblspc/<oid>).
 * File contents are read in 256 KiB chunks, each awaited by the chain (backpressure). A file
 * whose size changes while it is read is an error: a backup must not be modified.
 */

import type { Dirent } from 'node:fs';
import { lstat, open, readdir, readFile, readlink, stat } from 'node:fs/promises';
import path from 'node:path';
import { ArchiveFormatError, CancelledError, EMPTY_BUFFER, fileError, isErrno, type Streamer, type TarMember } from '@pgfleet/core';
import type { ArchiveBegin, ArchiveInfo, BackupSource } from './source.js';

const CHUNK = 256 * 1024;

export class PlainDirectorySource implements BackupSource {
  readonly layout = 'plain' as const;

  private constructor(
    readonly location: string,
    readonly archives: readonly ArchiveInfo[],
    readonly tablespaceLocations: ReadonlyMap<number, string>,
    readonly dataDirectoryMode: number,
  ) {}

  /** Opens a directory holding PG_VERSION; null when it does not (not this layout). */
  static async open(dir: string): Promise<PlainDirectorySource | null> {
    try {
      const st = await stat(path.join(dir, 'PG_VERSION'));
      if (!st.isFile()) return null;
    } catch {
      return null;
    }
    const root = await stat(dir);
    const locations = new Map<number, string>();
    const tblspc = path.join(dir, 'pg_tblspc');
    let entries: Dirent[] = [];
    try {
      entries = await readdir(tblspc, { withFileTypes: true });
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw fileError('could not open directory', tblspc, err);
    }
    for (const entry of entries) {
      if (!entry.isSymbolicLink() || !/^[1-9][0-9]*$/.test(entry.name)) continue;
      const target = await readlink(path.join(tblspc, entry.name));
      locations.set(Number(entry.name), path.resolve(tblspc, target));
    }
    const archives: ArchiveInfo[] = [{ name: path.basename(dir), kind: 'base', oid: null, compression: 'none', size: null }];
    for (const oid of [...locations.keys()].sort((a, b) => a - b)) {
      archives.push({ name: `pg_tblspc/${oid}`, kind: 'tablespace', oid, compression: 'none', size: null });
    }
    return new PlainDirectorySource(dir, archives, locations, (root.mode & 0o070) !== 0 ? 0o750 : 0o700);
  }

  async readManifest(): Promise<Buffer | null> {
    const file = path.join(this.location, 'backup_manifest');
    try {
      return await readFile(file);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return null;
      throw fileError('could not read file', file, err);
    }
  }

  async stream(begin: ArchiveBegin, progress: (info: ArchiveInfo, bytesDone: number) => void, signal?: AbortSignal): Promise<void> {
    for (const info of this.archives) {
      const next = await begin(info);
      try {
        const root = info.oid === null ? this.location : (this.tablespaceLocations.get(info.oid) as string);
        const walker = new Walker(next, (bytes) => progress(info, bytes), signal, info.oid === null);
        await walker.walk(root, '');
        await next.content(null, EMPTY_BUFFER, 'archive-trailer');
        await next.finalize();
      } finally {
        await next.dispose();
      }
    }
  }
}

class Walker {
  private bytes = 0;
  private readonly buffer = Buffer.allocUnsafe(CHUNK);

  constructor(
    private readonly next: Streamer,
    private readonly progress: (bytes: number) => void,
    private readonly signal: AbortSignal | undefined,
    private readonly isBase: boolean,
  ) {}

  async walk(dir: string, prefix: string): Promise<void> {
    let names: string[];
    try {
      names = (await readdir(dir)).sort();
    } catch (err) {
      throw fileError('could not open directory', dir, err);
    }
    for (const name of names) {
      if (this.signal?.aborted) throw new CancelledError('the restore was cancelled');
      const full = path.join(dir, name);
      const rel = prefix === '' ? name : `${prefix}/${name}`;
      if (this.isBase && rel === 'backup_manifest') continue;
      let st;
      try {
        st = await lstat(full);
      } catch (err) {
        throw fileError('could not stat file', full, err);
      }
      if (st.isSymbolicLink() && this.isBase && rel === 'pg_wal') {
        // Taken with --waldir: the WAL lives elsewhere; restore it as the pg_wal directory.
        st = await stat(full);
      }
      const member: TarMember = {
        name: rel, size: 0, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: st.mtime, type: 'other', linkname: null,
      };
      if (st.isDirectory()) {
        member.type = 'directory';
        await this.emit(member);
        await this.walk(full, rel);
      } else if (st.isSymbolicLink()) {
        member.type = 'symlink';
        member.linkname = await readlink(full);
        await this.emit(member);
      } else if (st.isFile()) {
        member.type = 'file';
        member.size = st.size;
        await this.emitFile(full, member);
      }
      // sockets, FIFOs, devices: never part of a backup worth restoring
    }
  }

  private async emit(member: TarMember): Promise<void> {
    await this.next.content(member, EMPTY_BUFFER, 'header');
    await this.next.content(member, EMPTY_BUFFER, 'trailer');
  }

  private async emitFile(file: string, member: TarMember): Promise<void> {
    let handle;
    try {
      handle = await open(file, 'r');
    } catch (err) {
      throw fileError('could not open file', file, err);
    }
    try {
      await this.next.content(member, EMPTY_BUFFER, 'header');
      let done = 0;
      for (;;) {
        let bytesRead: number;
        try {
          ({ bytesRead } = await handle.read(this.buffer, 0, CHUNK, null));
        } catch (err) {
          throw fileError('could not read file', file, err);
        }
        if (bytesRead === 0) break;
        done += bytesRead;
        if (done > member.size) break;
        await this.next.content(member, this.buffer.subarray(0, bytesRead), 'contents');
        this.bytes += bytesRead;
        this.progress(this.bytes);
      }
      if (done !== member.size) {
        throw new ArchiveFormatError(`file "${file}" changed size while it was read (${member.size} bytes expected)`, {
          hint: 'A backup must not change while it is restored.',
        });
      }
      await this.next.content(member, EMPTY_BUFFER, 'trailer');
    } finally {
      await handle.close().catch(() => undefined);
    }
  }
}
