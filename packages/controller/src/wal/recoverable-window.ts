/**
 * Each backup's recoverable window (`pgfleet backups`, `pgfleet show`): from the backup's end
 * (the earliest point a restore of it is consistent) to the latest point the cluster's WAL
 * archive carries it to. The archive's ranges and gaps are the ones `pgfleet wal` reports
 * (archive-summary.ts); this module only walks them the way recovery reads segments:
 *
 * - from the segment holding the backup's start (a point-in-time restore checks the archive
 *   from there: pitr-backup-choice.ts), segment after segment, each from the newest timeline of
 *   the path that had begun by it (as XLogFileReadAnyTLI does: the segment holding a switch
 *   point is read from the new timeline);
 * - the path is the newest archived timeline whose history holds the backup (it branched off
 *   after the backup's end); a timeline that branched off before it is not followed;
 * - it stops at the first segment missing on the path (a gap, WAL of an ancestor timeline that
 *   ends before the switch, or an old `.partial`), and otherwise at the archive's end: the
 *   receiver's flushed position when it streams that timeline into the newest segment, else the
 *   end of the newest complete segment (a `.partial` nobody vouches for counts for nothing).
 *
 * The window never ends before the backup's end: the backup's own pg_wal.tar gets it there.
 * A point's time is known only where something recorded it: the backup's end (finishedAt) and
 * the receiver's position (now minus its lag); elsewhere it is null (finding it would mean
 * reading the WAL's commit records).
 */

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  PgFleetError, archiveTimelines, backupOnHistory, fileError, formatLsn, isErrno, parseLsn, parseTimelineHistory, parseWalSegmentName,
  segmentNumber, segmentStartLsn, timelineDirectory, timelineHistory, timelineHistoryFileName, walSegmentName,
  type Lsn, type TimelineHistoryEntry,
} from '@pgfleet/core';
import type { BackupMetadata } from '../repository/backup-metadata.js';
import { walDir } from '../repository/layout.js';
import { summarizeWalArchive, type ArchiveSummary, type TimelineSummary } from './archive-summary.js';
import type { ClusterWalState } from './wal-state.js';
import { flushedPositionTime } from './wal-report.js';

export interface WindowPoint {
  lsn: string;
  /** RFC 3339, or null when nothing recorded it (see the module comment). */
  time: string | null;
  timeline: number;
}

/**
 * Why the window ends where it does: "receiver" (the receiver's flushed position on the live
 * timeline), "archive-end" (the newest complete segment of the path), "gap" (a segment is
 * missing: firstMissing), "no-archive" (the cluster has no WAL archive, or one of another
 * server: only the backup's own end is reachable).
 */
export type WindowEnd = 'receiver' | 'archive-end' | 'gap' | 'no-archive';

export interface RecoverableWindow {
  from: WindowPoint;
  to: WindowPoint;
  end: WindowEnd;
  /** With end "gap": the first segment recovery would miss; otherwise null. */
  firstMissing: string | null;
}

/** What the windows of one cluster's backups are computed from: read once per listing. */
export interface ArchiveView {
  summary: ArchiveSummary | null;
  /** The history of each archived timeline after the first whose history file is readable. */
  histories: Map<number, TimelineHistoryEntry[]>;
  /** The receiver's durable position, when it has one. */
  live: { timeline: number; lsn: Lsn; time: string | null } | null;
}

/** The receiver's durable end and when the server was there (as `pgfleet wal`'s restore window says). */
export function liveArchiveEnd(live: ClusterWalState | null): ArchiveView['live'] {
  if (live === null || live.timeline === null || live.flushedLsn === null) return null;
  return { timeline: live.timeline, lsn: parseLsn(live.flushedLsn), time: flushedPositionTime(live) };
}

async function readHistory(root: string, timeline: number): Promise<TimelineHistoryEntry[] | null> {
  const path = join(timelineDirectory(root, timeline), timelineHistoryFileName(timeline));
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return null;
    throw fileError('could not read file', path, err);
  }
  try {
    return timelineHistory(timeline, parseTimelineHistory(text, { source: path }), { source: path });
  } catch (err) {
    // A history recovery could not read either: the timeline is not followed. The listing
    // still answers; the restore that needs the file names it.
    if (err instanceof PgFleetError) return null;
    throw err;
  }
}

/** Reads a cluster's archive summary and timeline histories (see ArchiveView). */
export async function readArchiveView(repository: string, cluster: string, live: ClusterWalState | null,
  known?: ArchiveSummary | null): Promise<ArchiveView> {
  // `known`: the caller has just summarised the archive.
  const summary = known !== undefined ? known : await summarizeWalArchive(repository, cluster);
  const histories = new Map<number, TimelineHistoryEntry[]>();
  if (summary !== null) {
    const root = walDir(repository, cluster);
    for (const timeline of await archiveTimelines(root)) {
      if (timeline === 1) continue;
      const history = await readHistory(root, timeline);
      if (history !== null) histories.set(timeline, history);
    }
  }
  return { summary, histories, live: liveArchiveEnd(live) };
}

/** The path recovery follows from a backup: the newest timeline whose history holds it. */
function pathOf(backup: { timeline: number; endLsn: Lsn }, histories: ArchiveView['histories']): TimelineHistoryEntry[] {
  let best = histories.get(backup.timeline) ?? (backup.timeline === 1 ? timelineHistory(1, []) : [{ timeline: backup.timeline, begin: 0n, end: null }]);
  for (const [timeline, history] of histories) {
    if (timeline > (best[0]?.timeline ?? 0) && backupOnHistory(history, backup.timeline, backup.endLsn)) best = history;
  }
  return best;
}

interface PathEnd {
  lsn: Lsn;
  timeline: number;
  end: WindowEnd;
  firstMissing: string | null;
  time: string | null;
}

function gapSegnos(t: TimelineSummary, segmentSize: number): Array<{ from: bigint; to: bigint }> {
  return t.gaps.map((g) => ({ from: parseWalSegmentName(g.from, segmentSize)?.segno ?? 0n, to: parseWalSegmentName(g.to, segmentSize)?.segno ?? 0n }));
}

/** Where the archive stops carrying recovery along `path` from segment `start` (see the module comment). */
function walkPath(path: TimelineHistoryEntry[], start: bigint, summary: ArchiveSummary, live: ArchiveView['live']): PathEnd {
  const size = summary.segmentSize;
  const missing = (timeline: number, segno: bigint): PathEnd => ({
    lsn: segmentStartLsn(segno, size), timeline, end: 'gap', firstMissing: walSegmentName(timeline, segno, size), time: null,
  });
  const oldestFirst = [...path].reverse();
  let next = start;
  for (let i = 0; i < oldestFirst.length; i++) {
    const entry = oldestFirst[i] as TimelineHistoryEntry;
    const child = oldestFirst[i + 1];
    // The segment holding the switch point is read from the child: the last one read from this timeline is the one before it.
    const last = child === undefined ? null : segmentNumber(child.begin, size) - 1n;
    if (last !== null && last < next) continue;
    const t = summary.timelines.find((x) => x.timeline === entry.timeline);
    if (t === undefined || t.firstSegno > next || t.lastSegno < next) return missing(entry.timeline, next);
    const gap = gapSegnos(t, size).find((g) => g.to >= next && (last === null || g.from <= last));
    if (gap !== undefined) return missing(entry.timeline, gap.from > next ? gap.from : next);
    if (last !== null && (t.lastSegno > last || (t.lastSegno === last && t.partial === null))) {
      next = last + 1n;
      continue;
    }
    // The archive of this timeline ends before the path leaves it (or this is the path's newest timeline).
    if (t.partial !== null) {
      const partialStart = segmentStartLsn(t.lastSegno, size);
      const onLive = live !== null && live.timeline === entry.timeline && live.lsn >= partialStart && live.lsn <= partialStart + BigInt(size);
      if (child !== undefined) return missing(entry.timeline, t.lastSegno);
      if (onLive) return { lsn: live.lsn, timeline: entry.timeline, end: 'receiver', firstMissing: null, time: live.time };
      // Nobody vouches for how much of the .partial is there: the window ends where it begins.
      return { lsn: partialStart, timeline: entry.timeline, end: 'archive-end', firstMissing: null, time: null };
    }
    const endLsn = segmentStartLsn(t.lastSegno + 1n, size);
    if (child !== undefined) return missing(entry.timeline, t.lastSegno + 1n);
    if (live !== null && live.timeline === entry.timeline && live.lsn === endLsn) {
      return { lsn: endLsn, timeline: entry.timeline, end: 'receiver', firstMissing: null, time: live.time };
    }
    return { lsn: endLsn, timeline: entry.timeline, end: 'archive-end', firstMissing: null, time: null };
  }
  // Not reached: the path's newest timeline always returns.
  return missing(path[0]?.timeline ?? 1, next);
}

/** The recoverable window of one usable backup (see the module comment). */
export function recoverableWindow(backup: Pick<BackupMetadata, 'startLsn' | 'endLsn' | 'timeline' | 'finishedAt' | 'systemIdentifier'>,
  view: ArchiveView): RecoverableWindow {
  const from: WindowPoint = { lsn: backup.endLsn, time: backup.finishedAt, timeline: backup.timeline };
  const summary = view.summary;
  if (summary === null || summary.systemIdentifier !== backup.systemIdentifier) {
    return { from, to: { ...from }, end: 'no-archive', firstMissing: null };
  }
  const endLsn = parseLsn(backup.endLsn);
  const path = pathOf({ timeline: backup.timeline, endLsn }, view.histories);
  const reached = walkPath(path, segmentNumber(parseLsn(backup.startLsn), summary.segmentSize), summary, view.live);
  if (reached.lsn <= endLsn) {
    // The archive does not carry the backup past its own end: a restore reaches that end only.
    return { from, to: { ...from }, end: reached.end, firstMissing: reached.firstMissing };
  }
  return { from, to: { lsn: formatLsn(reached.lsn), time: reached.time, timeline: reached.timeline }, end: reached.end, firstMissing: reached.firstMissing };
}
