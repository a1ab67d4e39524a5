// Dropping the kernel page cache between measurements, so that every backup reads the
// cluster from disk and no tool profits from what the previous one left in memory.
//
// Needs root and a writable /proc/sys/vm/drop_caches (often not the case in containers).
// dropPageCache() never throws: it answers whether it worked, and the bench reports that.

import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';

/** sync, then drop page cache, dentries and inodes. True when the kernel accepted it. */
export function dropPageCache(): boolean {
  try {
    // Dirty pages cannot be dropped: flush them first (our own backup output included).
    execFileSync('sync', { stdio: 'ignore' });
    writeFileSync('/proc/sys/vm/drop_caches', '3\n');
    return true;
  } catch {
    return false;
  }
}
