/**
 * WAL retention, applied with backup retention (repository/expire.ts): the archive keeps every
 * segment from the one holding the start of the oldest kept backup on, on every timeline,
 * because recovery from any kept backup, and to any point after it, reads WAL only from its
 * start LSN onward (a later timeline begins at a later LSN than its parent's switch point).
 * Older segments (complete or `.partial`) are removed; history files never are (a restore
 * needs every ancestor's history to follow timelines), and neither is wal/archive.json.
 * Without a kept backup nothing is removed: the archive may be the only copy of that WAL.
 * A note of WAL the server removed (removed-wal.ts) goes once nothing before its gap is left.
 */

import { readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import {
  archiveTimelines, fileError, fsyncDirectory, parseLsn, parseWalFileName, parseWalSegmentName, segmentNumber, timelineDirectory, walSegmentName,
} from '@pgfleet/core';
import type { BackupMetadata } from '../repository/backup-metadata.js';
import { walDir } from '../repository/layout.js';
import { summarizeWalArchive } from './archive-summary.js';
import { pruneRemovedWal } from './removed-wal.js';
import { readWalArchiveMetadata } from './wal-archiver.js';

export interface WalExpiry {
  /** Files removed (or that would be, with dryRun), by name. */
  removed: string[];
  /** The oldest segment kept (on timeline 1's numbering), or null when nothing is removed. */
  keptFrom: string | null;
}

export async function expireWal(repository: string, cluster: string, kept: readonly Pick<BackupMetadata, 'startLsn' | 'timeline'>[],
  options: { dryRun?: boolean } = {}): Promise<WalExpiry> {
  const meta = await readWalArchiveMetadata(repository, cluster);
  if (meta === null || kept.length === 0) return { removed: [], keptFrom: null };
  const bound = kept.map((b) => segmentNumber(parseLsn(b.startLsn), meta.segmentSize)).reduce((a, b) => (b < a ? b : a));
  const root = walDir(repository, cluster);
  const removed: string[] = [];
  for (const timeline of await archiveTimelines(root)) {
    const dir = timelineDirectory(root, timeline);
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (err) {
      throw fileError('could not read directory', dir, err);
    }
    let changed = false;
    for (const name of names.sort()) {
      const f = parseWalFileName(name);
      const id = f === null ? null : parseWalSegmentName(f.segment, meta.segmentSize);
      if (id === null || id.segno >= bound) continue;
      removed.push(name);
      if (options.dryRun) continue;
      try {
        await unlink(join(dir, name));
      } catch (err) {
        throw fileError('could not remove WAL file', join(dir, name), err);
      }
      changed = true;
    }
    if (changed) await fsyncDirectory(dir);
  }
  // WAL the server removed is reported until nothing before it is left.
  if (!options.dryRun && removed.length > 0) await pruneRemovedWal(repository, cluster, await summarizeWalArchive(repository, cluster));
  return { removed, keptFrom: walSegmentName(kept[0]?.timeline ?? 1, bound, meta.segmentSize) };
}
