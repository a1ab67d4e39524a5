/**
 * Feeds the segment files of a WAL directory (a plain backup's pg_wal, or -w DIR) to a
 * WalCheck. Names are taken in sorted order; stat follows symlinks (pg_wal itself may be a
 * symlink made by --waldir). A file is read only as far as the check needs it.
 *
 * With `followLinks: false` (a restore reading what it just extracted, as root) a segment
 * name that is a symbolic link or special file is not read (so that segment counts as missing)
 * and files are opened with O_NOFOLLOW.
 */

import { constants } from 'node:fs';
import { lstat, open, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isWalSegmentName } from './segment.js';
import type { WalCheck } from './wal-check.js';
import { osErrorText } from '../verify/os-error.js';

const READ_CHUNK = 1024 * 1024;

export interface CheckWalDirectoryOptions {
  /** Follow symbolic links to segment files (default true). */
  followLinks?: boolean;
}

export async function checkWalDirectory(check: WalCheck, dir: string, options: CheckWalDirectoryOptions = {}): Promise<void> {
  const follow = options.followLinks ?? true;
  let names: string[];
  try {
    names = (await readdir(dir)).filter(isWalSegmentName).sort();
  } catch (err) {
    check.problem(`could not open directory "${dir}": ${osErrorText(err)}`, '');
    return;
  }
  const buffer = Buffer.alloc(READ_CHUNK);
  for (const name of names) {
    const path = join(dir, name);
    let size: number;
    try {
      const st = follow ? await stat(path) : await lstat(path);
      if (!st.isFile()) continue;
      size = st.size;
    } catch (err) {
      check.problem(`could not stat file "${path}": ${osErrorText(err)}`, name);
      continue;
    }
    const sink = check.beginFile(name, size);
    if (sink === null) continue;
    let handle;
    try {
      handle = await open(path, follow ? constants.O_RDONLY : constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (err) {
      check.problem(`could not open file "${path}": ${osErrorText(err)}`, name);
      continue;
    }
    let failed = false;
    try {
      while (sink.wantsMore) {
        let bytesRead: number;
        try {
          ({ bytesRead } = await handle.read(buffer, 0, READ_CHUNK, null));
        } catch (err) {
          check.problem(`could not read file "${path}": ${osErrorText(err)}`, name);
          failed = true;
          break;
        }
        if (bytesRead === 0) break;
        // May report problems, and stop the whole run by throwing: not an I/O error.
        sink.write(buffer.subarray(0, bytesRead));
      }
    } finally {
      await handle.close();
    }
    if (failed) continue;
    sink.end();
  }
}
