/** Repository metadata and errors as controller.proto messages. */
import type { PgFleetError } from '@pgfleet/core';
import { errorOrigin, type BackupRecord, type ErrorInfo, type RecoverableWindow as RecoverableWindowRecord } from '@pgfleet/proto';
import type { BackupMetadata } from '../repository/backup-metadata.js';
import type { UnusableEntry } from '../repository/catalog.js';
import type { RecoverableWindow } from '../wal/recoverable-window.js';

export function backupRecord(meta: BackupMetadata, path: string, damage: string | null = null): BackupRecord {
  return {
    id: meta.id,
    cluster: meta.cluster,
    label: meta.label,
    status: meta.status,
    startLsn: meta.startLsn,
    endLsn: meta.endLsn,
    timeline: meta.timeline,
    systemIdentifier: meta.systemIdentifier,
    serverVersionNum: meta.serverVersionNum,
    tablespaces: meta.tablespaces.map((t) => ({ oid: t.oid, location: t.location, archive: t.archive })),
    files: meta.files.map((f) => ({ name: f.name, size: String(f.size) })),
    sizeBytes: String(meta.sizeBytes),
    dataBytes: String(meta.dataBytes),
    compression: meta.compression,
    walMethod: meta.walMethod,
    via: meta.via,
    startedAt: meta.startedAt,
    finishedAt: meta.finishedAt,
    verifiedAt: meta.verifiedAt,
    type: meta.type,
    pgfleetVersion: meta.pgfleetVersion,
    path,
    ...(damage !== null ? { status: 'damaged', damage } : {}),
  };
}

/** A backup's recoverable window (wal/recoverable-window.ts) as controller.proto's RecoverableWindow. */
export function recoverableWindowRecord(w: RecoverableWindow): RecoverableWindowRecord {
  return {
    fromLsn: w.from.lsn, fromTime: w.from.time ?? '', fromTimeline: w.from.timeline,
    toLsn: w.to.lsn, toTime: w.to.time ?? '', toTimeline: w.to.timeline, end: w.end, firstMissing: w.firstMissing ?? '',
  };
}

/** A backup directory the catalog found unusable, listed as damaged with the reason. */
export function damagedRecord(entry: UnusableEntry, cluster: string): BackupRecord {
  if (entry.metadata !== null) return backupRecord(entry.metadata, entry.path, entry.reason);
  return { id: entry.name, cluster, status: 'damaged', damage: entry.reason, path: entry.path };
}

/** An error as controller.proto's ErrorInfo; raised_from names the agent that raised it, if one did. */
export function errorInfo(err: PgFleetError): ErrorInfo {
  return { id: err.id, code: err.code, message: err.message, hint: err.hint ?? '', raisedFrom: errorOrigin(err)?.host ?? '' };
}
