/**
 * The files and directories a backup run makes in its destination directory, and their undo:
 * pg_basebackup's rule for an output directory (absent or empty), the list of what this run
 * created (removed on failure, in pg_basebackup's order and words), and one backup file that
 * removes itself unless the run keeps what it received.
 */
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { DirectoryNotEmptyError, fileError, isErrno } from '../errors.js';
import type { ChunkKind, Streamer, TarMember } from '../archive/streamer.js';
import type { FileSink } from '../archive/file-sink.js';

/** What this run created, so a failure can undo exactly that and nothing else. */
export class CleanupList {
  private readonly entries: Array<{ path: string; created: boolean; what: string }> = [];
  add(path: string, created: boolean, what: 'data directory' | 'WAL directory' | 'tablespace directory'): void {
    this.entries.push({ path, created, what });
  }
  /** Undoes in pg_basebackup's order (data directory, then WAL directory), with its messages. */
  async run(report: (msg: string) => void): Promise<void> {
    for (const { path, created, what } of this.entries) {
      try {
        if (created) {
          report(`removing ${what} "${path}"`);
          await rm(path, { recursive: true, force: true });
        } else {
          report(`removing contents of ${what} "${path}"`);
          for (const name of await readdir(path)) await rm(join(path, name), { recursive: true, force: true });
        }
      } catch {
        report(created ? `failed to remove ${what}` : `failed to remove contents of ${what}`);
      }
    }
  }
}

/**
 * A file of the backup in -D. Disposed before it was finalized (the run failed), it is removed,
 * unless the run keeps what it received (-n, or a data checksum failure, after which
 * pg_basebackup removes nothing and its WAL streamer, killed mid-segment, leaves pg_wal.tar as
 * far as it had got): the file is then flushed and closed as it stands, an unfinished archive.
 */
export class BackupFile implements Streamer {
  private finalized = false;
  constructor(private readonly sink: FileSink, private readonly keep: () => boolean) {}

  content(member: TarMember | null, data: Buffer, kind: ChunkKind): Promise<void> {
    return this.sink.content(member, data, kind);
  }

  async finalize(): Promise<void> {
    await this.sink.finalize();
    this.finalized = true;
  }

  async dispose(): Promise<void> {
    if (this.finalized) return;
    if (this.keep()) {
      // A flush that fails (disk full) still leaves the file and closes it.
      await this.sink.finalize().catch(() => this.sink.dispose());
      return;
    }
    await this.sink.dispose();
    await rm(this.sink.path, { force: true }).catch(() => {});
  }
}

/** pg_basebackup's verify_dir_is_empty_or_create. Returns whether the directory was created. */
export async function prepareEmptyDirectory(dir: string, mode: number, what: string): Promise<boolean> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) {
      try {
        await mkdir(dir, { recursive: true, mode });
      } catch (mkErr) {
        throw fileError('could not create directory', dir, mkErr);
      }
      return true;
    }
    if (isErrno(err, 'ENOTDIR')) {
      throw new DirectoryNotEmptyError(`directory "${dir}" exists but is not a directory`);
    }
    throw fileError('could not access directory', dir, err);
  }
  if (entries.length > 0) {
    throw new DirectoryNotEmptyError(`directory "${dir}" exists but is not empty`, {
      hint: `Remove its contents or choose an empty or non-existent ${what}.`,
    });
  }
  return false;
}

