/** controller.proto's BackupRecord as the CLI's JSON (the backup.json fields, numbers as numbers). */
import type { BackupRecord__Output, RecoverableWindow__Output } from '@pgfleet/proto';
import type { BackupMetadata } from '../repository/backup-metadata.js';
import type { RecoverableWindow } from '../wal/recoverable-window.js';

/**
 * backup.json's fields (repository/backup-metadata.ts, without its format tag) as they arrive
 * over the wire, where the enumerations are plain strings, plus where the backup lives and,
 * for a damaged backup (status "damaged"), why (null otherwise), and how far the WAL archive
 * carries it (`pgfleet backups` and `show`; null for a damaged backup, in `pgfleet backup`'s
 * output, and from a controller older than protocol 1.5).
 */
export type BackupJson = Omit<BackupMetadata, 'format' | 'type' | 'status' | 'walMethod' | 'damage'> & {
  type: string;
  status: string;
  walMethod: string;
  path: string;
  damage: string | null;
  recoverableWindow: RecoverableWindow | null;
};

function windowJson(w: RecoverableWindow__Output | null | undefined): RecoverableWindow | null {
  if (!w) return null;
  return {
    from: { lsn: w.fromLsn, time: w.fromTime || null, timeline: w.fromTimeline },
    to: { lsn: w.toLsn, time: w.toTime || null, timeline: w.toTimeline },
    end: w.end as RecoverableWindow['end'],
    firstMissing: w.firstMissing || null,
  };
}

/**
 * The RECOVERABLE TO cell: the window's end, its timeline when not the backup's, "(gap)" when a
 * missing segment ends it, "(end only)" when the archive adds nothing, "(no archive)".
 */
export function recoverableToText(b: Pick<BackupJson, 'recoverableWindow' | 'timeline'>): string {
  const w = b.recoverableWindow;
  if (w === null) return '-';
  const tl = w.to.timeline !== b.timeline ? ` (TL ${w.to.timeline})` : '';
  if (w.end === 'no-archive') return `${w.to.lsn} (no archive)`;
  if (w.to.lsn === w.from.lsn) return `${w.to.lsn} (end only)`;
  return `${w.to.lsn}${tl}${w.end === 'gap' ? ' (gap)' : ''}`;
}

/** Why a gap cuts a window short, as a sentence (printed below the table); null otherwise. */
export function recoverableWindowNote(b: Pick<BackupJson, 'recoverableWindow' | 'id' | 'cluster'>): string | null {
  const w = b.recoverableWindow;
  if (w === null) return null;
  if (w.end === 'gap') {
    return `backup ${b.id} of cluster "${b.cluster}" recovers only to ${w.to.lsn}: WAL segment ${w.firstMissing ?? '?'} is missing from the archive`;
  }
  return null;
}

export function backupJson(r: BackupRecord__Output): BackupJson {
  return {
    id: r.id, cluster: r.cluster, type: r.type, status: r.status, label: r.label,
    startLsn: r.startLsn, endLsn: r.endLsn, timeline: r.timeline, systemIdentifier: r.systemIdentifier,
    serverVersionNum: r.serverVersionNum,
    tablespaces: r.tablespaces.map((t) => ({ oid: t.oid, location: t.location, archive: t.archive })),
    files: r.files.map((f) => ({ name: f.name, size: Number(f.size) })),
    sizeBytes: Number(r.sizeBytes), dataBytes: Number(r.dataBytes), compression: r.compression, walMethod: r.walMethod,
    via: r.via, startedAt: r.startedAt, finishedAt: r.finishedAt, verifiedAt: r.verifiedAt,
    pgfleetVersion: r.pgfleetVersion, path: r.path, damage: r.damage || null, recoverableWindow: windowJson(r.recoverableWindow),
  };
}
