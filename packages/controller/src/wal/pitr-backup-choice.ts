/**
 * Which backup a point-in-time restore starts from, and the proof, before anything is sent to
 * the agent, that the cluster's WAL archive (`<repo>/<cluster>/wal`, one directory per
 * timeline) holds every segment from that backup's start to the target.
 *
 * The rule: the newest usable backup that lies on the target timeline's history and ended
 * before the target:
 *  - time: finished (backup.json finishedAt) before the target time;
 *  - LSN: end LSN at or before the target;
 *  - immediate, latest: the newest;
 *  - xid and restore point: their position is not known before the WAL is read, so the newest
 *    backup is taken. If the target lies before that backup's end, the server refuses to end
 *    recovery ("recovery ended before configured recovery target was reached") and nothing is
 *    promoted; name an older backup with --backup then.
 * `--backup ID` skips the choice (the backup must still be on the target's history, and an
 * LSN target after its end). The archive check then runs on the chosen backup only: a gap
 * after it would be a gap for an older backup too.
 */

import {
  InvalidOptionError, NotFoundError, backupOnHistory, describeRecoveryTarget, fileError, isErrno, openWalArchive, parseLsn,
  planArchiveRecovery, readArchivedTimelineHistory, resolveTargetTimeline, type ArchiveRecoveryPlan, type RecoveryTarget,
  type WalArchiveListing,
} from '@pgfleet/core';
import { readClusterCatalog, type CatalogEntry } from '../repository/catalog.js';
import { walDir } from '../repository/layout.js';
import { stat } from 'node:fs/promises';

export interface PitrChoice {
  entry: CatalogEntry;
  plan: ArchiveRecoveryPlan;
  /** The sentence printed before anything is written. */
  statement: string;
}

async function openClusterArchive(repository: string, cluster: string): Promise<WalArchiveListing> {
  const dir = walDir(repository, cluster);
  try {
    await stat(dir);
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw fileError('could not open directory', dir, err);
    throw new NotFoundError(`cluster "${cluster}" has no WAL archive ("${dir}")`, {
      hint: 'Point-in-time recovery needs the continuous WAL archive (wal: archive: stream in fleet.yaml) running since the backup.',
    });
  }
  return openWalArchive(dir);
}

function endsBefore(entry: CatalogEntry, target: RecoveryTarget): boolean {
  const m = entry.metadata;
  if (target.kind === 'time') return Date.parse(m.finishedAt) < (target.timeMs as number);
  if (target.kind === 'lsn') return parseLsn(m.endLsn) <= parseLsn(target.value);
  return true;
}

async function onHistory(listing: WalArchiveListing, entry: CatalogEntry, target: RecoveryTarget): Promise<boolean> {
  const m = entry.metadata;
  const timeline = resolveTargetTimeline(listing, target.timeline, m.timeline);
  if (timeline !== 1 && !listing.histories.has(timeline)) return false;
  return backupOnHistory(await readArchivedTimelineHistory(listing, timeline), m.timeline, parseLsn(m.endLsn));
}

/** Chooses the backup and checks the archive (see the module comment). */
export async function choosePitrBackup(repository: string, cluster: string, target: RecoveryTarget, backupId: string): Promise<PitrChoice> {
  const { backups } = await readClusterCatalog(repository, cluster);
  const listing = await openClusterArchive(repository, cluster);
  let entry: CatalogEntry | undefined;
  if (backupId !== '' && backupId !== 'latest') {
    entry = backups.find((b) => b.metadata.id === backupId);
    if (entry === undefined) throw new NotFoundError(`cluster "${cluster}" has no usable backup "${backupId}"`, { hint: 'List them with pgfleet backups.' });
  } else {
    for (const candidate of [...backups].reverse()) {
      if (endsBefore(candidate, target) && await onHistory(listing, candidate, target)) {
        entry = candidate;
        break;
      }
    }
    if (entry === undefined) {
      throw new NotFoundError(`cluster "${cluster}" has no usable backup that ended before ${describeRecoveryTarget(target)}`, {
        hint: backups.length === 0 ? 'Take a backup first with pgfleet backup.' : 'Choose a later target, or another --target-timeline.',
      });
    }
  }
  const m = entry.metadata;
  const plan = await planArchiveRecovery(listing, {
    backup: { label: m.id, timeline: m.timeline, startLsn: parseLsn(m.startLsn), endLsn: parseLsn(m.endLsn) },
    target,
  });
  if (target.kind === 'time' && Date.parse(m.finishedAt) >= (target.timeMs as number)) {
    throw new InvalidOptionError(`backup "${m.id}" finished at ${m.finishedAt}, after the recovery target time "${target.value}"`, {
      hint: 'Recovery cannot stop before the backup is consistent: choose an older backup, or leave --backup out.',
    });
  }
  const upTo = plan.coverage.lastSegment ? ` up to ${plan.coverage.lastSegment}${plan.coverage.endsPartial ? ' (partial)' : ''}` : '';
  const statement = `point-in-time recovery: backup ${m.id} (timeline ${m.timeline}, ${m.startLsn} to ${m.endLsn}, finished ${m.finishedAt}), ` +
    `WAL archive checked from ${plan.coverage.firstSegment}${upTo}, target ${describeRecoveryTarget(target)} (timeline ${plan.targetTimeline})`;
  return { entry, plan, statement };
}
