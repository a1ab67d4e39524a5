/**
 * What a cluster's WAL archive holds, per timeline (`pgfleet wal`, checks, expire): the first
 * and last segment, how many are complete, the open `.partial`, the segments missing between
 * the first and the last (gaps; a `.partial` that is not the timeline's last is incomplete WAL,
 * so it counts as missing too), and whether the timeline's history file is there. Segment
 * names are read from the directory only; contents are not opened.
 */

import { readdir } from 'node:fs/promises';
import {
  formatLsn, isErrno, parseWalFileName, parseWalSegmentName, segmentStartLsn, timelineDirectory, timelineHistoryFileName, walSegmentName,
  archiveTimelines, fileError,
} from '@pgfleet/core';
import { walDir } from '../repository/layout.js';
import { readWalArchiveMetadata } from './wal-archiver.js';

export interface WalGap {
  /** The first and last missing segment. */
  from: string;
  to: string;
  segments: number;
}

export interface TimelineSummary {
  timeline: number;
  firstSegment: string;
  lastSegment: string;
  /** Start of the first segment. */
  startLsn: string;
  /** End of the newest complete segment (the partial's data comes on top). */
  completeEndLsn: string | null;
  completeSegments: number;
  /** The open segment's name (`<segment>.partial`), or null. */
  partial: string | null;
  gaps: WalGap[];
  history: boolean;
  /** For arithmetic. */
  firstSegno: bigint;
  lastSegno: bigint;
}

export interface ArchiveSummary {
  segmentSize: number;
  systemIdentifier: string;
  timelines: TimelineSummary[];
}

async function names(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return [];
    throw fileError('could not read directory', dir, err);
  }
}

/** The archive's summary, or null when the cluster has none yet. */
export async function summarizeWalArchive(repository: string, cluster: string): Promise<ArchiveSummary | null> {
  const meta = await readWalArchiveMetadata(repository, cluster);
  if (meta === null) return null;
  const root = walDir(repository, cluster);
  const out: ArchiveSummary = { segmentSize: meta.segmentSize, systemIdentifier: meta.systemIdentifier, timelines: [] };
  for (const timeline of await archiveTimelines(root)) {
    const files = await names(timelineDirectory(root, timeline));
    const complete = new Set<bigint>();
    const partial = new Map<bigint, string>();
    for (const n of files) {
      const f = parseWalFileName(n);
      const id = f === null ? null : parseWalSegmentName(f.segment, meta.segmentSize);
      if (f === null || id === null || id.timeline !== timeline) continue;
      if (f.partial) partial.set(id.segno, n);
      else complete.add(id.segno);
    }
    const all = [...new Set([...complete, ...partial.keys()])].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const history = files.includes(timelineHistoryFileName(timeline));
    if (all.length === 0) continue;
    const first = all[0] as bigint;
    const last = all[all.length - 1] as bigint;
    const gaps: WalGap[] = [];
    let run: bigint | null = null;
    for (let s = first; s <= last + 1n; s++) {
      const present = complete.has(s) || (s === last && partial.has(s));
      const missing = s <= last && !present;
      if (missing && run === null) run = s;
      if (!missing && run !== null) {
        gaps.push({ from: walSegmentName(timeline, run, meta.segmentSize), to: walSegmentName(timeline, s - 1n, meta.segmentSize), segments: Number(s - run) });
        run = null;
      }
    }
    const completeSorted = [...complete].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const lastComplete = completeSorted[completeSorted.length - 1];
    out.timelines.push({
      timeline,
      firstSegment: walSegmentName(timeline, first, meta.segmentSize),
      lastSegment: walSegmentName(timeline, last, meta.segmentSize),
      startLsn: formatLsn(segmentStartLsn(first, meta.segmentSize)),
      completeEndLsn: lastComplete === undefined ? null : formatLsn(segmentStartLsn(lastComplete + 1n, meta.segmentSize)),
      completeSegments: complete.size,
      partial: !complete.has(last) ? partial.get(last) ?? null : null,
      gaps,
      history,
      firstSegno: first,
      lastSegno: last,
    });
  }
  return out;
}
