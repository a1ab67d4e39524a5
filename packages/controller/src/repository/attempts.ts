/**
 * What the repository remembers besides backups:
 *
 *   <repo>/<cluster>/attempts/<backup-id>.json   a backup attempt that left no backup: "failed"
 *                                                (with the error) or "incomplete" (its staging
 *                                                directory was found at daemon start)
 *   <repo>/<cluster>/schedule.json               the schedule's last run (the occurrence it was
 *                                                for, and when it started), so that a run missed
 *                                                while the daemon was down is noticed at start
 *
 * Both are written atomically (temporary name, fsync, rename). Only the newest
 * MAX_ATTEMPTS_KEPT attempt records of a cluster are kept. A record that cannot be read is
 * skipped: it is history, never a reason to refuse work.
 */
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileError, isErrno } from '@pgfleet/core';
import { writeFileAtomic } from './atomic-write.js';
import { compareBackupIds, isBackupId } from './backup-id.js';
import { clusterDir } from './layout.js';

export const MAX_ATTEMPTS_KEPT = 100;

/** Why a backup was started. */
export type BackupTrigger = 'request' | 'schedule' | 'missed';

export interface AttemptRecord {
  format: 'pgfleet-attempt-1';
  cluster: string;
  id: string;
  status: 'failed' | 'incomplete';
  startedAt: string;
  /** Empty when unknown (an incomplete attempt). */
  endedAt: string;
  trigger: BackupTrigger | '';
  error: { id: string; code: number; message: string; hint: string };
}

export interface ScheduleState {
  format: 'pgfleet-schedule-1';
  /** The cron occurrence the last run was for (RFC 3339). */
  lastOccurrence: string;
  /** When it started. */
  lastRunAt: string;
}

export function attemptsDir(repository: string, cluster: string): string {
  return join(clusterDir(repository, cluster), 'attempts');
}

export function scheduleStatePath(repository: string, cluster: string): string {
  return join(clusterDir(repository, cluster), 'schedule.json');
}

/** The start time a backup id stands for ("20250102T030405Z-2" -> 2025-01-02T03:04:05Z). */
export function backupIdTime(id: string): string {
  const m = /^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z/.exec(id);
  return m ? `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.000Z` : '';
}

/** Records an attempt; older records beyond MAX_ATTEMPTS_KEPT are removed. */
export async function recordAttempt(repository: string, record: AttemptRecord): Promise<void> {
  const dir = attemptsDir(repository, record.cluster);
  await writeFileAtomic(join(dir, `${record.id}.json`), `${JSON.stringify(record, null, 2)}\n`, { mkdir: true });
  const names = (await readdir(dir)).filter((n) => n.endsWith('.json') && isBackupId(n.slice(0, -5)))
    .sort((a, b) => compareBackupIds(a.slice(0, -5), b.slice(0, -5)));
  for (const old of names.slice(0, Math.max(0, names.length - MAX_ATTEMPTS_KEPT))) {
    await rm(join(dir, old), { force: true });
  }
}

/** The recorded attempts of a cluster, oldest first. */
export async function readAttempts(repository: string, cluster: string): Promise<AttemptRecord[]> {
  const dir = attemptsDir(repository, cluster);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return [];
    throw fileError('could not read directory', dir, err);
  }
  const out: AttemptRecord[] = [];
  for (const n of names.filter((x) => x.endsWith('.json') && isBackupId(x.slice(0, -5)))) {
    try {
      const r = JSON.parse(await readFile(join(dir, n), 'utf8')) as AttemptRecord;
      if (r.format === 'pgfleet-attempt-1' && typeof r.id === 'string') out.push(r);
    } catch {
      // unreadable history is skipped
    }
  }
  return out.sort((a, b) => compareBackupIds(a.id, b.id));
}

export async function readScheduleState(repository: string, cluster: string): Promise<ScheduleState | null> {
  try {
    const s = JSON.parse(await readFile(scheduleStatePath(repository, cluster), 'utf8')) as ScheduleState;
    return s.format === 'pgfleet-schedule-1' && !Number.isNaN(Date.parse(s.lastOccurrence)) ? s : null;
  } catch {
    return null;
  }
}

export async function writeScheduleState(repository: string, cluster: string, occurrence: Date, runAt: Date): Promise<void> {
  const state: ScheduleState = { format: 'pgfleet-schedule-1', lastOccurrence: occurrence.toISOString(), lastRunAt: runAt.toISOString() };
  await writeFileAtomic(scheduleStatePath(repository, cluster), `${JSON.stringify(state, null, 2)}\n`, { mkdir: true });
}
