/** controller.proto's BackupRecord as the CLI's JSON (the backup.json fields, numbers as numbers). */
import type { BackupRecord__Output } from '../gen/controller/pgfleet/v1/BackupRecord.js';
import type { BackupMetadata } from '../repository/backup-metadata.js';

/**
 * backup.json's fields (repository/backup-metadata.ts, without its format tag) as they arrive
 * over the wire, where the enumerations are plain strings, plus where the backup lives and,
 * for a damaged backup (status "damaged"), why (null otherwise).
 */
export type BackupJson = Omit<BackupMetadata, 'format' | 'type' | 'status' | 'walMethod' | 'damage'> & {
  type: string;
  status: string;
  walMethod: string;
  path: string;
  damage: string | null;
};

export function backupJson(r: BackupRecord__Output): BackupJson {
  return {
    id: r.id, cluster: r.cluster, type: r.type, status: r.status, label: r.label,
    startLsn: r.startLsn, endLsn: r.endLsn, timeline: r.timeline, systemIdentifier: r.systemIdentifier,
    serverVersionNum: r.serverVersionNum,
    tablespaces: r.tablespaces.map((t) => ({ oid: t.oid, location: t.location, archive: t.archive })),
    files: r.files.map((f) => ({ name: f.name, size: Number(f.size) })),
    sizeBytes: Number(r.sizeBytes), dataBytes: Number(r.dataBytes), compression: r.compression, walMethod: r.walMethod,
    via: r.via, startedAt: r.startedAt, finishedAt: r.finishedAt, verifiedAt: r.verifiedAt,
    pgfleetVersion: r.pgfleetVersion, path: r.path, damage: r.damage || null,
  };
}
