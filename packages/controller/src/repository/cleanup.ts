/**
 * Start-of-daemon cleanup: removes what an interrupted run left behind in a cluster's backups
 * directory: staging directories (".tmp-<id>"), half-removed backups (".expire-<id>") and
 * backup directories without backup.json (a crash between rename and metadata cannot happen
 * with our write order, but a copy made by hand can). Directories whose backup.json exists but
 * is invalid are kept (they may be worth a human's look) and reported. It must only run while
 * no backup of that cluster is in flight: the daemon calls it before it serves. A staging
 * directory is recorded as an "incomplete" attempt (attempts.ts) before it goes, so that
 * `pgfleet backups --all` still shows that a backup was interrupted.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileError } from '@pgfleet/core';
import { backupIdTime, recordAttempt } from './attempts.js';
import { readClusterCatalog } from './catalog.js';
import { TMP_PREFIX, backupsDir } from './layout.js';
import { fsyncDirectory } from './atomic-write.js';

export interface CleanupResult {
  removed: string[];
  /** Unusable backups left in place, with the reason. */
  kept: Array<{ path: string; reason: string }>;
}

export async function cleanupCluster(repository: string, cluster: string): Promise<CleanupResult> {
  const dir = backupsDir(repository, cluster);
  const catalog = await readClusterCatalog(repository, cluster);
  const result: CleanupResult = { removed: [], kept: [] };
  const doomed = catalog.inProgress.map((name) => join(dir, name));
  for (const name of catalog.inProgress.filter((n) => n.startsWith(TMP_PREFIX))) {
    const id = name.slice(TMP_PREFIX.length);
    await recordAttempt(repository, {
      format: 'pgfleet-attempt-1', cluster, id, status: 'incomplete', startedAt: backupIdTime(id), endedAt: '', trigger: '',
      error: { id: 'incomplete', code: 0, message: 'the daemon stopped during the backup; its partial files were removed', hint: '' },
    });
  }
  for (const u of catalog.unusable) {
    if (u.reason.startsWith('no backup.json')) doomed.push(u.path);
    else result.kept.push({ path: u.path, reason: u.reason });
  }
  for (const path of doomed) {
    try {
      await rm(path, { recursive: true, force: true });
    } catch (err) {
      throw fileError('could not remove directory', path, err);
    }
    result.removed.push(path);
  }
  if (doomed.length > 0) await fsyncDirectory(dir);
  return result;
}
