/**
 * Retention: keep the newest N usable full backups of a cluster, remove the rest. "Newest" is
 * by backup id (the start time). Damaged backups (catalog.ts) never count as kept: those older
 * than the oldest kept one go too, those newer stay for a human to look at; a damaged one
 * whose backup.json cannot be read is never removed (as at start-up cleanup). A removal first
 * renames the directory to ".expire-<id>" (one atomic step that makes it unusable), then
 * deletes it; a crash in between leaves a name the start-of-daemon cleanup removes. Backups in
 * use (being restored or verified) are skipped and reported as kept.
 */
import { rm } from 'node:fs/promises';
import { fileError } from '@pgfleet/core';
import { compareBackupIds } from './backup-id.js';
import { readClusterCatalog, type CatalogEntry, type UnusableEntry } from './catalog.js';
import { backupDir, backupsDir, expiringDir } from './layout.js';
import { fsyncDirectory, renameDurably } from './atomic-write.js';

export interface ExpirePlan {
  remove: CatalogEntry[];
  keep: CatalogEntry[];
}

/** Decides, without touching anything. `keepFull` >= 1. */
export function planExpire(backups: readonly CatalogEntry[], keepFull: number, inUse: (id: string) => boolean = () => false,
  damaged: readonly UnusableEntry[] = []): ExpirePlan {
  const full = backups.filter((b) => b.metadata.type === 'full'); // oldest first
  const cut = Math.max(0, full.length - keepFull);
  const remove: CatalogEntry[] = [];
  const keep: CatalogEntry[] = [];
  full.forEach((b, i) => {
    if (i < cut && !inUse(b.metadata.id)) remove.push(b);
    else keep.push(b);
  });
  const oldestKept = full[cut]?.metadata.id;
  if (oldestKept !== undefined) {
    for (const d of damaged) {
      if (d.metadata === null || compareBackupIds(d.name, oldestKept) >= 0 || inUse(d.name)) continue;
      remove.push({ metadata: d.metadata, path: d.path });
    }
    remove.sort((x, y) => compareBackupIds(x.metadata.id, y.metadata.id));
  }
  return { remove, keep };
}

export interface ExpireOptions {
  keepFull: number;
  dryRun?: boolean;
  inUse?: (id: string) => boolean;
}

export async function expireCluster(repository: string, cluster: string, options: ExpireOptions): Promise<ExpirePlan> {
  const { backups, unusable } = await readClusterCatalog(repository, cluster);
  const plan = planExpire(backups, options.keepFull, options.inUse, unusable);
  if (options.dryRun) return plan;
  for (const b of plan.remove) {
    const id = b.metadata.id;
    const doomed = expiringDir(repository, cluster, id);
    await renameDurably(backupDir(repository, cluster, id), doomed);
    try {
      await rm(doomed, { recursive: true, force: true });
    } catch (err) {
      throw fileError('could not remove directory', doomed, err);
    }
  }
  if (plan.remove.length > 0) await fsyncDirectory(backupsDir(repository, cluster));
  return plan;
}
