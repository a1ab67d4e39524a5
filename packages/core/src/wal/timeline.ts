/**
 * Timeline history files (`%08X.history`), as the server writes them and returns them for
 * TIMELINE_HISTORY: one line per ancestor, `parentTLI<TAB>switchLSN<TAB>reason`, oldest first;
 * blank lines and lines starting with `#` are ignored. The rules (increasing timeline IDs, all
 * of them below the child's) are the server's readTimeLineHistory rules.
 */

import { WalFormatError } from '../errors.js';
import { tryParseLsn, type Lsn } from './lsn.js';

/** One line of a history file: `timeline` ended and its child began at `switchLsn`. */
export interface TimelineSwitch {
  timeline: number;
  switchLsn: Lsn;
  reason: string;
}

/** One timeline of a history, with the WAL range it covers; `end` is null for the newest. */
export interface TimelineHistoryEntry {
  timeline: number;
  begin: Lsn;
  end: Lsn | null;
}

export interface ParseTimelineHistoryOptions {
  /** Names the file in error messages (default "timeline history"). */
  source?: string;
}

const LINE = /^(\d+)\s+([0-9A-Fa-f]{1,8}\/[0-9A-Fa-f]{1,8})(?:\s(.*))?$/;

/** Parses the text of a history file into its switch points, oldest first. */
export function parseTimelineHistory(text: string, options: ParseTimelineHistoryOptions = {}): TimelineSwitch[] {
  const source = options.source ?? 'timeline history';
  const result: TimelineSwitch[] = [];
  for (const rawLine of text.split('\n')) {
    const line = rawLine.replace(/\r$/, '').replace(/^\s+/, '');
    if (line === '' || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (m === null) {
      const hint = /^\d+/.test(line)
        ? 'Expected a write-ahead log switchpoint location.'
        : 'Expected a numeric timeline ID.';
      throw new WalFormatError(`syntax error in history file "${source}": "${line}"`, { hint });
    }
    const timeline = Number(m[1]);
    const switchLsn = tryParseLsn(m[2] ?? '');
    if (!Number.isSafeInteger(timeline) || timeline > 0xFFFF_FFFF || switchLsn === null) {
      throw new WalFormatError(`syntax error in history file "${source}": "${line}"`, {
        hint: 'Expected a numeric timeline ID.',
      });
    }
    const previous = result[result.length - 1];
    if (previous !== undefined && timeline <= previous.timeline) {
      throw new WalFormatError(`invalid data in history file "${source}": "${line}"`, {
        hint: 'Timeline IDs must be in increasing sequence.',
      });
    }
    result.push({ timeline, switchLsn, reason: (m[3] ?? '').trim() });
  }
  return result;
}

/**
 * The history of `targetTimeline`, newest first (the order readTimeLineHistory returns): the
 * target itself (begin = last switch point, end = null), then each ancestor with the range it
 * covered. The first ancestor begins at 0.
 */
export function timelineHistory(targetTimeline: number, switches: readonly TimelineSwitch[],
  options: ParseTimelineHistoryOptions = {}): TimelineHistoryEntry[] {
  const last = switches[switches.length - 1];
  if (last !== undefined && targetTimeline <= last.timeline) {
    throw new WalFormatError(`invalid data in history file "${options.source ?? 'timeline history'}"`, {
      hint: "Timeline IDs must be less than child timeline's ID.",
    });
  }
  const entries: TimelineHistoryEntry[] = [];
  let begin: Lsn = 0n;
  for (const s of switches) {
    entries.push({ timeline: s.timeline, begin, end: s.switchLsn });
    begin = s.switchLsn;
  }
  entries.push({ timeline: targetTimeline, begin, end: null });
  return entries.reverse();
}

/** The timeline that `lsn` belongs to in a history (tliOfPointInHistory); null if none. */
export function timelineOfLsn(lsn: Lsn, history: readonly TimelineHistoryEntry[]): number | null {
  for (const entry of history) {
    if (lsn >= entry.begin && (entry.end === null || lsn < entry.end)) return entry.timeline;
  }
  return null;
}

/** A position to stream from: an LSN on a timeline. */
export interface TimelinePosition {
  lsn: Lsn;
  timeline: number;
}

/**
 * Where to resume streaming from a server whose history left the resume point's timeline
 * before that point (the cluster restored from an older backup and promoted: its new timeline
 * forks behind what the archive already holds of the old one). The server refuses such a start
 * ("requested starting point ... is not in this server's history"), so streaming goes back to
 * the start of the segment holding the switch point, on the timeline the server went on with
 * there. `switches` is the server's history (its TIMELINE_HISTORY for `serverTimeline`).
 * Any other start is returned as it is (a timeline the server never had is its to refuse).
 */
export function resumeOnServerHistory(start: TimelinePosition, serverTimeline: number, switches: readonly TimelineSwitch[],
  segmentSize: number): TimelinePosition {
  if (start.timeline >= serverTimeline) return start;
  const history = timelineHistory(serverTimeline, switches);
  const entry = history.find((e) => e.timeline === start.timeline);
  if (entry === undefined || entry.end === null || start.lsn <= entry.end) return start;
  const timeline = timelineOfLsn(entry.end, history) ?? serverTimeline;
  return { lsn: entry.end - (entry.end % BigInt(segmentSize)), timeline };
}
