/**
 * Does a WAL archive hold every segment recovery will ask for? Recovery from a backup that
 * starts at `startLsn` reads segment after segment along the target timeline's history; for each
 * segment number it asks for the file of the newest timeline of that history which had begun by
 * that segment (XLogFileReadAnyTLI), so the segment holding a switch point is read from the new
 * timeline, and the old timeline's copy of it (often only a `.partial`) is never needed.
 *
 * The range checked runs from the segment holding `startLsn` to the segment holding `endLsn`
 * (an LSN target), or, with `endLsn: null` (time, xid, restore point and `latest` targets, whose
 * position is not known in advance), to the last segment the archive holds on that path. The
 * first segment of the range that is absent is returned: that is where recovery would stop
 * early. A `.partial` file counts only as the very last segment of the range (it is where the
 * receiver was writing); anywhere else it is incomplete and counts as missing.
 */

import { formatLsn, type Lsn } from '../lsn.js';
import { InvalidOptionError } from '../../errors.js';
import { parseWalSegmentName, segmentNumber, walSegmentName } from '../segment.js';
import type { TimelineHistoryEntry } from '../timeline.js';
import { findArchivedSegment, type WalArchiveListing } from './wal-archive-listing.js';

export interface WalArchiveCoverageOptions {
  startLsn: Lsn;
  /** The target timeline's history, newest first (timelineHistory / readArchivedTimelineHistory). */
  history: readonly TimelineHistoryEntry[];
  /** The segment holding this LSN is the last one needed; null: up to the end of the archive. */
  endLsn: Lsn | null;
  /** Segment names available besides the archive (the backup's own pg_wal), counted as present. */
  present?: ReadonlySet<string>;
}

export interface WalArchiveCoverage {
  /** The segment holding startLsn on the path. */
  firstSegment: string;
  /** The last segment of the range checked (null: the archive holds nothing on the path). */
  lastSegment: string | null;
  /** The first segment of the range that the archive does not hold, or null. */
  firstMissing: string | null;
  /** The range ends in a `.partial` file. */
  endsPartial: boolean;
}

/** The timeline whose file recovery reads for segment `segno`, or null when the path has none. */
export function timelineForSegment(history: readonly TimelineHistoryEntry[], segno: bigint, segmentSize: number): number | null {
  for (const entry of history) {
    if (segno >= segmentNumber(entry.begin, segmentSize)) return entry.timeline;
  }
  return null;
}

function lastOnPath(listing: WalArchiveListing, history: readonly TimelineHistoryEntry[], from: bigint): bigint | null {
  let last: bigint | null = null;
  for (const f of listing.segments) {
    if (f.segno < from || (last !== null && f.segno <= last)) continue;
    if (timelineForSegment(history, f.segno, listing.segmentSize) === f.timeline) last = f.segno;
  }
  return last;
}

/** Checks the archive against the range a recovery needs (see the module comment). */
export function checkWalArchiveCoverage(listing: WalArchiveListing, options: WalArchiveCoverageOptions): WalArchiveCoverage {
  const size = listing.segmentSize;
  const name = (segno: bigint): string =>
    walSegmentName(timelineForSegment(options.history, segno, size) ?? 0, segno, size);
  const first = segmentNumber(options.startLsn, size);
  if (timelineForSegment(options.history, first, size) === null) {
    throw new InvalidOptionError(`start LSN ${formatLsn(options.startLsn)} is on no timeline of the history`);
  }
  const present = options.present ?? new Set<string>();
  let last = options.endLsn === null ? lastOnPath(listing, options.history, first) : segmentNumber(options.endLsn, size);
  // The backup's own WAL may reach past the archive's end.
  for (const seg of options.endLsn === null ? present : []) {
    const at = parseWalSegmentName(seg, size)?.segno ?? null;
    if (at !== null && name(at) === seg && at >= first && (last === null || at > last)) last = at;
  }
  const result: WalArchiveCoverage = { firstSegment: name(first), lastSegment: last === null ? null : name(last), firstMissing: null, endsPartial: false };
  if (last === null) {
    result.firstMissing = name(first);
    return result;
  }
  for (let s = first; s <= last; s++) {
    const segment = name(s);
    if (present.has(segment)) continue;
    const timeline = timelineForSegment(options.history, s, size) ?? 0;
    const file = findArchivedSegment(listing, timeline, s, { partial: s === last });
    if (file === null) {
      result.firstMissing = segment;
      return result;
    }
    if (file.partial) result.endsPartial = true;
  }
  return result;
}
