/**
 * Listing a WAL archive. Two layouts are read:
 *  - `timelines`: the fleet repository's `<dir>/<TTTTTTTT>/<file>`, one directory per timeline
 *    (8 upper-case hex digits) holding that timeline's segments and its own history file;
 *  - `flat`: every file in `<dir>` itself, as pg_receivewal and pgfleet-receivewal write.
 * A file is `<segment>[.gz|.lz4|.zst][.partial]` or `<TTTTTTTT>.history[.gz|.lz4|.zst]`; other
 * names (temporary files, `.backup` files, anything foreign) are ignored. A segment in a timeline
 * directory that names another timeline is ignored too: it is not where a reader would look.
 * The layout is `timelines` as soon as the directory holds one timeline directory.
 */

import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { CompressionMethod } from '../../archive/compression-spec.js';
import { fileError, isErrno } from '../../errors.js';
import { DEFAULT_WAL_SEGMENT_SIZE, parseWalSegmentName, walSegmentName } from '../segment.js';

export type WalArchiveLayout = 'timelines' | 'flat';

export interface WalArchiveSegmentFile {
  /** The file's name on disk, suffixes included. */
  name: string;
  path: string;
  /** The 24-character segment name. */
  segment: string;
  timeline: number;
  segno: bigint;
  compression: CompressionMethod;
  /** `.partial`: the segment was still being received. */
  partial: boolean;
}

export interface WalArchiveHistoryFile {
  name: string;
  path: string;
  timeline: number;
  compression: CompressionMethod;
}

export interface WalArchiveListing {
  dir: string;
  layout: WalArchiveLayout;
  segmentSize: number;
  /** Sorted by timeline, then segment number, a complete file before a partial one. */
  segments: WalArchiveSegmentFile[];
  /** History files by timeline. */
  histories: Map<number, WalArchiveHistoryFile>;
  /** The files of each segment name, in the order of `segments`. */
  bySegment: Map<string, WalArchiveSegmentFile[]>;
}

export interface ListWalArchiveOptions {
  /** The cluster's WAL segment size in bytes (default 16 MB); segment numbers depend on it. */
  segmentSize?: number;
}

const SEGMENT_FILE = /^([0-9A-F]{24})(\.gz|\.lz4|\.zst)?(\.partial)?$/;
const HISTORY_FILE = /^([0-9A-F]{8})\.history(\.gz|\.lz4|\.zst)?$/;
const TIMELINE_DIR = /^[0-9A-F]{8}$/;

function compressionOf(suffix: string | undefined): CompressionMethod {
  return suffix === '.gz' ? 'gzip' : suffix === '.lz4' ? 'lz4' : suffix === '.zst' ? 'zstd' : 'none';
}

/** The suffix a compression method gives an archived WAL file ("" for none). */
export function walArchiveSuffix(compression: CompressionMethod): string {
  return compression === 'gzip' ? '.gz' : compression === 'lz4' ? '.lz4' : compression === 'zstd' ? '.zst' : '';
}

/** The directory name of a timeline in the `timelines` layout: 8 upper-case hex digits. */
export function walArchiveTimelineDir(timeline: number): string {
  return timeline.toString(16).toUpperCase().padStart(8, '0');
}

/** Parses an archived segment file name; null for any other name. */
export function parseWalArchiveSegmentName(name: string): { segment: string; compression: CompressionMethod; partial: boolean } | null {
  const m = SEGMENT_FILE.exec(name);
  if (m === null) return null;
  return { segment: m[1] as string, compression: compressionOf(m[2]), partial: m[3] !== undefined };
}

/** Parses an archived history file name; null for any other name. */
export function parseWalArchiveHistoryName(name: string): { timeline: number; compression: CompressionMethod } | null {
  const m = HISTORY_FILE.exec(name);
  if (m === null) return null;
  return { timeline: Number.parseInt(m[1] as string, 16), compression: compressionOf(m[2]) };
}

async function readNames(dir: string): Promise<{ name: string; isDir: boolean }[]> {
  try {
    const entries = await readdir(dir, { withFileTypes: true });
    return entries.map((e) => ({ name: e.name, isDir: e.isDirectory() }));
  } catch (err) {
    throw fileError('could not open WAL archive directory', dir, err,
      isErrno(err, 'ENOENT') ? 'Give the directory pg_receivewal or pgfleet-receivewal writes to.' : undefined);
  }
}

function addFile(listing: WalArchiveListing, dir: string, name: string, expectedTimeline: number | null): void {
  const history = parseWalArchiveHistoryName(name);
  if (history !== null) {
    if (expectedTimeline !== null && history.timeline !== expectedTimeline) return;
    const known = listing.histories.get(history.timeline);
    // The same file in two compressions: either holds the same text; prefer the plain one.
    if (known === undefined || history.compression === 'none') {
      listing.histories.set(history.timeline, { name, path: join(dir, name), ...history });
    }
    return;
  }
  const file = parseWalArchiveSegmentName(name);
  if (file === null) return;
  const id = parseWalSegmentName(file.segment, listing.segmentSize);
  if (id === null || (expectedTimeline !== null && id.timeline !== expectedTimeline)) return;
  listing.segments.push({ name, path: join(dir, name), ...file, timeline: id.timeline, segno: id.segno });
}

/** Lists the segments and history files of a WAL archive in either layout. */
export async function listWalArchive(dir: string, options: ListWalArchiveOptions = {}): Promise<WalArchiveListing> {
  const listing: WalArchiveListing = {
    dir, layout: 'flat', segmentSize: options.segmentSize ?? DEFAULT_WAL_SEGMENT_SIZE, segments: [], histories: new Map(), bySegment: new Map(),
  };
  const top = await readNames(dir);
  const timelineDirs = top.filter((e) => e.isDir && TIMELINE_DIR.test(e.name));
  if (timelineDirs.length > 0) {
    listing.layout = 'timelines';
    for (const sub of timelineDirs) {
      const subdir = join(dir, sub.name);
      const timeline = Number.parseInt(sub.name, 16);
      for (const e of await readNames(subdir)) if (!e.isDir) addFile(listing, subdir, e.name, timeline);
    }
  } else {
    for (const e of top) if (!e.isDir) addFile(listing, dir, e.name, null);
  }
  listing.segments.sort((a, b) => a.timeline - b.timeline || (a.segno < b.segno ? -1 : a.segno > b.segno ? 1 : 0) ||
    Number(a.partial) - Number(b.partial));
  for (const f of listing.segments) {
    const files = listing.bySegment.get(f.segment);
    if (files === undefined) listing.bySegment.set(f.segment, [f]);
    else files.push(f);
  }
  return listing;
}

/**
 * The file holding a segment on a timeline: a complete one when there is one, else (with
 * `partial`) its `.partial` file; null when the archive has neither.
 */
export function findArchivedSegment(listing: WalArchiveListing, timeline: number, segno: bigint,
  options: { partial?: boolean } = {}): WalArchiveSegmentFile | null {
  const files = listing.bySegment.get(walSegmentName(timeline, segno, listing.segmentSize)) ?? [];
  const complete = files.find((f) => !f.partial);
  if (complete !== undefined) return complete;
  return options.partial === true ? files[0] ?? null : null;
}

export interface LocatedWalArchiveFile {
  path: string;
  compression: CompressionMethod;
  partial: boolean;
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return false;
    throw fileError('could not stat file', path, err);
  }
}

/**
 * The archived file for a name the server asks restore_command for (`%f`: a segment or a
 * history file), in either layout, without listing the archive: the plain file, else a
 * compressed one, else (for a segment) its `.partial` file; null when there is none. The
 * timeline directory is taken from the name's first 8 hex digits.
 */
export async function locateWalArchiveFile(dir: string, fileName: string): Promise<LocatedWalArchiveFile | null> {
  const segment = /^[0-9A-F]{24}$/.test(fileName);
  if (!segment && !/^[0-9A-F]{8}\.history$/.test(fileName)) return null;
  const timelineDir = join(dir, fileName.slice(0, 8));
  let base = dir;
  try {
    if ((await stat(timelineDir)).isDirectory()) base = timelineDir;
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw fileError('could not stat directory', timelineDir, err);
  }
  const methods: CompressionMethod[] = ['none', 'zstd', 'lz4', 'gzip'];
  for (const partial of segment ? [false, true] : [false]) {
    for (const compression of methods) {
      const path = join(base, fileName + walArchiveSuffix(compression) + (partial ? '.partial' : ''));
      if (await isFile(path)) return { path, compression, partial };
    }
  }
  return null;
}
