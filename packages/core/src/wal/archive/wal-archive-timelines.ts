/**
 * Timelines of a WAL archive: reading a timeline's history from its archived history file, and
 * resolving `recovery_target_timeline` (latest, current, N) the way the server does: `latest`
 * is found by probing for history files from the starting timeline upwards (findNewestTimeLine),
 * so it is the last of an unbroken run of history files.
 */

import { WalMissingError } from '../../errors.js';
import { timelineHistoryFileName } from '../segment.js';
import { parseTimelineHistory, timelineHistory, type TimelineHistoryEntry } from '../timeline.js';
import type { WalArchiveListing } from './wal-archive-listing.js';
import { readWalArchiveFile } from './wal-archive-read.js';

/** `latest`, `current` (the backup's own timeline) or a timeline number. */
export type TargetTimeline = 'latest' | 'current' | number;

/** The history of `timeline` (newest first, as timelineHistory returns it), from the archive. */
export async function readArchivedTimelineHistory(listing: WalArchiveListing, timeline: number): Promise<TimelineHistoryEntry[]> {
  if (timeline === 1) return timelineHistory(1, []);
  const file = listing.histories.get(timeline);
  if (file === undefined) {
    throw new WalMissingError(`timeline history file "${timelineHistoryFileName(timeline)}" is not in the WAL archive "${listing.dir}"`, {
      hint: 'Every timeline after the first needs its history file in the archive; copy it from the server\'s pg_wal.',
    });
  }
  const text = (await readWalArchiveFile(file)).toString('utf8');
  return timelineHistory(timeline, parseTimelineHistory(text, { source: file.path }), { source: file.path });
}

/** The newest timeline reachable from `start` through consecutive history files. */
export function newestArchivedTimeline(listing: WalArchiveListing, start: number): number {
  let newest = start;
  while (listing.histories.has(newest + 1)) newest += 1;
  return newest;
}

/** The timeline a target timeline setting names, for a backup on `backupTimeline`. */
export function resolveTargetTimeline(listing: WalArchiveListing, target: TargetTimeline, backupTimeline: number): number {
  if (target === 'current') return backupTimeline;
  if (target === 'latest') return newestArchivedTimeline(listing, backupTimeline);
  return target;
}
