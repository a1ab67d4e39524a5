/**
 * ShowBackup: one backup in detail: its record, duration and throughput (data bytes over the
 * time from start to finish), WAL stored with it, compression ratio (data bytes / stored
 * bytes of the data archives), the WAL segments of its start and end positions, the usable backups before and
 * after it, and (a usable one) its recoverable window. A damaged backup is shown too (with its damage).
 */
import { DEFAULT_WAL_SEGMENT_SIZE, NotFoundError, parseLsn, segmentNumber, walSegmentName } from '@pgfleet/core';
import type { ControllerHandlers } from '@pgfleet/proto';
import { backupRecord, recoverableWindowRecord } from '../daemon/records.js';
import { compareBackupIds } from '../repository/backup-id.js';
import { readClusterCatalog } from '../repository/catalog.js';
import { readArchiveView, recoverableWindow } from '../wal/recoverable-window.js';
import { checkShowBackupRequest } from './request-limits.js';
import { backupOf, clusterByName, type ControllerState } from './service-context.js';
import { unary } from './unary-call.js';

function segmentOf(lsn: string, timeline: number): string {
  try {
    // backup.json does not record the server's segment size: PostgreSQL's default is assumed.
    return walSegmentName(timeline, segmentNumber(parseLsn(lsn), DEFAULT_WAL_SEGMENT_SIZE), DEFAULT_WAL_SEGMENT_SIZE);
  } catch {
    return '';
  }
}

export function showBackup(state: ControllerState): ControllerHandlers['ShowBackup'] {
  return unary(async (req) => {
    checkShowBackupRequest(req);
    const cluster = clusterByName(state, req.cluster);
    const named = await backupOf(state, cluster.name, req.backupId, 'accept');
    const meta = named.metadata;
    if (meta === null) {
      throw new NotFoundError(`backup "${named.id}" of cluster "${cluster.name}" has no readable backup.json: ${named.damage ?? 'unknown problem'}`);
    }
    const { backups } = await readClusterCatalog(state.config.repository, cluster.name);
    const ids = backups.map((b) => b.metadata.id);
    const previous = ids.filter((id) => compareBackupIds(id, meta.id) < 0).pop() ?? '';
    const next = ids.find((id) => compareBackupIds(id, meta.id) > 0) ?? '';
    const duration = Math.max(0, (Date.parse(meta.finishedAt) - Date.parse(meta.startedAt)) / 1000);
    const walBytes = meta.files.filter((f) => f.name.startsWith('pg_wal.tar')).reduce((a, f) => a + f.size, 0);
    // dataBytes counts the server's data archives (base and tablespaces) as sent, before any
    // client compression: compare it with what those archives take in the repository.
    const archiveBytes = meta.files.filter((f) => !f.name.startsWith('pg_wal.tar') && f.name !== 'backup_manifest').reduce((a, f) => a + f.size, 0);
    const window = named.damage === null ? recoverableWindow(meta, await readArchiveView(state.config.repository, cluster.name, state.walReceivers.walState(cluster.name))) : null;
    return {
      backup: { ...backupRecord(meta, named.path, named.damage), ...(window !== null ? { recoverableWindow: recoverableWindowRecord(window) } : {}) },
      durationSeconds: duration,
      throughputBytesPerSecond: duration > 0 ? meta.dataBytes / duration : 0,
      walBytes: String(walBytes),
      compressionRatio: archiveBytes > 0 ? meta.dataBytes / archiveBytes : 0,
      startWalFile: segmentOf(meta.startLsn, meta.timeline),
      endWalFile: segmentOf(meta.endLsn, meta.timeline),
      previousId: previous,
      nextId: next,
    };
  });
}
