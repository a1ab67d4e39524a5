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
import type { TimelineHistoryEntry } from '../timeline.js';
import { checkWalArchiveCoverage, type WalArchiveCoverage } from './wal-archive-coverage.js';
import type { WalArchiveListing } from './wal-archive-listing.js';
import { readArchivedTimelineHistory, resolveTargetTimeline } from './wal-archive-timelines.js';
import type { RecoveryTarget } from './recovery-target.js';

export interface ArchiveRecoveryBackup {
  /** For messages: the backup's ID or directory. */
  label: string;
  /** The timeline the backup ended on (its newest WAL range's). */
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

/**
 * True when a backup that ended at `endLsn` on `timeline` lies on `history`: that timeline is
 * one of the history's and had not yet been left at the backup's end (a backup taken on an
 * abandoned branch after the switch is not).
 */
export function backupOnHistory(history: readonly TimelineHistoryEntry[], timeline: number, endLsn: Lsn): boolean {
  const entry = history.find((e) => e.timeline === timeline);
  return entry !== undefined && endLsn >= entry.begin && (entry.end === null || endLsn <= entry.end);
}

/** Checks the plan of a recovery from `options.backup` (see the module comment). */
export async function planArchiveRecovery(listing: WalArchiveListing, options: ArchiveRecoveryPlanOptions): Promise<ArchiveRecoveryPlan> {
  const { backup, target } = options;
  const targetTimeline = resolveTargetTimeline(listing, target.timeline, backup.timeline);
  const history = await readArchivedTimelineHistory(listing, targetTimeline);
  if (!backupOnHistory(history, backup.timeline, backup.endLsn)) {
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
  // The backup's own range first (its own WAL counts): without it the copy never becomes
  // consistent. Then from its end on, from the archive alone: the backup holds its last
  // segment only up to its end.
  let coverage = checkWalArchiveCoverage(listing, {
    startLsn: backup.startLsn, history, endLsn: backup.endLsn, ...(options.present ? { present: options.present } : {}),
  });
  if (coverage.firstMissing === null && target.kind !== 'immediate') {
    const after = checkWalArchiveCoverage(listing, { startLsn: backup.endLsn, history, endLsn });
    coverage = { ...after, firstSegment: coverage.firstSegment };
  }
  if (coverage.firstMissing !== null) {
    const to = endLsn === null ? 'the end of the archive' : formatLsn(endLsn);
    throw new WalMissingError(`WAL segment "${coverage.firstMissing}" is missing from the WAL archive "${listing.dir}"`, {
      hint: `Recovery from backup "${backup.label}" to ${to} on timeline ${targetTimeline} reads every segment from ${coverage.firstSegment}; restore the missing segment, or choose a target before it.`,
    });
  }
  return { targetTimeline, history, coverage };
}
