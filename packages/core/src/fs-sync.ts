/**
 * fsync by path, for files and directories written earlier (a directory is synced so that the
 * entries created, renamed or removed in it survive a crash). Failures are FileIoErrors naming
 * the path: "could not open file", "could not fsync directory", ...
 */
import { open } from 'node:fs/promises';
import { fileError } from './errors.js';

async function fsyncPath(path: string, what: 'file' | 'directory'): Promise<void> {
  const handle = await open(path, 'r').catch((err: unknown) => { throw fileError(`could not open ${what}`, path, err); });
  try {
    await handle.sync();
  } catch (err) {
    throw fileError(`could not fsync ${what}`, path, err);
  } finally {
    await handle.close();
  }
}

/** fsync one file by path. */
export function fsyncFile(path: string): Promise<void> {
  return fsyncPath(path, 'file');
}

/** fsync a directory, so that entries created, renamed or removed in it survive a crash. */
export function fsyncDirectory(dir: string): Promise<void> {
  return fsyncPath(dir, 'directory');
}
