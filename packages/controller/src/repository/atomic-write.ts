/**
 * Durable, all-or-nothing file writes and renames. A reader (or a daemon restarted after a
 * crash) sees either the old state or the new one, never a half-written file:
 * write to a temporary name in the same directory -> fsync the file -> rename over the final
 * name -> fsync the directory (the rename itself is only durable once the directory is).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fileError, fsyncDirectory, fsyncFile } from '@pgfleet/core';

export { fsyncDirectory, fsyncFile };

export interface WriteFileAtomicOptions {
  mode?: number;
  /** Create the parent directory (0700) when it is missing. */
  mkdir?: boolean;
}

/** Writes `data` to `path` atomically and durably (see the module comment). */
export async function writeFileAtomic(path: string, data: string | Uint8Array, options: WriteFileAtomicOptions = {}): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  if (options.mkdir === true) {
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw fileError('could not create directory', dir, err);
    }
  }
  let handle;
  try {
    handle = await open(tmp, 'wx', options.mode ?? 0o600);
  } catch (err) {
    throw fileError('could not create file', tmp, err);
  }
  try {
    try {
      await handle.writeFile(data);
      await handle.sync();
    } catch (err) {
      throw fileError('could not write file', tmp, err);
    } finally {
      await handle.close();
    }
    try {
      await rename(tmp, path);
    } catch (err) {
      throw fileError('could not rename file', tmp, err);
    }
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => {});
    throw err;
  }
  await fsyncDirectory(dir);
}

/** Renames a directory into place durably (both parents fsynced). */
export async function renameDurably(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
  } catch (err) {
    throw fileError('could not rename directory', from, err);
  }
  await fsyncDirectory(dirname(to));
  if (dirname(from) !== dirname(to)) await fsyncDirectory(dirname(from));
}
