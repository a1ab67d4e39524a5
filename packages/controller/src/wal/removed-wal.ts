/**
 * WAL the server removed before the archive received it, remembered in the repository
 * (`<repo>/<cluster>/wal/removed.json`) so that it is reported for as long as it matters, also
 * after a restart of the controller: `pgfleet wal` shows each one as an error with a HINT, and
 * the archive's gap (archive-summary.ts) and the recoverable windows of older backups
 * (recoverable-window.ts) end there.
 *
 * A note names the first segment the archive lacks (where it would have resumed), its timeline,
 * when it was found, what the server said, and, once the archive streams again, where it
 * resumed. It stays while the archive still holds something before that segment on its
 * timeline (a backup older than the gap could still be restored up to it), i.e. until expire
 * has removed everything before it; expire then drops it from the file (pruneRemovedWal).
 */

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileError, isErrno, parseWalSegmentName } from '@pgfleet/core';
import { writeFileAtomic } from '../repository/atomic-write.js';
import { WAL_REMOVED_FILE, walDir } from '../repository/layout.js';
import type { ArchiveSummary } from './archive-summary.js';

export interface RemovedWalNote {
  timeline: number;
  /** The first segment the archive lacks: where it would have resumed. */
  firstMissing: string;
  /** RFC 3339. */
  detectedAt: string;
  /** The server's error. */
  serverError: string;
  /** Where streaming resumed (LSN), or null while it has not yet. */
  resumedAt: string | null;
}

/** A note as `pgfleet wal` shows it. */
export interface RemovedWalNotice extends RemovedWalNote {
  message: string;
  hint: string;
}

function path(repository: string, cluster: string): string {
  return join(walDir(repository, cluster), WAL_REMOVED_FILE);
}

export async function readRemovedWal(repository: string, cluster: string): Promise<RemovedWalNote[]> {
  const file = path(repository, cluster);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return [];
    throw fileError('could not read file', file, err);
  }
  const parsed = JSON.parse(text) as { removed?: RemovedWalNote[] };
  return Array.isArray(parsed.removed) ? parsed.removed : [];
}

async function writeRemovedWal(repository: string, cluster: string, notes: RemovedWalNote[]): Promise<void> {
  await writeFileAtomic(path(repository, cluster), `${JSON.stringify({ format: 1, removed: notes }, null, 2)}\n`);
}

/** Records a removal (once per first missing segment: the same one found again keeps its first note). */
export async function noteRemovedWal(repository: string, cluster: string, note: Omit<RemovedWalNote, 'resumedAt'>): Promise<RemovedWalNote> {
  const notes = await readRemovedWal(repository, cluster);
  const known = notes.find((n) => n.firstMissing === note.firstMissing);
  if (known !== undefined) return known;
  const added: RemovedWalNote = { ...note, resumedAt: null };
  await writeRemovedWal(repository, cluster, [...notes, added]);
  return added;
}

/** Streaming resumed at `lsn`: every note still waiting for it gets it. */
export async function noteResumed(repository: string, cluster: string, lsn: string): Promise<RemovedWalNote[]> {
  const notes = await readRemovedWal(repository, cluster);
  const waiting = notes.filter((n) => n.resumedAt === null);
  if (waiting.length === 0) return [];
  for (const n of waiting) n.resumedAt = lsn;
  await writeRemovedWal(repository, cluster, notes);
  return waiting;
}

/** The operator's message and hint of a note (`pgfleet wal`, the log). */
export function removedWalNotice(cluster: string, note: RemovedWalNote): RemovedWalNotice {
  const resumed = note.resumedAt !== null ? `the archive streams again from ${note.resumedAt}` : 'the archive resumes where the server is now';
  return {
    ...note,
    message: `the server of cluster "${cluster}" removed WAL segment ${note.firstMissing} before the archive received it: point-in-time recovery across it is impossible`,
    hint: `Take a new backup ("pgfleet backup ${cluster}"): ${resumed}, so recovery to any point after that backup works again; backups before it recover only up to the gap. ` +
      'Raise max_slot_wal_keep_size, or keep archive outages shorter, so that the server keeps the WAL until the archive has it.',
  };
}

/** Whether the archive still holds WAL before the note's gap on its timeline (see the module comment). */
function stillBefore(note: RemovedWalNote, summary: ArchiveSummary): boolean {
  const at = parseWalSegmentName(note.firstMissing, summary.segmentSize);
  const t = summary.timelines.find((x) => x.timeline === note.timeline);
  return at !== null && t !== undefined && t.firstSegno <= at.segno;
}

/** The notes that still matter, as notices. */
export function activeRemovedWal(cluster: string, notes: RemovedWalNote[], summary: ArchiveSummary | null): RemovedWalNotice[] {
  if (summary === null) return [];
  return notes.filter((n) => stillBefore(n, summary)).map((n) => removedWalNotice(cluster, n));
}

/** After expire: drops the notes nothing before them is kept for. */
export async function pruneRemovedWal(repository: string, cluster: string, summary: ArchiveSummary | null): Promise<void> {
  const notes = await readRemovedWal(repository, cluster);
  if (notes.length === 0) return;
  const kept = summary === null ? [] : notes.filter((n) => stillBefore(n, summary));
  if (kept.length !== notes.length) await writeRemovedWal(repository, cluster, kept);
}
