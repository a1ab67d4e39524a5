/**
 * Before a point-in-time restore writes anything: is the backup on the target timeline's
 * history, is the target after the backup's end (for an LSN), and does the archive hold every
 * segment recovery will read? The range is the backup's start to the segment holding an LSN
 * target, to the backup's end for `immediate`, and to the last segment the archive holds on the
 * path for the targets whose position is not known beforehand (time, xid, restore point,
 * latest): recovery will read all of that unless it stops earlier. A missing segment fails
 * with WalMissingError naming it.
 */

import { InvalidOptionError, WalMissingError } from '../../errors.js';
import { formatLsn, parseLsn, type Lsn } from '../lsn.js';
import { timelineOfLsn, type TimelineHistoryEntry } from '../timeline.js';
import { checkWalArchiveCoverage, type WalArchiveCoverage } from './wal-archive-coverage.js';
import type { WalArchiveListing } from './wal-archive-listing.js';
import { readArchivedTimelineHistory, resolveTargetTimeline } from './wal-archive-timelines.js';
import type { RecoveryTarget } from './recovery-target.js';

export interface ArchiveRecoveryBackup {
  /** For messages: the backup's ID or directory. */
  label: string;
  timeline: number;
  startLsn: Lsn;
  endLsn: Lsn;
}

export interface ArchiveRecoveryPlanOptions {
  backup: ArchiveRecoveryBackup;
  target: RecoveryTarget;
  /** Segments the backup itself carries (its pg_wal), counted as present. */
  present?: ReadonlySet<string>;
}

export interface ArchiveRecoveryPlan {
  targetTimeline: number;
  history: TimelineHistoryEntry[];
  coverage: WalArchiveCoverage;
}

/** True when a backup on `timeline` ending at `endLsn` lies on `history`. */
export function backupOnHistory(history: readonly TimelineHistoryEntry[], timeline: number, startLsn: Lsn, endLsn: Lsn): boolean {
  const entry = history.find((e) => e.timeline === timeline);
  return entry !== undefined && timelineOfLsn(startLsn, history) === timeline && (entry.end === null || endLsn <= entry.end);
}

/** Checks the plan of a recovery from `options.backup` (see the module comment). */
export async function planArchiveRecovery(listing: WalArchiveListing, options: ArchiveRecoveryPlanOptions): Promise<ArchiveRecoveryPlan> {
  const { backup, target } = options;
  const targetTimeline = resolveTargetTimeline(listing, target.timeline, backup.timeline);
  const history = await readArchivedTimelineHistory(listing, targetTimeline);
  if (!backupOnHistory(history, backup.timeline, backup.startLsn, backup.endLsn)) {
    throw new InvalidOptionError(`backup "${backup.label}" (timeline ${backup.timeline}, ${formatLsn(backup.startLsn)} to ${formatLsn(backup.endLsn)}) is not on the history of timeline ${targetTimeline}`, {
      hint: 'Choose a backup taken on the target timeline or on one of its ancestors before the switch, or another --target-timeline.',
    });
  }
  let endLsn: Lsn | null = null;
  if (target.kind === 'immediate') endLsn = backup.endLsn;
  if (target.kind === 'lsn') {
    endLsn = parseLsn(target.value);
    if (endLsn < backup.endLsn) {
      throw new InvalidOptionError(`recovery target LSN ${target.value} is before the end of backup "${backup.label}" (${formatLsn(backup.endLsn)})`, {
        hint: 'Recovery cannot stop before the backup is consistent: choose an older backup.',
      });
    }
  }
  const base = { startLsn: backup.startLsn, history, ...(options.present ? { present: options.present } : {}) };
  // The backup's own range first: without it the copy never becomes consistent.
  let coverage = checkWalArchiveCoverage(listing, { ...base, endLsn: backup.endLsn });
  if (coverage.firstMissing === null && target.kind !== 'immediate') coverage = checkWalArchiveCoverage(listing, { ...base, endLsn });
  if (coverage.firstMissing !== null) {
    const to = endLsn === null ? 'the end of the archive' : formatLsn(endLsn);
    throw new WalMissingError(`WAL segment "${coverage.firstMissing}" is missing from the WAL archive "${listing.dir}"`, {
      hint: `Recovery from backup "${backup.label}" to ${to} on timeline ${targetTimeline} reads every segment from ${coverage.firstSegment}; restore the missing segment, or choose a target before it.`,
    });
  }
  return { targetTimeline, history, coverage };
}
