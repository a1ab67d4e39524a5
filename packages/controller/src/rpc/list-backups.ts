/** ListBackups: every backup of one cluster or all, usable ones and those found damaged (with the reason), oldest first. */
import type { ControllerHandlers } from '@pgfleet/proto';
import { backupRecord, damagedRecord } from '../daemon/records.js';
import { compareBackupIds } from '../repository/backup-id.js';
import { readClusterCatalog } from '../repository/catalog.js';
import { checkListBackupsRequest } from './request-limits.js';
import { clusterByName, type ControllerState } from './service-context.js';
import { unary } from './unary-call.js';

export function listBackups(state: ControllerState): ControllerHandlers['ListBackups'] {
  return unary(async (req) => {
    checkListBackupsRequest(req);
    const names = req.cluster !== '' ? [clusterByName(state, req.cluster).name] : state.config.clusters.map((c) => c.name);
    const backups = [];
    for (const n of names) {
      const catalog = await readClusterCatalog(state.config.repository, n);
      const records = [
        ...catalog.backups.map((b) => backupRecord(b.metadata, b.path)),
        ...catalog.unusable.map((u) => damagedRecord(u, n)),
      ];
      backups.push(...records.sort((x, y) => compareBackupIds(x.id ?? '', y.id ?? '')));
    }
    return { backups };
  });
}
