// Size of a backup: the apparent size (bytes) of every regular file under one or more
// directories, symlinks not followed. Directories themselves count nothing, so a plain
// backup and a tar backup of the same data compare by content only.

import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';

async function sizeOf(entry: string): Promise<number> {
  const stat = await lstat(entry);
  if (stat.isFile()) return stat.size;
  if (!stat.isDirectory()) return 0;
  let total = 0;
  for (const name of await readdir(entry)) total += await sizeOf(path.join(entry, name));
  return total;
}

/** Total bytes of regular files under each existing path (missing paths count 0). */
export async function outputSize(paths: readonly string[]): Promise<number> {
  let total = 0;
  for (const p of paths) {
    try {
      total += await sizeOf(p);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  return total;
}
