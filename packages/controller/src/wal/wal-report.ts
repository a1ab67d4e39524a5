/**
 * A cluster's WAL archive as `pgfleet wal` reports it: the receiver's live state (wal-state.ts),
 * the archive's range per timeline with its gaps (archive-summary.ts), the WAL the server removed
 * before the archive had it (removed-wal.ts), and the restore window:
 *
 * - earliest: the end of the oldest usable backup the archive can carry forward, i.e. whose
 *   timeline holds every segment from the one its backup ended in up to the archive's end on
 *   that timeline (a gap after it cuts the backup off; before it, the backup's pg_wal.tar
 *   covers what it needs). Its end, not its start: recovery from a backup is consistent only
 *   from there, and a point-in-time restore picks a backup that ends before the target;
 * - latest: the archive's durable end on its newest timeline (the receiver's flushed position
 *   on it, else the end of its newest complete segment), at the time the server was there (now
 *   minus the lag while streaming, else when it was last acknowledged).
 */

import { parseLsn, parseWalSegmentName, segmentNumber } from '@pgfleet/core';
import type { BackupMetadata } from '../repository/backup-metadata.js';
import { readClusterCatalog, type ClusterCatalog } from '../repository/catalog.js';
import { summarizeWalArchive, type ArchiveSummary, type TimelineSummary } from './archive-summary.js';
import { activeRemovedWal, readRemovedWal, type RemovedWalNotice } from './removed-wal.js';
import type { ClusterWalState } from './wal-state.js';

export interface RestorePoint {
  lsn: string;
  time: string | null;
  backupId?: string;
}

export interface ClusterWalReport extends ClusterWalState {
  timelines: Array<Omit<TimelineSummary, 'firstSegno' | 'lastSegno'> & { endLsn: string | null }>;
  /** Missing stretches over all timelines. */
  gaps: number;
  restoreFrom: RestorePoint | null;
  restoreTo: RestorePoint | null;
  /** WAL the server removed before the archive received it, while the archive holds WAL before it (removed-wal.ts). */
  removedWal: RemovedWalNotice[];
}

/** Whether the archive carries `backup` forward to its end on the backup's timeline. */
export function backupCoveredByArchive(backup: Pick<BackupMetadata, 'endLsn' | 'timeline'>, summary: ArchiveSummary): boolean {
  const tl = summary.timelines.find((t) => t.timeline === backup.timeline);
  if (tl === undefined) return false;
  const needed = segmentNumber(parseLsn(backup.endLsn), summary.segmentSize);
  if (needed < tl.firstSegno || needed > tl.lastSegno + 1n) return false;
  return !tl.gaps.some((g) => (parseWalSegmentName(g.to, summary.segmentSize)?.segno ?? 0n) >= needed);
}

/**
 * When the server was at the archive's flushed position: now minus the lag while streaming,
 * else the last acknowledgement (a stopped receiver's lag says nothing about now).
 */
export function flushedPositionTime(live: ClusterWalState): string | null {
  return live.state === 'streaming' && live.lagSeconds !== null
    ? new Date(Date.now() - live.lagSeconds * 1000).toISOString()
    : live.lastAckAt;
}

/** What a report is computed from, for a caller that needs them too (read once, not twice). */
export interface WalReportInputs {
  summary: ArchiveSummary | null;
  catalog: ClusterCatalog;
}

/** The report of one cluster (see the module comment); `live` is the receiver's snapshot. */
export async function clusterWalReport(repository: string, cluster: string, live: ClusterWalState, inputs?: WalReportInputs): Promise<ClusterWalReport> {
  const summary = inputs !== undefined ? inputs.summary : await summarizeWalArchive(repository, cluster);
  const timelines = (summary?.timelines ?? []).map(({ firstSegno: _f, lastSegno: _l, ...t }) => ({
    ...t,
    endLsn: live.timeline === t.timeline && live.flushedLsn !== null ? live.flushedLsn : t.completeEndLsn,
  }));
  const report: ClusterWalReport = {
    ...live, timelines, gaps: timelines.reduce((n, t) => n + t.gaps.length, 0), restoreFrom: null, restoreTo: null,
    removedWal: activeRemovedWal(cluster, await readRemovedWal(repository, cluster), summary),
  };
  if (summary === null || timelines.length === 0) return report;
  const newest = timelines[timelines.length - 1] as (typeof timelines)[number];
  if (newest.endLsn !== null) {
    report.restoreTo = { lsn: newest.endLsn, time: flushedPositionTime(live) };
  }
  const catalog = inputs?.catalog ?? await readClusterCatalog(repository, cluster);
  const oldest = catalog.backups.map((b) => b.metadata).find((b) => backupCoveredByArchive(b, summary));
  if (oldest !== undefined) report.restoreFrom = { lsn: oldest.endLsn, time: oldest.finishedAt, backupId: oldest.id };
  return report;
}
