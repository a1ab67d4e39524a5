/** ListClusters: the configured clusters with a summary of their usable backups (conninfo passwords masked). */
import { maskConninfo } from '@pgfleet/core';
import type { ControllerHandlers } from '@pgfleet/proto';
import { readClusterCatalog } from '../repository/catalog.js';
import type { ControllerState } from './service-context.js';
import { unary } from './unary-call.js';

export function listClusters(state: ControllerState): ControllerHandlers['ListClusters'] {
  return unary(async () => ({
    clusters: await Promise.all(state.config.clusters.map(async (c) => {
      const { backups } = await readClusterCatalog(state.config.repository, c.name);
      const latest = backups[backups.length - 1];
      return {
        name: c.name, agent: c.agent ?? '', conninfo: maskConninfo(c.conninfo), retentionFull: c.retention.full ?? 0, retentionDays: c.retention.days ?? 0,
        compression: c.compression, backupCount: backups.length,
        latestBackupId: latest?.metadata.id ?? '', latestBackupFinishedAt: latest?.metadata.finishedAt ?? '',
        backupRunning: state.locks.isLocked(c.name), schedule: c.schedule?.full ?? '',
      };
    })),
  }));
}
