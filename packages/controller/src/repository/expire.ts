/**
 * Retention: keep the newest `full` usable full backups of a cluster and, with `days`, every
 * backup needed to restore to any moment of the last `days` days (those finished within the
 * window and the newest one finished before it); remove the rest. The newest usable backup
 * is always kept. "Newest" is by backup id (the start time). Damaged backups (catalog.ts) never count as kept: those older
 * than the oldest kept one go too, those newer stay for a human to look at; a damaged one
 * whose backup.json cannot be read is never removed (as at start-up cleanup). A removal first
 * renames the directory to ".expire-<id>" (one atomic step that makes it unusable), then
 * deletes it; a crash in between leaves a name the start-of-daemon cleanup removes. Backups in
 * use (being restored or verified) are skipped and reported as kept. Then the continuous WAL
 * archive loses the segments older than the oldest kept backup's start (wal/wal-expire.ts).
 */
import { rm } from 'node:fs/promises';
import { fileError } from '@pgfleet/core';
import { compareBackupIds } from './backup-id.js';
import { readClusterCatalog, type CatalogEntry, type UnusableEntry } from './catalog.js';
import { backupDir, backupsDir, expiringDir } from './layout.js';
import { fsyncDirectory, renameDurably } from './atomic-write.js';
import { expireWal } from '../wal/wal-expire.js';

export interface ExpirePlan {
  remove: CatalogEntry[];
  keep: CatalogEntry[];
  /** WAL archive files older than the oldest kept backup's start (wal/wal-expire.ts). */
  walRemoved?: string[];
}

export interface Retention {
  /** Keep the newest N full backups (>= 1); null: not by count. */
  full: number | null;
  /** Keep what restores to any moment of the last N days; null: not by time. */
  days: number | null;
}

/** Whether each full backup (oldest first) is kept by the retention rules. */
function keptByRules(full: readonly CatalogEntry[], retention: Retention, now: Date): boolean[] {
  const kept = full.map(() => false);
  if (full.length > 0) kept[full.length - 1] = true;
  if (retention.full !== null) {
    for (let i = Math.max(0, full.length - retention.full); i < full.length; i++) kept[i] = true;
  }
  if (retention.days !== null) {
    const windowStart = now.getTime() - retention.days * 86_400_000;
    const inWindow = (b: CatalogEntry): boolean => Date.parse(b.metadata.finishedAt) >= windowStart;
    full.forEach((b, i) => { if (inWindow(b)) kept[i] = true; });
    // The window's first moments are restored from the newest backup finished before it.
    const before = full.map(inWindow).lastIndexOf(false);
    if (before >= 0) kept[before] = true;
  }
  return kept;
}

/** Decides, without touching anything. */
export function planExpire(backups: readonly CatalogEntry[], retention: Retention, inUse: (id: string) => boolean = () => false,
  damaged: readonly UnusableEntry[] = [], now: Date = new Date()): ExpirePlan {
  const full = backups.filter((b) => b.metadata.type === 'full'); // oldest first
  const kept = keptByRules(full, retention, now);
  const remove: CatalogEntry[] = [];
  const keep: CatalogEntry[] = [];
  full.forEach((b, i) => {
    if (!kept[i] && !inUse(b.metadata.id)) remove.push(b);
    else keep.push(b);
  });
  const oldestKept = full[kept.indexOf(true)]?.metadata.id;
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
  retention: Retention;
  dryRun?: boolean;
  inUse?: (id: string) => boolean;
}

export async function expireCluster(repository: string, cluster: string, options: ExpireOptions): Promise<ExpirePlan> {
  const { backups, unusable } = await readClusterCatalog(repository, cluster);
  const plan = planExpire(backups, options.retention, options.inUse, unusable);
  if (options.dryRun) {
    const wal = await expireWal(repository, cluster, plan.keep.map((b) => b.metadata), { dryRun: true });
    return { ...plan, walRemoved: wal.removed };
  }
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
  // The WAL only removed backups needed goes with them (a backup in use is kept, so is its WAL).
  const wal = await expireWal(repository, cluster, plan.keep.map((b) => b.metadata), { dryRun: options.dryRun ?? false });
  return { ...plan, walRemoved: wal.removed };
}
