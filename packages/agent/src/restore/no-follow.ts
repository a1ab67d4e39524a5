/**
 * File access inside a restored (staged or committed) data directory that never goes through
 * a symbolic link or into a FIFO or device: the restore runs as root, and the data directory's
 * contents come from the backup (and, once the server ran, from its OS user). A link planted
 * there (recovery.signal -> /etc/x, log -> /etc) must not redirect a read or a write.
 *
 * - Files are opened with O_NOFOLLOW (a link as the last component fails) and O_NONBLOCK (a
 *   FIFO cannot hang the open), and must then be regular files (fstat): anything else is an
 *   UnsafePathError naming the path. Writes truncate the file they opened, so its owner and
 *   mode stay; a created file gets `mode`.
 * - Directories the restore creates or reuses (pg_tblspc, pg_wal, archive_status, log) must be
 *   real directories (lstat), never a link to one.
 * The directories above these names are the restore's own (staging, target), so checking the
 * last component is enough.
 */

import { constants } from 'node:fs';
import { lstat, mkdir, open, type FileHandle } from 'node:fs/promises';
import { UnsafePathError, fileError, isErrno } from '@pgfleet/core';

const { O_RDONLY, O_WRONLY, O_CREAT, O_TRUNC, O_EXCL, O_NOFOLLOW, O_NONBLOCK } = constants;

function notRegular(file: string, what: string): UnsafePathError {
  return new UnsafePathError(`"${file}" is ${what}, not a regular file; the restore does not follow or open it`, {
    hint: 'A base backup holds no symbolic links or special files there; the data directory was altered.',
  });
}

/**
 * Opens `file` without following a link; the handle is of a regular file, or it throws. null
 * when the file does not exist and `missingOk`.
 */
async function openRegular(file: string, flags: number, mode: number | undefined, verb: string, missingOk = false): Promise<FileHandle | null> {
  let handle: FileHandle;
  try {
    handle = await open(file, flags | O_NOFOLLOW | O_NONBLOCK, mode);
  } catch (err) {
    if (missingOk && isErrno(err, 'ENOENT')) return null;
    if (isErrno(err, 'ELOOP')) throw notRegular(file, 'a symbolic link');
    // A FIFO without a reader refuses O_WRONLY|O_NONBLOCK.
    if (isErrno(err, 'ENXIO')) throw notRegular(file, 'a special file');
    throw fileError(`could not ${verb} file`, file, err);
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw notRegular(file, st.isDirectory() ? 'a directory' : 'a special file');
  } catch (err) {
    await handle.close().catch(() => undefined);
    if (err instanceof UnsafePathError) throw err;
    throw fileError(`could not ${verb} file`, file, err);
  }
  return handle;
}

/** The text of `file`; null when it does not exist. */
export async function readFileNoFollow(file: string): Promise<string | null> {
  const handle = await openRegular(file, O_RDONLY, undefined, 'read', true);
  if (handle === null) return null;
  try {
    return await handle.readFile('utf8');
  } catch (err) {
    throw fileError('could not read file', file, err);
  } finally {
    await handle.close().catch(() => undefined);
  }
}

export interface WriteNoFollowOptions {
  /** Mode of a file this creates (an existing file keeps its own). */
  mode?: number;
  /** The file must not exist yet (O_EXCL). */
  exclusive?: boolean;
}

/** Writes `text` as the whole content of `file`, created if missing. */
export async function writeFileNoFollow(file: string, text: string, options: WriteNoFollowOptions = {}): Promise<void> {
  const flags = O_WRONLY | O_CREAT | (options.exclusive ? O_EXCL : O_TRUNC);
  const handle = (await openRegular(file, flags, options.mode ?? 0o600, 'write')) as FileHandle;
  try {
    await handle.writeFile(text);
  } catch (err) {
    throw fileError('could not write file', file, err);
  } finally {
    await handle.close().catch(() => undefined);
  }
}

/**
 * Creates directory `dir` (its parent must exist), or accepts an existing real directory;
 * a link there (even to a directory) or a file is refused. Returns whether it was created.
 */
export async function ensureDirectoryNoFollow(dir: string, mode: number): Promise<boolean> {
  try {
    await mkdir(dir, { mode });
    return true;
  } catch (err) {
    if (!isErrno(err, 'EEXIST')) throw fileError('could not create directory', dir, err);
  }
  const st = await lstat(dir).catch((err: unknown) => {
    throw fileError('could not create directory', dir, err);
  });
  if (st.isSymbolicLink()) {
    throw new UnsafePathError(`"${dir}" is a symbolic link, not a directory; the restore does not follow it`, {
      hint: 'A base backup holds no symbolic links there; the data directory was altered.',
    });
  }
  if (!st.isDirectory()) throw fileError('could not create directory', dir, Object.assign(new Error('file exists'), { code: 'EEXIST' }));
  return false;
}
