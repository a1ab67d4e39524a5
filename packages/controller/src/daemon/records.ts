/** Repository metadata and errors as controller.proto messages. */
import type { PgFleetError } from '@pgfleet/core';
import type { BackupRecord } from '../gen/controller/pgfleet/v1/BackupRecord.js';
import type { ErrorInfo } from '../gen/controller/pgfleet/v1/ErrorInfo.js';
import type { BackupMetadata } from '../repository/backup-metadata.js';
import type { UnusableEntry } from '../repository/catalog.js';

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

/** A backup directory the catalog found unusable, listed as damaged with the reason. */
export function damagedRecord(entry: UnusableEntry, cluster: string): BackupRecord {
  if (entry.metadata !== null) return backupRecord(entry.metadata, entry.path, entry.reason);
  return { id: entry.name, cluster, status: 'damaged', damage: entry.reason, path: entry.path };
}

export function errorInfo(err: PgFleetError): ErrorInfo {
  return { id: err.id, code: err.code, message: err.message, hint: err.hint ?? '' };
}
