/** controller.proto's BackupRecord as the CLI's JSON (the backup.json fields, numbers as numbers). */
import type { BackupRecord__Output } from '../gen/controller/pgfleet/v1/BackupRecord.js';

export interface BackupJson {
  id: string;
  cluster: string;
  type: string;
  status: string;
  label: string;
  startLsn: string;
  endLsn: string;
  timeline: number;
  systemIdentifier: string;
  serverVersionNum: number;
  tablespaces: Array<{ oid: number; location: string; archive: string }>;
  files: Array<{ name: string; size: number }>;
  sizeBytes: number;
  dataBytes: number;
  compression: string;
  walMethod: string;
  via: string;
  startedAt: string;
  finishedAt: string;
  verifiedAt: string;
  pgfleetVersion: string;
  path: string;
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
    pgfleetVersion: r.pgfleetVersion, path: r.path,
  };
}
